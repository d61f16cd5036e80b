// The step-cost engine against hand-computed cases and physical invariants.
#include <gtest/gtest.h>

#include <cmath>

#include "core/diagnostic.hpp"
#include "cost/estimate.hpp"
#include "model/accounting.hpp"
#include "cost/cost_setup.hpp"
#include "support/fixtures.hpp"

namespace tf::cost {
namespace {

using test::efficiency_table;
using test::hardware_catalog;
using test::model_catalog;

using test_setup::make;
using test_setup::Setup;

StepCostModel model_of(Setup& s) { return s.build(); }

DeploymentSpec fp8_tp(int tp) {
  DeploymentSpec d;
  d.tp = tp;
  d.weights = Precision::fp8;
  d.kv = Precision::fp8;
  return d;
}

TEST(StepCost, Llama70bFp8H100Tp4WeightBytesPerChipByHand) {
  auto s = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", fp8_tp(4));
  const auto m = model_of(s);
  // Transformer weights at 1 byte split over 4 chips; embedding and LM head kept at 2 bytes.
  const double emb = 128256.0 * 8192;
  const double body = 70553706496.0 - 2 * emb;
  EXPECT_DOUBLE_EQ(m.memory().weights_bytes, body / 4 + 2 * emb * 2 / 4);
  EXPECT_EQ(s.deployment.gemm_class, ComputeClass::fp8);
}

TEST(StepCost, Llama70bFp8H100Tp4Batch1BoundedByWeightsOverBandwidth) {
  auto s = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", fp8_tp(4));
  const auto m = model_of(s);
  const double peak_bw = 3.35e12;
  // Every decode step reads all weights except the input embedding (a row lookup).
  const double emb_per_chip = 128256.0 * 8192 * 2 / 4;
  const double read = m.memory().weights_bytes - emb_per_chip;
  const auto e = estimate(m, Workload{1024, 1024, 1});
  EXPECT_TRUE(e.feasible) << e.reason;
  EXPECT_GE(e.tpot_s, read / peak_bw);
  EXPECT_GE(e.tpot_s, m.ceiling_step_time(1, 1024 + 512));
  // The ceiling at batch 1 is bytes over peak bandwidth (weights + one sequence's KV, +
  // activations) plus the wire latency of the 2 x 80 all-reduces (10 us each on NVLink4).
  const double kv = 2.0 * 80 * 8 * 128 * 1 / 4 * (1024 + 512);  // fp8 KV, 8 kv heads over TP4
  const double floor = 160 * 10e-6;
  EXPECT_NEAR(m.collective_floor_s(), floor, 1e-15);
  const double t = m.ceiling_step_time(1, 1024 + 512);
  EXPECT_GT(t, (read + kv) / peak_bw + floor);
  EXPECT_LT(t, (read + kv) / peak_bw * 1.01 + floor);  // activations add well under 1%
  EXPECT_NEAR(e.output_tok_s_per_user, 1000.0 / (e.tpot_s * 1e3), 1e-9);
}

TEST(StepCost, MoreBandwidthNeverSlowsAStep) {
  for (const char* hw : {"h100-sxm", "b200", "mi300x"}) {
    auto base = make("Qwen/Qwen3-30B-A3B", hw, fp8_tp(2));
    auto fast = base;
    for (auto& t : fast.system.memory) t.bandwidth_bytes_per_s.value *= 1.7;
    fast.system.scale_up.bandwidth_bytes_per_s->value *= 1.7;
    const auto mb = model_of(base);
    const auto mf = model_of(fast);
    for (double seqs : {1.0, 8.0, 64.0, 512.0}) {
      for (double prefill : {0.0, 2048.0}) {
        Batch b{seqs, 3000, prefill, 2048, prefill > 0 ? 1.0 : 0.0};
        EXPECT_LE(mf.step(b).time_s, mb.step(b).time_s) << hw << " " << seqs;
      }
    }
  }
}

TEST(StepCost, MoreFlopsNeverChangesAMemoryBoundStep) {
  auto base = make("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", fp8_tp(1));
  auto fast = base;
  for (auto& [cls, q] : fast.system.compute) q.value *= 3;
  const auto mb = model_of(base);
  const auto mf = model_of(fast);
  const Batch b{4, 2000, 0, 0, 0};
  const auto sb = mb.step(b);
  for (const auto& g : sb.groups) ASSERT_NE(g.bound, Bound::compute) << "fixture must be memory bound";
  EXPECT_DOUBLE_EQ(mf.step(b).time_s, sb.time_s);
  // A compute-bound prefill does get faster.
  const Batch p{0, 0, 8192, 8192, 1};
  EXPECT_LT(mf.step(p).time_s, mb.step(p).time_s);
}

TEST(StepCost, OversizedBatchIsInfeasibleWithReason) {
  auto s = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", fp8_tp(4));
  const auto m = model_of(s);
  const double fit = m.max_sequences(8192 + 1024);  // under the engine's memory policy
  ASSERT_GT(fit, 1);
  EXPECT_TRUE(estimate(m, Workload{8192, 1024, fit}).feasible);
  // The ceiling's capacity is physical: every byte the weights leave, so it holds more.
  const auto c = compute_ceiling(m, 8192, 1024);
  EXPECT_GT(c.max_concurrency, fit);
  const double per_seq = m.kv_bytes_per_chip(1, 8192 + 1024);
  EXPECT_DOUBLE_EQ(c.max_concurrency, std::floor((80.0 * (1 << 30) - m.memory().weights_bytes) / per_seq));
  const auto e = estimate(m, Workload{8192, 1024, fit + 1});
  EXPECT_FALSE(e.feasible);
  EXPECT_NE(e.reason.find("KV cache needs"), std::string::npos) << e.reason;
  EXPECT_NE(e.reason.find("free on h100-sxm"), std::string::npos) << e.reason;
}

TEST(StepCost, WeightsThatDoNotFitAreInfeasibleNotAnError) {
  auto s = make("meta-llama/Llama-3.1-405B-Instruct", "h100-sxm", fp8_tp(1));
  const auto m = model_of(s);
  EXPECT_FALSE(m.memory().weights_fit);
  const auto e = estimate(m, Workload{1024, 128, 1});
  EXPECT_FALSE(e.feasible);
  EXPECT_NE(e.reason.find("weights need"), std::string::npos);
  EXPECT_EQ(e.ceiling.max_concurrency, 0);
}

TEST(StepCost, ThroughputFallsAsInputLengthGrows) {
  auto s = make("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", fp8_tp(1));
  const auto m = model_of(s);
  double prev = 1e300;
  for (double isl : {128.0, 1024.0, 4096.0, 16384.0}) {
    const auto e = estimate(m, Workload{isl, 512, 32});
    EXPECT_LT(e.output_tok_s_per_chip, prev) << isl;
    prev = e.output_tok_s_per_chip;
  }
}

TEST(StepCost, EstimateNeverAboveItsCeiling) {
  for (const char* id : {"meta-llama/Llama-3.1-70B-Instruct", "deepseek-ai/DeepSeek-R1", "openai/gpt-oss-120b"}) {
    DeploymentSpec spec = fp8_tp(8);
    if (model_catalog().resolve(id).is_moe()) spec.ep = 8;
    auto s = make(id, "h200-sxm", spec);
    const auto m = model_of(s);
    const auto c = compute_ceiling(m, 2048, 512);
    for (const auto& p : c.curve) {
      const auto e = estimate(m, Workload{2048, 512, p.concurrency}, false);
      EXPECT_LE(e.output_tok_s_per_chip, p.output_tok_s_per_chip) << id << " at " << p.concurrency;
      EXPECT_LE(e.output_tok_s_per_user, p.output_tok_s_per_user) << id;
      EXPECT_LE(e.output_tok_s_per_user, c.max_output_tok_s_per_user) << id;
    }
  }
}

TEST(StepCost, MoeBatchOneReadsOnlyTheActiveExperts) {
  DeploymentSpec spec;
  spec.weights = Precision::bf16;
  auto s = make("mistralai/Mixtral-8x7B-v0.1", "h200-sxm", spec);
  const auto m = model_of(s);
  const Batch one{1, 100, 0, 0, 0};
  const auto c = m.step(one);
  // 32 MoE layers x 2 of 8 experts x 3 x 4096 x 14336 x 2 bytes, plus the dispatch traffic:
  // 32 layers x 2 copies x 4 passes x 4096 x 2 bytes per token.
  const double expected = 32.0 * 2 * 3 * 4096 * 14336 * 2;
  const double dispatch = 32.0 * 2 * 4 * 4096 * 2;
  EXPECT_NEAR(c.groups[static_cast<size_t>(OpGroup::moe_experts)].bytes, expected + dispatch, expected * 1e-12);
  // A large batch touches (almost) all experts: 8 x the per-expert bytes.
  const Batch many{256, 100, 0, 0, 0};
  EXPECT_NEAR(m.step(many).groups[static_cast<size_t>(OpGroup::moe_experts)].bytes, expected * 4 + 256 * dispatch,
              expected * 1e-6);
}

// The MoE kernel floor (Efficiency::moe_floor_s, kernel-measured): every MoE layer's expert
// kernels take it on top of their roofline, by hand: Mixtral-8x7B has 32 MoE layers, so a step
// with tokens costs 32 x the floor more in the expert group and nothing elsewhere; a step with no
// tokens launches nothing; the ceiling (peak-only) does not pay it; a dense model never does.
TEST(StepCost, MoeLayersPayTheKernelMeasuredFloor) {
  DeploymentSpec spec;
  spec.weights = Precision::bf16;
  // Two setups: a model reads its deployment's efficiency when it prices a step.
  auto s0 = make("mistralai/Mixtral-8x7B-v0.1", "h200-sxm", spec);
  auto s1 = make("mistralai/Mixtral-8x7B-v0.1", "h200-sxm", spec);
  s0.eff.moe_floor_s = 0;
  s1.eff.moe_floor_s = 40e-6;
  const auto none = model_of(s0);
  const auto with = model_of(s1);
  const auto experts = static_cast<size_t>(OpGroup::moe_experts);
  for (const Batch b : {Batch{1, 100, 0, 0, 0}, Batch{64, 2000, 0, 0, 0}, Batch{0, 0, 4096, 4096, 1}}) {
    const auto a = none.step(b), c = with.step(b);
    EXPECT_NEAR(c.groups[experts].time_s - a.groups[experts].time_s, 32 * 40e-6, 1e-12);
    for (size_t g = 0; g < kOpGroups; ++g)
      if (g != experts && g != static_cast<size_t>(OpGroup::overhead)) {
        EXPECT_DOUBLE_EQ(c.groups[g].time_s, a.groups[g].time_s) << g;
      }
  }
  EXPECT_DOUBLE_EQ(with.ceiling_step_time(64, 2000), none.ceiling_step_time(64, 2000));
  EXPECT_DOUBLE_EQ(with.step(Batch{}).time_s, none.step(Batch{}).time_s);
  auto e0 = make("meta-llama/Llama-3.1-8B-Instruct", "h200-sxm", spec);
  auto e1 = make("meta-llama/Llama-3.1-8B-Instruct", "h200-sxm", spec);
  e0.eff.moe_floor_s = 0;
  e1.eff.moe_floor_s = 40e-6;
  const auto d0 = model_of(e0);
  const auto d1 = model_of(e1);
  EXPECT_DOUBLE_EQ(d1.step(Batch{32, 1000, 0, 0, 0}).time_s, d0.step(Batch{32, 1000, 0, 0, 0}).time_s);
}

// kv_is_linear: the simulator's constant-time paged-KV sum relies on it. Full attention is linear
// in context; sliding (gpt-oss) and chunked (Llama 4) layers cap it, so those models are not.
TEST(StepCost, KvIsLinearOnlyWithoutWindowedLayers) {
  DeploymentSpec spec;
  auto dense = make("meta-llama/Llama-3.1-8B-Instruct", "h200-sxm", spec);
  const auto d = model_of(dense);
  EXPECT_TRUE(d.kv_is_linear());
  for (const double a : {1.0, 100.0, 5000.0})
    for (const double b : {1.0, 777.0, 200000.0})
      EXPECT_NEAR(d.kv_bytes_per_chip(1, a + b), d.kv_bytes_per_chip(1, a) + d.kv_bytes_per_chip(1, b),
                  1e-12 * d.kv_bytes_per_chip(1, a + b));
  for (const char* id : {"openai/gpt-oss-20b", "meta-llama/Llama-4-Scout-17B-16E-Instruct"}) {
    auto w = make(id, "h200-sxm", spec);
    const auto m = model_of(w);
    EXPECT_FALSE(m.kv_is_linear()) << id;
    EXPECT_LT(m.kv_bytes_per_chip(1, 400000), m.kv_bytes_per_chip(1, 200000) * 2) << id;
  }
}

TEST(StepCost, PipelineDoesNotSpeedUpASingleUser) {
  auto one = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", fp8_tp(2));
  auto spec = fp8_tp(2);
  spec.pp = 4;
  auto four = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", spec);
  const auto m1 = model_of(one);
  const auto m4 = model_of(four);
  const Batch b{1, 1000, 0, 0, 0};
  EXPECT_GE(m4.step(b).time_s, m1.step(b).time_s * 0.99);
  // ...but it holds more sequences per replica.
  EXPECT_GT(m4.max_sequences(2048), 3 * m1.max_sequences(2048));
}

TEST(StepCost, TensorParallelAddsAllReducesOverScaleUp) {
  auto s = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", fp8_tp(8));
  const auto m = model_of(s);
  const auto c = m.step(Batch{16, 1000, 0, 0, 0});
  const auto& g = c.groups[static_cast<size_t>(OpGroup::tp_collective)];
  // 2 all-reduces per layer x 80 layers, each: the link's 10 us + the engine's collective
  // latency + 2(n-1)/n x 16 tokens x 8192 x 2 B / (450 GB/s x network fraction).
  const double msg = 16.0 * 8192 * 2;
  const double per = 10e-6 + s.eff.collective_latency_s + 2.0 * 7 / 8 * msg / (450e9 * s.eff.network_fraction);
  EXPECT_NEAR(g.time_s, 160 * per, 1e-12);
  EXPECT_EQ(g.bound, Bound::network);
}

TEST(StepCost, AttentionDpHoldsWholeSequencesPerRank) {
  DeploymentSpec spec = fp8_tp(8);
  spec.ep = 8;
  spec.attention_dp = true;
  auto s = make("deepseek-ai/DeepSeek-R1", "b200", spec);
  const auto m = model_of(s);
  // One sequence's latent KV (fp8) on one rank: 61 x 576 B per token.
  const double per_seq = 61.0 * 576 * 4096;
  const double expect = std::floor(m.memory().kv_free_bytes / per_seq) * 8;
  EXPECT_DOUBLE_EQ(m.max_sequences(4096), expect);
}

TEST(StepCost, SramPartsPlaceWeightsInSram) {
  DeploymentSpec spec;
  spec.tp = 8;
  spec.pp = 32;
  spec.weights = Precision::fp8;
  spec.activations = Precision::bf16;
  auto s = make("meta-llama/Llama-3.1-8B-Instruct", "groq-lpu", spec);
  const auto m = model_of(s);
  EXPECT_EQ(m.memory().weight_tier, hardware::MemoryTierKind::sram);
}

Diagnostic layout_error(const std::string& model, const std::string& hw, DeploymentSpec spec) {
  try {
    make(model, hw, spec);
  } catch (const DiagnosticError& e) {
    return e.diagnostic();
  }
  ADD_FAILURE() << "no error";
  return {};
}

TEST(DeploymentValidation, ImpossibleLayoutsSayWhatIsValid) {
  auto d = layout_error("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", fp8_tp(3));
  EXPECT_NE(d.message.find("does not divide the 64 attention heads"), std::string::npos);
  EXPECT_NE(d.hint.find("valid TP: 1, 2, 4, 8"), std::string::npos) << d.hint;
  auto spec = fp8_tp(4);
  spec.chips = 6;
  d = layout_error("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", spec);
  EXPECT_NE(d.message.find("is not TP x PP x DP"), std::string::npos);
  spec = fp8_tp(1);
  spec.ep = 2;
  d = layout_error("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", spec);
  EXPECT_NE(d.message.find("dense model"), std::string::npos);
  spec = DeploymentSpec{};
  spec.activations = Precision::fp8;
  d = layout_error("meta-llama/Llama-3.1-8B-Instruct", "a100-sxm-80gb", spec);
  EXPECT_NE(d.message.find("no fp8 compute"), std::string::npos);
  EXPECT_NE(d.hint.find("bf16"), std::string::npos);
  spec = DeploymentSpec{};
  spec.pp = 200;
  d = layout_error("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", spec);
  EXPECT_NE(d.message.find("exceeds the 32 layers"), std::string::npos);
}

TEST(DeploymentValidation, DefaultsFollowTheModelAndChip) {
  // DeepSeek ships fp8 weights: fp8 math on H100, weight-only fp8 with bf16 math on A100.
  auto h = make("deepseek-ai/DeepSeek-R1", "h100-sxm", {});
  EXPECT_EQ(h.deployment.weights, Precision::fp8);
  EXPECT_EQ(h.deployment.activations, Precision::fp8);
  auto a = make("deepseek-ai/DeepSeek-R1", "a100-sxm-80gb", {});
  EXPECT_EQ(a.deployment.weights, Precision::fp8);
  EXPECT_EQ(a.deployment.activations, Precision::bf16);
}

TEST(Concurrency, GridIsGeometricAndEndsAtTheLimit) {
  const auto g = concurrency_grid(1000, 4);
  EXPECT_EQ(g.front(), 1);
  EXPECT_EQ(g.back(), 1000);
  for (size_t i = 1; i < g.size(); ++i) EXPECT_GT(g[i], g[i - 1]);
  EXPECT_TRUE(concurrency_grid(0.5, 4).empty());
}

}  // namespace
}  // namespace tf::cost

namespace tf::cost {
namespace {

TEST(DeploymentValidation, Fp4FormatsFollowTheChip) {
  DeploymentSpec spec;
  spec.weights = Precision::nvfp4;
  spec.activations = Precision::nvfp4;
  const auto d = layout_error("meta-llama/Llama-3.1-8B-Instruct", "mi355x", spec);
  EXPECT_NE(d.message.find("mxfp4 only"), std::string::npos) << d.message;
  spec.weights = spec.activations = Precision::mxfp4;
  auto ok = make("meta-llama/Llama-3.1-8B-Instruct", "mi355x", spec);
  EXPECT_EQ(ok.deployment.gemm_class, ComputeClass::fp4);
  // Blackwell lists no restriction: both 4-bit float formats run on its fp4 units.
  spec.weights = spec.activations = Precision::nvfp4;
  EXPECT_EQ(make("meta-llama/Llama-3.1-8B-Instruct", "b200", spec).deployment.gemm_class, ComputeClass::fp4);
  EXPECT_TRUE(hardware_catalog().get("mi350x").computes(Precision::mxfp4));  // inherited by the variant
  EXPECT_FALSE(hardware_catalog().get("mi350x").computes(Precision::nvfp4));
}

}  // namespace
}  // namespace tf::cost
