#pragma once
// The prefix cache (the kv component): KV blocks by chained hash, pinned while running requests
// use them, evicted least recently (or least frequently) used first into the offload tiers below
// the device, and dropped from the last.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "serving/kv/eviction_order.hpp"
#include "serving/kv/kv.hpp"
#include "serving/metrics/metrics.hpp"

namespace tf::serving {

// One offload tier's blocks: a replica's own (host DRAM, local SSD), or a store shared by every
// replica of a service (KV store across nodes), which each replica's prefix cache points at. Each
// block keeps the count of requests that used it (carried down from the device and back), which
// an LFU tier evicts by.
struct KvTierBlocks {
  explicit KvTierBlocks(Eviction policy = Eviction::lru) : order(policy) {}
  double capacity = 0;  // blocks
  bool shared = false;  // a load copies a block to the device and the store keeps it
  struct Held {
    EvictionOrder::Slot slot;
    uint64_t uses = 0;
  };
  std::unordered_map<uint64_t, Held> map;
  EvictionOrder order;  // the blocks in eviction order (none is pinned in a tier)
  void add(uint64_t hash, uint64_t uses) { map.emplace(hash, Held{order.push(hash, uses), uses}); }
  // Takes a block out; returns its use count.
  uint64_t remove(std::unordered_map<uint64_t, Held>::iterator it) {
    const uint64_t uses = it->second.uses;
    order.erase(it->second.slot, uses);
    map.erase(it);
    return uses;
  }
  // The block used again (or stored again by another replica, used `uses` times there): now the
  // most recently used of its class.
  void touch(std::unordered_map<uint64_t, Held>::iterator it, uint64_t uses) {
    auto& held = it->second;
    order.erase(held.slot, held.uses);
    held.uses = std::max(held.uses, uses);
    held.slot = order.push(it->first, held.uses);
  }
  // Takes out the next victim; returns its hash and sets `uses` to its count.
  uint64_t pop(uint64_t& uses) {
    const uint64_t victim = order.pop();
    const auto it = map.find(victim);
    uses = it->second.uses;
    map.erase(it);
    return victim;
  }
};

// The service's shared KV store when the last of `tiers` is one: its capacity in blocks of
// `block_bytes` per chip for `replicas` replicas (the tier's per-chip share over every chip);
// null when no tier is shared. DiagnosticError when a shared tier is not the last.
std::unique_ptr<KvTierBlocks> make_shared_store(const std::vector<OffloadTier>& tiers, double block_bytes,
                                                size_t replicas);

// Cached KV blocks by hash: pinned while running requests use them, else in eviction order
// (EvictionOrder), evicted first when the KV memory they occupy is needed.
class PrefixCache {
 public:
  struct Tier {
    double capacity_blocks = 0;
    Eviction eviction = Eviction::lru;
  };
  // `tiers`: the replica's own offload tiers below the device, then `shared_store` (when given)
  // as the last tier; stats.tiers is sized to them all. `eviction`: the device's order.
  PrefixCache(const uint64_t* hashes, double block_bytes, Result::PrefixCache& stats,
              const std::vector<Tier>& tiers = {}, Eviction eviction = Eviction::lru,
              KvTierBlocks* shared_store = nullptr);
  // Leading blocks of [begin, begin + count) that are cached on the device (pinned or not).
  [[nodiscard]] uint32_t match(uint32_t begin, uint32_t count) const;
  // Blocks [begin + from, ..) that continue the match, each on the device or in an offload tier,
  // up to begin + count; per_tier[k]: how many of them tier k holds (the rest are on the device).
  uint32_t match_offloaded(uint32_t begin, uint32_t from, uint32_t count, std::vector<uint32_t>& per_tier) const;
  // Prefetch for a waiting request: the blocks match_offloaded() would find from `from` (up to
  // `end`, set here) that are not on the device are staged in the first offload tier and held
  // there (never evicted) until unstage(): the ones in deeper tiers move up (a shared store keeps
  // its copy), the first tier evicting its unheld blocks in its order to make room.
  // per_tier[k]: blocks moved from tier k. Nothing is staged (end = from) when the first tier is
  // shared or the held blocks would not fit in it. Returns the blocks moved.
  uint32_t stage(uint32_t begin, uint32_t from, uint32_t count, std::vector<uint32_t>& per_tier, uint32_t& end);
  // Releases what stage(begin, from, count, ..., end) held: a block no waiting request holds any
  // more rejoins the first tier's eviction order (most recently used, the prefix's head last).
  void unstage(uint32_t begin, uint32_t from, uint32_t end);
  // Pins blocks [begin + from, begin + to) on the device, inserting the ones not there (and
  // taking them out of the replica's own offload tiers: a block lives in one of them; a shared
  // store keeps its copy for the other replicas). A block computed here (in no tier) is written
  // through to the shared store (LMCache / Mooncake store put after prefill; the write is taken
  // as overlapped with compute).
  void pin(uint32_t begin, uint32_t from, uint32_t to);
  // Unpins blocks [begin, begin + count): the last user gone, a block joins the eviction order
  // as the most recently used of its class.
  void unpin(uint32_t begin, uint32_t count);
  // Evicts unpinned blocks in the device's order until they fit in `room` bytes, into the first
  // offload tier (each tier evicting in its own order into the next) or dropped.
  void trim(double room);

 private:
  struct Entry {
    uint32_t refs = 0;
    uint64_t uses = 0;  // requests that pinned it, here and in the tiers it came back from (LFU)
    EvictionOrder::Slot slot;  // while unpinned
  };
  // `uses`: the block's count, carried down.
  void store(size_t tier, uint64_t hash, uint64_t uses);
  // Makes room in tier 0 (beside the blocks held for waiting requests) by evicting into tier 1.
  void make_room_in_first();
  const uint64_t* h_;
  double block_bytes_;
  Result::PrefixCache* stats_;
  std::unordered_map<uint64_t, Entry> map_;
  EvictionOrder unpinned_;  // the device's unpinned blocks
  std::vector<KvTierBlocks> own_;     // this replica's tiers
  std::vector<KvTierBlocks*> tiers_;  // own_, then the shared store
  // Blocks of the first tier held for waiting requests (stage()), with how many hold each and
  // their use counts: part of the first tier's occupancy, outside its eviction order.
  struct Staged {
    uint32_t holders = 0;
    uint64_t uses = 0;
  };
  std::unordered_map<uint64_t, Staged> staged_;
  [[nodiscard]] bool in_tier(size_t t, uint64_t h) const {
    return tiers_[t]->map.count(h) || (t == 0 && staged_.count(h));
  }
};

}  // namespace tf::serving
