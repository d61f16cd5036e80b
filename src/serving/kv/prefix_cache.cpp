#include "serving/kv/prefix_cache.hpp"

#include <algorithm>
#include <cmath>

#include "core/diagnostic.hpp"

namespace tf::serving {

std::unique_ptr<KvTierBlocks> make_shared_store(const std::vector<OffloadTier>& tiers, double block_bytes,
                                                size_t replicas) {
  for (size_t k = 0; k + 1 < tiers.size(); ++k)
    if (tiers[k].shared) fail("KV offload: the shared store is the last tier", "e.g. dram,store or dram,ssd,store");
  if (tiers.empty() || !tiers.back().shared) return nullptr;
  auto s = std::make_unique<KvTierBlocks>();
  s->shared = true;
  s->capacity = block_bytes > 0 ? std::floor(tiers.back().capacity_bytes * static_cast<double>(replicas) / block_bytes) : 0;
  return s;
}

PrefixCache::PrefixCache(const uint64_t* hashes, double block_bytes, Result::PrefixCache& stats,
                         const std::vector<double>& tier_capacity_blocks, Eviction eviction,
                         KvTierBlocks* shared_store)
    : h_(hashes), block_bytes_(block_bytes), stats_(&stats), lfu_(eviction == Eviction::lfu) {
  own_.resize(tier_capacity_blocks.size());
  for (size_t k = 0; k < own_.size(); ++k) {
    own_[k].capacity = tier_capacity_blocks[k];
    tiers_.push_back(&own_[k]);
  }
  if (shared_store) tiers_.push_back(shared_store);
}

uint32_t PrefixCache::match_offloaded(uint32_t begin, uint32_t from, uint32_t count,
                                      std::vector<uint32_t>& per_tier) const {
  per_tier.assign(tiers_.size(), 0);
  uint32_t k = from;
  for (; k < count; ++k) {
    if (map_.count(h_[begin + k])) continue;  // on the device: no load
    size_t t = 0;
    while (t < tiers_.size() && !tiers_[t]->map.count(h_[begin + k])) ++t;
    if (t == tiers_.size()) break;
    ++per_tier[t];
  }
  return k - from;
}

void PrefixCache::store(size_t tier, uint64_t hash) {
  if (tier >= tiers_.size()) return;  // below the last tier: dropped
  auto& t = *tiers_[tier];
  auto& st = stats_->tiers[tier];
  if (t.capacity < 1) {  // a tier too small for one block passes it on
    store(tier + 1, hash);
    return;
  }
  if (auto o = t.map.find(hash); o != t.map.end()) {  // a shared store has it already: now most recently used
    t.lru.splice(t.lru.end(), t.lru, o->second);
    return;
  }
  t.map.emplace(hash, t.lru.insert(t.lru.end(), hash));
  ++st.stored_blocks;
  while (static_cast<double>(t.lru.size()) > t.capacity) {
    const uint64_t victim = t.lru.front();
    t.lru.pop_front();
    t.map.erase(victim);
    ++st.dropped_blocks;
    store(tier + 1, victim);
  }
  st.peak_blocks = std::max(st.peak_blocks, t.lru.size());
}

uint32_t PrefixCache::match(uint32_t begin, uint32_t count) const {
  uint32_t k = 0;
  while (k < count && map_.count(h_[begin + k])) ++k;
  return k;
}

void PrefixCache::pin(uint32_t begin, uint32_t from, uint32_t to) {
  for (uint32_t k = from; k < to; ++k) {
    auto [it, added] = map_.try_emplace(h_[begin + k]);
    if (added) {
      bool found = false;
      for (auto* t : tiers_)
        if (auto o = t->map.find(it->first); o != t->map.end()) {
          if (t->shared)
            t->lru.splice(t->lru.end(), t->lru, o->second);  // the store keeps it, now most recently used
          else
            t->lru.erase(o->second), t->map.erase(o);
          found = true;
          break;
        }
      // A block computed here is written through to the shared store, for the other replicas.
      if (!found && !tiers_.empty() && tiers_.back()->shared) store(tiers_.size() - 1, it->first);
    }
    if (!added && it->second.refs == 0) {
      auto& q = queue_of(it->second);
      q.erase(it->second.lru);
      if (lfu_ && q.empty()) by_uses_.erase(it->second.uses);
      --unpinned_;
    }
    ++it->second.refs;
    ++it->second.uses;
  }
  stats_->peak_blocks = std::max(stats_->peak_blocks, map_.size());
}

void PrefixCache::unpin(uint32_t begin, uint32_t count) {
  // Tail first: a request's later blocks become least recently used before its earlier ones, so
  // eviction takes a prefix from its end and what stays still matches (vLLM frees a request's
  // blocks in reverse order; SGLang's radix cache evicts leaves first).
  for (uint32_t k = count; k-- > 0;) {
    auto it = map_.find(h_[begin + k]);
    if (it == map_.end() || it->second.refs == 0) continue;
    if (--it->second.refs == 0) {
      auto& q = queue_of(it->second);
      it->second.lru = q.insert(q.end(), it->first);
      ++unpinned_;
    }
  }
}

void PrefixCache::trim(double room) {
  while (unpinned_ > 0 && static_cast<double>(unpinned_) * block_bytes_ > room) {
    auto& q = lfu_ ? by_uses_.begin()->second : lru_;
    const uint64_t victim = q.front();
    q.pop_front();
    if (lfu_ && q.empty()) by_uses_.erase(by_uses_.begin());
    --unpinned_;
    map_.erase(victim);
    ++stats_->evicted_blocks;
    store(0, victim);
  }
}

}  // namespace tf::serving
