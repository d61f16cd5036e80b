#include "report/server.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <sys/socket.h>

#include "core/diagnostic.hpp"
#include "io/json_reader.hpp"
#include "report/html.hpp"

namespace tf::report {
namespace {

Json error_json(int status, const std::string& message) {
  return Json{{"error", {{"status", status}, {"message", message}}}};
}

// "error: x.json:3: key: message\nrun 'tokenfactory --help' ..." -> "x.json:3: key: message".
std::string first_error_line(std::string err) {
  if (err.rfind("error: ", 0) == 0) err = err.substr(7);
  if (const auto nl = err.find('\n'); nl != std::string::npos) err.resize(nl);
  return err.empty() ? "the command failed without a message" : err;
}

std::string normalise_key(std::string k) {
  for (auto& c : k)
    if (c == '_') c = '-';
  return k;
}

// A scalar as the command line spells it; nullopt for anything else.
std::optional<std::string> scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";  // an option that takes true / false
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    return fmt::format("{}", d);
  }
  return std::nullopt;
}

}  // namespace

ApiCall api_call(const ApiEndpoint& e, const std::string& body) {
  ApiCall call;
  call.args = e.command;
  auto refuse = [&](int status, std::string message) {
    call.args.clear();
    call.status = status;
    call.error = std::move(message);
    return call;
  };
  nlohmann::json j;
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    j = nlohmann::json::object();  // an empty body: the command's defaults
  } else {
    try {
      j = io::parse_json(body, "request body");
    } catch (const DiagnosticError& d) {
      return refuse(400, d.diagnostic().to_string());
    }
  }
  if (!j.is_object()) return refuse(400, "request body: expected a JSON object keyed by flag names, got " + io::describe_json(j));
  std::string valid;
  for (const auto& k : e.keys) valid += (valid.empty() ? "" : ", ") + k.name;
  for (const auto& [raw, v] : j.items()) {
    const auto key = normalise_key(raw);
    const ApiKey* spec = nullptr;
    for (const auto& k : e.keys)
      if (k.name == key) spec = &k;
    if (!spec) return refuse(400, fmt::format("request body: unknown key '{}' for {} (valid keys: {})", raw, e.path, valid));
    if (v.is_null()) continue;
    if (!spec->takes_value) {
      if (!v.is_boolean()) return refuse(400, fmt::format("request body: '{}' is a switch: true or false, got {}", raw, io::describe_json(v)));
      if (v.get<bool>()) call.args.push_back("--" + key);
      continue;
    }
    std::string text;
    if (v.is_array()) {
      if (v.empty()) return refuse(400, fmt::format("request body: '{}' is an empty list", raw));
      for (const auto& item : v) {
        const auto t = scalar_text(item);
        if (!t) return refuse(400, fmt::format("request body: '{}': list items must be strings or finite numbers, got {}", raw, io::describe_json(item)));
        if (t->find(',') != std::string::npos) return refuse(400, fmt::format("request body: '{}': list item '{}' holds a comma", raw, *t));
        text += (text.empty() ? "" : ",") + *t;
      }
    } else if (const auto t = scalar_text(v)) {
      text = *t;
    } else {
      return refuse(400, fmt::format("request body: '{}' must be a string, a finite number, a boolean or a list, got {}", raw, io::describe_json(v)));
    }
    // "--key=value": a value that starts with a dash is never read as another flag.
    call.args.push_back(fmt::format("--{}={}", key, text));
  }
  call.args.emplace_back("--json");
  return call;
}

// Commands running at once: a request takes a slot before it runs its command (waiting a bounded
// time) and gives it back when the command ends, even after its request timed out.
class JobSlots {
 public:
  explicit JobSlots(int n) : free_(std::max(1, n)) {}
  bool acquire(double wait_s) {
    std::unique_lock<std::mutex> lock(m_);
    if (!cv_.wait_for(lock, std::chrono::duration<double>(wait_s), [&] { return free_ > 0; })) return false;
    --free_;
    return true;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(m_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int free_;
};

// httplib 0.11 listens with a backlog of 5: when more clients connect at once, the kernel's
// accept queue overflows and some connections fail on their first request. Re-listening on the
// bound socket with the system's maximum backlog (allowed on Linux) removes that limit.
class HttpServer : public httplib::Server {
 public:
  void widen_backlog() {
    const auto fd = svr_sock_.load();
    if (fd != INVALID_SOCKET) ::listen(fd, SOMAXCONN);
  }
};

struct ApiServer::Impl {
  ServerOptions options;
  std::vector<ApiEndpoint> endpoints;
  CommandRunner runner;
  std::string app_page;
  std::shared_ptr<JobSlots> slots;
  HttpServer http;

  void send(httplib::Response& res, int status, const Json& body) const {
    res.status = status;
    res.set_content(body.dump(2, ' ', false, Json::error_handler_t::replace) + "\n", "application/json");
  }

  // Runs a command with a bounded wait for a slot and a bounded run time.
  void run_command(const ApiEndpoint& e, const std::vector<std::string>& args, httplib::Response& res) const {
    if (!slots->acquire(options.queue_wait_s)) {
      send(res, 503, error_json(503, fmt::format("busy: {} commands already running; try again", options.max_jobs)));
      return;
    }
    auto result = std::make_shared<std::promise<CommandOutput>>();
    auto done = result->get_future();
    std::thread([runner = runner, args, result, slots = slots] {
      CommandOutput out;
      try {
        out = runner(args);
      } catch (const std::exception& x) {
        out = {70, "", std::string("internal error: ") + x.what()};
      } catch (...) {
        out = {70, "", "internal error: unknown exception"};
      }
      slots->release();
      result->set_value(std::move(out));
    }).detach();
    if (done.wait_for(std::chrono::duration<double>(options.request_timeout_s)) != std::future_status::ready) {
      send(res, 504, error_json(504, fmt::format("{} took longer than the {:g} s limit (serve --request-timeout); "
                                                 "ask for less (fewer systems, requests or precisions)",
                                                 e.path, options.request_timeout_s)));
      return;
    }
    const auto out = done.get();
    if (out.exit_code == 2) return send(res, 400, error_json(400, first_error_line(out.err)));
    if (out.exit_code != 0) return send(res, 500, error_json(500, first_error_line(out.err)));
    Json doc;
    try {
      doc = Json::parse(out.out);
    } catch (const std::exception&) {
      return send(res, 500, error_json(500, "the command did not print a JSON document"));
    }
    if (!e.wrap_key.empty()) doc = Json{{"schema", e.wrap_schema}, {e.wrap_key, std::move(doc)}};
    send(res, 200, doc);
  }

  Json index() const {
    Json list = Json::array();
    for (const auto& e : endpoints) {
      Json keys = Json::array();
      for (const auto& k : e.keys) keys.push_back(k.name);
      list.push_back({{"method", e.method}, {"path", e.path}, {"description", e.description}, {"keys", keys}});
    }
    return Json{{"schema", "tokenfactory.api/1"},
                {"body", "a JSON object keyed by the command's flag names (dashes or underscores); lists are "
                         "comma-joined, true sets a switch"},
                {"limits", {{"max_body_bytes", options.max_body_bytes},
                            {"request_timeout_s", options.request_timeout_s},
                            {"max_jobs", options.max_jobs}}},
                {"endpoints", list}};
  }
};

ApiServer::ApiServer(ServerOptions options, std::vector<ApiEndpoint> endpoints, CommandRunner runner,
                     std::string app_page)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.options = std::move(options);
  m.endpoints = std::move(endpoints);
  m.runner = std::move(runner);
  m.app_page = std::move(app_page);
  m.slots = std::make_shared<JobSlots>(m.options.max_jobs);
  const int threads = std::max(1, m.options.threads);
  // httplib owns the queue it is given (its interface takes a raw pointer).
  m.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  m.http.set_payload_max_length(m.options.max_body_bytes);
  m.http.set_read_timeout(10);
  m.http.set_write_timeout(10);
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, with which a second server on a
  // port already in use would start silently and share its connections.
  m.http.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  m.http.set_keep_alive_max_count(1000);
  m.http.set_tcp_nodelay(true);
  Impl* p = impl_.get();
  m.http.Get("/", [p](const httplib::Request&, httplib::Response& res) {
    res.set_content(p->app_page, "text/html; charset=utf-8");
  });
  m.http.Get("/api/v1", [p](const httplib::Request&, httplib::Response& res) { p->send(res, 200, p->index()); });
  for (size_t i = 0; i < m.endpoints.size(); ++i) {
    const auto& e = m.endpoints[i];
    auto handler = [p, i](const httplib::Request& req, httplib::Response& res) {
      const auto& ep = p->endpoints[i];
      if (ep.method == "GET") return p->run_command(ep, [&] {
        auto a = ep.command;
        a.emplace_back("--json");
        return a;
      }(), res);
      const auto call = api_call(ep, req.body);
      if (call.status != 200) return p->send(res, call.status, error_json(call.status, call.error));
      p->run_command(ep, call.args, res);
    };
    // The other method on the same path: 405 naming the right one.
    auto wrong = [p, i](const httplib::Request&, httplib::Response& res) {
      const auto& ep = p->endpoints[i];
      res.set_header("Allow", ep.method);
      p->send(res, 405, error_json(405, fmt::format("{} takes {}", ep.path, ep.method)));
    };
    if (e.method == "GET") {
      m.http.Get(e.path, handler);
      m.http.Post(e.path, wrong);
    } else {
      m.http.Post(e.path, handler);
      m.http.Get(e.path, wrong);
    }
  }
  m.http.set_error_handler([p](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const int status = res.status;
    std::string message = status == 404   ? fmt::format("no such endpoint: {} {} (GET /api/v1 lists them)", req.method, req.path)
                          : status == 413 ? fmt::format("request body larger than {} bytes", p->options.max_body_bytes)
                                          : fmt::format("HTTP {}", status);
    p->send(res, status, error_json(status, message));
  });
  m.http.set_exception_handler([p](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    p->send(res, 500, error_json(500, "internal error while handling the request"));
  });
}

ApiServer::~ApiServer() { stop(); }

int ApiServer::bind() {
  auto& m = *impl_;
  int port = m.options.port;
  if (port == 0) {
    port = m.http.bind_to_any_port(m.options.host);
    if (port < 0) fail(fmt::format("serve: cannot bind a port on {}", m.options.host));
  } else if (!m.http.bind_to_port(m.options.host, port)) {
    fail(fmt::format("serve: cannot listen on {}:{} (in use, or not an address of this machine)", m.options.host, port),
         "choose another --port, or --port 0 for any free one");
  }
  m.http.widen_backlog();
  return port;
}

bool ApiServer::listen() { return impl_->http.listen_after_bind(); }

bool ApiServer::running() const { return impl_->http.is_running(); }

void ApiServer::stop() {
  if (impl_ && impl_->http.is_running()) impl_->http.stop();
}

std::string app_html() {
  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>tokenfactory</title>\n" + style_element(report_css());
  html += script_element(echarts_js()) + script_element(report_js()) + script_element(app_js()) + "</head>\n<body>\n";
  html += "<header class=\"top\"><h1>tokenfactory</h1><p>Throughput against interactivity per system, computed live by "
          "the engine behind this page (JSON API: GET /api/v1)</p></header>\n";
  html += "<main><section class=\"card\"><form class=\"app\" id=\"tf-controls\"></form>"
          "<p class=\"status\" id=\"tf-status\">loading the catalogs...</p></section>"
          "<div id=\"tf-results\"></div>"
          "<h2>Simulate a deployment</h2><section class=\"card\"><form class=\"app\" id=\"tf-sim-controls\"></form>"
          "<p class=\"status\" id=\"tf-sim-status\">the model and token counts above; arrivals and requests here</p>"
          "</section><div id=\"tf-sim-results\"></div>"
          "<h2>Plan a fleet</h2><section class=\"card\"><form class=\"app\" id=\"tf-plan-controls\"></form>"
          "<p class=\"status\" id=\"tf-plan-status\">the model, systems, token counts, precisions, SLO and price basis "
          "above; the demand here</p></section><div id=\"tf-plan-results\"></div>"
          "<h2>Predicted vs measured</h2><section class=\"card\"><form class=\"app\" id=\"tf-val-controls\"></form>"
          "<p class=\"status\" id=\"tf-val-status\">checking whether this server has measured results...</p>"
          "</section><div id=\"tf-val-results\"></div></main>\n</body>\n</html>\n";
  return html;
}

}  // namespace tf::report
