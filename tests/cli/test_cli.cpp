// The CLI in-process: JSON documents parsed and checked key by key, errors and exit codes.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "cli/app.hpp"
#include "io/text.hpp"
#include "serving/kv/kv.hpp"
#include "support/fixtures.hpp"
#include "support/test_support.hpp"

namespace tf {
namespace {

using nlohmann::json;
using test::run_cli;

// Every registered KV policy and tier is listed by `list kv`, and `simulate` runs with the flag
// the registry names (with what the policy needs beside it): a registry entry the simulator could
// not run would be a lie.
TEST(Cli, EveryRegisteredKvPolicyIsListedAndRunsInSimulate) {
  const auto listed = run_cli({"list", "kv"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  for (const auto& k : serving::kv_policies()) {
    EXPECT_NE(listed.out.find(std::string(k.name)), std::string::npos) << k.name;
    std::vector<std::string> a{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate",
                               "5", "--requests", "20", "--isl", "512", "--osl", "16"};
    const std::string kind(k.kind);
    if (kind == "preemption") a.insert(a.end(), {"--kv-admission", "paged"});
    if (kind == "eviction" || kind == "tier-eviction" || kind == "reload" || kind == "prefetch" || kind == "tier")
      a.insert(a.end(), {"--prefix-caching", "--shared-prefix-tokens", "256"});
    if (kind == "reload") a.insert(a.end(), {"--kv-offload", "dram"});
    if (kind == "prefetch" || kind == "tier-eviction") a.insert(a.end(), {"--kv-offload", "dram,ssd"});
    if (kind == "attention") a.insert(a.end(), {"--streams", "2"});
    std::istringstream flag{std::string(k.flag)};
    for (std::string word; flag >> word;) a.push_back(word == "G" ? "16" : word);
    const auto r = run_cli(a);
    EXPECT_EQ(r.exit_code, 0) << k.flag << ": " << r.err;
  }
}

TEST(Cli, CatalogHardwareJsonListsEverySystem) {
  const auto r = run_cli({"catalog", "hardware", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  EXPECT_GE(j.size(), 36u);
  bool found = false;
  for (const auto& s : j) {
    EXPECT_TRUE(s.contains("memory_capacity_bytes"));
    if (s["id"] == "h100-sxm") {
      found = true;
      EXPECT_DOUBLE_EQ(s["memory_capacity_bytes"].get<double>(), 80.0 * (1ULL << 30));  // 80 GiB
      EXPECT_DOUBLE_EQ(s["memory_bandwidth_bytes_per_s"].get<double>(), 3.35e12);
    }
  }
  EXPECT_TRUE(found);
}

TEST(Cli, CatalogModelsJsonHasParamsAndKv) {
  const auto r = run_cli({"catalog", "models", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_GE(j.size(), 20u);
  for (const auto& m : j) {
    EXPECT_GT(m["total_params"].get<double>(), 1e9);
    EXPECT_GT(m["active_params"].get<double>(), 1e9);
    EXPECT_LE(m["active_params"].get<double>(), m["total_params"].get<double>());
    EXPECT_GT(m["kv_bytes_per_token_bf16"].get<double>(), 0);
  }
}

TEST(Cli, ShowModelJson) {
  const auto r = run_cli({"catalog", "show", "meta-llama/Llama-3.1-70B-Instruct", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["total_params"].get<double>(), 70553706496.0);
  EXPECT_DOUBLE_EQ(j["active_params"].get<double>(), 70553706496.0);
  EXPECT_DOUBLE_EQ(j["kv_bytes_per_token_bf16"].get<double>(), 327680.0);
  EXPECT_EQ(j["layers"].size(), 80u);
}

TEST(Cli, ShowHardwareJsonCarriesSources) {
  const auto r = run_cli({"catalog", "show", "h100-sxm", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  const auto& bw = j["chip"]["memory"][0]["bandwidth_bytes_per_s"];
  EXPECT_DOUBLE_EQ(bw["value"].get<double>(), 3.35e12);
  EXPECT_FALSE(bw["source"].get<std::string>().empty());
}

TEST(Cli, ShowAcceptsConfigPath) {
  const auto path = test::data_dir() / "models" / "Qwen" / "Qwen3-8B" / "config.json";
  const auto r = run_cli({"catalog", "show", path.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_DOUBLE_EQ(json::parse(r.out)["kv_bytes_per_token_bf16"].get<double>(), 2.0 * 36 * 8 * 128 * 2);
}

TEST(Cli, UnknownIdIsExitCode2WithSuggestion) {
  const auto r = run_cli({"catalog", "show", "h100-sxn"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("did you mean 'h100-sxm'"), std::string::npos) << r.err;
}

TEST(Cli, UnknownFlagAndMissingArgumentAreExitCode2) {
  EXPECT_EQ(run_cli({"catalog", "hardware", "--jsn"}).exit_code, 2);
  EXPECT_EQ(run_cli({"catalog", "show"}).exit_code, 2);
  EXPECT_EQ(run_cli({"no-such-command"}).exit_code, 2);
  // A mistyped flag on a command with required options is named as unknown, not reported as a
  // missing required option; a negative number given as a value is not taken for a flag.
  const auto r = run_cli({"calibrate-kernels", "--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown flag --bogus for calibrate-kernels"), std::string::npos) << r.err;
  // serve --measured checks its file before it listens.
  const auto sm = run_cli({"serve", "--port", "0", "--measured", (test::data_dir() / "hardware" / "README.md").string()});
  EXPECT_EQ(sm.exit_code, 2);
  EXPECT_NE(sm.err.find("serve --measured"), std::string::npos) << sm.err;
  const auto m = run_cli({"calibrate", "--min-rows", "3"});
  EXPECT_EQ(m.exit_code, 2);
  EXPECT_NE(m.err.find("--measured is required"), std::string::npos) << m.err;
}

// The bad-flag matrix, over the whole command tree as registered: every flag that takes a
// number, on every command, refuses non-finite, out-of-range and malformed values with exit 2 and
// a message naming the flag (before any work starts, so required options need not be given).
TEST(Cli, EveryNumericFlagOfEveryCommandRefusesNonFiniteAndMalformedValues) {
  const auto commands = cli::command_names();
  ASSERT_GE(commands.size(), 15u);
  size_t checked = 0;
  for (const auto& command : commands) {
    std::vector<std::string> words;
    std::istringstream in(command);
    for (std::string w; in >> w;) words.push_back(w);
    for (const auto& f : cli::command_flags(command)) {
      if (!f.takes_value || (f.type != "INT" && f.type != "UINT" && f.type != "FLOAT")) continue;
      std::vector<std::string> bad{"nan", "inf", "-inf", "1e400", "x", "", "1,2x"};
      if (f.type != "FLOAT") bad.insert(bad.end(), {"1.5", "99999999999999999999999", "0x10", "007"});
      if (f.type == "UINT") bad.push_back("-1");
      for (const auto& v : bad) {
        auto args = words;
        args.push_back("--" + f.name);
        args.push_back(v);
        const auto r = test::run_cli(args);
        EXPECT_EQ(r.exit_code, 2) << command << " --" << f.name << " '" << v << "': " << r.err;
        EXPECT_NE(r.err.find("--" + f.name), std::string::npos) << command << " --" << f.name << " '" << v
                                                                 << "': " << r.err;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 500u);
  std::printf("bad-flag matrix: %zu cases over %zu commands\n", checked, commands.size());
}

TEST(Cli, HelpExplainsFlags) {
  const auto r = run_cli({"catalog", "show", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("config.json"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--json"), std::string::npos);
}

TEST(Cli, MalformedConfigPathIsExitCode2NamingTheFile) {
  test::TempDir dir;
  const auto p = dir.write("bad/config.json", "{\"architectures\": [\"LlamaForCausalLM\"],\n \"hidden_size\": }");
  const auto r = run_cli({"catalog", "show", p.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config.json:2"), std::string::npos) << r.err;
}

TEST(Cli, OutputIsDeterministic) {
  EXPECT_EQ(run_cli({"catalog", "--json"}).out, run_cli({"catalog", "--json"}).out);
}


}  // namespace
}  // namespace tf

namespace tf {
namespace {

TEST(CliEstimate, JsonHasTheDocumentedKeys) {
  const auto r = run_cli({"estimate", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--hardware", "h100-sxm", "--tp",
                          "4", "--weights", "fp8", "--kv", "fp8", "--isl", "1024", "--osl", "256", "--concurrency",
                          "16", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  for (const char* k : {"feasible", "reason", "ttft_ms", "tpot_ms", "output_tok_s_per_user", "output_tok_s_per_chip",
                        "total_tok_s_per_chip", "memory", "bound_by", "breakdown", "ceiling"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_TRUE(j["feasible"].get<bool>());
  EXPECT_NEAR(j["output_tok_s_per_user"].get<double>(), 1000.0 / j["tpot_ms"].get<double>(), 1e-9);
  for (const char* k : {"weights", "kv", "activations", "free"}) EXPECT_TRUE(j["memory"].contains(k)) << k;
  EXPECT_TRUE(j["ceiling"].contains("max_concurrency"));
  EXPECT_TRUE(j["ceiling"].contains("max_output_tok_s_per_user"));
  EXPECT_LE(j["output_tok_s_per_user"].get<double>(), j["ceiling"]["max_output_tok_s_per_user"].get<double>());
  // total = output x (isl + osl) / osl
  EXPECT_NEAR(j["total_tok_s_per_chip"].get<double>(), j["output_tok_s_per_chip"].get<double>() * 1280 / 256, 1e-6);
}

TEST(CliEstimate, InfeasibleIsAResultNotAnError) {
  const auto r = run_cli({"estimate", "--model", "meta-llama/Llama-3.1-405B-Instruct", "--hardware", "h100-sxm", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_FALSE(j["feasible"].get<bool>());
  EXPECT_NE(j["reason"].get<std::string>().find("weights need"), std::string::npos);
}

// --launch eager: at small batch the host's dispatch bounds the step (an engine whose profile
// runs graphs is slower when told to run eager); a misspelt mode is exit code 2 naming the valid ones.
TEST(CliEstimate, EagerLaunchIsSlowerAtSmallBatchAndSaysSo) {
  const std::vector<std::string> base{"estimate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm",
                                      "--concurrency", "1", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  const auto g = with({"--engine", "vllm-v0"});
  const auto e = with({"--engine", "vllm-v0", "--launch", "eager"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const auto jg = json::parse(g.out), je = json::parse(e.out);
  EXPECT_GT(je["tpot_ms"].get<double>(), 1.1 * jg["tpot_ms"].get<double>());
  EXPECT_EQ(je["deployment"]["launch"], "eager");  // the layout says how it ran
  EXPECT_EQ(jg["deployment"]["launch"], "graphs");
  const auto bad = with({"--launch", "eagr"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("valid: graphs, eager"), std::string::npos) << bad.err;
}

TEST(CliEstimate, ImpossibleLayoutIsExitCode2WithValidChoices) {
  auto r = run_cli({"estimate", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--hardware", "h100-sxm", "--tp", "3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("valid TP: 1, 2, 4, 8"), std::string::npos) << r.err;
  r = run_cli({"estimate", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--hardware", "h100-sxm", "--weights", "fp6"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown precision 'fp6'"), std::string::npos) << r.err;
  r = run_cli({"estimate", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--hardware", "h100-sxm", "--concurrency",
               "-3"});
  EXPECT_EQ(r.exit_code, 2);
  r = run_cli({"estimate", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--hardware", "h100-sxm", "--isl", "0"});
  EXPECT_EQ(r.exit_code, 2);
  r = run_cli({"estimate", "--model", "nope", "--hardware", "h100-sxm"});
  EXPECT_EQ(r.exit_code, 2);
  r = run_cli({"estimate", "--hardware", "h100-sxm"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;
}

TEST(CliFrontier, JsonPointsNameTheirConfigAndStayUnderTheCeiling) {
  const auto r = run_cli({"frontier", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm,b200", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  ASSERT_EQ(j["systems"].size(), 2u);
  for (const auto& s : j["systems"]) {
    ASSERT_FALSE(s["points"].empty());
    for (const auto& p : s["points"]) {
      EXPECT_TRUE(p["config"].contains("tp"));
      EXPECT_TRUE(p["config"].contains("weights"));
      EXPECT_LE(p["output_tok_s_per_user"].get<double>(), s["ceiling_max_output_tok_s_per_user"].get<double>());
      EXPECT_TRUE(p["output_tok_s_per_mw"].is_number());  // both systems have all-in power data
    }
  }
}

TEST(CliFrontier, CsvIsWritten) {
  test::TempDir dir;
  const auto path = dir.path() / "f.csv";
  const auto r = run_cli({"frontier", "--model", "qwen3-8b", "--hardware", "l40s", "--csv", path.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header.rfind("hardware,kind,output_tok_s_per_user,output_tok_s_per_chip", 0), 0u);
  int rows = 0;
  for (std::string line; std::getline(in, line);) ++rows;
  EXPECT_GT(rows, 2);
}

TEST(CliFrontier, BadInputsAreExitCode2) {
  EXPECT_EQ(run_cli({"frontier", "--hardware", "h100-sxn"}).exit_code, 2);
  EXPECT_EQ(run_cli({"frontier", "--per", "joule"}).exit_code, 2);
  EXPECT_EQ(run_cli({"frontier", "--precisions", "fp3"}).exit_code, 2);
  EXPECT_EQ(run_cli({"frontier", "--isl", "0"}).exit_code, 2);
}


}  // namespace
}  // namespace tf

namespace tf {
namespace {

TEST(CliEconomics, CapexJson) {
  const auto r = run_cli({"capex", "--arr", "100e9", "--gross-margin", "0.5", "--depreciation-years", "5", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_DOUBLE_EQ(json::parse(r.out)["supportable_infrastructure_usd"].get<double>(), 250e9);
}

TEST(CliEconomics, CapexSpendJsonPaysBack) {
  const auto r = run_cli({"capex", "--capex-usd", "1e9", "--hardware", "b200", "--model", "llama-3.1-70b-instruct",
                          "--price-input-usd-per-mtok", "3", "--price-output-usd-per-mtok", "10", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_GT(j["chips"].get<double>(), 0);
  EXPECT_GT(j["revenue_usd_per_year"].get<double>(), 0);
  EXPECT_TRUE(j["payback_years"].is_number());
}

TEST(CliEconomics, CapexBadInputs) {
  EXPECT_EQ(run_cli({"capex", "--arr", "1e9", "--gross-margin", "1.5", "--depreciation-years", "5"}).exit_code, 2);
  EXPECT_EQ(run_cli({"capex", "--arr", "1e9", "--gross-margin", "0.5", "--depreciation-years", "0"}).exit_code, 2);
  EXPECT_EQ(run_cli({"capex", "--arr", "1e9"}).exit_code, 2);
  EXPECT_EQ(run_cli({"capex"}).exit_code, 2);
}

TEST(CliEconomics, TcoJsonBuildUp) {
  const auto r = run_cli({"tco", "--hardware", "h100-sxm", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_GT(j["usd_per_chip_hour"].get<double>(), 0);
  // IT power 1.37 kW per chip from the catalog, x PUE 1.25 of the default preset.
  EXPECT_DOUBLE_EQ(j["power"]["it_w_per_chip"].get<double>(), 1370);
  EXPECT_DOUBLE_EQ(j["power"]["all_in_w_per_chip"].get<double>(), 1370 * 1.25);
  double shares = 0;
  for (const auto& [k, v] : j["shares"].items()) shares += v.get<double>();
  EXPECT_NEAR(shares, 1.0, 1e-12);
  EXPECT_EQ(run_cli({"tco", "--hardware", "h100-sxm", "--life-years", "0"}).exit_code, 2);
  EXPECT_EQ(run_cli({"tco", "--hardware", "h100-sxm", "--utilization", "1.2"}).exit_code, 2);
  EXPECT_EQ(run_cli({"tco", "--hardware", "h100-sxm", "--capex-usd-per-chip", "-1"}).exit_code, 2);
  // One basis: a rental basis with no rental price is an error naming the fix.
  EXPECT_EQ(run_cli({"tco", "--hardware", "ascend-910c", "--usd-per-chip-hour", "-1"}).exit_code, 2);
}

TEST(CliEconomics, PlanJsonHasBestAndPerSystemResults) {
  const auto r = run_cli({"plan", "--model", "llama-3.1-70b-instruct", "--hardware", "h100-sxm,b200",
                          "--demand-output-tok-s", "500000", "--isl", "1024", "--osl", "512", "--min-tok-s-per-user",
                          "40", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  for (const char* k : {"hardware", "chips", "power_mw", "capex_usd", "usd_per_mtok"}) EXPECT_TRUE(j["best"].contains(k)) << k;
  EXPECT_EQ(j["systems"].size(), 2u);
  for (const auto& s : j["systems"]) EXPECT_GE(s["usd_per_mtok"].get<double>(), j["best"]["usd_per_mtok"].get<double>());
}

// A wide-EP MoE plan sweeps EPLB placements: balancing the hot experts' ranks serves the same
// demand on fewer chips than the placement by expert id (--static-experts), and the plan's
// configuration says which placement it chose.
TEST(CliEconomics, PlanSweepsEplbPlacementsUnlessStaticExpertsIsGiven) {
  auto plan = [](bool fixed) {
    std::vector<std::string> args{"plan", "--model", "deepseek-ai/DeepSeek-R1", "--hardware", "gb200-nvl72",
                                  "--demand-output-tok-s", "1000000", "--isl", "8000", "--osl", "1000",
                                  "--min-tok-s-per-user", "50", "--no-serving-check", "--json"};
    if (fixed) args.emplace_back("--static-experts");
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  };
  const auto balanced = plan(false), fixed = plan(true);
  EXPECT_LT(balanced["best"]["chips"].get<double>(), fixed["best"]["chips"].get<double>());
  EXPECT_EQ(balanced["best"]["config"]["experts"]["placement"], "eplb");
  EXPECT_EQ(fixed["best"]["config"]["experts"]["placement"], "static");
}

TEST(CliEconomics, PlanInfeasibleSloIsExitCode2WithBestPerSystem) {
  const auto r = run_cli({"plan", "--model", "llama-3.1-70b-instruct", "--hardware", "h100-sxm", "--demand-output-tok-s",
                          "1000", "--min-tok-s-per-user", "100000"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("best each system can do"), std::string::npos) << r.err;
  EXPECT_EQ(run_cli({"plan", "--hardware", "h100-sxm"}).exit_code, 2);  // no demand
  EXPECT_EQ(run_cli({"plan", "--hardware", "h100-sxm", "--demand-output-tok-s", "-5"}).exit_code, 2);
}

TEST(CliEconomics, GenerationsJson) {
  const auto r = run_cli({"generations", "--model", "llama-3.1-70b-instruct", "--tok-s-per-user", "50", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  ASSERT_FALSE(j["rows"].empty());
  for (const auto& row : j["rows"]) {
    for (const char* k : {"hardware", "hbm_capacity_bytes", "hbm_bandwidth_bytes_per_s", "output_tok_s_per_chip"})
      EXPECT_TRUE(row.contains(k)) << k;
  }
  EXPECT_TRUE(j["fit"].contains("slope"));
  EXPECT_TRUE(j["fit"].contains("r2"));
  // One price basis for every row; tokens per MW from power alone: a row with a throughput and
  // catalog power always has it, $/Mtok only when the system has a price on that basis.
  EXPECT_EQ(j["price_basis"], "owned");
  size_t priced = 0;
  for (const auto& row : j["rows"]) {
    if (row["output_tok_s_per_chip"].get<double>() <= 0) continue;
    ASSERT_TRUE(row["output_tok_s_per_mw"].is_number()) << row["hardware"];
    if (row["usd_per_mtok_total"].is_number()) ++priced;
    if (row["hardware"] == "h100-sxm") {
      // IT power 1,370 W x PUE 1.25 (default economics): tokens/s per MW = tok/s per chip / facility MW.
      EXPECT_NEAR(row["output_tok_s_per_mw"].get<double>(), row["output_tok_s_per_chip"].get<double>() / (1370 * 1.25e-6),
                  1e-6 * row["output_tok_s_per_mw"].get<double>());
      EXPECT_GT(row["usd_per_mtok_total"].get<double>(), 0);
    }
  }
  EXPECT_GT(priced, 0u);
  const auto rent = run_cli({"generations", "--model", "llama-3.1-70b-instruct", "--price-basis", "rental", "--json"});
  ASSERT_EQ(rent.exit_code, 0) << rent.err;
  EXPECT_EQ(json::parse(rent.out)["price_basis"], "rental");
  EXPECT_EQ(run_cli({"generations", "--price-basis", "leased"}).exit_code, 2);
}

TEST(CliEconomics, EstimateAndFrontierCarryCosts) {
  auto r = run_cli({"estimate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--concurrency", "32", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  const auto& e = j["economics"];
  EXPECT_GT(e["usd_per_mtok_total"].get<double>(), 0);
  EXPECT_GT(e["output_tok_s_per_mw"].get<double>(), 0);
  EXPECT_NEAR(e["joules_per_output_token"].get<double>(), 1370 * 1.25 / j["output_tok_s_per_chip"].get<double>(), 1e-9);
  r = run_cli({"frontier", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = json::parse(r.out);
  EXPECT_EQ(j["price_basis"], "owned");
  EXPECT_GT(j["systems"][0]["points"][0]["usd_per_mtok_total"].get<double>(), 0);
  EXPECT_EQ(j["systems"][0]["points"][0]["pricing"], "owned");
  EXPECT_EQ(j["systems"][0]["provenance"]["efficiency"]["status"], "calibrated");
}

// Tokens per MW need power only, $/Mtok a price on the comparison's one basis: a system with a
// rental price only has tokens/MW and no owned cost, and a rental basis prices it.
TEST(CliEconomics, FrontierPowerWithoutPriceAndOneBasis) {
  auto r = run_cli({"frontier", "--model", "llama-3.1-8b-instruct", "--hardware", "mi355x,h100-sxm", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  const auto& mi = j["systems"][0]["points"][0];
  EXPECT_TRUE(mi["usd_per_mtok_total"].is_null());  // mi355x lists a rental price only
  EXPECT_GT(mi["output_tok_s_per_mw"].get<double>(), 0);
  r = run_cli({"frontier", "--model", "llama-3.1-8b-instruct", "--hardware", "mi355x,h100-sxm", "--price-basis",
               "rental", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = json::parse(r.out);
  for (const auto& s : j["systems"]) EXPECT_EQ(s["points"][0]["pricing"], "rental") << s["hardware"];
  r = run_cli({"frontier", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--price-basis", "rental",
               "--usd-per-chip-hour", "4", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = json::parse(r.out);
  const auto& p = j["systems"][0]["points"][0];
  EXPECT_NEAR(p["usd_per_mtok_total"].get<double>(), 4.0 / (p["total_tok_s_per_chip"].get<double>() * 3600) * 1e6, 1e-9);
  EXPECT_EQ(run_cli({"frontier", "--hardware", "h100-sxm", "--price-basis", "leased"}).exit_code, 2);
  // A plan on a basis no candidate is priced on says so and names the fix.
  const auto pl = run_cli({"plan", "--hardware", "mi355x", "--demand-output-tok-s", "1000"});
  EXPECT_EQ(pl.exit_code, 2);
  EXPECT_NE(pl.err.find("no candidate system has a purchase price"), std::string::npos) << pl.err;
  EXPECT_EQ(run_cli({"plan", "--hardware", "mi355x", "--demand-output-tok-s", "1000", "--price-basis", "rental"}).exit_code, 0);
}


}  // namespace
}  // namespace tf

namespace tf {
namespace {

TEST(CliEconomics, PlanFromATrace) {
  test::TempDir dir;
  // 4 requests over 2 s: 2 requests/s, mean 1000 in / 100 out tokens -> 200 output tok/s.
  const auto p = dir.write("t.csv",
                           "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1000,100\n0.5,1000,100\n1.5,1000,100\n2,1000,100\n");
  const auto r = run_cli({"plan", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--trace", p.string(),
                          "--min-tok-s-per-user", "20", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["demand_output_tok_s"].get<double>(), 200.0);
  EXPECT_DOUBLE_EQ(j["workload"]["isl"].get<double>(), 1000.0);
  EXPECT_EQ(j["trace"]["requests"].get<int>(), 4);
  // A trace and explicit lengths contradict each other.
  EXPECT_EQ(run_cli({"plan", "--hardware", "h100-sxm", "--trace", p.string(), "--isl", "10"}).exit_code, 2);
}


// Plans that hold under load: a burst of 200 prompts in 0.2 s, then one more after 300 s, is a
// low mean rate that the steady-state plan serves with one replica, but the burst's queue breaks
// a 500 ms TTFT limit. Replayed through the simulator the fleet is grown until 99% of requests
// meet it, and the grown fleet costs what its chips cost.
TEST(CliEconomics, PlanIsCheckedUnderLoadAndGrownUntilTheSloHolds) {
  test::TempDir dir;
  std::string text = "arrived_at,num_prefill_tokens,num_decode_tokens\n";
  for (int i = 0; i < 200; ++i) text += fmt::format("{},1000,100\n", i * 0.001);
  text += "300,1000,100\n";
  const auto p = dir.write("burst.csv", text);
  const std::vector<std::string> base{"plan", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--trace", p.string(), "--max-ttft-ms", "500", "--json"};
  const auto r = run_cli(base);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  const auto& c = j["systems"][0]["serving_check"];
  ASSERT_TRUE(c.is_object()) << r.out;
  EXPECT_EQ(c["requests"].get<int>(), 201);
  EXPECT_LT(c["planned_attainment"].get<double>(), 0.99);
  EXPECT_GT(c["replicas"].get<double>(), c["planned_replicas"].get<double>());
  EXPECT_GE(c["attainment"].get<double>(), 0.99);
  EXPECT_TRUE(c["holds"].get<bool>());
  EXPECT_LE(c["p99_ttft_ms"].get<double>(), 500 + 1e-9);
  const auto& best = j["best"];
  EXPECT_DOUBLE_EQ(best["replicas"].get<double>(), c["replicas"].get<double>());
  // Without the check the plan is the steady-state one, smaller and cheaper per token.
  auto no_check = base;
  no_check.push_back("--no-serving-check");
  const auto u = run_cli(no_check);
  ASSERT_EQ(u.exit_code, 0) << u.err;
  const auto k = json::parse(u.out);
  EXPECT_TRUE(k["systems"][0]["serving_check"].is_null());
  EXPECT_DOUBLE_EQ(k["best"]["replicas"].get<double>(), c["planned_replicas"].get<double>());
  EXPECT_NEAR(best["usd_per_mtok"].get<double>() / k["best"]["usd_per_mtok"].get<double>(),
              c["replicas"].get<double>() / c["planned_replicas"].get<double>(), 1e-9);
  // A target attainment outside (0, 1] is refused.
  auto bad = base;
  bad.insert(bad.end(), {"--slo-attainment", "1.5"});
  const auto b = run_cli(bad);
  EXPECT_EQ(b.exit_code, 2);
  EXPECT_NE(b.err.find("--slo-attainment"), std::string::npos) << b.err;
}

// ---------------------------------------------------------------- simulate
TEST(CliSimulate, NegligibleLoadReproducesTheAnalyticalLatency) {
  // One request every 10 s on average: each finds the engine idle, so its TTFT is its prefill
  // alone and its TPOT a batch-1 decode step, as the steady state at concurrency 1 says.
  const auto r = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate", "0.1",
                          "--requests", "40", "--isl", "1000", "--osl", "50", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["workload"]["requests"].get<int>(), 40);
  const auto& res = j["result"];
  const auto& ss = j["steady_state"];
  EXPECT_EQ(ss["concurrency"].get<double>(), 1);
  // The estimate's TTFT adds half a step of arrival wait that an idle engine does not have.
  const double prefill_ms = ss["ttft_ms"].get<double>() - 0.5 * ss["tpot_ms"].get<double>();
  EXPECT_NEAR(res["ttft_ms"]["median"].get<double>(), prefill_ms, 0.02 * prefill_ms);
  EXPECT_NEAR(res["tpot_ms"]["median"].get<double>(), ss["tpot_ms"].get<double>(), 0.02 * ss["tpot_ms"].get<double>());
  EXPECT_LE(res["peak_kv_bytes_per_chip"].get<double>(), j["engine"]["kv_capacity_bytes_per_chip"].get<double>());
}

// --request-overhead-ms replaces the engine's fitted overhead outside its steps: every TTFT moves
// by the difference, TPOT does not, the document states the value and where it came from, and a
// value out of range is refused naming the flag.
TEST(CliSimulate, RequestOverheadFlagMovesTtftNotTpot) {
  auto run = [](const char* ms) {
    std::vector<std::string> a{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate",
                               "0.1", "--requests", "20", "--isl", "1000", "--osl", "50", "--json"};
    if (ms) a.insert(a.end(), {"--request-overhead-ms", ms});
    return run_cli(a);
  };
  const auto base = run(nullptr), zero = run("0"), fifty = run("50");
  for (const auto* r : {&base, &zero, &fifty}) ASSERT_EQ(r->exit_code, 0) << r->err;
  const auto jb = json::parse(base.out), j0 = json::parse(zero.out), j50 = json::parse(fifty.out);
  const double fitted = jb["engine"]["request_overhead_ms"].get<double>();
  EXPECT_GT(fitted, 0);
  EXPECT_EQ(j50["engine"]["request_overhead_ms"].get<double>(), 50);
  EXPECT_EQ(j50["engine"]["request_overhead_source"].get<std::string>(), "--request-overhead-ms");
  const double t0 = j0["result"]["ttft_ms"]["mean"].get<double>();
  EXPECT_NEAR(j50["result"]["ttft_ms"]["mean"].get<double>() - t0, 50, 1e-6);
  EXPECT_NEAR(jb["result"]["ttft_ms"]["mean"].get<double>() - t0, fitted, 1e-6);
  EXPECT_NEAR(j50["result"]["tpot_ms"]["mean"].get<double>(), j0["result"]["tpot_ms"]["mean"].get<double>(), 1e-9);
  EXPECT_NEAR(j50["steady_state"]["ttft_ms"].get<double>() - j0["steady_state"]["ttft_ms"].get<double>(), 50, 1e-6);
  const auto bad = run("1500");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--request-overhead-ms"), std::string::npos) << bad.err;
}

// --preemption swap: under memory pressure preempted requests' KV goes to the host and back
// (vLLM V0 swap mode): the document says so (mode, swap space, link), counts the swaps and the
// bytes, and recomputes nothing; the flags are refused where they mean nothing, naming them.
// --cascade-attention: the engine block says so, parallel streams decode faster with the same
// tokens, and without parallel streams the flag is refused (it would change nothing).
TEST(CliSimulate, CascadeAttentionSpeedsUpStreamsAndNeedsThem) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--concurrency", "8", "--requests", "40", "--isl", "6000", "--osl", "200",
                                      "--json"};
  auto with = [&](std::initializer_list<const char*> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto off = with({"--streams", "8"}), on = with({"--streams", "8", "--cascade-attention"});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  ASSERT_EQ(on.exit_code, 0) << on.err;
  const auto jo = json::parse(off.out), jn = json::parse(on.out);
  EXPECT_FALSE(jo["engine"].contains("cascade_attention"));
  EXPECT_EQ(jn["engine"]["cascade_attention"], true);
  EXPECT_LT(jn["result"]["tpot_ms"]["mean"].get<double>(), 0.8 * jo["result"]["tpot_ms"]["mean"].get<double>());
  EXPECT_DOUBLE_EQ(jn["result"]["output_tok_s"].get<double>() * jn["result"]["duration_s"].get<double>(),
                   jo["result"]["output_tok_s"].get<double>() * jo["result"]["duration_s"].get<double>());
  const auto bad = with({"--cascade-attention"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--cascade-attention"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("--streams"), std::string::npos) << bad.err;
}

TEST(CliSimulate, SwapPreemptionIsReportedAndRefusedWithoutPagedKv) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-70b-instruct", "--hardware", "h100-sxm",
                                      "--tp", "4", "--weights", "fp8", "--rate", "3", "--requests", "600", "--isl",
                                      "4000", "--osl", "1500", "--length-spread", "0.5", "--kv-admission", "paged",
                                      "--json"};
  auto with = [&](std::initializer_list<const char*> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto rec = with({}), swp = with({"--preemption", "swap"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  ASSERT_EQ(swp.exit_code, 0) << swp.err;
  const auto jr = json::parse(rec.out), js = json::parse(swp.out);
  EXPECT_EQ(jr["engine"]["preemption"], "recompute");
  EXPECT_EQ(js["engine"]["preemption"], "swap");
  EXPECT_DOUBLE_EQ(js["engine"]["swap_space_bytes_per_chip"].get<double>(), 4.0 * (1ull << 30));
  ASSERT_GT(jr["result"]["preemptions"].get<double>(), 0);
  EXPECT_GT(jr["result"]["recomputed_tokens"].get<double>(), 0);
  EXPECT_EQ(js["result"]["swaps"], js["result"]["preemptions"]);
  EXPECT_EQ(js["result"]["recomputed_tokens"].get<double>(), 0);
  EXPECT_GT(js["result"]["swapped_bytes_per_chip"].get<double>(), 0);
  EXPECT_LE(js["result"]["peak_swap_bytes_per_chip"].get<double>(), 4.0 * (1ull << 30));
  for (const auto& [args, key] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--swap-space-gb", "8"}, "--swap-space-gb"},
           {{"--preemption", "swap", "--kv-admission", "whole-context"}, "--preemption swap"},
           {{"--preemption", "swap", "--swap-gbps", "0"}, "--swap-gbps"},
           {{"--preemption", "evict"}, "--preemption"}}) {
    auto a = base;
    std::erase(a, std::string("--json"));
    if (args[0] == "--preemption" && args.size() > 2 && args[2] == "--kv-admission") {
      const auto at = std::find(a.begin(), a.end(), std::string("paged"));
      a.erase(at - 1, at + 1);
    }
    a.insert(a.end(), args.begin(), args.end());
    const auto r = run_cli(a);
    EXPECT_EQ(r.exit_code, 2) << key << ": " << r.out;
    EXPECT_NE(r.err.find(key), std::string::npos) << r.err;
  }
}

TEST(CliSimulate, ClosedLoopReplicasAndRequestRecords) {
  test::TempDir dir;
  const auto csv = dir.path() / "req.csv";
  const std::vector<std::string> args{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--dp", "2", "--concurrency", "16", "--requests", "96", "--length-spread", "0.2",
                                      "--json", "--requests-csv", csv.string()};
  const auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  // 16 clients over 2 replicas: at most 8 running on each.
  EXPECT_LE(j["result"]["peak_running_per_replica"].get<double>(), 8);
  EXPECT_LE(j["result"]["mean_requests_in_system"].get<double>(), 16 + 1e-9);
  std::ifstream in(csv);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  EXPECT_EQ(lines, 97);  // header + every request
  // Same inputs and seed: the same document, byte for byte.
  EXPECT_EQ(run_cli(args).out, r.out);
}

// Bursty arrivals and thinking clients: the document states them; burstier arrivals at the same
// rate queue more (higher p99 TTFT); clients that think deliver fewer tokens per second; each
// flag is refused where it means nothing, naming it.
TEST(CliSimulate, BurstinessAndThinkTimeShapeTheWorkload) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--isl", "1000", "--osl", "100", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto poisson = with({"--rate", "20", "--requests", "4000"});
  const auto bursty = with({"--rate", "20", "--requests", "4000", "--burstiness", "0.1"});
  ASSERT_EQ(poisson.exit_code, 0) << poisson.err;
  ASSERT_EQ(bursty.exit_code, 0) << bursty.err;
  const auto jp = json::parse(poisson.out), jb = json::parse(bursty.out);
  EXPECT_EQ(jp["workload"]["burstiness"], 1.0);
  EXPECT_EQ(jb["workload"]["burstiness"], 0.1);
  EXPECT_NE(jb["workload"]["arrivals"].get<std::string>().find("Gamma"), std::string::npos);
  EXPECT_GT(jb["result"]["ttft_ms"]["p99"].get<double>(), 2 * jp["result"]["ttft_ms"]["p99"].get<double>());
  const auto eager = with({"--concurrency", "16", "--requests", "160"});
  const auto think = with({"--concurrency", "16", "--requests", "160", "--think-time-s", "5"});
  ASSERT_EQ(think.exit_code, 0) << think.err;
  const auto je = json::parse(eager.out), jt = json::parse(think.out);
  EXPECT_EQ(jt["workload"]["think_time_s"], 5.0);
  EXPECT_EQ(jt["workload"]["think_time_dist"], "exponential");
  EXPECT_TRUE(je["workload"]["think_time_dist"].is_null());
  EXPECT_LT(jt["result"]["output_tok_s"].get<double>(), 0.7 * je["result"]["output_tok_s"].get<double>());
  EXPECT_EQ(with({"--concurrency", "16", "--requests", "160", "--think-time-s", "5"}).out, think.out);
  for (const auto& [bad, flag] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--concurrency", "4", "--burstiness", "0.5"}, "--burstiness"},
           {{"--rate", "2", "--burstiness", "0"}, "--burstiness"},
           {{"--rate", "2", "--burstiness", "inf"}, "--burstiness"},
           {{"--rate", "2", "--think-time-s", "1"}, "--think-time-s"},
           {{"--concurrency", "4", "--think-time-s", "-1"}, "--think-time-s"},
           {{"--concurrency", "4", "--think-time-s", "nan"}, "--think-time-s"},
           {{"--concurrency", "4", "--think-time-s", "1", "--think-time-dist", "pareto"}, "--think-time-dist"}}) {
    const auto b = with(bad);
    EXPECT_EQ(b.exit_code, 2) << bad.back();
    EXPECT_NE(b.err.find(flag), std::string::npos) << b.err;
  }
}

// KV offload: 400 system prompts cycling through one H100 are more than its device cache keeps
// (LRU over a cycle longer than the cache reuses nothing), but fit in half the host's DRAM; the
// document gives each tier's size, bandwidth and latency with their sources (SSD: the node's
// drives shared by its 8 GPUs), what moved, and the device-only run beside it.
// --kv-offload ...,store: a KV store shared across the replicas, sized by --kv-store-gb, read over
// the scale-out link; reported as shared; misplaced, unsized or orphan store flags are refused.
TEST(CliSimulate, ASharedKvStoreIsReportedAndItsBadSettingsRefused) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--dp", "4", "--concurrency", "32", "--turns", "4", "--requests", "400",
                                      "--isl", "600", "--osl", "64", "--prefix-caching", "--kv-dram-gb", "1"};
  auto with = [&](std::initializer_list<const char*> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto ok = with({"--kv-offload", "dram,store", "--kv-store-gb", "32", "--json"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const auto j = json::parse(ok.out);
  const auto& tiers = j["result"]["prefix_cache"]["offload"]["tiers"];
  ASSERT_EQ(tiers.size(), 2u);
  EXPECT_EQ(tiers[1]["name"], "store");
  EXPECT_EQ(tiers[1]["shared"], true);
  EXPECT_FALSE(tiers[0].contains("shared"));
  EXPECT_DOUBLE_EQ(tiers[1]["read_bytes_per_s_per_chip"].get<double>(), 50e9);  // h100-sxm's scale-out link
  EXPECT_GT(tiers[1]["hit_tokens"].get<double>(), 0);
  for (const auto& [args, key] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--kv-offload", "store,dram", "--kv-store-gb", "32"}, "last tier"},
           {{"--kv-offload", "dram,store"}, "--kv-store-gb"},
           {{"--kv-offload", "dram", "--kv-store-gb", "32"}, "add store to --kv-offload"},
           {{"--kv-offload", "dram,store", "--kv-store-gb", "32", "--kv-store-gbps", "0"}, "--kv-store-gbps"}}) {
    auto a = base;
    a.insert(a.end(), args.begin(), args.end());
    const auto bad = run_cli(a);
    EXPECT_EQ(bad.exit_code, 2) << key;
    EXPECT_NE(bad.err.find(key), std::string::npos) << bad.err;
  }
}

TEST(CliSimulate, KvOffloadTiersHoldWhatTheDeviceCannot) {
  const std::vector<std::string> args{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--rate", "8", "--requests", "1500", "--isl", "2200", "--osl", "100",
                                      "--shared-prefix-tokens", "2000", "--prefix-groups", "400", "--prefix-caching",
                                      "--kv-offload", "dram,ssd", "--json"};
  const auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  const auto& off = j["result"]["prefix_cache"]["offload"];
  ASSERT_EQ(off["tiers"].size(), 2u);
  const auto& dram = off["tiers"][0];
  const auto& ssd = off["tiers"][1];
  EXPECT_EQ(dram["name"], "dram");
  EXPECT_DOUBLE_EQ(dram["capacity_bytes_per_chip"].get<double>(), 0.5 * 256e9);
  EXPECT_DOUBLE_EQ(dram["read_bytes_per_s_per_chip"].get<double>(), 64e9);
  EXPECT_NE(dram["sources"]["capacity"].get<std::string>().find("half the host's"), std::string::npos);
  EXPECT_DOUBLE_EQ(ssd["capacity_bytes_per_chip"].get<double>(), 0.5 * 30.72e12 / 8);
  EXPECT_DOUBLE_EQ(ssd["read_bytes_per_s_per_chip"].get<double>(), 56e9 / 8);
  EXPECT_NE(ssd["sources"]["bandwidth"].get<std::string>().find("SSD read per node"), std::string::npos);
  EXPECT_GT(dram["hit_tokens"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(off["device_only"]["hit_rate"].get<double>(), 0);
  EXPECT_GT(j["result"]["prefix_cache"]["hit_rate"].get<double>(), 0.5);
  EXPECT_LT(j["result"]["ttft_ms"]["mean"].get<double>(), off["device_only"]["mean_ttft_ms"].get<double>());
  EXPECT_EQ(run_cli(args).out, r.out);
  // A system whose host DRAM is not in the data needs the size given.
  auto no_dram = args;
  no_dram[4] = "mi355x";
  no_dram.resize(no_dram.size() - 3);
  no_dram.insert(no_dram.end(), {"--kv-offload", "dram"});
  const auto missing = run_cli(no_dram);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("--kv-dram-gb"), std::string::npos) << missing.err;
  no_dram.insert(no_dram.end(), {"--kv-dram-gb", "200", "--json"});
  EXPECT_EQ(run_cli(no_dram).exit_code, 0);
  for (const auto& [bad, text] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--kv-offload", "dram"}, "--prefix-caching"},
           {{"--prefix-caching", "--kv-offload", "ssd,dram"}, "fastest first"},
           {{"--prefix-caching", "--kv-offload", "dram,dram"}, "twice"},
           {{"--prefix-caching", "--kv-offload", "tape"}, "unknown KV offload tier"},
           {{"--prefix-caching", "--kv-dram-gb", "10"}, "--kv-offload"},
           {{"--prefix-caching", "--kv-offload", "dram", "--kv-dram-gb", "-1"}, "--kv-dram-gb"},
           {{"--prefix-caching", "--kv-offload", "dram", "--kv-dram-gbps", "nan"}, "--kv-dram-gbps"},
           {{"--prefix-caching", "--kv-offload", "dram", "--kv-reload", "maybe"}, "--kv-reload"},
           {{"--prefix-caching", "--kv-offload", "dram,ssd", "--kv-prefetch", "eager"}, "valid: none, on-arrival"},
           {{"--prefix-caching", "--kv-offload", "dram", "--kv-prefetch", "on-arrival"}, "two tiers or more"},
           {{"--prefix-caching", "--kv-prefetch", "on-arrival"}, "--kv-offload"},
           {{"--prefix-caching", "--kv-eviction", "fifo"}, "valid: lru, lfu"},
           {{"--prefix-caching", "--kv-offload", "dram,ssd", "--kv-tier-eviction", "mru"}, "valid: lru, lfu"},
           {{"--prefix-caching", "--kv-offload", "dram,ssd", "--kv-tier-eviction", "lfu,lru,lfu"}, "one per tier"},
           {{"--prefix-caching", "--kv-tier-eviction", "lfu"}, "--kv-offload"},
           {{"--kv-eviction", "lfu"}, "--prefix-caching"},
           {{"--prefix-caching", "--prefix-zipf", "11"}, "--prefix-zipf"}}) {
    std::vector<std::string> a{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate", "2",
                               "--requests", "20", "--isl", "300", "--shared-prefix-tokens", "200"};
    a.insert(a.end(), bad.begin(), bad.end());
    const auto b = run_cli(a);
    EXPECT_EQ(b.exit_code, 2) << bad.back();
    EXPECT_NE(b.err.find(text), std::string::npos) << b.err;
  }
  // One eviction policy per tier, reported per tier; one value sets them all.
  for (const auto& [given, want] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"lfu,lru", {"lfu", "lru"}}, {"lfu", {"lfu", "lfu"}}, {"", {"lru", "lru"}}}) {
    std::vector<std::string> a{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate", "2",
                               "--requests", "20", "--isl", "300", "--shared-prefix-tokens", "200", "--prefix-caching",
                               "--kv-offload", "dram,ssd", "--json"};
    if (!given.empty()) a.insert(a.end(), {"--kv-tier-eviction", given});
    const auto run = run_cli(a);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const auto tiers = json::parse(run.out)["result"]["prefix_cache"]["offload"]["tiers"];
    ASSERT_EQ(tiers.size(), 2u);
    for (size_t k = 0; k < 2; ++k) EXPECT_EQ(tiers[k]["eviction"], want[k]) << given;
  }
  const auto no_prefix = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate",
                                  "2", "--requests", "20", "--prefix-zipf", "1"});
  EXPECT_EQ(no_prefix.exit_code, 2);
  EXPECT_NE(no_prefix.err.find("--shared-prefix-tokens"), std::string::npos) << no_prefix.err;
}

// The DRAM a service needs for a hit rate: the size found reaches it when simulated with
// --kv-dram-gb, and 2% of the searched range less does not.
TEST(CliSimulate, FindDramSizeReachesTheHitRateAndLessDoesNot) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--rate", "8", "--requests", "1500", "--isl", "2200", "--osl", "100",
                                      "--length-spread", "0.05", "--shared-prefix-tokens", "2000", "--prefix-groups",
                                      "300", "--prefix-caching", "--kv-offload", "dram", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto r = with({"--find-dram-size", "0.6"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto f = json::parse(r.out)["find_dram"];
  const double bytes = f["bytes_per_chip"].get<double>(), upper = f["upper_bytes_per_chip"].get<double>();
  EXPECT_DOUBLE_EQ(upper, 128e9);
  EXPECT_DOUBLE_EQ(f["bytes_per_node"].get<double>(), 8 * bytes);
  EXPECT_GE(f["at_size"]["hit_rate"].get<double>(), 0.6);
  auto hit_at = [&](double b) {
    const auto x = with({"--kv-dram-gb", fmt::format("{:.17g}", b / 1e9)});
    EXPECT_EQ(x.exit_code, 0) << x.err;
    return json::parse(x.out)["result"]["prefix_cache"]["hit_rate"].get<double>();
  };
  EXPECT_GE(hit_at(bytes), 0.6);
  EXPECT_LT(hit_at(bytes - 0.02 * upper), 0.6);
  const auto unreachable = with({"--find-dram-size", "0.99"});
  EXPECT_EQ(unreachable.exit_code, 2);
  EXPECT_NE(unreachable.err.find("below the 99.0% asked"), std::string::npos) << unreachable.err;
  for (const auto& bad : std::vector<std::vector<std::string>>{{"--find-dram-size", "0"}, {"--find-dram-size", "1.5"}}) {
    const auto b = with(bad);
    EXPECT_EQ(b.exit_code, 2);
    EXPECT_NE(b.err.find("--find-dram-size"), std::string::npos) << b.err;
  }
}

// Multi-turn sessions: whole sessions of the requests asked for, the per-session figures in the
// document, prefix reuse across turns, byte-identical reruns, and the refusals.
TEST(CliSimulate, SessionsCarryTheirContextFromTurnToTurn) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--concurrency", "8", "--isl", "300", "--osl", "100", "--requests", "100",
                                      "--shared-prefix-tokens", "1000", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto r = with({"--turns", "4", "--think-time-s", "2", "--prefix-caching"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["workload"]["requests"], 100);  // 25 sessions of 4 turns
  EXPECT_EQ(j["workload"]["turns_per_session"], 4);
  const auto& ss = j["result"]["sessions"];
  EXPECT_EQ(ss["sessions"], 25);
  EXPECT_DOUBLE_EQ(ss["mean_last_prompt_tokens"].get<double>(), 1000 + 3 * 400 + 300);
  EXPECT_GT(ss["duration_s"]["mean"].get<double>(), 3 * 2.0 * 0.5);  // three think pauses between four turns
  EXPECT_GT(j["result"]["prefix_cache"]["hit_rate"].get<double>(), 0.7);
  EXPECT_EQ(with({"--turns", "4", "--think-time-s", "2", "--prefix-caching"}).out, r.out);
  EXPECT_NE(with({"--turns", "3"}).exit_code, 2);
  for (const auto& [bad, text] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--turns", "0"}, "--turns"},
           {{"--turns", "3", "--prefix-groups", "4"}, "--prefix-groups"}}) {
    const auto b = with(bad);
    EXPECT_EQ(b.exit_code, 2) << bad.front();
    EXPECT_NE(b.err.find(text), std::string::npos) << b.err;
  }
  const auto open = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate", "2",
                             "--turns", "3"});
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_NE(open.err.find("--concurrency"), std::string::npos) << open.err;
}

// Agent tool calls: the host cores come from the system data (14 per H100) unless given; fewer
// cores queue the calls and lower the tokens served; the refusals name the flag.
TEST(CliSimulate, ToolCallsRunOnTheHostsCores) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--concurrency", "32", "--turns", "6", "--isl", "200", "--osl", "100",
                                      "--requests", "600", "--tool-time-s", "1", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto data = with({});
  ASSERT_EQ(data.exit_code, 0) << data.err;
  const auto j = json::parse(data.out);
  const auto& tc = j["result"]["tool_calls"];
  EXPECT_EQ(tc["cores"], 14);
  EXPECT_NE(tc["cores_source"].get<std::string>().find("14 cores per chip"), std::string::npos);
  EXPECT_EQ(tc["calls"], 500);  // every turn but the first of each of the 100 sessions
  EXPECT_GT(j["result"]["sessions"]["tool_share_of_session_time"].get<double>(), 0);
  const auto two = json::parse(with({"--cpu-cores", "2"}).out);
  EXPECT_GT(two["result"]["tool_calls"]["wait_s"].get<double>(), tc["wait_s"].get<double>());
  EXPECT_LT(two["result"]["output_tok_s"].get<double>(), j["result"]["output_tok_s"].get<double>());
  for (const auto& [bad, flag] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--cpu-cores", "0"}, "--cpu-cores"},
           {{"--cpu-cores", "2.5"}, "--cpu-cores"},
           {{"--tool-time-dist", "lognormal"}, "--tool-time-dist"}}) {
    const auto b = with(bad);
    EXPECT_EQ(b.exit_code, 2) << bad.front();
    EXPECT_NE(b.err.find(flag), std::string::npos) << b.err;
  }
  const auto open = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate", "2",
                             "--tool-time-s", "1"});
  EXPECT_EQ(open.exit_code, 2);
  const auto no_cores = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "tpu-v6e",
                                 "--concurrency", "4", "--tool-time-s", "1", "--requests", "8"});
  EXPECT_EQ(no_cores.exit_code, 2);
  EXPECT_NE(no_cores.err.find("--cpu-cores"), std::string::npos) << no_cores.err;
}

// A session trace through the CLI: sessions as traced, the per-session figures, tool calls on the
// system's cores; clients only for a trace without arrivals; the trace's fields not restated.
TEST(CliSimulate, SessionTraceRunsItsSessions) {
  test::TempDir dir;
  std::string text, plain;
  for (int s = 0; s < 6; ++s)
    for (int k = 0; k < 3; ++k) {
      text += fmt::format("{{\"session\": {}, \"turn\": {}, \"input_tokens\": {}, \"output_tokens\": 50{}}}\n", s, k,
                          k ? 200 : 1000, k ? ", \"tool_s\": 1" : fmt::format(", \"arrival_s\": {}", s));
      plain += fmt::format("{{\"session\": {}, \"turn\": {}, \"input_tokens\": 300, \"output_tokens\": 50}}\n", s, k);
    }
  const auto traced = dir.write("agents.jsonl", text);
  const auto untimed = dir.write("chats.jsonl", plain);
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto r = with({"--session-trace", traced.string(), "--prefix-caching", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["workload"]["requests"], 18);
  EXPECT_EQ(j["result"]["sessions"]["sessions"], 6);
  EXPECT_EQ(j["result"]["tool_calls"]["calls"], 12);
  EXPECT_EQ(j["result"]["tool_calls"]["cores"], 14);
  EXPECT_GT(j["result"]["prefix_cache"]["hit_rate"].get<double>(), 0.5);
  EXPECT_EQ(with({"--session-trace", untimed.string(), "--concurrency", "2"}).exit_code, 0);
  for (const auto& [bad, text_] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--session-trace", untimed.string()}, "--concurrency"},
           {{"--session-trace", traced.string(), "--concurrency", "2"}, "drop --concurrency"},
           {{"--session-trace", traced.string(), "--isl", "10"}, "--isl"},
           {{"--session-trace", traced.string(), "--turns", "2"}, "--turns"},
           {{"--session-trace", traced.string(), "--rate", "2"}, "exactly one arrival mode"}}) {
    const auto b = with(bad);
    EXPECT_EQ(b.exit_code, 2) << bad.back();
    EXPECT_NE(b.err.find(text_), std::string::npos) << b.err;
  }
}

TEST(CliSimulate, TraceArrivalsAreServedInFull) {
  test::TempDir dir;
  const auto p = dir.write("t.csv",
                           "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1000,100\n0.5,1000,100\n1.5,1000,100\n2,1000,100\n");
  const auto r = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--trace",
                          p.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["workload"]["requests"].get<int>(), 4);
  // 400 output tokens from t = 0 to the last completion, which is after the last arrival (2 s).
  const double d = j["result"]["duration_s"].get<double>();
  EXPECT_GT(d, 2.0);
  EXPECT_NEAR(j["result"]["output_tok_s"].get<double>() * d, 400, 1e-6);
}

TEST(CliSimulate, PoissonRunsSixHundredSecondsAndReportsTheSteadyWindowApart) {
  const auto r = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate", "2",
                          "--isl", "500", "--osl", "100", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["workload"]["requests"].get<int>(), 1200);  // 600 s of arrivals at 2 req/s
  const auto& s = j["steady"];
  ASSERT_TRUE(s["measured"].get<bool>());
  const auto& w = s["window"];
  EXPECT_EQ(w["requests"].get<int>() + s["warmup"]["requests"].get<int>() + s["drain"]["requests"].get<int>(), 1200);
  EXPECT_DOUBLE_EQ(s["warmup"]["end_s"].get<double>(), w["start_s"].get<double>());
  EXPECT_DOUBLE_EQ(w["end_s"].get<double>(), s["drain"]["start_s"].get<double>());
  // Below capacity the window's output is the arrival rate x output length (2 x 100 tok/s).
  EXPECT_NEAR(w["output_tok_s"].get<double>(), 200, 0.06 * 200);
  // The whole-run figures are still there, unchanged in meaning.
  const double d = j["result"]["duration_s"].get<double>();
  EXPECT_NEAR(j["result"]["output_tok_s"].get<double>() * d, 1200 * 100, 1e-6 * 1200 * 100);
  // A queued batch has no window.
  const auto b = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--batch",
                          "--requests", "20", "--json"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_FALSE(json::parse(b.out)["steady"]["measured"].get<bool>());
}

// The figures vllm bench serve reports, under its names, with goodput under an SLO: a TTFT
// limit above every request's TTFT is met by all, one below every request's by none.
// Shared system prompts with prefix caching: the reused share is the prefix's, TTFT falls against
// the same requests without caching, and misused flags are user errors naming them.
TEST(CliSimulate, PrefixCachingReusesSharedPromptsAndSaysWhatItSaved) {
  const auto r = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate", "8",
                          "--requests", "300", "--isl", "3000", "--osl", "100", "--shared-prefix-tokens", "2400",
                          "--prefix-groups", "3", "--prefix-caching", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  const auto& p = j["result"]["prefix_cache"];
  EXPECT_TRUE(p["enabled"].get<bool>());
  EXPECT_NEAR(p["hit_tokens"].get<double>(), (300 - 3) * 2400.0, 1e-6);
  EXPECT_NEAR(p["hit_rate"].get<double>(), (300 - 3) * 2400.0 / (300 * 3000.0), 1e-12);
  EXPECT_GT(p["mean_ttft_saved_ms"].get<double>(), 0);
  const auto bad = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate", "8",
                            "--prefix-groups", "3"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--prefix-groups needs --shared-prefix-tokens"), std::string::npos) << bad.err;
  const auto longer = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate",
                               "8", "--isl", "1000", "--shared-prefix-tokens", "1000"});
  EXPECT_EQ(longer.exit_code, 2);
  EXPECT_NE(longer.err.find("shorter than every prompt"), std::string::npos) << longer.err;
}

TEST(CliSimulate, ReportsVllmBenchServeMetricsAndGoodput) {
  auto run = [](const std::string& slo_ttft) {
    const auto r = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate", "4",
                            "--requests", "400", "--isl", "500", "--osl", "100", "--slo-ttft-ms", slo_ttft, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  };
  const auto j = run("100000");
  const auto& m = j["metrics"]["whole_run"];
  EXPECT_EQ(m["completed"].get<int>(), 400);
  const double d = j["result"]["duration_s"].get<double>();
  EXPECT_NEAR(m["request_throughput"].get<double>(), 400 / d, 1e-9);
  EXPECT_NEAR(m["output_throughput"].get<double>(), 400 * 100 / d, 1e-6);
  EXPECT_NEAR(m["total_token_throughput"].get<double>(), 400 * 600 / d, 1e-6);
  EXPECT_NEAR(m["mean_ttft_ms"].get<double>(), j["result"]["ttft_ms"]["mean"].get<double>(), 1e-9);
  EXPECT_NEAR(m["p99_tpot_ms"].get<double>(), j["result"]["tpot_ms"]["p99"].get<double>(), 1e-9);
  // Equal output lengths: pooled ITL has the mean TPOT; E2E / tokens includes the first token.
  EXPECT_NEAR(m["mean_itl_ms"].get<double>(), m["mean_tpot_ms"].get<double>(), 1e-9);
  EXPECT_GT(m["mean_tpot_incl_first_ms"].get<double>(), 0);
  EXPECT_NEAR(m["mean_e2el_ms"].get<double>(), 1e3 * j["result"]["e2e_s"]["mean"].get<double>(), 1e-6);
  EXPECT_DOUBLE_EQ(m["slo_attainment"].get<double>(), 1.0);
  EXPECT_NEAR(m["request_goodput"].get<double>(), 400 / d, 1e-9);
  EXPECT_TRUE(j["metrics"]["steady_window"].is_object());
  const auto none = run("0.001");
  EXPECT_DOUBLE_EQ(none["metrics"]["whole_run"]["slo_attainment"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(none["metrics"]["whole_run"]["request_goodput"].get<double>(), 0.0);
  // A limit of 0 or below, or not a number, is refused naming the flag.
  for (const char* bad : {"0", "-1", "nan"}) {
    const auto r = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate", "4",
                            "--slo-tpot-ms", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("--slo-tpot-ms"), std::string::npos) << r.err;
  }
}

TEST(CliSimulate, FindMaxRateMeetsTheLimitAndTenPercentMoreViolatesIt) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--isl", "1000", "--osl", "200", "--length-spread", "0.2", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto r = with({"--find-max-rate", "--max-p99-ttft-ms", "500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  const auto& f = j["find_max_rate"];
  const double rate = f["rate_per_s"].get<double>();
  ASSERT_GT(rate, 0);
  EXPECT_TRUE(f["converged"].get<bool>());
  EXPECT_LE(f["bracket"]["upper_per_s"].get<double>(), rate * (1 + f["tolerance"].get<double>()) * (1 + 1e-12));
  EXPECT_LE(f["iterations"].get<int>(), f["max_iterations"].get<int>());
  EXPECT_LE(j["at_rate"]["ttft_ms"]["p99"].get<double>(), 500);
  EXPECT_EQ(with({"--find-max-rate", "--max-p99-ttft-ms", "500"}).out, r.out);  // deterministic
  // Re-simulated with --rate (the same seed and run length): within the limit, and 10% more is not.
  auto p99_ttft_at = [&](double x) {
    const auto s = with({"--rate", fmt::format("{:.17g}", x)});
    EXPECT_EQ(s.exit_code, 0) << s.err;
    return json::parse(s.out)["steady"]["window"]["ttft_ms"]["p99"].get<double>();
  };
  EXPECT_DOUBLE_EQ(p99_ttft_at(rate), j["at_rate"]["ttft_ms"]["p99"].get<double>());
  EXPECT_GT(p99_ttft_at(1.1 * rate), 500);
  // The text report names the rate and the bracket.
  auto text = base;
  text.pop_back();
  text.insert(text.end(), {"--find-max-rate", "--max-p99-tpot-ms", "30"});
  const auto t = run_cli(text);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("largest sustainable rate"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("bracket"), std::string::npos) << t.out;
}

TEST(CliSimulate, FindMaxRateBadInputsNameTheFlag) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--find-max-rate"}, "--max-p99-ttft-ms"},
      {{"--find-max-rate", "--max-p99-ttft-ms", "0"}, "--max-p99-ttft-ms"},
      {{"--find-max-rate", "--max-p99-tpot-ms", "-5"}, "--max-p99-tpot-ms"},
      {{"--find-max-rate", "--max-p99-tpot-ms", "inf"}, "--max-p99-tpot-ms"},
      {{"--find-max-rate", "--max-p99-ttft-ms", "nan"}, "--max-p99-ttft-ms"},
      {{"--find-max-rate", "--max-p99-ttft-ms", "500", "--rate", "3"}, "--rate"},
      {{"--find-max-rate", "--max-p99-ttft-ms", "500", "--concurrency", "8"}, "--concurrency"},
      {{"--find-max-rate", "--max-p99-ttft-ms", "500", "--batch"}, "--batch"},
      {{"--rate", "3", "--max-p99-ttft-ms", "500"}, "--find-max-rate"},
      // Unreachable: a TPOT below the batch-1 decode step.
      {{"--find-max-rate", "--max-p99-tpot-ms", "0.01"}, "--max-p99-tpot-ms"},
  };
  for (const auto& [args, flag] : cases) {
    const auto b = with(args);
    EXPECT_EQ(b.exit_code, 2) << args.back();
    EXPECT_NE(b.err.find(flag), std::string::npos) << b.err;
  }
  test::TempDir dir;
  const auto p = dir.write("t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1000,100\n");
  const auto tr = with({"--find-max-rate", "--max-p99-ttft-ms", "500", "--trace", p.string()});
  EXPECT_EQ(tr.exit_code, 2);
  EXPECT_NE(tr.err.find("--trace"), std::string::npos) << tr.err;
}

// --router: the JSON says which router ran and what each replica served; an unknown router, or
// session-sticky without clients, is exit code 2 naming what is valid.
TEST(CliSimulate, RouterSpreadsRequestsAndSaysHow) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--dp", "3", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto r = with({"--rate", "6", "--requests", "300", "--router", "least-outstanding-tokens"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["router"]["policy"], "least-outstanding-tokens");
  const auto per = j["router"]["requests_per_replica"].get<std::vector<size_t>>();
  ASSERT_EQ(per.size(), 3u);
  EXPECT_EQ(per[0] + per[1] + per[2], 300u);
  for (size_t k : per) EXPECT_GT(k, 50u);
  const auto bad = with({"--rate", "6", "--router", "random"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("valid: round-robin, least-outstanding-tokens"), std::string::npos) << bad.err;
  const auto open = with({"--rate", "6", "--router", "session-sticky"});
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_NE(open.err.find("closed-loop clients"), std::string::npos) << open.err;
  const auto closed = with({"--concurrency", "6", "--requests", "60", "--router", "least-kv"});
  ASSERT_EQ(closed.exit_code, 0) << closed.err;
  EXPECT_EQ(json::parse(closed.out)["router"]["policy"], "least-kv");
  // The rate search probes through the router too.
  const auto search = with({"--find-max-rate", "--max-p99-ttft-ms", "400", "--requests", "150", "--router",
                            "least-outstanding-tokens"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  const auto js = json::parse(search.out);
  EXPECT_EQ(js["router"]["policy"], "least-outstanding-tokens");
  EXPECT_GT(js["find_max_rate"]["rate_per_s"].get<double>(), 0);
}

// --chrome-trace writes a trace event file: a slice per engine iteration whose steps add up to the
// run's, counters, and a begin/end pair per request phase.
TEST(CliSimulate, ChromeTraceHoldsEveryIterationAndRequest) {
  test::TempDir dir;
  const auto file = (dir.path() / "trace.json").string();
  const auto r = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--dp", "2",
                          "--rate", "5", "--requests", "120", "--chrome-trace", file, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = json::parse(r.out);
  std::ifstream in(file);
  const auto t = json::parse(in);
  double steps = 0;
  size_t begins = 0, ends = 0, slices = 0;
  for (const auto& e : t["traceEvents"]) {
    const auto ph = e["ph"].get<std::string>();
    if (ph == "X") steps += e["args"]["steps"].get<double>(), ++slices;
    begins += ph == "b";
    ends += ph == "e";
  }
  EXPECT_DOUBLE_EQ(steps, doc["result"]["steps"].get<double>());
  EXPECT_EQ(slices, t["otherData"]["iterations_recorded"].get<size_t>());
  EXPECT_EQ(begins, ends);
  EXPECT_GE(begins, 120u);  // every request's wait + prefill, and its decode when it has one
  EXPECT_EQ(t["otherData"]["iterations_dropped"], 0);
}

TEST(CliSimulate, BadInputsAreExitCode2) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  auto none = with({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("arrival mode"), std::string::npos) << none.err;
  EXPECT_EQ(with({"--concurrency", "4", "--rate", "2"}).exit_code, 2);
  EXPECT_EQ(with({"--concurrency", "2.5"}).exit_code, 2);
  const auto sched = with({"--batch", "--scheduler", "fastest"});
  EXPECT_EQ(sched.exit_code, 2);
  EXPECT_NE(sched.err.find("prefill-first"), std::string::npos) << sched.err;
  EXPECT_EQ(with({"--batch", "--length-spread", "1.5"}).exit_code, 2);
  // A value given is checked, never read as "use the default".
  for (const auto& bad : std::vector<std::vector<std::string>>{{"--batch", "--requests", "0"},
                                                               {"--batch", "--step-tokens", "0"},
                                                               {"--batch", "--max-running", "0"},
                                                               {"--batch", "--isl", "0"},
                                                               {"--rate", "-3"},
                                                               {"--concurrency", "0"}}) {
    const auto b = with(bad);
    EXPECT_EQ(b.exit_code, 2) << bad[1];
    EXPECT_NE(b.err.find(bad[1]), std::string::npos) << b.err;
  }
  const auto big = with({"--batch", "--isl", "2000000", "--osl", "10", "--requests", "2"});
  EXPECT_EQ(big.exit_code, 2);
  EXPECT_NE(big.err.find("can never run"), std::string::npos) << big.err;
}


// Prefill/decode disaggregation: the other flags describe the decode pool; the document names
// both pools, the link and what moved over it; the per-chip figures count both pools' chips.
TEST(CliSimulate, DisaggregatedServiceNamesBothPoolsAndTheLink) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--dp", "2", "--rate", "6", "--requests", "300", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto r = with({"--prefill-replicas", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  const auto& dis = j["disaggregation"];
  EXPECT_EQ(dis["prefill"]["replicas"], 1);
  EXPECT_EQ(dis["decode"]["replicas"], 2);
  EXPECT_EQ(j["chips"], 3);
  EXPECT_NEAR(j["result"]["output_tok_s_per_chip"].get<double>(), j["result"]["output_tok_s"].get<double>() / 3, 1e-9);
  EXPECT_EQ(dis["transfers"]["count"], 300);
  EXPECT_GT(dis["transfers"]["bytes"].get<double>(), 0);
  EXPECT_EQ(dis["link"]["network"], "scale-out");
  EXPECT_NE(dis["link"]["bandwidth_source"].get<std::string>().find("scale-out link of h100-sxm"), std::string::npos);
  EXPECT_EQ(dis["prefill"]["requests_per_replica"].get<std::vector<size_t>>(), std::vector<size_t>{300});
  EXPECT_EQ(with({"--prefill-replicas", "1"}).out, r.out);  // same inputs, same bytes
  // A prefill pool of another system and layout; a given link.
  const auto other = with({"--prefill-replicas", "2", "--prefill-hardware", "h200-sxm", "--prefill-tp", "2",
                           "--kv-transfer-gbps", "25", "--kv-transfer-latency-us", "30", "--decode-router",
                           "least-kv"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  const auto jo = json::parse(other.out);
  EXPECT_EQ(jo["disaggregation"]["prefill"]["hardware"], "h200-sxm");
  EXPECT_EQ(jo["disaggregation"]["prefill"]["chips"], 4);
  EXPECT_EQ(jo["disaggregation"]["decode"]["router"], "least-kv");
  EXPECT_DOUBLE_EQ(jo["disaggregation"]["link"]["bandwidth_bytes_per_s_per_chip"].get<double>(), 25e9);
  EXPECT_DOUBLE_EQ(jo["disaggregation"]["link"]["latency_s"].get<double>(), 30e-6);
  EXPECT_GE(jo["disaggregation"]["transfers"]["transfer_ms"]["mean"].get<double>(), 0.030);
  EXPECT_EQ(jo["chips"], 6);
  // Each pool's default token budget is its own system's: an SRAM decode pool's small activation
  // buffer does not chunk the prompts of the HBM prefill pool.
  const auto lpu = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "groq-lpu", "--tp", "32",
                            "--pp", "2", "--weights", "fp8", "--kv", "fp8", "--rate", "2", "--requests", "100",
                            "--prefill-replicas", "1", "--prefill-hardware", "h100-sxm", "--prefill-tp", "1",
                            "--prefill-pp", "1", "--kv-transfer-gbps", "50", "--json"});
  ASSERT_EQ(lpu.exit_code, 0) << lpu.err;
  const auto jl = json::parse(lpu.out);
  const double h100_budget = test::efficiency_table().for_family("hopper").activation_tokens;
  const double lpu_budget = test::efficiency_table().for_family("groq-lpu").activation_tokens;
  ASSERT_LT(lpu_budget, h100_budget);
  EXPECT_DOUBLE_EQ(jl["disaggregation"]["prefill"]["step_tokens"].get<double>(), h100_budget);
  // The text names both pools.
  auto text_args = base;
  text_args.pop_back();
  text_args.insert(text_args.end(), {"--prefill-replicas", "1"});
  const auto text = run_cli(text_args);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("disaggregated: prefill 1 x h100-sxm"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("KV moved: 300 transfers"), std::string::npos) << text.out;
  // What cannot work: exit 2, named.
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad{
      {{"--prefill-tp", "2"}, "--prefill-tp needs --prefill-replicas"},
      {{"--prefill-replicas", "0"}, "--prefill-replicas must be a whole number"},
      {{"--prefill-replicas", "1", "--kv-transfer-gbps", "0"}, "--kv-transfer-gbps must be a finite number"},
      {{"--prefill-replicas", "1", "--kv-transfer-latency-us", "-1"}, "--kv-transfer-latency-us: must be >= 0"},
      {{"--prefill-replicas", "1", "--prefill-hardware", "tpu-v6e"}, "tpu-v6e states no scale-out bandwidth"},
      {{"--prefill-replicas", "1", "--prefill-hardware", "h200-sxm", "--kv-transfer-link", "scale-up"},
       "needs both pools on one system type"},
      {{"--prefill-replicas", "8", "--kv-transfer-link", "scale-up"}, "exceed the 8-chip scale-up domain"},
      {{"--prefill-replicas", "1", "--decode-router", "prefix-affinity"}, "decode pool does not compute"},
      {{"--prefill-replicas", "1", "--prefill-tp", "64"}, "prefill pool:"},
  };
  for (const auto& [extra, part] : bad) {
    const auto e = with(extra);
    EXPECT_EQ(e.exit_code, 2) << part << ": " << e.out;
    EXPECT_NE(e.err.find(part), std::string::npos) << e.err;
  }
}

// The rate search over a disaggregated service, and over every split of a chip budget beside
// the colocated deployment on the same chips: each split's rate is the one the plain search
// finds for that service, and the best is the one with the most output tokens per chip.
TEST(CliSimulate, FindSplitSearchesEverySplitOfTheChipsAndTheColocatedDeployment) {
  const std::vector<std::string> base{"simulate",   "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm",
                                      "--isl",      "3000",    "--osl",                 "200",        "--requests",
                                      "300",        "--find-max-rate", "--max-p99-ttft-ms", "1500",   "--max-p99-tpot-ms",
                                      "40",         "--json"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  auto rate_of = [&](std::vector<std::string> extra) {
    const auto r = with(extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out)["find_max_rate"]["rate_per_s"].get<double>();
  };
  // One disaggregated service: the rate found meets the limits at the probe reported.
  const auto one = with({"--prefill-replicas", "1", "--dp", "2"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto j1 = json::parse(one.out);
  EXPECT_EQ(j1["chips"], 3);
  EXPECT_EQ(j1["disaggregation"]["prefill"]["replicas"], 1);
  EXPECT_EQ(j1["disaggregation"]["transfers"]["count"], j1["at_rate"]["requests"]);
  EXPECT_LE(j1["at_rate"]["ttft_ms"]["p99"].get<double>(), 1500);
  EXPECT_LE(j1["at_rate"]["tpot_ms"]["p99"].get<double>(), 40);
  EXPECT_GT(j1["find_max_rate"]["rate_per_s"].get<double>(), 0);

  const auto r = with({"--find-split", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  const auto& fs = j["find_split"];
  EXPECT_EQ(fs["chips"], 4);
  const auto& options = fs["options"];
  ASSERT_EQ(options.size(), 4u);  // colocated x4, then 1+3, 2+2, 3+1
  EXPECT_EQ(options[0]["service"], "colocated");
  EXPECT_EQ(options[0]["decode_replicas"], 4);
  EXPECT_DOUBLE_EQ(options[0]["rate_per_s"].get<double>(), rate_of({"--dp", "4"}));
  size_t best = 0;
  for (size_t k = 1; k < options.size(); ++k) {
    const auto& o = options[k];
    EXPECT_EQ(o["service"], "disaggregated");
    EXPECT_EQ(o["prefill_replicas"], k);
    EXPECT_EQ(o["decode_replicas"], 4 - k);
    EXPECT_EQ(o["chips"], 4);
    ASSERT_TRUE(o["found"].get<bool>()) << o.dump();
    EXPECT_DOUBLE_EQ(o["rate_per_s"].get<double>(),
                     rate_of({"--prefill-replicas", std::to_string(k), "--dp", std::to_string(4 - k)}))
        << k;
    EXPECT_NEAR(o["output_tok_s_per_chip"].get<double>(), o["output_tok_s"].get<double>() / 4, 1e-9);
    EXPECT_GT(o["usd_per_mtok_output"].get<double>(), 0);
    if (o["output_tok_s_per_chip"].get<double>() > options[best]["output_tok_s_per_chip"].get<double>()) best = k;
  }
  // One system type: the cheapest per Mtok is the most tokens per chip.
  EXPECT_NE(fs["ranked_by"].get<std::string>().find("USD per Mtok output"), std::string::npos);
  EXPECT_EQ(fs["best"], best);
  EXPECT_EQ(with({"--find-split", "4"}).out, r.out);  // same inputs, same bytes
  auto text_args = base;
  text_args.pop_back();
  text_args.insert(text_args.end(), {"--find-split", "4"});
  const auto text = run_cli(text_args);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("4 chips split between prefill 1 x h100-sxm"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("\nbest: "), std::string::npos) << text.out;
  // What cannot work: exit 2, named.
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad{
      {{"--find-split", "4", "--dp", "2"}, "--find-split cannot be combined with --dp"},
      {{"--find-split", "4", "--prefill-replicas", "1"}, "--find-split cannot be combined with --prefill-replicas"},
      {{"--find-split", "1"}, "--find-split must be a whole number of chips in [2, 65536]"},
      {{"--find-split", "2.5"}, "--find-split must be a whole number"},
      {{"--find-split", "4", "--prefill-tp", "4"}, "cannot hold one prefill replica (4 chips)"},
      {{"--find-split", "4", "--requests-csv", "/tmp/never.csv"}, "--requests-csv cannot be combined with --find-split"},
      {{"--find-split", "16", "--kv-transfer-link", "scale-up"}, "exceed the 8-chip scale-up domain"},
      {{"--chrome-trace", "/tmp/never.json"}, "--chrome-trace cannot be combined with --find-max-rate"},
  };
  for (const auto& [extra, part] : bad) {
    const auto e = with(extra);
    EXPECT_EQ(e.exit_code, 2) << part << ": " << e.out;
    EXPECT_NE(e.err.find(part), std::string::npos) << e.err;
  }
  const auto none = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--requests",
                             "300", "--find-max-rate", "--max-p99-tpot-ms", "0.001", "--find-split", "4"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_TRUE(none.out.empty()) << none.out;
  EXPECT_NE(none.err.find("neither the colocated deployment nor any split meets"), std::string::npos) << none.err;
  const auto no_search = run_cli({"simulate", "--model", "llama-3.1-8b-instruct", "--hardware", "h100-sxm", "--rate",
                                  "1", "--find-split", "4"});
  EXPECT_EQ(no_search.exit_code, 2);
  EXPECT_NE(no_search.err.find("--find-split needs --find-max-rate"), std::string::npos) << no_search.err;
}

// The run's economics: the deployment's chips at its price over the steady window's tokens; a
// system without a price on the basis has no cost but keeps its tokens per MW.
TEST(CliSimulate, EconomicsPriceTheRunsTokens) {
  const std::vector<std::string> base{"simulate", "--model", "llama-3.1-8b-instruct", "--rate", "5",
                                      "--requests", "300", "--json", "--hardware"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const auto r = with({"h100-sxm", "--dp", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  const auto& e = j["economics"];
  EXPECT_EQ(e["price_basis"], "owned");
  EXPECT_EQ(e["tokens_over"], "steady window");
  EXPECT_EQ(e["chips"], 2);
  const double out = j["metrics"]["steady_window"]["output_throughput"];
  const double per_chip_hour = e["pools"][0]["usd_per_busy_chip_hour"];
  EXPECT_NEAR(e["usd_per_hour"].get<double>(), 2 * per_chip_hour, 1e-9);
  EXPECT_NEAR(e["usd_per_mtok_output"].get<double>(), 2 * per_chip_hour / (out * 3600) * 1e6, 1e-9);
  const double watts = e["pools"][0]["facility_power_w_per_chip"];
  EXPECT_NEAR(e["output_tok_s_per_mw"].get<double>(), out / (2 * watts / 1e6), 1e-6);
  const auto rental = with({"h100-sxm", "--dp", "2", "--price-basis", "rental"});
  ASSERT_EQ(rental.exit_code, 0) << rental.err;
  EXPECT_EQ(json::parse(rental.out)["economics"]["pools"][0]["pricing"], "rental");
  // More PUE, more facility power, fewer tokens per MW.
  const auto pue = json::parse(with({"h100-sxm", "--dp", "2", "--pue", "1.5"}).out)["economics"];
  EXPECT_LT(pue["output_tok_s_per_mw"].get<double>(), e["output_tok_s_per_mw"].get<double>());
  const auto unpriced = with({"vr200-nvl144"});
  ASSERT_EQ(unpriced.exit_code, 0) << unpriced.err;
  const auto ju = json::parse(unpriced.out)["economics"];
  EXPECT_TRUE(ju["usd_per_mtok_output"].is_null());
  EXPECT_GT(ju["output_tok_s_per_mw"].get<double>(), 0);
  EXPECT_NE(ju["missing"][0].get<std::string>().find("no price on the basis"), std::string::npos);
  // Two pools: each priced, the prefill pool's cost over input tokens.
  const auto pd = with({"h100-sxm", "--prefill-replicas", "1"});
  ASSERT_EQ(pd.exit_code, 0) << pd.err;
  const auto jp = json::parse(pd.out)["economics"];
  ASSERT_EQ(jp["pools"].size(), 2u);
  EXPECT_EQ(jp["pools"][0]["role"], "prefill");
  EXPECT_GT(jp["usd_per_mtok_input_prefill_pool"].get<double>(), 0);
}

// A scenario's disaggregation section is the prefill flags; colocated and disaggregated side by side.
TEST(CliScenario, DisaggregationSectionRunsBesideTheColocatedVariant) {
  test::TempDir dir;
  const auto file = dir.write("pd.yaml", R"(name: pd
model: llama-3.1-8b-instruct
hardware: h100-sxm
deployment: {dp: 2}
workload: {rate: 8, requests: 200, isl: 2000, osl: 100}
variants:
  - name: colocated
  - name: 1p1d
    deployment: {dp: 1}
    disaggregation: {prefill_replicas: 1, kv_transfer_gbps: 50, prefill_attention_dp: false}
)").string();
  const auto r = run_cli({"simulate", "--scenario", file, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  ASSERT_EQ(j["variants"].size(), 2u);
  EXPECT_FALSE(j["variants"][0]["result"].contains("disaggregation"));
  EXPECT_EQ(j["variants"][1]["result"]["chips"], 2);
  EXPECT_EQ(j["variants"][1]["result"]["disaggregation"]["prefill"]["replicas"], 1);
  const std::string cmd = j["variants"][1]["command"];
  for (const char* part : {"--prefill-replicas 1", "--prefill-attention-dp false", "--kv-transfer-gbps 50"})
    EXPECT_NE(cmd.find(part), std::string::npos) << cmd;
  EXPECT_EQ(j["variants"][1]["result"]["deployment"], "prefill TP1 PP1 DP1 wbf16/abf16 kvbf16 on h100-sxm + decode TP1 "
                                                      "PP1 DP1 wbf16/abf16 kvbf16 on h100-sxm");
  const auto typo = dir.write("typo.yaml", "model: llama-3.1-8b-instruct\nhardware: h100-sxm\nworkload: {rate: 1}\n"
                                           "disaggregation: {prefill_replica: 1}\n").string();
  const auto bad = run_cli({"simulate", "--scenario", typo});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("prefill_replica"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("prefill_replicas"), std::string::npos) << bad.err;
}

// ---- scenario files ----

// Variants run side by side; each variant's document is exactly what its command line gives, and
// `config expand` prints that command line. Relative trace paths are the file's folder's.
TEST(CliScenario, VariantsRunAsTheirCommandLinesAndExpandToThem) {
  test::TempDir dir;
  std::filesystem::copy(test::data_dir().parent_path() / "examples" / "bursty-trace.csv", dir.path() / "t.csv");
  const auto file = dir.write("s.yaml", R"(name: two-routers
model: llama-3.1-8b-instruct
hardware: h100-sxm
deployment: {dp: 2}
workload: {rate: 6, requests: 200, isl: 800, osl: 100, seed: 5}
slo: {ttft_ms: 300}
variants:
  - name: rr
  - name: lot
    router: least-outstanding-tokens
    deployment: {dp: 3}
  - name: traced
    workload: {trace: t.csv, rate: ~, requests: ~, isl: ~, osl: ~, seed: ~}
  - name: slow-frontend
    request_overhead_ms: 40
)").string();
  const auto r = run_cli({"simulate", "--scenario", file, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  ASSERT_EQ(j["variants"].size(), 4u);
  EXPECT_EQ(j["variants"][3]["result"]["engine"]["request_overhead_ms"].get<double>(), 40);
  EXPECT_LT(j["variants"][0]["result"]["engine"]["request_overhead_ms"].get<double>(), 40);
  EXPECT_EQ(j["scenario"]["name"], "two-routers");
  EXPECT_EQ(j["variants"][1]["result"]["router"]["policy"], "least-outstanding-tokens");
  EXPECT_EQ(j["variants"][1]["result"]["chips"], 3);
  EXPECT_EQ(j["variants"][0]["result"]["chips"], 2);  // a variant's override does not leak
  EXPECT_NE(j["variants"][2]["result"]["workload"]["arrivals"].get<std::string>().find("t.csv"), std::string::npos);
  // Each variant's document is its command line's, to the byte.
  const auto ex = run_cli({"config", "expand", file});
  ASSERT_EQ(ex.exit_code, 0) << ex.err;
  for (const auto& v : j["variants"]) {
    const std::string cmd = v["command"];
    EXPECT_NE(ex.out.find(cmd), std::string::npos) << cmd;
    std::vector<std::string> args;
    std::istringstream words(cmd.substr(std::string("tokenfactory ").size()));
    for (std::string w; words >> w;) args.push_back(w);
    args.emplace_back("--json");
    const auto direct = run_cli(args);
    ASSERT_EQ(direct.exit_code, 0) << direct.err;
    EXPECT_EQ(json::parse(direct.out), v["result"]) << cmd;
  }
  // The text table has one row per variant.
  const auto text = run_cli({"simulate", "--scenario", file});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* name : {"rr ", "lot ", "traced "}) EXPECT_NE(text.out.find(name), std::string::npos) << name;
}

// The share of a Mooncake-format trace's prompt tokens an unbounded prefix cache shared by
// every replica reuses: per request, its leading blocks seen before (at least one prompt token
// is computed), over all prompt tokens. The bound no cache size can beat.
double unbounded_prefix_hit_rate(const std::filesystem::path& trace) {
  std::ifstream in(trace);
  std::set<long long> seen;
  double hit = 0, total = 0;
  for (std::string line; std::getline(in, line);) {
    const auto r = json::parse(line);
    const double input = r["input_length"].get<double>();
    total += input;
    double k = 0;
    for (const auto& h : r["hash_ids"]) {
      if (!seen.count(h.get<long long>())) break;
      ++k;
    }
    hit += std::min(k * 512, input - 1);
    for (const auto& h : r["hash_ids"]) seen.insert(h.get<long long>());
  }
  return hit / total;
}

// Runs examples/kv-tiering-mooncake.yaml on `trace` and checks what it claims: each tier below
// the device raises the prefix reuse, none beyond the unbounded cache's; the full DRAM tier and
// the small DRAM with the SSD below reach that bound on the example trace; the bytes a tier
// loads are its blocks x a block's bytes; TTFT falls with each tier; and the cache-less fleet
// that meets the SLO costs twice the $/Mtok on twice the chips.
json run_kv_tiering(const std::filesystem::path& trace) {
  test::TempDir dir;
  const auto examples = test::data_dir().parent_path() / "examples";
  std::string text;
  {
    std::ifstream in(examples / "kv-tiering-mooncake.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  const std::string key = "workload: {trace: conversation-trace.jsonl}";
  const auto at = text.find(key);
  EXPECT_NE(at, std::string::npos);
  text.replace(at, key.size(), "workload: {trace: " + trace.string() + "}");
  const auto file = dir.write("s.yaml", text).string();
  const auto r = run_cli({"simulate", "--scenario", file, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto doc = json::parse(r.out);
  json out;
  for (const auto& v : doc["variants"]) out[v["name"].get<std::string>()] = v["result"];
  return out;
}

TEST(CliScenario, KvTieringExampleReachesTheUnboundedReuseWithTiers) {
  const auto trace = test::data_dir().parent_path() / "examples" / "conversation-trace.jsonl";
  const double bound = unbounded_prefix_hit_rate(trace);
  const auto v = run_kv_tiering(trace);
  ASSERT_EQ(v.size(), 6u);
  auto hit = [&](const char* name) { return v[name]["result"]["prefix_cache"]["hit_rate"].get<double>(); };
  auto ttft = [&](const char* name) { return v[name]["result"]["ttft_ms"]["mean"].get<double>(); };
  EXPECT_EQ(v["no-caching"]["result"]["prefix_cache"]["hit_tokens"].get<double>(), 0);
  EXPECT_LT(hit("hbm"), hit("hbm+8gb-dram"));
  EXPECT_LT(hit("hbm+8gb-dram"), hit("hbm+8gb-dram+ssd"));
  for (const char* n : {"hbm", "hbm+dram", "hbm+8gb-dram", "hbm+8gb-dram+ssd"}) EXPECT_LE(hit(n), bound + 1e-12) << n;
  EXPECT_NEAR(hit("hbm+dram"), bound, 1e-9);
  EXPECT_NEAR(hit("hbm+8gb-dram+ssd"), bound, 1e-9);
  EXPECT_LT(ttft("hbm+dram"), ttft("hbm+8gb-dram"));
  EXPECT_LT(ttft("hbm+8gb-dram"), ttft("hbm"));
  EXPECT_LT(ttft("hbm"), ttft("no-caching"));
  // A 512-token block of Llama-3.1-70B's BF16 KV on one of four chips: 80 layers x 8 KV heads x
  // 128 x (K, V) x 2 B x 512 tokens / 4.
  const double block_bytes = 80.0 * 8 * 128 * 2 * 2 * 512 / 4;
  for (const auto& t : v["hbm+8gb-dram+ssd"]["result"]["prefix_cache"]["offload"]["tiers"]) {
    const double blocks = t["hit_tokens"].get<double>() / 512;
    EXPECT_GT(blocks, 0) << t["name"];
    EXPECT_NEAR(t["loaded_bytes_per_chip"].get<double>(), blocks * block_bytes, 1e-6 * blocks * block_bytes) << t["name"];
    EXPECT_LE(t["peak_blocks_per_replica"].get<double>(), t["capacity_blocks_per_replica"].get<double>()) << t["name"];
  }
  // Without a cache the SLO takes twice the chips: the same tokens at twice the cost per token.
  const auto& big = v["no-caching-8-gpus"];
  EXPECT_EQ(big["chips"].get<int>(), 2 * v["hbm+dram"]["chips"].get<int>());
  EXPECT_GT(big["metrics"]["whole_run"]["slo_attainment"].get<double>(), 0.99);
  EXPECT_LT(v["no-caching"]["metrics"]["whole_run"]["slo_attainment"].get<double>(), 0.5);
  EXPECT_NEAR(big["economics"]["usd_per_mtok_output"].get<double>(),
              2 * v["hbm+dram"]["economics"]["usd_per_mtok_output"].get<double>(),
              0.02 * big["economics"]["usd_per_mtok_output"].get<double>());
}

// The same scenario on the Mooncake FAST'25 conversation trace itself (../shared): the tiers
// order the reuse the same way and none passes the trace's unbounded reuse.
TEST(CliScenario, KvTieringOnTheMooncakeConversationTrace) {
  const auto trace = test::shared_dir() / "traces" / "mooncake-fast25" / "conversation_trace.jsonl";
  if (!std::filesystem::exists(trace)) GTEST_SKIP() << "shared Mooncake trace not present: " << trace;
  const double bound = unbounded_prefix_hit_rate(trace);
  const auto v = run_kv_tiering(trace);
  auto hit = [&](const char* name) { return v[name]["result"]["prefix_cache"]["hit_rate"].get<double>(); };
  EXPECT_GT(hit("hbm"), 0);
  EXPECT_LE(hit("hbm"), hit("hbm+8gb-dram"));
  EXPECT_LT(hit("hbm+8gb-dram"), hit("hbm+8gb-dram+ssd"));
  EXPECT_LT(hit("hbm"), hit("hbm+dram"));
  for (const char* n : {"hbm", "hbm+dram", "hbm+8gb-dram", "hbm+8gb-dram+ssd"}) EXPECT_LE(hit(n), bound + 1e-12) << n;
}

// The disaggregation example: four chips in every variant, each priced on the rental basis, the
// split variants naming their pools (the CPX one a Rubin CPX prefill pool).
TEST(CliScenario, DisaggregationExampleComparesFourChipServices) {
  const auto file = (test::data_dir().parent_path() / "examples" / "disagg-cpx.yaml").string();
  const auto r = run_cli({"simulate", "--scenario", file, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  ASSERT_EQ(j["variants"].size(), 4u);
  for (const auto& v : j["variants"]) {
    const auto& d = v["result"];
    EXPECT_EQ(d["chips"], 4) << v["name"];
    EXPECT_EQ(d["economics"]["price_basis"], "rental");
    EXPECT_GT(d["economics"]["usd_per_mtok_output"].get<double>(), 0) << v["name"];
    EXPECT_EQ(d["workload"]["requests"], 400);
  }
  EXPECT_FALSE(j["variants"][0]["result"].contains("disaggregation"));
  const auto& cpx = j["variants"][2]["result"]["disaggregation"];
  EXPECT_EQ(cpx["prefill"]["hardware"], "rubin-cpx");
  EXPECT_EQ(cpx["decode"]["hardware"], "vr200-nvl144");
  EXPECT_EQ(cpx["transfers"]["count"], 400);
  // The link is the slower system's scale-out figure.
  EXPECT_NE(cpx["link"]["bandwidth_source"].get<std::string>().find("rubin-cpx and vr200-nvl144"), std::string::npos);
}

// A bad scenario names the file, the line and the key (or the variant and its command line), exit 2.
TEST(CliScenario, BadFilesNameTheKeyTheLineOrTheVariant) {
  test::TempDir dir;
  const std::string head = "model: llama-3.1-8b-instruct\nhardware: h100-sxm\n";
  const std::vector<std::pair<std::string, std::string>> cases{
      {head + "worklod: {rate: 3}\n", "s.yaml:3: 'worklod': unknown key (did you mean 'workload'?"},
      {head + "workload: {rate: fast}\n", "s.yaml:3: 'workload.rate': 'fast' is not a number"},
      {head + "workload: {rate: 3, bogus: 1}\n", "'workload.bogus': unknown key"},
      {head + "workload: {rate: .nan}\n", "'workload.rate'"},
      {head + "workload: {rate: ~}\n", "a null removes a key only in a variant"},
      {head + "workload: {rate: 3}\nvariants:\n  - router: least-kv\n", "missing required key 'name'"},
      {head + "workload: {rate: 3}\nvariants:\n  - name: a\n  - name: a\n", "variant 'a' is named twice"},
      {head + "workload: {rate: 3}\nvariants: []\n", "'variants': is empty"},
      {head + "workload: {rate: 3, requests: 20}\nvariants:\n  - name: a\n    router: random\n",
       "variant 'a': unknown --router 'random'"},
      {head + "deployment: {tp: [1, 2]}\nworkload: {rate: 3}\n", "'deployment.tp': must be a single value"},
  };
  for (const auto& [text, expect] : cases) {
    const auto file = dir.write("s.yaml", text).string();
    const auto r = run_cli({"simulate", "--scenario", file});
    EXPECT_EQ(r.exit_code, 2) << text;
    EXPECT_NE(r.err.find(expect), std::string::npos) << text << "\n" << r.err;
  }
  const auto ok = dir.write("ok.yaml", head + "workload: {rate: 3, requests: 20}\n").string();
  const auto extra = run_cli({"simulate", "--scenario", ok, "--rate", "4"});
  EXPECT_EQ(extra.exit_code, 2);
  EXPECT_NE(extra.err.find("--rate cannot be combined with --scenario"), std::string::npos) << extra.err;
  const auto missing = run_cli({"config", "expand", (dir.path() / "none.yaml").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("none.yaml"), std::string::npos) << missing.err;
  const auto no_model = run_cli({"simulate", "--rate", "3"});
  EXPECT_EQ(no_model.exit_code, 2);
  EXPECT_NE(no_model.err.find("--model is required"), std::string::npos) << no_model.err;
}



// A hardware term its family's calibration left at a bound of its range (calibration.at_bound in
// data/calibration/<family>.yaml) travels into every result: the provenance names it (and the
// families that inherit the values), and frontier points bound by it are marked in the JSON and
// in the table, with a footnote naming the term and the file. An unknown key is refused.
TEST(CliFrontier, PointsBoundByATermFittedAtABoundAreMarked) {
  test::TempDir dir;
  const auto data = dir.path() / "data";
  std::filesystem::copy(test::data_dir(), data, std::filesystem::copy_options::recursive);
  // Sets the file's calibration.at_bound to `list` (replacing one already there).
  auto mark = [&](const std::string& family, const std::string& list) {
    const auto path = data / "calibration" / (family + ".yaml");
    std::string text = io::read_text_file(path);
    if (const auto old = text.find("\n  at_bound: "); old != std::string::npos)
      text.erase(old, text.find('\n', old + 1) - old);
    const auto fit = text.find("\n  fit: ");
    ASSERT_NE(fit, std::string::npos) << family;
    text.insert(text.find('\n', fit + 1), "\n  at_bound: " + list);
    std::ofstream(path) << text;
  };
  mark("hopper", "[memory_bandwidth_fraction]");
  mark("blackwell", "[network_fraction]");
  auto run = [&](const std::vector<std::string>& a) {
    std::vector<std::string> args{"--data", data.string()};
    args.insert(args.end(), a.begin(), a.end());
    std::ostringstream out, err;
    const int code = cli::run(args, out, err);
    return std::tuple{code, out.str(), err.str()};
  };
  const auto [code, out, err] = run({"frontier", "--model", "llama-3.1-70b-instruct", "--hardware", "h100-sxm,b300",
                                     "--isl", "1000", "--osl", "1000", "--json"});
  ASSERT_EQ(code, 0) << err;
  const auto j = json::parse(out);
  size_t memory_bound = 0, other = 0;
  for (const auto& sys : j["systems"]) {
    const auto& eff = sys["provenance"]["efficiency"];
    const std::string id = sys["hardware"].get<std::string>();
    const std::string term = id == "h100-sxm" ? "memory_bandwidth_fraction" : "network_fraction";
    // b300 (blackwell-ultra) inherits blackwell's values, and with them the flag.
    EXPECT_EQ(eff["at_bound"], json::array({term})) << id;
    EXPECT_NE(eff["summary"].get<std::string>().find(term + " fitted at a bound"), std::string::npos) << eff["summary"];
    for (const auto& p : sys["points"]) {
      const std::string bound = p["bound_by"].get<std::string>();
      const bool flagged = (id == "h100-sxm" && bound == "memory") || (id == "b300" && bound == "network");
      if (flagged) {
        EXPECT_EQ(p["bound_term_at_limit"], term) << id << " " << bound;
        ++memory_bound;
      } else {
        EXPECT_TRUE(p["bound_term_at_limit"].is_null()) << id << " " << bound;
        ++other;
      }
    }
  }
  EXPECT_GT(memory_bound, 0u);
  EXPECT_GT(other, 0u);
  // The table marks the bound column and names the term and the file.
  const auto [tcode, text, terr] =
      run({"frontier", "--model", "llama-3.1-70b-instruct", "--hardware", "h100-sxm", "--isl", "1000", "--osl", "1000"});
  ASSERT_EQ(tcode, 0) << terr;
  EXPECT_NE(text.find("memory! "), std::string::npos) << text;
  EXPECT_NE(text.find("! bound by memory_bandwidth_fraction, which the calibration of hopper"), std::string::npos)
      << text;
  EXPECT_NE(text.find("hopper.yaml"), std::string::npos) << text;
  // An unknown term is refused, naming the file.
  mark("hopper", "[step_overhead]");
  const auto [bcode, bout, berr] = run({"frontier", "--model", "llama-3.1-70b-instruct", "--hardware", "h100-sxm"});
  EXPECT_EQ(bcode, 2);
  EXPECT_NE(berr.find("hopper.yaml"), std::string::npos) << berr;
  EXPECT_NE(berr.find("'step_overhead' is not a hardware term"), std::string::npos) << berr;
}

}  // namespace
}  // namespace tf
