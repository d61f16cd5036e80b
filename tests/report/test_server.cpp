// The web API on loopback: every endpoint, bad inputs (each a 4xx with a message), time and
// concurrency bounds, and a load loop of 2,000 requests from 16 clients.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <atomic>
#include <mutex>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "core/diagnostic.hpp"
#include "report/server.hpp"
#include "support/test_support.hpp"

namespace tf {
namespace {

using nlohmann::json;

// A server on a free loopback port, serving from its own thread until destroyed.
class LiveServer {
 public:
  explicit LiveServer(report::ServerOptions o = {}, report::CommandRunner runner = {}, const std::string& measured = "") {
    o.port = 0;
    if (!runner) {
      auto shared = std::make_shared<const cli::SharedData>(cli::load_shared_data(test::data_dir().string()));
      runner = [shared](const std::vector<std::string>& args) {
        std::ostringstream out, err;
        const int code = cli::run(args, out, err, shared.get());
        return report::CommandOutput{code, out.str(), err.str()};
      };
    }
    server_ = std::make_unique<report::ApiServer>(o, cli::api_endpoints(measured), runner, "<html>app</html>");
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->listen(); });
    while (!server_->running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LiveServer() {
    server_->stop();
    thread_.join();
  }
  [[nodiscard]] httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120);
    return c;
  }

 private:
  std::unique_ptr<report::ApiServer> server_;
  int port_ = 0;
  std::thread thread_;
};

json body_of(const httplib::Result& r) { return json::parse(r->body); }

TEST(ApiCall, BodyKeysBecomeFlagsOfTheCommand) {
  report::ApiEndpoint e{"POST", "/api/v1/x", {"frontier"}, {{"hardware", true}, {"isl", true}, {"attention-dp", false},
                                                           {"max-chips", true}}, "", "", ""};
  const auto c = report::api_call(e, R"({"hardware": ["h100-sxm", "b200"], "isl": 1024, "max_chips": 0.5,
                                         "attention-dp": true})");
  ASSERT_EQ(c.status, 200) << c.error;
  // Keys in name order (the body is read as a JSON object).
  EXPECT_EQ(c.args, (std::vector<std::string>{"frontier", "--attention-dp", "--hardware=h100-sxm,b200", "--isl=1024",
                                              "--max-chips=0.5", "--json"}));
  EXPECT_EQ(report::api_call(e, "").args, (std::vector<std::string>{"frontier", "--json"}));  // defaults
  EXPECT_EQ(report::api_call(e, R"({"isl": true})").args, (std::vector<std::string>{"frontier", "--isl=true", "--json"}));
  EXPECT_EQ(report::api_call(e, R"({"attention-dp": false, "isl": null})").args,
            (std::vector<std::string>{"frontier", "--json"}));
  struct Bad {
    std::string body, expect;
  };
  for (const auto& b : std::vector<Bad>{{"[1]", "expected a JSON object"},
                                        {"{\"isl\": 1e400}", "request body:1"},
                                        {"{\"islx\": 1}", "unknown key 'islx'"},
                                        {"{\"attention-dp\": 1}", "is a switch"},
                                        {"{\"isl\": {\"a\": 1}}", "must be a string"},
                                        {"{\"hardware\": []}", "empty list"},
                                        {"{\"hardware\": [\"a,b\"]}", "holds a comma"},
                                        {"{\"hardware\": [[1]]}", "list items"},
                                        {std::string(300, '[') + std::string(300, ']'), "request body"},
                                        {"{\"isl\": 1", "malformed JSON"}}) {
    const auto bad = report::api_call(e, b.body);
    EXPECT_EQ(bad.status, 400) << b.body;
    EXPECT_NE(bad.error.find(b.expect), std::string::npos) << bad.error;
    EXPECT_TRUE(bad.args.empty());
  }
}

TEST(ApiServer, EveryEndpointAnswersWithTheCommandsDocument) {
  LiveServer s;
  auto c = s.client();
  {
    const auto r = c.Get("/api/v1");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(body_of(r)["endpoints"].size(), cli::api_endpoints().size());
  }
  for (const auto& [path, key] : std::vector<std::pair<std::string, std::string>>{{"/api/v1/catalog/hardware", "hardware"},
                                                                                  {"/api/v1/catalog/models", "models"}}) {
    const auto r = c.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    const auto j = body_of(r);
    EXPECT_EQ(j["schema"], "tokenfactory.catalog." + key + "/1");
    EXPECT_GT(j[key].size(), 10u);
  }
  const std::vector<std::tuple<std::string, std::string, std::string>> posts = {
      {"/api/v1/estimate", R"({"model": "meta-llama/Llama-3.1-8B-Instruct", "hardware": "h100-sxm", "concurrency": 8})",
       "tokenfactory.estimate/1"},
      {"/api/v1/frontier", R"({"model": "meta-llama/Llama-3.1-8B-Instruct", "hardware": ["h100-sxm", "mi300x"]})",
       "tokenfactory.frontier/1"},
      {"/api/v1/simulate",
       R"({"model": "meta-llama/Llama-3.1-8B-Instruct", "hardware": "h100-sxm", "rate": 5, "requests": 50})",
       "tokenfactory.simulate/1"},
      {"/api/v1/generations", R"({"model": "meta-llama/Llama-3.1-8B-Instruct"})", "tokenfactory.generations/1"},
      {"/api/v1/plan",
       R"({"model": "meta-llama/Llama-3.1-8B-Instruct", "hardware": ["h100-sxm", "b200"], "demand-output-tok-s": 1e5,
           "min-tok-s-per-user": 30})",
       "tokenfactory.plan/1"},
  };
  for (const auto& [path, body, schema] : posts) {
    const auto r = c.Post(path, body, "application/json");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    EXPECT_EQ(body_of(r)["schema"], schema);
  }
  // The same document as the command line's.
  const auto r = c.Post("/api/v1/frontier", std::get<1>(posts[1]), "application/json");
  const auto cli = test::run_cli({"frontier", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm,mi300x",
                                  "--json"});
  EXPECT_EQ(body_of(r), json::parse(cli.out));
  // The page.
  const auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body, "<html>app</html>");
}

// POST /api/v1/validate exists only when the server has a measured-results file of its own
// (serve --measured): it answers with the command line's document over that file; a caller cannot
// name a file (the key is refused, as every local path is).
TEST(ApiServer, ValidateRunsOnTheServersMeasuredFileOnly) {
  test::TempDir dir;
  const auto csv = dir.write(
      "measured.csv",
      "id,hardware,num_chips,model,weight_dtype,act_dtype,kv_dtype,tp,pp,ep,dp,attention_dp,scenario,isl,osl,"
      "concurrency,request_rate,spec_decode,metric,value,unit,trust,source,notes\n"
      "T-1,h100-sxm,1,meta-llama/Llama-3.1-8B-Instruct,fp8,fp8,fp8,1,1,1,1,false,offline,128,128,,,none,"
      "output_tok_s,1000,tok/s,B,test,\"vllm: 500 reqs\"\n");
  {
    LiveServer none;
    auto c = none.client();
    const auto r = c.Post("/api/v1/validate", "{}", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
  }
  LiveServer s({}, {}, csv.string());
  auto c = s.client();
  const auto r = c.Post("/api/v1/validate", "{}", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto cli = test::run_cli({"validate", "--measured", csv.string(), "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(body_of(r), json::parse(cli.out));
  EXPECT_EQ(body_of(r)["schema"], "tokenfactory.validate/1");
  const auto bad = c.Post("/api/v1/validate", R"({"measured": "/etc/passwd"})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("unknown key 'measured'"), std::string::npos) << bad->body;
}

TEST(ApiServer, BadRequestsGetAFourHundredWithAMessage) {
  report::ServerOptions o;
  o.max_body_bytes = 4096;
  LiveServer s(o);
  auto c = s.client();
  struct Case {
    std::string method, path, body;
    int status;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"POST", "/api/v1/estimate", "{not json", 400, "malformed JSON"},
      {"POST", "/api/v1/estimate", "42", 400, "expected a JSON object"},
      {"POST", "/api/v1/estimate", R"({"modle": "x"})", 400, "unknown key 'modle'"},
      {"POST", "/api/v1/estimate", R"({"model": "no-such-model", "hardware": "h100-sxm"})", 400, "unknown model"},
      {"POST", "/api/v1/estimate", R"({"model": "meta-llama/Llama-3.1-8B-Instruct", "hardware": "h999"})", 400, "h999"},
      {"POST", "/api/v1/frontier", R"({"isl": 0})", 400, "--isl"},
      {"POST", "/api/v1/frontier", R"({"isl": -1e308})", 400, "--isl"},
      {"POST", "/api/v1/simulate", R"({"model": "meta-llama/Llama-3.1-8B-Instruct", "hardware": "h100-sxm", "requests": 1e12})",
       400, "requests"},
      {"POST", "/api/v1/frontier", R"({"csv": "/tmp/x.csv"})", 400, "unknown key 'csv'"},   // writes no files
      {"POST", "/api/v1/simulate", R"({"trace": "/etc/passwd"})", 400, "unknown key 'trace'"},  // reads none
      {"POST", "/api/v1/frontier", std::string(5000, ' '), 413, "larger than 4096 bytes"},
      {"GET", "/api/v1/nothing", "", 404, "no such endpoint"},
      {"GET", "/api/v1/frontier", "", 405, "takes POST"},
      {"POST", "/api/v1/catalog/models", "{}", 405, "takes GET"},
  };
  for (const auto& k : cases) {
    const auto r = k.method == "GET" ? c.Get(k.path) : c.Post(k.path, k.body, "application/json");
    ASSERT_TRUE(r) << k.path << " " << k.body;
    EXPECT_EQ(r->status, k.status) << k.body << ": " << r->body;
    const auto j = body_of(r);
    EXPECT_EQ(j["error"]["status"], k.status);
    EXPECT_NE(j["error"]["message"].get<std::string>().find(k.expect), std::string::npos) << j.dump();
  }
}

// A second server on a port already in use is refused with a message, never started beside it.
TEST(ApiServer, APortInUseIsRefused) {
  report::ServerOptions o;
  o.port = 0;
  report::ApiServer first(o, {}, {}, "");
  o.port = first.bind();
  report::ApiServer second(o, {}, {}, "");
  try {
    (void)second.bind();
    FAIL() << "bound a port already in use";
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().message.find("cannot listen"), std::string::npos);
  }
}

TEST(ApiServer, SlowRequestsAreCutOffAndExcessWorkWaitsThenIsRefused) {
  report::ServerOptions o;
  o.request_timeout_s = 0.2;
  o.max_jobs = 1;
  o.queue_wait_s = 0.1;
  std::atomic<int> ran{0};
  LiveServer s(o, [&ran](const std::vector<std::string>&) {
    ++ran;
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return report::CommandOutput{0, "{\"schema\": \"x\"}", ""};
  });
  auto c1 = s.client();
  auto c2 = s.client();
  std::unique_ptr<httplib::Result> second;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    second = std::make_unique<httplib::Result>(c2.Post("/api/v1/estimate", "{}", "application/json"));
  });
  const auto first = c1.Post("/api/v1/estimate", "{}", "application/json");
  t.join();
  ASSERT_TRUE(first);
  ASSERT_TRUE(second && *second);
  const auto& s2 = *second;
  EXPECT_EQ(first->status, 504) << first->body;  // ran 600 ms against a 200 ms limit
  EXPECT_NE(body_of(first)["error"]["message"].get<std::string>().find("took longer"), std::string::npos);
  EXPECT_EQ(s2->status, 503) << s2->body;  // the one slot was still taken
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // the first command ends and frees its slot
  EXPECT_EQ(ran.load(), 1);
}

long rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// 2,000 requests from 16 clients at once (catalog reads, estimates, small frontiers and bad
// bodies): every answer is the expected one, nothing crashes; the figures are printed.
TEST(ApiServer, LoadLoopOfTwoThousandRequestsFromSixteenClients) {
  LiveServer s;
  constexpr int kClients = 16, kPerClient = 125;
  std::atomic<int> ok{0}, wrong{0};
  std::mutex failures_m;
  std::vector<std::string> failures;
  const long rss_before = rss_kb();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int k = 0; k < kClients; ++k) {
    clients.emplace_back([&, k] {
      auto c = s.client();
      c.set_keep_alive(true);
      for (int i = 0; i < kPerClient; ++i) {
        int expect = 200;
        auto request = [&]() {
          switch ((k + i) % 4) {
          case 0: return c.Get("/api/v1/catalog/models");
          case 1:
            return c.Post("/api/v1/estimate",
                       R"({"model": "meta-llama/Llama-3.1-8B-Instruct", "hardware": "h100-sxm", "concurrency": )" +
                           std::to_string(1 + i % 64) + "}",
                       "application/json");
          case 2:
            return c.Post("/api/v1/frontier", R"({"model": "meta-llama/Llama-3.1-8B-Instruct", "hardware": "h100-sxm",
                                              "precisions": "fp8"})",
                       "application/json");
          default:
            expect = 400;
            return c.Post("/api/v1/estimate", R"({"concurrency": "many"})", "application/json");
          }
        };
        const auto r = request();
        if (r && r->status == expect) {
          ++ok;
        } else {
          ++wrong;
          std::lock_guard<std::mutex> lock(failures_m);
          failures.push_back(fmt::format("case {} request {}: ", (k + i) % 4, i) + (r ? fmt::format("HTTP {}: {}", r->status, r->body) : "no answer: " + httplib::to_string(r.error())));
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  const double s_elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(wrong.load(), 0) << (failures.empty() ? std::string() : failures.front());
  EXPECT_EQ(ok.load(), kClients * kPerClient);
  std::printf("load loop: %d requests from %d clients in %.2f s (%.0f req/s); RSS %ld -> %ld MB\n", ok.load(), kClients,
              s_elapsed, ok.load() / s_elapsed, rss_before / 1024, rss_kb() / 1024);
}

}  // namespace
}  // namespace tf
