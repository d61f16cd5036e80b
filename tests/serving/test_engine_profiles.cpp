// Engine profiles are data: every bundled profile loads with its citation, the alias table maps
// phrases in order, and malformed files are errors naming the file and key.
#include <gtest/gtest.h>

#include <fstream>

#include "core/diagnostic.hpp"
#include "support/fixtures.hpp"
#include "support/test_support.hpp"

namespace tf::serving {
namespace {

TEST(EngineProfiles, BundledProfilesLoadWithSources) {
  const auto& e = test::engine_profiles();
  for (const char* id : {"default", "vllm-v0", "vllm-v1", "sglang", "tensorrt-llm", "atom", "sglang-jax", "jetstream",
                         "neuron", "vllm-gaudi"}) {
    const auto& p = e.get(id);
    EXPECT_FALSE(p.citation.empty()) << id;
    EXPECT_FALSE(p.memory.source.empty()) << id;
    EXPECT_GT(p.memory.fraction, 0) << id;
    EXPECT_LE(p.memory.fraction, 1) << id;
    EXPECT_GE(p.token_budget, 1) << id;
  }
  EXPECT_THROW((void)e.get("nope"), DiagnosticError);
  // First match wins: SGLang-JAX before SGLang, vLLM 0.6 before vLLM.
  EXPECT_EQ(e.match("SGLang-JAX main on TPU").profile->id, "sglang-jax");
  EXPECT_EQ(e.match("sglang v0.5.5").profile->id, "sglang");
  EXPECT_EQ(e.match("vLLM ~0.6.3 benchmark_throughput").profile->id, "vllm-v0");
  EXPECT_EQ(e.match("vllm serve 0.10").profile->id, "vllm-v1");
  const auto none = e.match("an engine nobody knows");
  EXPECT_FALSE(none.recognised);
  EXPECT_EQ(none.profile->id, "default");
}

std::string load_error(const std::string& file, const std::string& text) {
  test::TempDir dir;
  const auto d = dir.path() / "engines";
  std::filesystem::create_directories(d);
  for (const auto& f : std::filesystem::directory_iterator(test::data_dir() / "engines"))
    std::filesystem::copy_file(f.path(), d / f.path().filename());
  std::ofstream(d / file, std::ios::trunc) << text;
  try {
    (void)EngineProfiles::load(d);
  } catch (const DiagnosticError& e) {
    return e.what();
  }
  return "no error";
}

// Engines that preempt allocate paged KV on demand; engines that never evict reserve the whole
// context (the simulator's two KV admission policies).
TEST(EngineProfiles, KvAdmissionFollowsThePreemptionPolicy) {
  const auto& e = test::engine_profiles();
  for (const char* id : {"vllm-v1", "vllm-v0", "sglang", "atom"})
    EXPECT_EQ(kv_admission_for(e.get(id)), KvAdmission::paged) << id;
  for (const char* id : {"tensorrt-llm", "default", "jetstream", "neuron"})
    EXPECT_EQ(kv_admission_for(e.get(id)), KvAdmission::whole_context) << id;
}

TEST(EngineProfiles, BadFilesNameTheFileAndKey) {
  EXPECT_NE(load_error("aliases.yaml", "engines:\n  - {match: [x], engine: ghost}\n").find("unknown engine 'ghost'"),
            std::string::npos);
  EXPECT_NE(load_error("aliases.yaml", "engines:\n  - {match: [\"\"], engine: sglang}\n").find("empty phrase"),
            std::string::npos);
  EXPECT_NE(load_error("aliases.yaml", "engines: []\nextra: 1\n").find("extra"), std::string::npos);
  const std::string base =
      "engine: mine\nname: n\nversions: v\ncitation: c\nscheduler: {value: mixed, source: s}\n"
      "token_budget: {value: 8192, source: s}\nmax_sequences: {value: 0, source: s}\n"
      "preemption: {value: none, source: s}\ngraphs: {value: true, source: s}\n";
  EXPECT_NE(load_error("mine.yaml", base + "memory_policy: {kind: fraction_of_total, fraction: {value: 1.5, source: s}}\n")
                .find("mine.yaml"),
            std::string::npos);
  EXPECT_NE(load_error("mine.yaml", base + "memory_policy: {kind: half, fraction: {value: 0.9, source: s}}\n")
                .find("unknown memory policy"),
            std::string::npos);
  EXPECT_NE(load_error("other.yaml", base + "memory_policy: {kind: fraction_of_free, fraction: {value: 0.9, source: s}}\n")
                .find("does not match the file name"),
            std::string::npos);
  EXPECT_EQ(load_error("mine.yaml", base + "memory_policy: {kind: fraction_of_free, fraction: {value: 0.9, source: s}}\n"),
            "no error");
  const std::string policy = "memory_policy: {kind: fraction_of_free, fraction: {value: 0.9, source: s}}\n";
  EXPECT_NE(load_error("mine.yaml", base + policy + "moe_dispatch: {value: fp32, source: s}\n").find("moe_dispatch"),
            std::string::npos);
  EXPECT_NE(load_error("mine.yaml", base + policy + "moe_dispatch: {value: fp7, source: s}\n").find("mine.yaml:11"),
            std::string::npos);
  EXPECT_EQ(load_error("mine.yaml", base + policy + "moe_dispatch: {value: fp8, source: s}\n"), "no error");
}

// The engine's MoE dispatch precision reaches the deployment unless the user chose one.
TEST(EngineProfiles, ApplyEngineSetsMemoryPolicyAndDispatchUnlessChosen) {
  EngineProfile p;
  p.memory.fraction = 0.8;
  p.moe_dispatch = Precision::fp8;
  cost::DeploymentSpec spec;
  apply_engine(p, spec);
  ASSERT_TRUE(spec.memory_policy && spec.moe_dispatch);
  EXPECT_DOUBLE_EQ(spec.memory_policy->fraction, 0.8);
  EXPECT_EQ(*spec.moe_dispatch, Precision::fp8);
  ASSERT_TRUE(spec.launch);
  EXPECT_EQ(*spec.launch, cost::Launch::graphs);
  cost::DeploymentSpec chosen;
  chosen.moe_dispatch = Precision::bf16;
  chosen.launch = cost::Launch::eager;  // e.g. a run's notes say --enforce-eager
  apply_engine(p, chosen);
  EXPECT_EQ(*chosen.moe_dispatch, Precision::bf16);
  EXPECT_EQ(*chosen.launch, cost::Launch::eager);
  // A profile without graphs runs eager.
  p.graphs = false;
  cost::DeploymentSpec plain;
  apply_engine(p, plain);
  EXPECT_EQ(*plain.launch, cost::Launch::eager);
}

}  // namespace
}  // namespace tf::serving
