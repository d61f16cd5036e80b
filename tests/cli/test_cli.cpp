// The CLI in-process: JSON documents parsed and checked key by key, errors and exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace tf {
namespace {

using nlohmann::json;
using test::run_cli;

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
      EXPECT_DOUBLE_EQ(s["memory_capacity_bytes"].get<double>(), 80e9);
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
