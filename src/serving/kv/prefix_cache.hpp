#pragma once
// The prefix cache (the kv component): KV blocks by chained hash, pinned while running requests
// use them, evicted least recently (or least frequently) used first into the offload tiers below
// the device, and dropped from the last.
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "serving/kv/kv.hpp"
#include "serving/metrics/metrics.hpp"

namespace tf::serving {

// One offload tier's blocks: a replica's own (host DRAM, local SSD), or a store shared by every
// replica of a service (KV store across nodes), which each replica's prefix cache points at.
struct KvTierBlocks {
  double capacity = 0;  // blocks
  bool shared = false;  // a load copies a block to the device and the store keeps it
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> map;
  std::list<uint64_t> lru;  // front: least recently used
};

// The service's shared KV store when the last of `tiers` is one: its capacity in blocks of
// `block_bytes` per chip for `replicas` replicas (the tier's per-chip share over every chip);
// null when no tier is shared. DiagnosticError when a shared tier is not the last.
std::unique_ptr<KvTierBlocks> make_shared_store(const std::vector<OffloadTier>& tiers, double block_bytes,
                                                size_t replicas);

// Cached KV blocks by hash: pinned while running requests use them, else on a least-recently-used
// list, evicted from its front when the KV memory they occupy is needed.
class PrefixCache {
 public:
  // `tiers`: the replica's own offload tiers below the device (capacity in blocks each), then
  // `shared_store` (when given) as the last tier; stats.tiers is sized to them all.
  PrefixCache(const uint64_t* hashes, double block_bytes, Result::PrefixCache& stats,
              const std::vector<double>& tier_capacity_blocks = {},
              Eviction eviction = Eviction::lru, KvTierBlocks* shared_store = nullptr);
  // Leading blocks of [begin, begin + count) that are cached on the device (pinned or not).
  [[nodiscard]] uint32_t match(uint32_t begin, uint32_t count) const;
  // Blocks [begin + from, ..) that continue the match, each on the device or in an offload tier,
  // up to begin + count; per_tier[k]: how many of them tier k holds (the rest are on the device).
  uint32_t match_offloaded(uint32_t begin, uint32_t from, uint32_t count, std::vector<uint32_t>& per_tier) const;
  // Prefetch for a waiting request: the blocks match_offloaded() would find from `from` (up to
  // `end`, set here) that are not on the device are staged in the first offload tier and held
  // there (never evicted) until unstage(): the ones in deeper tiers move up (a shared store keeps
  // its copy), the first tier evicting its least recently used unheld blocks to make room.
  // per_tier[k]: blocks moved from tier k. Nothing is staged (end = from) when the first tier is
  // shared or the held blocks would not fit in it. Returns the blocks moved.
  uint32_t stage(uint32_t begin, uint32_t from, uint32_t count, std::vector<uint32_t>& per_tier, uint32_t& end);
  // Releases what stage(begin, from, count, ..., end) held: a block no waiting request holds any
  // more rejoins the first tier's LRU list (most recently used, the prefix's head last).
  void unstage(uint32_t begin, uint32_t from, uint32_t end);
  // Pins blocks [begin + from, begin + to) on the device, inserting the ones not there (and
  // taking them out of the replica's own offload tiers: a block lives in one of them; a shared
  // store keeps its copy for the other replicas). A block computed here (in no tier) is written
  // through to the shared store (LMCache / Mooncake store put after prefill; the write is taken
  // as overlapped with compute).
  void pin(uint32_t begin, uint32_t from, uint32_t to);
  // Unpins blocks [begin, begin + count): the last user gone, a block joins the LRU list's back.
  void unpin(uint32_t begin, uint32_t count);
  // Evicts least recently used unpinned blocks until they fit in `room` bytes, into the first
  // offload tier (each tier evicting its own least recently used into the next) or dropped.
  void trim(double room);

 private:
  struct Entry {
    uint32_t refs = 0;
    uint64_t uses = 0;  // requests that pinned it (LFU)
    std::list<uint64_t>::iterator lru;
  };
  // The unpinned blocks in eviction order: one list (LRU), or one list per use count, least
  // recently used first in each (LFU: the front of the lowest count goes first).
  std::list<uint64_t>& queue_of(const Entry& e) { return lfu_ ? by_uses_[e.uses] : lru_; }
  void store(size_t tier, uint64_t hash);
  const uint64_t* h_;
  double block_bytes_;
  Result::PrefixCache* stats_;
  std::unordered_map<uint64_t, Entry> map_;
  bool lfu_ = false;
  std::list<uint64_t> lru_;
  std::map<uint64_t, std::list<uint64_t>> by_uses_;
  size_t unpinned_ = 0;
  std::vector<KvTierBlocks> own_;     // this replica's tiers
  std::vector<KvTierBlocks*> tiers_;  // own_, then the shared store
  // Blocks of the first tier held for waiting requests (stage()), with how many hold each: part
  // of the first tier's occupancy, outside its LRU list.
  std::unordered_map<uint64_t, uint32_t> staged_;
  [[nodiscard]] bool in_tier(size_t t, uint64_t h) const {
    return tiers_[t]->map.count(h) || (t == 0 && staged_.count(h));
  }
};

}  // namespace tf::serving
