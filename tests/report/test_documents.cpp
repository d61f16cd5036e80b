// Result documents built in src/report: hand-computed series and histograms, and the schema ids
// every document carries.
#include <gtest/gtest.h>

#include "report/simulate.hpp"

namespace tf {
namespace {

serving::IterationEvent iteration(double start, double duration, double kv, double running) {
  serving::IterationEvent e;
  e.start_s = start;
  e.duration_s = duration;
  e.kv_bytes = kv;
  e.running = running;
  return e;
}

TEST(ReportSimulate, TimelineSeriesIsTheTimeWeightedMeanPerBin) {
  serving::Timeline t;
  // Replica 0: KV 10 over [0, 1), 20 over [1, 2), idle after. Replica 1: KV 40 over [0.5, 1.5).
  t.replicas = {{iteration(0, 1, 10, 2), iteration(1, 1, 20, 4)}, {iteration(0.5, 1, 40, 8)}};
  const auto j = report::timeline_series_json(t, 4.0, 100.0, 4);
  EXPECT_DOUBLE_EQ(j["bin_s"].get<double>(), 1.0);
  const std::vector<double> time = j["time_s"], mean = j["kv_bytes_per_chip_mean"], max = j["kv_bytes_per_chip_max"],
                            run = j["running_per_replica_mean"];
  EXPECT_EQ(time, (std::vector<double>{0.5, 1.5, 2.5, 3.5}));
  // Bin 0: replica 0 holds 10 all bin, replica 1 holds 40 for half of it (20): mean 15, max 20.
  // Bin 1: replica 0 holds 20, replica 1 40 for half (20): mean 20, max 20.
  EXPECT_EQ(mean, (std::vector<double>{15, 20, 0, 0}));
  EXPECT_EQ(max, (std::vector<double>{20, 20, 0, 0}));
  EXPECT_EQ(run, (std::vector<double>{3, 4, 0, 0}));
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_DOUBLE_EQ(j["kv_capacity_bytes_per_chip"].get<double>(), 100.0);
}

TEST(ReportSimulate, TimelineSeriesOfAnEmptyRunIsZeros) {
  serving::Timeline t;
  const auto j = report::timeline_series_json(t, 0.0, 1.0, 3);
  const std::vector<double> mean = j["kv_bytes_per_chip_mean"];
  EXPECT_EQ(mean, (std::vector<double>{0, 0, 0}));
}

TEST(ReportSimulate, LatencyHistogramsCountEveryRequestOnce) {
  std::vector<serving::RequestRecord> rs;
  for (double ttft_ms : {1.0, 2.0, 3.0, 4.0}) {
    serving::RequestRecord r;
    r.arrival_s = 0;
    r.first_token_s = ttft_ms / 1e3;
    r.finish_s = r.first_token_s;
    r.input_tokens = 10;
    r.output_tokens = 1;  // no TPOT
    rs.push_back(r);
  }
  const auto j = report::latency_histograms_json(rs, 4);
  // Bins of 1 ms from 0 to the largest value (4 ms, which falls in the last bin).
  EXPECT_DOUBLE_EQ(j["ttft_ms"]["bin_width"].get<double>(), 1.0);
  EXPECT_EQ(j["ttft_ms"]["counts"].get<std::vector<long long>>(), (std::vector<long long>{0, 1, 1, 2}));
  EXPECT_EQ(j["ttft_ms"]["requests"].get<size_t>(), 4u);
  EXPECT_EQ(j["tpot_ms"]["requests"].get<size_t>(), 0u);  // single-token outputs have no TPOT
}

}  // namespace
}  // namespace tf

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace tf {
namespace {

// Every result document names its schema and version, so the report, the web API and scripts can
// tell what they hold.
TEST(ReportDocuments, EveryCommandsDocumentCarriesItsSchema) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"catalog", "--json"}, "tokenfactory.catalog/1"},
      {{"estimate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm", "--concurrency", "8",
        "--json"},
       "tokenfactory.estimate/1"},
      {{"frontier", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm", "--json"},
       "tokenfactory.frontier/1"},
      {{"generations", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--json"}, "tokenfactory.generations/1"},
      {{"simulate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm", "--rate", "5",
        "--requests", "50", "--json"},
       "tokenfactory.simulate/1"},
      {{"tco", "--hardware", "h100-sxm", "--json"}, "tokenfactory.tco/1"},
      {{"capex", "--arr", "1e10", "--gross-margin", "0.5", "--depreciation-years", "5", "--json"},
       "tokenfactory.capex/1"},
  };
  for (const auto& [args, schema] : cases) {
    const auto r = test::run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << args[0] << ": " << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.value("schema", ""), schema) << args[0];
  }
}

}  // namespace
}  // namespace tf

#include <fstream>
#include <sstream>

#include "io/text.hpp"

namespace tf {
namespace {

// The documents embedded in a report page, parsed back.
nlohmann::json embedded_documents(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"tf-documents\">";
  const auto a = html.find(open);
  const auto b = html.find("</script>", a);
  if (a == std::string::npos || b == std::string::npos) return nullptr;
  return nlohmann::json::parse(html.substr(a + open.size(), b - a - open.size()));
}

TEST(ReportHtml, ComputedReportEmbedsTheFrontierAndGenerationsAndTheChartLibrary) {
  test::TempDir dir;
  const auto out = dir.path() / "r.html";
  const auto r = test::run_cli({"report", "--out", out.string(), "--model", "meta-llama/Llama-3.1-8B-Instruct",
                                "--hardware", "h100-sxm,mi300x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(out.string()), std::string::npos) << "prints the path it wrote";
  const auto html = io::read_text_file(out);
  EXPECT_NE(html.find("echarts"), std::string::npos);
  EXPECT_EQ(html.find("<script src="), std::string::npos) << "nothing is loaded from elsewhere";
  EXPECT_EQ(html.find("http://"), html.find("http://www.apache.org"));  // only the licence header's address
  const auto docs = embedded_documents(html);
  ASSERT_TRUE(docs.is_array());
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0]["schema"], "tokenfactory.frontier/1");
  EXPECT_EQ(docs[0]["model"], "meta-llama/Llama-3.1-8B-Instruct");
  ASSERT_EQ(docs[0]["systems"].size(), 2u);
  EXPECT_EQ(docs[1]["schema"], "tokenfactory.generations/1");
  // The same as the frontier command's own document.
  const auto f = test::run_cli({"frontier", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm,mi300x",
                                "--json"});
  EXPECT_EQ(nlohmann::json::parse(f.out), docs[0]);
  // Same inputs, same bytes.
  const auto again = dir.path() / "r2.html";
  ASSERT_EQ(test::run_cli({"report", "--out", again.string(), "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware",
                           "h100-sxm,mi300x"})
                .exit_code,
            0);
  EXPECT_EQ(io::read_text_file(again), html);
}

TEST(ReportHtml, SavedDocumentsAreChartedAndTextCannotCloseTheScript) {
  test::TempDir dir;
  const auto sim = test::run_cli({"simulate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm",
                                  "--rate", "5", "--requests", "40", "--json"});
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  auto doc = nlohmann::json::parse(sim.out);
  doc["workload"]["arrivals"] = "</script><script>alert(1)</script>";  // hostile text in a saved document
  const auto in = dir.write("sim.json", doc.dump());
  const auto out = dir.path() / "r.html";
  const auto r = test::run_cli({"report", "--out", out.string(), "--from", in.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto html = io::read_text_file(out);
  EXPECT_EQ(html.find("</script><script>alert"), std::string::npos);
  const auto docs = embedded_documents(html);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["workload"]["arrivals"], "</script><script>alert(1)</script>");  // intact once parsed
}

TEST(ReportHtml, BadInputIsRefusedAndLeavesAnExistingReport) {
  test::TempDir dir;
  const auto out = dir.write("keep.html", "old report");
  const auto not_json = dir.write("x.json", "{ not json");
  const auto no_schema = dir.write("y.json", "{\"rows\": []}");
  const auto tco = dir.write("z.json", "{\"schema\": \"tokenfactory.tco/1\"}");
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--from", not_json.string()}, "x.json:1"},
      {{"--from", no_schema.string()}, "no \"schema\" key"},
      {{"--from", tco.string()}, "no view for 'tokenfactory.tco/1'"},
      {{"--from", (dir.path() / "missing.json").string()}, "missing.json"},
      {{"--from", no_schema.string(), "--model", "x"}, "--from charts saved documents"},
      {{"--model", "no-such-model"}, "report: 'frontier' failed"},
      {{"--isl", "0"}, "--isl"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"report", "--out", out.string()};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << c.expect;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(io::read_text_file(out), "old report") << c.expect;
  }
}

}  // namespace
}  // namespace tf
