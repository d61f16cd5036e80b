#include "serving/kv/kv.hpp"

namespace tf::serving {

std::string_view to_string(KvAdmission k) {
  switch (k) {
    case KvAdmission::whole_context: return "whole-context";
    case KvAdmission::paged: return "paged";
  }
  return "?";
}

const std::vector<KvPolicyInfo>& kv_policies() {
  static const std::vector<KvPolicyInfo> v{
      {"admission", "whole-context", "--kv-admission whole-context",
       "a request reserves the KV of its whole context when admitted; nothing is ever evicted",
       "TensorRT-LLM GUARANTEED_NO_EVICT; fixed-slot engines"},
      {"admission", "paged", "--kv-admission paged",
       "KV on demand in blocks: admitted when the prompt fits (a watermark kept free), grows a token per step, the "
       "newest decoder preempted when the next tokens do not fit",
       "vLLM PagedAttention block manager (Kwon et al., SOSP 2023); SGLang"},
      {"preemption", "recompute", "--preemption recompute",
       "a preempted request's KV is freed; readmitted, it prefills its prompt and generated tokens again",
       "vLLM V1 and SGLang default"},
      {"preemption", "swap", "--preemption swap",
       "a preempted request's KV is copied to host swap space and back at readmission (each copy blocks its step)",
       "vLLM V0 preemption_mode=swap, --swap-space"},
      {"eviction", "lru", "--kv-eviction lru",
       "the device cache evicts the least recently used unpinned block first (a request's blocks tail first)",
       "vLLM automatic prefix caching; SGLang RadixAttention default"},
      {"eviction", "lfu", "--kv-eviction lfu",
       "the least frequently used unpinned block first, ties to the least recently used",
       "SGLang --radix-eviction-policy lfu"},
      {"tier-eviction", "lru", "--kv-tier-eviction lru",
       "each offload tier gives up its least recently used block first, to the next tier or dropped from the last",
       "LMCache cache_policy LRU (its default); SGLang HiCache host pool; Dynamo KVBM"},
      {"tier-eviction", "lfu", "--kv-tier-eviction lfu",
       "an offload tier gives up its least frequently used block first (a block's use count travels with it), ties "
       "to the least recently used; one policy for all tiers or one per tier (lfu,lru)",
       "LMCache cache_policy LFU"},
      {"reload", "when-faster", "--kv-reload when-faster",
       "a prefix found in a tier is loaded only when the load beats recomputing it as a prefill chunk",
       "LMCache / SGLang HiCache load-or-recompute decisions"},
      {"reload", "always", "--kv-reload always", "a prefix found in a tier is always loaded back",
       "LMCache, Dynamo KVBM default retrieval"},
      {"prefetch", "none", "--kv-prefetch none",
       "nothing is fetched ahead: a prefix loads at admission from each tier it is in", "vLLM + LMCache default"},
      {"prefetch", "on-arrival", "--kv-prefetch on-arrival",
       "when a request arrives, its prefix blocks below the first tier are staged into it over their tier's link while "
       "it queues; admission then waits for the staging and loads from the first tier",
       "SGLang HiCache storage prefetch (--hicache-storage-prefetch-policy wait_complete); LMCache async prefetch"},
      {"tier", "dram", "--kv-offload dram", "host DRAM per chip (half the host's), read over the host link",
       "LMCache CPU backend; SGLang HiCache L2; Dynamo KVBM G2"},
      {"tier", "ssd", "--kv-offload dram,ssd", "the node's local SSD per chip (half of it), read at its bandwidth over the "
       "node's chips", "LMCache local disk; SGLang HiCache L3; Dynamo KVBM G3"},
      {"tier", "store", "--kv-offload dram,store --kv-store-gb G",
       "one KV store for every replica across nodes (the last tier): computed blocks written through, loads over the "
       "scale-out link", "Mooncake Store (FAST'25); LMCache remote backend; Dynamo KVBM G4"},
      {"attention", "cascade", "--cascade-attention",
       "parallel streams read their shared prompt's KV once per decode step",
       "FlashInfer cascade attention; vLLM V1 cascade attention"},
  };
  return v;
}

}  // namespace tf::serving
