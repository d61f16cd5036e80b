#include "serving/kv/prefix_cache.hpp"

#include <algorithm>
#include <cmath>

namespace tf::serving {

PrefixCache::PrefixCache(const uint64_t* hashes, double block_bytes, Result::PrefixCache& stats,
                         const std::vector<double>& tier_capacity_blocks, Eviction eviction)
    : h_(hashes), block_bytes_(block_bytes), stats_(&stats), lfu_(eviction == Eviction::lfu) {
  for (const double c : tier_capacity_blocks) {
    tiers_.emplace_back();
    tiers_.back().capacity = c;
  }
}

uint32_t PrefixCache::match_offloaded(uint32_t begin, uint32_t from, uint32_t count,
                                      std::vector<uint32_t>& per_tier) const {
  per_tier.assign(tiers_.size(), 0);
  uint32_t k = from;
  for (; k < count; ++k) {
    if (map_.count(h_[begin + k])) continue;  // on the device: no load
    size_t t = 0;
    while (t < tiers_.size() && !tiers_[t].map.count(h_[begin + k])) ++t;
    if (t == tiers_.size()) break;
    ++per_tier[t];
  }
  return k - from;
}

void PrefixCache::store(size_t tier, uint64_t hash) {
  if (tier >= tiers_.size()) return;  // below the last tier: dropped
  auto& t = tiers_[tier];
  auto& st = stats_->tiers[tier];
  if (t.capacity < 1) {  // a tier too small for one block passes it on
    store(tier + 1, hash);
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
    if (added)
      for (auto& t : tiers_)
        if (auto o = t.map.find(it->first); o != t.map.end()) {
          t.lru.erase(o->second);
          t.map.erase(o);
          break;
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
