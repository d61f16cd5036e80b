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
  auto s = std::make_unique<KvTierBlocks>(tiers.back().eviction);
  s->shared = true;
  s->capacity = block_bytes > 0 ? std::floor(tiers.back().capacity_bytes * static_cast<double>(replicas) / block_bytes) : 0;
  return s;
}

PrefixCache::PrefixCache(const uint64_t* hashes, double block_bytes, Result::PrefixCache& stats,
                         const std::vector<Tier>& tiers, Eviction eviction, KvTierBlocks* shared_store)
    : h_(hashes), block_bytes_(block_bytes), stats_(&stats), unpinned_(eviction) {
  own_.reserve(tiers.size());  // tiers_ points into it
  for (const auto& t : tiers) {
    own_.emplace_back(t.eviction);
    own_.back().capacity = t.capacity_blocks;
  }
  for (auto& t : own_) tiers_.push_back(&t);
  if (shared_store) tiers_.push_back(shared_store);
}

uint32_t PrefixCache::match_offloaded(uint32_t begin, uint32_t from, uint32_t count,
                                      std::vector<uint32_t>& per_tier) const {
  per_tier.assign(tiers_.size(), 0);
  uint32_t k = from;
  for (; k < count; ++k) {
    if (map_.count(h_[begin + k])) continue;  // on the device: no load
    size_t t = 0;
    while (t < tiers_.size() && !in_tier(t, h_[begin + k])) ++t;
    if (t == tiers_.size()) break;
    ++per_tier[t];
  }
  return k - from;
}

void PrefixCache::make_room_in_first() {
  auto& first = *tiers_[0];
  while (!first.order.empty() && static_cast<double>(first.order.size() + staged_.size()) > first.capacity) {
    uint64_t uses = 0;
    const uint64_t victim = first.pop(uses);
    ++stats_->tiers[0].dropped_blocks;
    store(1, victim, uses);
  }
}

uint32_t PrefixCache::stage(uint32_t begin, uint32_t from, uint32_t count, std::vector<uint32_t>& per_tier,
                            uint32_t& end) {
  per_tier.assign(tiers_.size(), 0);
  end = from;
  if (tiers_.size() < 2 || tiers_[0]->shared) return 0;
  auto& first = *tiers_[0];
  // The blocks that continue the match, and how many more the first tier would hold for requests.
  uint32_t last = from;
  size_t more = 0;
  for (; last < count; ++last) {
    const uint64_t h = h_[begin + last];
    if (map_.count(h) || staged_.count(h)) continue;
    size_t t = 0;
    while (t < tiers_.size() && !tiers_[t]->map.count(h)) ++t;
    if (t == tiers_.size()) break;
    ++more;
  }
  if (static_cast<double>(staged_.size() + more) > first.capacity) return 0;
  end = last;
  uint32_t moved = 0;
  for (uint32_t k = from; k < last; ++k) {
    const uint64_t h = h_[begin + k];
    if (map_.count(h)) continue;
    if (auto s = staged_.find(h); s != staged_.end()) {
      ++s->second.holders;
      continue;
    }
    if (auto o = first.map.find(h); o != first.map.end()) {  // held where it is
      staged_.emplace(h, Staged{1, first.remove(o)});
      continue;
    }
    size_t t = 1;
    while (t < tiers_.size() && !tiers_[t]->map.count(h)) ++t;
    if (t == tiers_.size()) {  // dropped from the last tier by the room made for an earlier block
      end = k;
      break;
    }
    auto& src = *tiers_[t];
    const auto o = src.map.find(h);
    staged_.emplace(h, Staged{1, src.shared ? o->second.uses : src.remove(o)});  // a shared store keeps its copy
    ++stats_->tiers[0].stored_blocks;
    ++per_tier[t];
    ++moved;
    make_room_in_first();
  }
  stats_->tiers[0].peak_blocks = std::max(stats_->tiers[0].peak_blocks, first.order.size() + staged_.size());
  return moved;
}

void PrefixCache::unstage(uint32_t begin, uint32_t from, uint32_t end) {
  auto& first = *tiers_[0];
  for (uint32_t k = end; k-- > from;) {  // tail first: the head ends most recently used
    const auto s = staged_.find(h_[begin + k]);
    if (s == staged_.end() || --s->second.holders > 0) continue;  // on the device now, or still held
    const uint64_t h = s->first;
    const uint64_t uses = s->second.uses;
    staged_.erase(s);
    first.add(h, uses);
  }
}

void PrefixCache::store(size_t tier, uint64_t hash, uint64_t uses) {
  if (tier >= tiers_.size()) return;  // below the last tier: dropped
  auto& t = *tiers_[tier];
  auto& st = stats_->tiers[tier];
  if (t.capacity < 1) {  // a tier too small for one block passes it on
    store(tier + 1, hash, uses);
    return;
  }
  if (auto o = t.map.find(hash); o != t.map.end()) {  // a shared store has it already: now most recently used
    t.touch(o, uses);
    return;
  }
  t.add(hash, uses);
  ++st.stored_blocks;
  const size_t held = tier == 0 ? staged_.size() : 0;
  while (static_cast<double>(t.order.size() + held) > t.capacity) {
    uint64_t victim_uses = 0;
    const uint64_t victim = t.pop(victim_uses);
    ++st.dropped_blocks;
    store(tier + 1, victim, victim_uses);
  }
  st.peak_blocks = std::max(st.peak_blocks, t.order.size() + held);
}

uint32_t PrefixCache::match(uint32_t begin, uint32_t count) const {
  uint32_t k = 0;
  while (k < count && map_.count(h_[begin + k])) ++k;
  return k;
}

void PrefixCache::pin(uint32_t begin, uint32_t from, uint32_t to) {
  for (uint32_t k = from; k < to; ++k) {
    auto [it, added] = map_.try_emplace(h_[begin + k]);
    auto& e = it->second;
    if (added) {
      // Held for waiting requests: now on the device (their unstage() finds it gone).
      bool found = false;
      if (auto s = staged_.find(it->first); s != staged_.end()) {
        e.uses = s->second.uses;
        staged_.erase(s);
        found = true;
      }
      for (auto* t : tiers_) {
        if (found) break;
        if (auto o = t->map.find(it->first); o != t->map.end()) {
          if (t->shared) {
            e.uses = o->second.uses;
            t->touch(o, e.uses + 1);  // the store keeps it, now most recently used
          } else {
            e.uses = t->remove(o);
          }
          found = true;
        }
      }
      // A block computed here is written through to the shared store, for the other replicas.
      if (!found && !tiers_.empty() && tiers_.back()->shared) store(tiers_.size() - 1, it->first, 1);
    }
    if (!added && e.refs == 0) unpinned_.erase(e.slot, e.uses);
    ++e.refs;
    ++e.uses;
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
    if (--it->second.refs == 0) it->second.slot = unpinned_.push(it->first, it->second.uses);
  }
}

void PrefixCache::trim(double room) {
  while (!unpinned_.empty() && static_cast<double>(unpinned_.size()) * block_bytes_ > room) {
    const uint64_t victim = unpinned_.pop();
    const auto it = map_.find(victim);
    const uint64_t uses = it->second.uses;
    map_.erase(it);
    ++stats_->evicted_blocks;
    store(0, victim, uses);
  }
}

}  // namespace tf::serving
