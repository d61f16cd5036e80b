#pragma once
// The prefix cache (the kv component): KV blocks by chained hash, pinned while running requests
// use them, evicted least recently (or least frequently) used first into the offload tiers below
// the device, and dropped from the last.
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <unordered_map>
#include <vector>

#include "serving/kv/kv.hpp"
#include "serving/metrics/metrics.hpp"

namespace tf::serving {

// Cached KV blocks by hash: pinned while running requests use them, else on a least-recently-used
// list, evicted from its front when the KV memory they occupy is needed.
class PrefixCache {
 public:
  // `tiers`: offload tiers below the device (capacity in blocks each); stats.tiers is sized to them.
  PrefixCache(const uint64_t* hashes, double block_bytes, Result::PrefixCache& stats,
              const std::vector<double>& tier_capacity_blocks = {},
              Eviction eviction = Eviction::lru);
  // Leading blocks of [begin, begin + count) that are cached on the device (pinned or not).
  [[nodiscard]] uint32_t match(uint32_t begin, uint32_t count) const;
  // Blocks [begin + from, ..) that continue the match, each on the device or in an offload tier,
  // up to begin + count; per_tier[k]: how many of them tier k holds (the rest are on the device).
  uint32_t match_offloaded(uint32_t begin, uint32_t from, uint32_t count, std::vector<uint32_t>& per_tier) const;
  // Pins blocks [begin + from, begin + to) on the device, inserting the ones not there (and
  // taking them out of the offload tiers: a block lives in one tier).
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
  struct Tier {
    double capacity = 0;  // blocks
    std::unordered_map<uint64_t, std::list<uint64_t>::iterator> map;
    std::list<uint64_t> lru;  // front: least recently used
  };
  void store(size_t tier, uint64_t hash);
  const uint64_t* h_;
  double block_bytes_;
  Result::PrefixCache* stats_;
  std::unordered_map<uint64_t, Entry> map_;
  bool lfu_ = false;
  std::list<uint64_t> lru_;
  std::map<uint64_t, std::list<uint64_t>> by_uses_;
  size_t unpinned_ = 0;
  std::vector<Tier> tiers_;
};

}  // namespace tf::serving
