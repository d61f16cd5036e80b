#pragma once
// The step-cost engine: how long one engine step takes for a batch on a deployment, per
// operator group, each bound by compute, memory, network or fixed overhead; the memory budget
// per chip; and the first-principles (peak-only) lower bound on a decode step.
//
// Everything that depends only on the deployment is computed once in the constructor, so a
// step evaluation is a few dozen floating-point operations and allocates nothing.
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cost/deployment.hpp"

namespace tf::cost {

enum class OpGroup {
  attention_proj,  // q/k/v/o (or MLA) projections
  attention_core,  // scores and values over the KV cache
  ffn_dense,       // dense FFN layers and shared experts
  moe_experts,     // routed experts
  lm_head,         // logits
  tp_collective,   // tensor-parallel all-reduce
  ep_collective,   // expert-parallel all-to-all (dispatch + combine)
  pp_transfer,     // pipeline stage hand-off
  overhead,        // per-step and per-layer fixed costs
};
inline constexpr size_t kOpGroups = 9;
std::string_view to_string(OpGroup g);

enum class Bound { compute, memory, network, overhead };
std::string_view to_string(Bound b);
// The hardware term (an Efficiency file key) behind a result bound by `b` whose calibration
// ended at a bound of its range (EfficiencyProvenance::at_bound), or empty: network-bound steps
// rest on network_fraction and collective_latency, memory-bound on memory_bandwidth_fraction,
// compute-bound on compute_fraction and attention_compute_fraction.
std::string term_at_bound(const Efficiency& e, Bound b);

// One engine step of one replica (TP x PP chips). Decode sequences each emit one token;
// prefill tokens are prompt tokens processed in the same step (chunked prefill).
struct Batch {
  double decode_seqs = 0;      // sequences decoding this step
  double decode_context = 0;   // mean tokens already cached for them
  double prefill_tokens = 0;   // prompt tokens processed this step
  double prefill_prompt = 0;   // length of those prompts (for the causal attention term)
  double prefill_seqs = 0;     // prompts completing this step (they need logits)
  // Chunked prefill: prompt pieces in this step, and the KV tokens their prompts' earlier chunks
  // left in the cache, summed over the pieces (each piece's attention re-reads them from memory).
  // Both 0 when every piece is a whole prompt; see chunked_prefill().
  double prefill_pieces = 0;
  double prefill_prior = 0;
  // Cascade (shared-prefix) attention: cached tokens that several decoding sequences share (the
  // prompt of parallel streams), counted in decode_context for each of them but read from memory
  // once per step by the kernel (FlashInfer cascade, vLLM V1 cascade attention): the bytes of
  // full-attention layers fall by these tokens' KV; the score FLOPs do not. 0: none shared.
  double decode_shared_tokens = 0;
};

// A prompt of `prompt` tokens run in chunks of at most `chunk` tokens: how many chunks, and the
// earlier-chunk KV tokens they re-read in all (chunk k re-reads the k x chunk tokens before it).
struct ChunkedPrefill {
  double chunks = 1;
  double prior_tokens = 0;
};
ChunkedPrefill chunked_prefill(double prompt, double chunk);

struct GroupCost {
  double time_s = 0;
  double flops = 0;      // per chip
  double bytes = 0;      // memory traffic per chip
  double net_bytes = 0;  // bytes sent per chip
  Bound bound = Bound::memory;
};

struct StepCost {
  double time_s = 0;
  std::array<GroupCost, kOpGroups> groups{};
  Bound bound_by = Bound::memory;  // the kind of limit with the most time
  [[nodiscard]] double total_flops() const;
  [[nodiscard]] double total_bytes() const;
};

struct MemoryBudget {
  hardware::MemoryTierKind weight_tier = hardware::MemoryTierKind::hbm;
  hardware::MemoryTierKind kv_tier = hardware::MemoryTierKind::hbm;
  double weight_tier_bandwidth_bytes_per_s = 0;
  double kv_tier_bandwidth_bytes_per_s = 0;
  double capacity_bytes = 0;    // the weights' tier, per chip, as the part has it
  double usable_bytes = 0;      // capacity x memory_utilization of the weights' tier
  double weights_bytes = 0;     // per chip
  double activation_bytes = 0;  // workspace per chip
  double reserve_bytes = 0;     // runtime reserve per chip
  double kv_free_bytes = 0;     // left for KV cache per chip under the engine's policy (may be negative)
  // Physical bound: what the KV tier holds once the weights are in, with no engine policy,
  // workspace or runtime reserve (the ceiling's capacity; >= kv_free_bytes).
  double kv_physical_bytes = 0;
  bool weights_fit = true;      // the weights fit and every link the layout needs is described
  std::string reason;           // why not (empty when they do)
  std::string link_problem;     // a link the layout needs has no bandwidth figure (empty: none)
};

// Expected token load of the busiest of `ranks` expert-parallel ranks over the mean, when the
// `experts` of a layer have log-normal popularities of coefficient of variation `cv`: placed by
// id (`redundant` < 0), or EPLB-style with `redundant` replicated slots (>= 0; experts +
// redundant divide over the ranks). Deterministic (fixed seed), cached per arguments.
double busiest_rank_load(int experts, int ranks, double cv, int redundant);

class StepCostModel {
 public:
  explicit StepCostModel(const Deployment& d);

  [[nodiscard]] const Deployment& deployment() const { return d_; }
  [[nodiscard]] const MemoryBudget& memory() const { return memory_; }

  // A full replica step with pipeline micro-batching: pp x stage time + hand-offs + step overhead.
  [[nodiscard]] StepCost step(const Batch& b) const;

  // Peak-only lower bound on a decode step (no efficiencies, overheads or communication):
  // max(bytes / peak bandwidth, FLOPs / peak FLOP/s), pipeline-aware.
  [[nodiscard]] double ceiling_step_time(double decode_seqs, double context) const;

  // The latency floor of the collectives and hand-offs one decode step must run, from the links'
  // stated latencies only (no fitted software cost): part of the ceiling.
  [[nodiscard]] double collective_floor_s() const { return collective_floor_s_; }

  // KV bytes per chip for `seqs` sequences (per replica) of `context` tokens.
  [[nodiscard]] double kv_bytes_per_chip(double seqs, double context) const;
  // True when KV grows linearly with context (no sliding or chunked layer caps it):
  // kv_bytes_per_chip(1, a + b) = kv_bytes_per_chip(1, a) + kv_bytes_per_chip(1, b).
  [[nodiscard]] bool kv_is_linear() const;
  // Largest whole number of sequences of `context` tokens one replica can hold (0 if none),
  // under the engine's memory policy, or (physical = true) in all the memory the weights leave.
  [[nodiscard]] double max_sequences(double context, bool physical = false) const;

  // Pipeline schedule of a step holding `seqs` sequences: micro-batches are whole sequences, at
  // most one per stage.
  struct Pipeline {
    double micro = 1;     // micro-batches in flight
    double largest = 0;   // sequences in the largest micro-batch (it paces every stage)
    bool full = false;    // micro == pp: the slowest stage sets the pace (below pp: the longer of the path and micro x it)
  };
  [[nodiscard]] Pipeline pipeline(double seqs) const;

  // Expected distinct routed experts touched on the busiest chip of an EP group, per MoE layer,
  // for `group_tokens` tokens routed over the group (uniform top-k routing), and the expected
  // ratio of the busiest chip's token copies to the mean (EP > 1; 1 otherwise): the routing skew
  // of the experts it holds (rank_skew_excess) and the sampling noise of a finite batch.
  [[nodiscard]] double experts_touched_max(double group_tokens) const;
  [[nodiscard]] double expert_token_imbalance(double group_tokens) const;

 private:
  struct Window {
    double window;  // tokens (0 = full attention)
    double layers;  // layers of this kind in the representative stage
    bool chunked = false;  // chunked (attend within the chunk) rather than sliding
  };
  void stage(const Batch& b, bool ideal, StepCost& out) const;
  // Scales one micro-batch's stage cost to the whole step (see Pipeline).
  void pipeline_scale(const Pipeline& pl, StepCost& c) const;
  [[nodiscard]] double keys(double context, const Window& w) const;
  [[nodiscard]] double mean_prefill_keys(double prompt, const Window& w) const;

  Deployment d_;
  MemoryBudget memory_;
  // Per-chip constants of the representative (largest) pipeline stage.
  double stage_fraction_ = 1;
  double stage_layers_ = 0;
  double w_attn_ = 0, w_dense_ = 0, w_lm_ = 0;  // weight bytes read per pass
  double expert_slice_bytes_ = 0;              // one expert's share on one chip, one layer
  double experts_per_chip_ = 0;                // per MoE layer
  double moe_layers_ = 0;                      // in the stage
  double routed_experts_ = 0, top_k_ = 0;
  double expert_slots_ = 0;                    // experts + EPLB redundant experts, per MoE layer
  // Expected busiest EP rank's share of the token copies over the mean, minus 1, from the
  // routing skew under the deployment's expert placement (0: uniform routing, or EP = 1).
  double rank_skew_excess_ = 0;
  double ep_group_tokens_factor_ = 1;          // tokens of the EP group per replica token
  double moe_perm_bytes_per_copy_ = 0;         // dispatch/combine traffic per token copy per MoE layer
  // Expected max over EP ranks of distinct experts touched, tabulated at integer group tokens
  // 0..size-1 (interpolated; beyond the table every expert is touched). Empty when EP = 1.
  std::shared_ptr<const std::vector<double>> touched_max_;  // shared per (n, k/E, ep)
  double collective_floor_s_ = 0;
  double flops_attn_proj_ = 0, flops_dense_ = 0, flops_lm_ = 0, flops_expert_ = 0;  // per token
  double per_key_decode_ = 0, per_key_prefill_ = 0;  // attention FLOPs per key, all heads, per chip
  double kv_token_layer_bytes_ = 0;                  // per layer per token per chip
  double act_bytes_per_token_ = 0;
  std::vector<Window> windows_;
  // Communication.
  double tp_allreduces_ = 0;      // per stage pass
  double ep_alltoalls_ = 0;       // dispatch + combine count per stage pass
  double tp_group_ = 1, ep_group_ = 1;
  double tp_bw_ = 0, tp_lat_ = 0, ep_bw_ = 0, ep_lat_ = 0, pp_bw_ = 0, pp_lat_ = 0;
  double comm_bytes_per_token_ = 0;  // hidden x 2 bytes
  double ep_pair_bytes_per_token_ = 0;  // one dispatch (its precision) + one combine (16-bit), hidden states
  double tokens_per_chip_factor_ = 1;  // tokens originating per chip / replica tokens
  // Rates.
  double gemm_rate_ = 0, attn_rate_ = 0, peak_gemm_ = 0, peak_attn_ = 0;
  double proj_rate_ = 0, peak_proj_ = 0;  // attention projections (their own precision)
  double w_bw_ = 0, kv_bw_ = 0, peak_w_bw_ = 0, peak_kv_bw_ = 0;
  double kv_split_ = 1;
};

}  // namespace tf::cost
