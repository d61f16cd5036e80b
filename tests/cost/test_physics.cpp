// Engine physics that rankings rest on: pipeline micro-batches of whole sequences, the busiest
// expert-parallel rank, link topology and missing figures, the steady-state cycle, and the
// ceiling as a physical bound over every layout the sweep visits.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "core/diagnostic.hpp"
#include "cost/estimate.hpp"
#include "frontier/sweep.hpp"
#include "cost/cost_setup.hpp"
#include "support/fixtures.hpp"

namespace tf::cost {
namespace {

using test::efficiency_table;
using test::hardware_catalog;
using test::model_catalog;

using test_setup::make;

DeploymentSpec layout(int tp, int pp, Precision p = Precision::fp8) {
  DeploymentSpec d;
  d.tp = tp;
  d.pp = pp;
  d.weights = p;
  d.kv = p == Precision::bf16 ? Precision::bf16 : Precision::fp8;
  return d;
}

// With one request there is one micro-batch: a second stage only adds its hand-off, never
// halves the sequence (before: batch 1 became two half-sequences, PP2 152 vs PP1 124 tok/s/user).
TEST(Pipeline, NeverBeatsOneStagePerUserAtBatchOne) {
  auto one = make("meta-llama/Llama-3.1-8B-Instruct", "h200-sxm", layout(1, 1, Precision::bf16));
  auto two = make("meta-llama/Llama-3.1-8B-Instruct", "h200-sxm", layout(1, 2, Precision::bf16));
  const auto m1 = one.build();
  const auto m2 = two.build();
  const Workload w{100000, 2000, 1};
  const auto e1 = estimate(m1, w);
  const auto e2 = estimate(m2, w);
  ASSERT_TRUE(e1.feasible && e2.feasible) << e1.reason << e2.reason;
  EXPECT_LE(e2.output_tok_s_per_user, e1.output_tok_s_per_user);
  EXPECT_LE(e2.output_tok_s_per_user, e2.ceiling.max_output_tok_s_per_user);
  const auto pl = m2.pipeline(1.001);  // a fractional prompt share is not a second sequence
  EXPECT_EQ(pl.micro, 1);
  EXPECT_FALSE(pl.full);
}

// Whole sequences: 3 over 2 stages is micro-batches of 2 and 1; the larger paces the pipeline.
TEST(Pipeline, MicroBatchesAreWholeSequences) {
  auto s = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", layout(4, 2));
  const auto m = s.build();
  auto pl = m.pipeline(3);
  EXPECT_EQ(pl.micro, 2);
  EXPECT_EQ(pl.largest, 2);
  EXPECT_TRUE(pl.full);
  pl = m.pipeline(8);
  EXPECT_EQ(pl.micro, 2);
  EXPECT_EQ(pl.largest, 4);
  // Fewer micro-batches than stages: a token's path is the sum of the stages, the LM head once.
  const Batch one{1, 1000, 0, 0, 0};
  const auto c = m.step(one);
  auto ss = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", layout(4, 1));
  const auto single = ss.build().step(one);
  const auto lm = static_cast<size_t>(OpGroup::lm_head);
  EXPECT_NEAR(c.groups[lm].time_s, single.groups[lm].time_s, 1e-12);
}

// A micro-batch's next token waits for its last one to leave the last stage, which serves every
// micro-batch in flight: with fewer micro-batches than stages the pace is the longer of a
// micro-batch's path (the stages' sum, the LM head once) and micro x the last stage. Llama-3.1-8B
// over 16 stages holds 2 layers (~0.44 GB) per stage beside a 1.05 GB LM head on the last one,
// so 15 micro-batches wait 15 x (stage + LM head), not 16 x stage + LM head (before: the LM head
// counted once, 15 users ran 1.6x faster than the pipeline could serve them and an estimate
// passed its own ceiling).
TEST(Pipeline, LastStageServingEveryMicroBatchPacesAPartlyFullPipeline) {
  auto s = make("meta-llama/Llama-3.1-8B-Instruct", "h200-sxm", layout(1, 16, Precision::bf16));
  const auto m = s.build();
  const auto lm = static_cast<size_t>(OpGroup::lm_head);
  const auto ffn = static_cast<size_t>(OpGroup::ffn_dense);
  const Batch one{1, 1000, 0, 0, 0}, fifteen{15, 1000, 0, 0, 0};
  const auto pl = m.pipeline(15);
  ASSERT_EQ(pl.micro, 15);
  ASSERT_EQ(pl.largest, 1);
  ASSERT_FALSE(pl.full);
  const auto c1 = m.step(one);    // one micro-batch: its path (layers x 16 stages, LM head once)
  const auto c15 = m.step(fifteen);  // the same micro-batch 15 times through the last stage
  ASSERT_GT(c1.groups[lm].time_s, c1.groups[ffn].time_s / 16);  // the LM head outweighs a stage's FFNs
  EXPECT_NEAR(c15.groups[lm].time_s, 15 * c1.groups[lm].time_s, 1e-9 * c15.groups[lm].time_s);
  EXPECT_NEAR(c15.groups[ffn].time_s, 15.0 / 16 * c1.groups[ffn].time_s, 1e-9 * c15.groups[ffn].time_s);
  // Every operating point stays within the ceiling at its batch, and a 16th user costs the
  // others no more than 16/15 of their pace.
  for (double b : {1.0, 4.0, 15.0, 16.0, 17.0, 31.0}) {
    const auto e = estimate(m, Workload{1000, 1000, b});
    ASSERT_TRUE(e.feasible) << e.reason;
    EXPECT_LE(e.output_tok_s_per_user, 1 / m.ceiling_step_time(b, 1500) * (1 + 1e-9)) << b;
  }
  const auto c16 = m.step(Batch{16, 1000, 0, 0, 0});
  EXPECT_LE(c16.time_s, c15.time_s * 16 / 15 * (1 + 1e-9));
  EXPECT_GE(c16.time_s, c15.time_s);
}

// The busiest of 8 EP ranks touches more distinct experts than the mean: E[max of 8
// Binomial(32, q)] with q = 1 - (1 - 8/256)^T; T = 1 gives 2.5445 (hand-computed from the
// binomial CDF), 2.54x the mean; T = 16 gives 16.712 (1.31x).
TEST(ExpertParallel, BusiestRankTouchesTheExpectedMaximum) {
  DeploymentSpec spec = layout(8, 1);
  spec.ep = 8;
  spec.attention_dp = true;
  spec.expert_load_cv = 0;  // uniform routing
  auto s = make("deepseek-ai/DeepSeek-R1", "h200-sxm", spec);
  const auto m = s.build();
  EXPECT_NEAR(m.experts_touched_max(1), 2.5444874, 1e-6);
  EXPECT_NEAR(m.experts_touched_max(16), 16.7118004, 1e-6);
  for (double t : {1.0, 2.0, 4.0, 8.0, 16.0}) {
    const double mean = 32 * (1 - std::pow(1 - 8.0 / 256, t));
    EXPECT_GT(m.experts_touched_max(t) / mean, 1.3);
    EXPECT_LT(m.experts_touched_max(t) / mean, 2.6);
  }
  EXPECT_DOUBLE_EQ(m.experts_touched_max(1e6), 32);  // every expert at large batch
  // Token copies (uniform routing): the busiest rank carries more than the mean, never more than
  // all of them, and the mean at large batch.
  EXPECT_GT(m.expert_token_imbalance(8), 1);
  EXPECT_LE(m.expert_token_imbalance(0.01), 8);
  EXPECT_LT(m.expert_token_imbalance(1e6), 1.01);
  // Without EP there is one rank: the mean is the maximum.
  auto one = make("deepseek-ai/DeepSeek-R1", "h200-sxm", layout(8, 1));
  const auto m1 = one.build();
  EXPECT_NEAR(m1.experts_touched_max(1), 8, 1e-9);
  EXPECT_EQ(m1.expert_token_imbalance(1), 1);
}

// The all-to-all carries the dispatch in its own precision and the combine in 16 bits: per
// chip and MoE layer, T/tp tokens x k copies x hidden x (dispatch + 2 bytes) x (n-1)/n.
TEST(ExpertParallel, DispatchPrecisionSetsTheAllToAllBytes) {
  DeploymentSpec spec = layout(8, 1);
  spec.ep = 8;
  spec.attention_dp = true;
  auto bf = make("deepseek-ai/DeepSeek-R1", "h200-sxm", spec);
  spec.moe_dispatch = Precision::fp8;
  auto f8 = make("deepseek-ai/DeepSeek-R1", "h200-sxm", spec);
  const auto mb = bf.build();
  const auto m8 = f8.build();
  EXPECT_NE(f8.deployment.describe().find("dispatch-fp8"), std::string::npos);
  const auto ep = static_cast<size_t>(OpGroup::ep_collective);
  const Batch b{64, 2000, 0, 0, 0};
  const double moe_layers = 58, hidden = 7168, k = 8;
  const double per_layer_bf16 = 64.0 / 8 * k * hidden * (2 + 2) * 7 / 8;
  EXPECT_NEAR(mb.step(b).groups[ep].net_bytes, moe_layers * per_layer_bf16, 1e-6 * moe_layers * per_layer_bf16);
  EXPECT_NEAR(m8.step(b).groups[ep].net_bytes, 0.75 * moe_layers * per_layer_bf16, 1e-6 * moe_layers * per_layer_bf16);
  EXPECT_LT(m8.step(b).groups[ep].time_s, mb.step(b).groups[ep].time_s);
  spec.moe_dispatch = Precision::fp32;
  EXPECT_THROW(make("deepseek-ai/DeepSeek-R1", "h200-sxm", spec), DiagnosticError);
}

// Routing skew: expert popularities of coefficient of variation 1.28 (DeepSeek-R1 measured by
// TensorRT-LLM on 32 GB200: routed tokens per expert std 164.1 / mean 128, and the hottest of 32
// ranks 2.56x the mean without EPLB, 1.11x with 32 redundant experts). Placed by id, the busiest
// rank holds hot experts; EPLB's replicate-then-pack brings it back to the mean.
TEST(ExpertParallel, RoutingSkewLoadsTheBusiestRankAndEplbRebalancesIt) {
  // Uniform popularity: every rank carries the mean under any placement.
  EXPECT_NEAR(busiest_rank_load(256, 8, 0, -1), 1, 1e-12);
  EXPECT_NEAR(busiest_rank_load(256, 32, 0, 32), 1, 1e-12);
  const double ep32 = busiest_rank_load(256, 32, 1.28, -1);
  EXPECT_GT(ep32, 2.56 * 0.85);  // the measured 2.56, within the spread of one dataset
  EXPECT_LT(ep32, 2.56 * 1.15);
  EXPECT_LT(busiest_rank_load(256, 32, 1.28, 32), 1.05);  // measured 1.11 with sampling noise
  EXPECT_LT(busiest_rank_load(256, 32, 1.28, 0), ep32);   // placement alone helps, less than replicas
  EXPECT_GT(busiest_rank_load(256, 32, 1.28, 0), busiest_rank_load(256, 32, 1.28, 32));
  // More skew, or fewer experts per rank, loads the busiest rank more; one rank is the mean.
  EXPECT_GT(busiest_rank_load(256, 8, 2.0, -1), busiest_rank_load(256, 8, 1.28, -1));
  EXPECT_GT(ep32, busiest_rank_load(256, 8, 1.28, -1));
  EXPECT_NEAR(busiest_rank_load(256, 1, 1.28, -1), 1, 1e-12);
  // Deterministic: the same arguments give the same figure.
  EXPECT_EQ(busiest_rank_load(128, 8, 1.1, -1), busiest_rank_load(128, 8, 1.1, -1));

  DeploymentSpec spec = layout(8, 1);
  spec.ep = 8;
  spec.attention_dp = true;
  auto at = [&](double cv, std::optional<int> eplb) {
    auto d = spec;
    d.expert_load_cv = cv;
    d.eplb_redundant_experts = eplb;
    return make("deepseek-ai/DeepSeek-R1", "h200-sxm", d);
  };
  auto uni = at(0, std::nullopt), skew = at(1.28, std::nullopt), wide = at(2.5, std::nullopt);
  auto placed = at(1.28, 0), spare = at(1.28, 32);
  const auto mu = uni.build(), ms = skew.build(), mw = wide.build(), mp = placed.build(), mr = spare.build();
  // At a large batch the sampling noise vanishes and the busiest rank carries the skew.
  EXPECT_NEAR(ms.expert_token_imbalance(1e7), busiest_rank_load(256, 8, 1.28, -1), 1e-3);
  EXPECT_NEAR(mp.expert_token_imbalance(1e7), busiest_rank_load(256, 8, 1.28, 0), 1e-3);
  // At a small one the two excesses combine as the root of their squares.
  const double noise = mu.expert_token_imbalance(64) - 1, sk = busiest_rank_load(256, 8, 1.28, -1) - 1;
  EXPECT_NEAR(ms.expert_token_imbalance(64), 1 + std::hypot(noise, sk), 1e-12);
  // The expert GEMMs and the all-to-all wait for the busiest rank: time grows with the skew, and
  // the all-to-all's excess over uniform routing is linear in the imbalance's.
  const Batch big{2048, 2000, 0, 0, 0};
  const auto moe = static_cast<size_t>(OpGroup::moe_experts), a2a = static_cast<size_t>(OpGroup::ep_collective);
  const auto cu = mu.step(big), cs = ms.step(big), cw = mw.step(big);
  EXPECT_GT(cs.groups[moe].time_s, cu.groups[moe].time_s);
  EXPECT_GT(cw.groups[moe].time_s, cs.groups[moe].time_s);
  const double tokens = 2048.0;  // replica tokens; the EP group spans the replica
  const double iu = mu.expert_token_imbalance(tokens), is = ms.expert_token_imbalance(tokens),
               iw = mw.expert_token_imbalance(tokens);
  EXPECT_NEAR((cs.groups[a2a].time_s - cu.groups[a2a].time_s) / (cw.groups[a2a].time_s - cu.groups[a2a].time_s),
              (is - iu) / (iw - iu), 1e-9);
  EXPECT_DOUBLE_EQ(cs.groups[a2a].net_bytes, cu.groups[a2a].net_bytes);  // the mean crosses the network
  // EPLB: placement alone is free and faster; redundant slots cost weights (memory, KV room).
  EXPECT_LT(mp.step(big).time_s, cs.time_s);
  EXPECT_NEAR(mp.memory().weights_bytes, ms.memory().weights_bytes, 1);
  EXPECT_GT(mr.memory().weights_bytes, ms.memory().weights_bytes);
  EXPECT_LT(mr.memory().kv_free_bytes, ms.memory().kv_free_bytes);
  EXPECT_NE(placed.deployment.describe().find("EPLB+0"), std::string::npos);
  // The ceiling takes the mean: no skew in a physical bound.
  const auto e1 = estimate(mu, Workload{1000, 1000, 64}), e2 = estimate(ms, Workload{1000, 1000, 64});
  EXPECT_DOUBLE_EQ(e1.ceiling.max_output_tok_s_per_user, e2.ceiling.max_output_tok_s_per_user);
}

// EPLB's bad inputs name the flag: a dense model, EP 1, slots that do not divide over EP, a
// negative count; a skew outside [0, 10].
TEST(ExpertParallel, EplbAndSkewRefuseImpossibleLayouts) {
  DeploymentSpec spec = layout(8, 1);
  spec.ep = 8;
  spec.attention_dp = true;
  auto refused = [&](const char* model, DeploymentSpec d, const char* words) {
    try {
      make(model, "h200-sxm", d);
      ADD_FAILURE() << "accepted: " << words;
    } catch (const DiagnosticError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  auto d = spec;
  d.eplb_redundant_experts = 3;
  refused("deepseek-ai/DeepSeek-R1", d, "do not divide over EP 8");
  d.eplb_redundant_experts = -8;
  refused("deepseek-ai/DeepSeek-R1", d, "must be in [0, 1024]");
  d = layout(8, 1);
  d.eplb_redundant_experts = 8;
  refused("deepseek-ai/DeepSeek-R1", d, "needs EP > 1");
  refused("meta-llama/Llama-3.1-70B-Instruct", d, "not a mixture-of-experts model");
  d = spec;
  d.expert_load_cv = -0.5;
  refused("deepseek-ai/DeepSeek-R1", d, "--expert-load-cv must be in [0, 10]");
  d.expert_load_cv = std::nan("");
  refused("deepseek-ai/DeepSeek-R1", d, "--expert-load-cv must be in [0, 10]");
}

// A full mesh gives TP2 one peer link of the seven (MI300X: 448 GB/s per direction in all, 64
// to each peer), a switch gives it the whole chip bandwidth.
TEST(Links, FullMeshGroupUsesItsPeerLinksOnly) {
  auto s = make("meta-llama/Llama-3.1-70B-Instruct", "mi300x", layout(2, 1));
  ASSERT_EQ(s.system.scale_up.topology, hardware::Topology::full_mesh);
  const auto mesh = s.build();
  auto sw = s;
  sw.system.scale_up.topology = hardware::Topology::switched;
  const auto switched = sw.build();
  const Batch b{64, 1000, 0, 0, 0};
  const auto g = static_cast<size_t>(OpGroup::tp_collective);
  const double msg = 64.0 * 8192 * 2;
  const double lat = s.eff.collective_latency_s;  // MI300X states no wire latency
  const double bw = 448e9 * s.eff.network_fraction;
  EXPECT_NEAR(mesh.step(b).groups[g].time_s, 160 * (lat + msg / (bw / 7)), 1e-12);
  EXPECT_NEAR(switched.step(b).groups[g].time_s, 160 * (lat + msg / bw), 1e-12);
  // TP8 uses all seven peer links: the same as switched.
  auto s8 = make("meta-llama/Llama-3.1-70B-Instruct", "mi300x", layout(8, 1));
  auto sw8 = s8;
  sw8.system.scale_up.topology = hardware::Topology::switched;
  EXPECT_NEAR(s8.build().step(b).groups[g].time_s, sw8.build().step(b).groups[g].time_s, 1e-15);
}

// A multi-hop network (Groq's C2C Dragonfly) states its latency per hop; an all-reduce over n
// chips pays 2 ceil(log2 n) hops (recursive halving and doubling), in the step and in the
// ceiling's communication floor, where a switched fabric pays the latency once.
TEST(Links, MultiHopCollectivesPayTheirLatencyPerHop) {
  using hardware::Collective;
  using hardware::collective_hops;
  EXPECT_EQ(collective_hops(Collective::all_reduce, 1), 0);
  EXPECT_EQ(collective_hops(Collective::all_reduce, 2), 2);
  EXPECT_EQ(collective_hops(Collective::all_reduce, 3), 4);
  EXPECT_EQ(collective_hops(Collective::all_reduce, 64), 12);
  EXPECT_EQ(collective_hops(Collective::all_to_all, 8), 3);
  EXPECT_EQ(collective_hops(Collective::point_to_point, 16), 1);
  auto s = make("meta-llama/Llama-3.1-8B-Instruct", "groq-lpu", layout(32, 1));
  ASSERT_EQ(s.system.scale_up.topology, hardware::Topology::multi_hop);
  ASSERT_TRUE(s.system.scale_up.latency_s);
  const double hop = s.system.scale_up.latency_s->value;
  const auto multi = s.build();
  auto sw = s;
  sw.system.scale_up.topology = hardware::Topology::switched;
  const auto switched = sw.build();
  const Batch b{1, 1000, 0, 0, 0};
  const auto g = static_cast<size_t>(OpGroup::tp_collective);
  const double allreduces = 2 * 32;  // after attention and after the FFN, 32 layers
  EXPECT_NEAR(multi.step(b).groups[g].time_s - switched.step(b).groups[g].time_s, allreduces * hop * (10 - 1),
              1e-12);
  EXPECT_NEAR(multi.ceiling_step_time(1, 1000) - switched.ceiling_step_time(1, 1000), allreduces * hop * (10 - 1),
              1e-12);
}

TEST(Links, MissingBandwidthMakesTheLayoutInfeasibleNeverFree) {
  auto s = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", layout(4, 1));
  s.system.scale_up.bandwidth_bytes_per_s.reset();
  const auto m = s.build();
  EXPECT_FALSE(m.memory().weights_fit);
  EXPECT_NE(m.memory().reason.find("states no bandwidth"), std::string::npos) << m.memory().reason;
  const auto e = estimate(m, Workload{1024, 1024, 1});
  EXPECT_FALSE(e.feasible);
  EXPECT_EQ(e.ceiling.max_concurrency, 0);
  // A layout that needs no link is unaffected.
  auto one = make("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", layout(1, 1));
  one.system.scale_up.bandwidth_bytes_per_s.reset();
  EXPECT_TRUE(one.build().memory().weights_fit);
}

// TP wider than the scale-up domain runs over scale-out instead of being refused.
TEST(Links, TensorParallelBeyondTheDomainRunsOverScaleOut) {
  auto in = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", layout(8, 1));
  auto out = make("meta-llama/Llama-3.1-70B-Instruct", "h100-sxm", layout(16, 1));
  const Batch b{64, 1000, 0, 0, 0};
  const auto g = static_cast<size_t>(OpGroup::tp_collective);
  const double msg = 64.0 * 8192 * 2;
  const double scale_out = 400e9 / 8 * out.eff.network_fraction;
  EXPECT_NEAR(out.build().step(b).groups[g].time_s,
              160 * (out.eff.collective_latency_s + 2.0 * 15 / 16 * msg / scale_out), 1e-12);
  EXPECT_GT(out.build().step(b).groups[g].time_s, in.build().step(b).groups[g].time_s);
}

// Per-module precision from the checkpoint: gpt-oss keeps attention in bf16
// (quantization_config.modules_to_not_convert), so its projections are priced at 2 bytes and run
// bf16 GEMMs, while the MXFP4 experts stay 4-bit; a user-chosen other format re-quantises all.
TEST(Precision, CheckpointKeepsAttentionUnquantised) {
  const auto m = model_catalog().resolve("openai/gpt-oss-120b");
  ASSERT_TRUE(m.native_attention_precision.has_value());
  EXPECT_EQ(*m.native_attention_precision, Precision::bf16);
  auto s = make("openai/gpt-oss-120b", "b200", {});
  EXPECT_EQ(s.deployment.weights, Precision::mxfp4);
  EXPECT_EQ(s.deployment.attention_weights, Precision::bf16);
  EXPECT_EQ(s.deployment.attention_proj_class, ComputeClass::bf16);
  const auto native = s.build();
  DeploymentSpec requant;
  requant.weights = requant.activations = Precision::mxfp4;
  requant.attention_weights = Precision::mxfp4;
  auto q = make("openai/gpt-oss-120b", "b200", requant);
  const auto all4 = q.build();
  // Attention projections at 2 bytes instead of 0.53: batch-1 decode reads more.
  const Batch one{1, 1000, 0, 0, 0};
  const auto proj = static_cast<size_t>(OpGroup::attention_proj);
  EXPECT_NEAR(native.step(one).groups[proj].bytes / all4.step(one).groups[proj].bytes, 2.0 / 0.53125, 0.05);
  EXPECT_GT(native.memory().weights_bytes, all4.memory().weights_bytes);
  // A model without the split is unaffected.
  EXPECT_FALSE(model_catalog().resolve("meta-llama/Llama-3.1-8B-Instruct").native_attention_precision.has_value());
}

// Chunked attention (Llama 4) attends within the token's own chunk: context mod chunk keys, not
// min(context, chunk); a prompt's tokens average chunk/2 per whole chunk.
TEST(Attention, ChunkedLayersAttendWithinTheirChunk) {
  auto s = make("meta-llama/Llama-4-Scout-17B-16E-Instruct", "h200-sxm", layout(8, 1, Precision::bf16));
  double full = 0, chunked = 0, chunk = 0;
  for (const auto& l : s.model.layers) {
    if (l.attention == model::AttentionKind::chunked) {
      ++chunked;
      chunk = static_cast<double>(l.window_tokens);
    } else {
      ++full;
    }
  }
  ASSERT_GT(chunked, 0);
  ASSERT_EQ(chunk, 8192);
  const auto m = s.build();
  const auto core = static_cast<size_t>(OpGroup::attention_core);
  auto flops = [&](double ctx) { return m.step(Batch{1, ctx, 0, 0, 0}).groups[core].flops; };
  // 10000 tokens in: chunked layers attend 10000 - 8192 = 1808 keys, full layers 10000.
  EXPECT_NEAR(flops(10000) / flops(4096), (full * 10000 + chunked * 1808) / ((full + chunked) * 4096), 1e-9);
  EXPECT_LT(flops(8292), flops(8192));  // a new chunk starts: fewer keys
  // Prefill of 16384 tokens: two whole chunks, 4096 keys on average in chunked layers.
  auto pf = [&](double p) { return m.step(Batch{0, 0, p, p, 1}).groups[core].flops; };
  EXPECT_NEAR(pf(16384) / pf(8192), 2 * (full * 8192 + chunked * 4096) / (full * 4096 + chunked * 4096), 1e-9);
}

// A prompt chunk re-reads the KV its prompt's earlier chunks left (at least once per chunk),
// capped at the window on sliding layers: 32 layers x (2048 new + 4096 earlier) x 4096 B for
// Llama-3.1-8B BF16 (8 KV heads x 128 x K and V x 2 bytes).
TEST(Attention, PromptChunksReReadTheirEarlierKv) {
  const auto c = chunked_prefill(8192, 2048);
  EXPECT_EQ(c.chunks, 4);
  EXPECT_EQ(c.prior_tokens, 2048 * (0 + 1 + 2 + 3));
  EXPECT_EQ(chunked_prefill(100, 200).prior_tokens, 0);
  EXPECT_EQ(chunked_prefill(100, 200).chunks, 1);
  EXPECT_EQ(chunked_prefill(5000, 2048).chunks, 3);

  auto s = make("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", layout(1, 1, Precision::bf16));
  const auto m = s.build();
  const auto core = static_cast<size_t>(OpGroup::attention_core);
  Batch chunk{0, 0, 2048, 8192, 0};
  chunk.prefill_pieces = 1;
  chunk.prefill_prior = 4096;
  EXPECT_DOUBLE_EQ(m.step(chunk).groups[core].bytes, 32.0 * (2048 + 4096) * 4096);

  // gpt-oss: sliding layers (128-token window) re-read at most the window.
  auto g = make("openai/gpt-oss-120b", "h100-sxm", DeploymentSpec{});
  double full = 0, sliding = 0;
  for (const auto& l : g.model.layers) (l.attention == model::AttentionKind::full ? full : sliding) += 1;
  ASSERT_GT(sliding, 0);
  const auto mg = g.build();
  const double per_token_layer = mg.step(Batch{1, 1, 0, 0, 0}).groups[core].bytes / (full + sliding);
  Batch gc{0, 0, 2048, 8192, 0};
  gc.prefill_pieces = 1;
  const double fresh = mg.step(gc).groups[core].bytes;
  gc.prefill_prior = 4096;
  EXPECT_NEAR(mg.step(gc).groups[core].bytes - fresh, per_token_layer * (full * 4096 + sliding * 128), 1e-6 * fresh);
}

// Decode attention (memory-bound) and prefill attention (compute-bound) as separate kernels: a
// mixed step's attention time is the sum of their rooflines, not one roofline over the sum.
TEST(Attention, DecodeAndPrefillAttentionHaveRooflinesOfTheirOwn) {
  auto split = layout(1, 1, Precision::bf16);
  split.attention_kernels = AttentionKernels::split;
  auto s = make("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", split);
  const auto m = s.build();
  const auto core = static_cast<size_t>(OpGroup::attention_core);
  const Batch dec{64, 4000, 0, 0, 0}, pre{0, 0, 4096, 4096, 1}, mixed{64, 4000, 4096, 4096, 1};
  const auto d = m.step(dec).groups[core], p = m.step(pre).groups[core], x = m.step(mixed).groups[core];
  EXPECT_NEAR(x.time_s, d.time_s + p.time_s, 1e-12);
  EXPECT_EQ(d.bound, Bound::memory);
  EXPECT_EQ(p.bound, Bound::compute);
  // One roofline over the summed work would hide one kernel under the other.
  const double rate = p.flops / p.time_s, bw = d.bytes / d.time_s;
  const double one_roof = std::max((d.flops + p.flops) / rate, (d.bytes + p.bytes) / bw);
  EXPECT_GT(x.time_s, 1.2 * one_roof);
  // An engine that runs every query in one launch (vLLM V1 FlashAttention) pays that one roofline.
  auto u = make("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", layout(1, 1, Precision::bf16));  // default
  const auto mu = u.build();
  EXPECT_NEAR(mu.step(mixed).groups[core].time_s, one_roof, 1e-9 * one_roof);
  EXPECT_NEAR(mu.step(dec).groups[core].time_s, d.time_s, 1e-15);  // one phase: the same either way
}

// Eager launch: the host dispatches every layer's kernels while the device runs them, so a
// step's layers take the longer of the device's time and layers x eager_launch; the LM head,
// issued last, runs after them, and the per-step overhead is on top. With captured graphs the
// host time is not on the step.
TEST(Launch, EagerStepTakesTheLongerOfDeviceAndHostDispatch) {
  auto graphs = make("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", layout(1, 1, Precision::bf16));
  auto eager_spec = layout(1, 1, Precision::bf16);
  eager_spec.launch = Launch::eager;
  auto eager = make("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", eager_spec);
  graphs.eff.eager_launch_s = eager.eff.eager_launch_s = 400e-6;
  const auto mg = graphs.build();
  const auto me = eager.build();
  const double layers = 32, step = eager.eff.step_overhead_s, host = layers * 400e-6;  // 12.8 ms
  // One decode: ~16 GB of weights in ~6-7 ms, under the host's 12.8 ms.
  const Batch one{1, 1000, 0, 0, 0};
  const double dev_one = mg.step(one).time_s - step;
  const double lm = mg.step(one).groups[static_cast<size_t>(OpGroup::lm_head)].time_s;
  ASSERT_LT(dev_one, host);
  ASSERT_GT(lm, 0);
  EXPECT_NEAR(me.step(one).time_s, host + lm + step, 1e-12);
  EXPECT_EQ(me.step(one).bound_by, Bound::overhead);
  // A long prompt keeps the device busy past the host: the same step as with graphs.
  const Batch prompt{0, 0, 8192, 8192, 1};
  ASSERT_GT(mg.step(prompt).time_s - step, host);
  EXPECT_NEAR(me.step(prompt).time_s, mg.step(prompt).time_s, 1e-12);
  // With graphs, eager_launch is never charged.
  graphs.eff.eager_launch_s = 1e-3;
  EXPECT_NEAR(graphs.build().step(one).time_s, dev_one + step, 1e-12);
  // Two pipeline stages: each dispatches its own half of the layers.
  auto pp_spec = eager_spec;
  pp_spec.pp = 2;
  auto staged = make("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", pp_spec);
  staged.eff.eager_launch_s = 400e-6;
  const auto ms = staged.build();
  const auto cs = ms.step(one);
  const double handoff = cs.groups[static_cast<size_t>(OpGroup::pp_transfer)].time_s;
  // One sequence passes the two stages in turn: each stage's host time, the LM head once.
  EXPECT_NEAR(cs.time_s, 2 * (host / 2) + lm + handoff + step, 1e-12);
  EXPECT_EQ(cs.bound_by, Bound::overhead);
  // The layout says how it runs.
  EXPECT_NE(me.deployment().describe().find("eager"), std::string::npos);
  EXPECT_EQ(mg.deployment().describe().find("eager"), std::string::npos);
}

// The steady state is the cycle the engine runs: prompt-chunk steps and pure decode steps priced
// apart, not one step holding an average share of a prompt.
TEST(SteadyState, CycleOfChunkStepsAndDecodeStepsByHand) {
  DeploymentSpec spec = layout(8, 1);
  auto s = make("deepseek-ai/DeepSeek-R1", "h200-sxm", spec);
  const auto m = s.build();
  const double b = 8, isl = 8192, osl = 1024;
  const double room = s.eff.activation_tokens - b;
  const double chunks = std::ceil(isl / room);
  const double steps = chunks + osl - 1;
  const double np = std::min(steps, b * chunks);
  const double dec = b * (osl - 1) / steps;
  const auto tm = m.step(Batch{dec, isl + osl / 2, b * isl / np, isl, b / np}).time_s;
  const auto td = m.step(Batch{dec, isl + osl / 2, 0, 0, 0}).time_s;
  const double mean = (np * tm + (steps - np) * td) / steps;
  const auto e = estimate(m, Workload{isl, osl, b});
  ASSERT_TRUE(e.feasible) << e.reason;
  EXPECT_NEAR(e.step.time_s, mean, 1e-12);
  // A request's decode steps: the other prompts' chunk steps and the pure decode steps.
  EXPECT_NEAR(e.tpot_s, ((np - chunks) * tm + (steps - np) * td) / (steps - chunks), 1e-12);
  EXPECT_NEAR(e.output_tok_s, b * osl / (mean * steps), 1e-6);
  EXPECT_NEAR(e.ttft_s, s.eff.request_overhead_s + chunks * tm + 0.5 * mean, 1e-12);
  // Concavity: pricing the average step over-prices MoE decode.
  const double averaged = m.step(Batch{b, isl + osl / 2, b * isl / osl, isl, b / osl}).time_s;
  EXPECT_LT(e.tpot_s, averaged);
}

// Over every catalog model x system x layout x concurrency the sweep visits (a sample of
// models; all systems): no point above its ceiling, and the ceiling's per-user speed at batch 1
// is never beaten by a deeper pipeline.
TEST(Ceiling, NoSweptPointAboveItsCeiling) {
  for (const char* id : {"meta-llama/Llama-3.1-70B-Instruct", "Qwen/Qwen3-30B-A3B", "deepseek-ai/DeepSeek-R1",
                         "openai/gpt-oss-120b"}) {
    const auto model = model_catalog().resolve(id);
    for (const auto& sys : hardware_catalog().systems()) {
      frontier::SweepOptions o;
      o.points_per_decade = 3;
      for (auto spec : frontier::candidate_layouts(model, sys, o)) {
        spec.weights = spec.activations = Precision::fp8;
        spec.kv = Precision::fp8;
        if (!sys.computes(Precision::fp8)) continue;
        Deployment d;
        try {
          d = resolve_deployment(spec, model, sys, efficiency_table().for_family(sys.family));
        } catch (const DiagnosticError&) {
          continue;
        }
        const StepCostModel m(d);
        if (!m.memory().weights_fit) continue;
        const auto c = compute_ceiling(m, 1024, 1024, 3);
        for (double per_replica : concurrency_grid(m.max_sequences(2048), 3)) {
          const auto e = estimate(m, Workload{1024, 1024, per_replica * d.dp}, false);
          if (!e.feasible) continue;
          const double bound = 1.0 / m.ceiling_step_time(per_replica, 1024 + 512);
          ASSERT_LE(e.output_tok_s_per_user, bound * (1 + 1e-9)) << id << " " << sys.id << " " << d.describe();
          ASSERT_LE(e.output_tok_s_per_user, c.max_output_tok_s_per_user * (1 + 1e-9))
              << id << " " << sys.id << " " << d.describe();
          ASSERT_LE(e.output_tok_s_per_chip, per_replica * bound / d.chips_per_replica() * (1 + 1e-9))
              << id << " " << sys.id << " " << d.describe();
        }
      }
    }
  }
}

}  // namespace
}  // namespace tf::cost
