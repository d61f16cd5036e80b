#pragma once
// An engine's settings (the engine component): how it forms its steps (the step policies'
// registry), its KV policy (serving/kv), token budget, sequence cap, request overhead and
// preemption. The replica that runs them is serving/engine/replica.hpp; engine profiles
// (data/engines) fill them in serving/engine/engine_profile.hpp.
#include <optional>
#include <string_view>
#include <vector>

#include "serving/kv/kv.hpp"

namespace tf::serving {

// How an engine forms its steps.
enum class Scheduler {
  // Prompt chunks ride in the same steps as the running decodes (vLLM V1, TensorRT-LLM
  // in-flight batching): decode tokens first, the rest of the token budget to prompts.
  mixed,
  // A step is either prompts only or decodes only; waiting prompts go first (SGLang's default,
  // vLLM V0 without chunked prefill): decodes pause while prompts are prefilled.
  prefill_first,
};
std::string_view to_string(Scheduler s);
std::optional<Scheduler> parse_scheduler(std::string_view s);

// The registry of step policies: name, what it does, which engines behave so (citation).
struct SchedulerInfo {
  Scheduler scheduler;
  std::string_view name, description, citation;
};
const std::vector<SchedulerInfo>& schedulers();

struct EngineConfig {
  Scheduler scheduler = Scheduler::mixed;
  KvAdmission kv_admission = KvAdmission::whole_context;
  // Paged admission leaves this share of the KV capacity free for running requests to grow into
  // (vLLM's block-manager watermark).
  double kv_watermark = 0.01;
  double max_running = 0;       // sequences in flight per replica (engine cap); 0 = no cap
  double step_tokens = 8192;    // token budget per step (max_num_batched_tokens / max_num_tokens)
  // Prefix caching (vLLM automatic prefix caching, SGLang RadixAttention, TensorRT-LLM KV block
  // reuse): a request whose prompt starts with blocks already in the KV cache skips their
  // prefill. Blocks a running request uses are pinned; the others stay cached in the KV memory
  // running requests leave free and are evicted least recently used first. Needs the workload's
  // block hashes (Workload::block_hashes); without them it changes nothing.
  bool prefix_caching = false;
  // KV offload tiers below the device memory (host DRAM, local SSD: LMCache, SGLang HiCache,
  // Dynamo KVBM), fastest first. With prefix caching, a cached block evicted from the device goes
  // to the first tier, one evicted from a tier to the next, and from the last it is dropped (LRU
  // in each tier). A prompt whose leading blocks continue in a tier loads them back before its
  // prefill starts: per tier, latency + bytes per chip / read bandwidth per chip, one load at a
  // time per replica (its host link), unless recomputing them would be faster (`reload`).
  using OffloadTier = serving::OffloadTier;
  std::vector<OffloadTier> kv_offload;
  // Whether a prefix found in an offload tier is loaded whatever it costs, or only when the load
  // is faster than recomputing those tokens in a prefill chunk of their own.
  using Reload = serving::Reload;
  Reload reload = Reload::when_faster;
  // Which unpinned cached block the device cache evicts first: the least recently used (vLLM,
  // SGLang's default), or the least frequently used, ties to the least recently used (SGLang
  // --radix-eviction-policy lfu). Offload tiers evict least recently used.
  using Eviction = serving::Eviction;
  // Whether a waiting request's prefix is staged from the deeper tiers into the first while it
  // queues (needs two tiers or more).
  using Prefetch = serving::Prefetch;
  Prefetch prefetch = Prefetch::none;
  Eviction eviction = Eviction::lru;
  // KV bytes per chip the engine may fill; unset: what the deployment leaves after weights,
  // activations and reserve (StepCostModel::memory().kv_free_bytes). A request reserves the KV
  // of its whole context (input + output, sliding windows included) when it is admitted.
  std::optional<double> kv_capacity_bytes;
  // Time a request spends outside the engine's steps (HTTP receive, tokenisation, hand-off to
  // the scheduler, streaming the first token back): the engine sees a request this long after
  // its client sends it, so TTFT, E2E and a closed-loop client's cycle include it. Unset: the
  // cost model's efficiency (`request_overhead`, a software term fitted per engine).
  std::optional<double> request_overhead_s;
  // Paged KV: what preemption does with a decoding request's KV when the running requests' next
  // tokens do not fit. recompute: it is freed and the request's prompt and generated tokens are
  // prefilled again (vLLM V1, SGLang). swap: it is copied to the host's swap space (vLLM V0
  // preemption_mode=swap, --swap-space per GPU) and copied back when the request is readmitted,
  // which then resumes decoding; each copy blocks the step it happens in (latency + bytes per
  // chip / the host link per chip). A request whose KV does not fit the space left is recomputed.
  using Preemption = serving::Preemption;
  Preemption preemption = Preemption::recompute;
  double swap_bytes = 0;          // per chip (swap)
  double swap_bytes_per_s = 0;    // per chip, each direction (swap)
  double swap_latency_s = 0;      // per copy (swap)
  // Cascade attention for parallel streams (Request::streams): a decode step reads the prompt's
  // KV the streams share once, not once per stream (FlashInfer cascade / shared-prefix kernels,
  // vLLM V1 cascade attention). Off: every stream's attention reads its whole context.
  bool cascade_attention = false;
};

}  // namespace tf::serving
