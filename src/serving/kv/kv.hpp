#pragma once
// How an engine holds KV memory (the kv component's settings): admission (whole context or
// paged), preemption, the prefix cache's eviction order, and the offload tiers below the device.
#include <string>
#include <string_view>
#include <vector>

namespace tf::serving {

// How the engine gives KV memory to requests.
enum class KvAdmission {
  // A request reserves the KV of its whole context (input + output) when admitted, so nothing is
  // ever evicted (TensorRT-LLM GUARANTEED_NO_EVICT, fixed-slot engines).
  whole_context,
  // Paged KV on demand (vLLM, SGLang): a request is admitted when its prompt's blocks fit, its
  // KV grows a token per decode step, and when the next step's tokens no longer fit the most
  // recently admitted decoding request is preempted: its KV is freed and it goes back to the
  // front of the queue, to recompute its prompt and the tokens it had generated when readmitted.
  paged,
};
std::string_view to_string(KvAdmission k);

// Which unpinned cached block the device cache evicts first: the least recently used (vLLM,
// SGLang's default), or the least frequently used, ties to the least recently used (SGLang
// --radix-eviction-policy lfu). Each offload tier has its own (OffloadTier::eviction).
enum class Eviction { lru, lfu };
// A KV offload tier below the device memory (EngineConfig::kv_offload).
struct OffloadTier {
  std::string name;            // "dram", "ssd"
  double capacity_bytes = 0;   // per chip
  double read_bytes_per_s = 0; // per chip, tier to device
  double latency_s = 0;        // per load
  // A KV store shared by every replica of the service across nodes (Mooncake Store, LMCache's
  // remote backend): the last tier; capacity_bytes is its share per chip of the service, so the
  // store holds capacity_bytes x the service's chips; a load copies blocks to the device and the
  // store keeps them for the other replicas.
  bool shared = false;
  // Which of its blocks the tier gives up first when full (to the next tier, or dropped from the
  // last): least recently used, or least frequently used (the count of requests that used a block
  // is carried with it between the device and the tiers).
  Eviction eviction = Eviction::lru;
};

// Whether a prefix found in an offload tier is loaded whatever it costs, or only when the load
// is faster than recomputing those tokens in a prefill chunk of their own.
enum class Reload { always, when_faster };
// What the engine fetches ahead when a request arrives and waits in the queue: nothing (its prefix
// loads at admission, from wherever it is), or the blocks of its prefix in tiers below the first
// staged into the first (SGLang HiCache's storage prefetch into host memory, LMCache's async
// prefetch), so that admission loads from the first tier only.
enum class Prefetch { none, on_arrival };
// Paged KV: what preemption does with a decoding request's KV (EngineConfig::preemption).
enum class Preemption { recompute, swap };

// The registry of KV policies and tiers (tokenfactory list kv): what each does and which engines
// or systems behave so. `kind`: admission, preemption, eviction, tier-eviction, reload, prefetch, tier,
// attention.
struct KvPolicyInfo {
  std::string_view kind, name, flag, description, citation;
};
const std::vector<KvPolicyInfo>& kv_policies();

}  // namespace tf::serving
