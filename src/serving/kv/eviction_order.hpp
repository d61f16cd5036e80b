#pragma once
// The order in which a cache of KV blocks gives them up (the kv component): least recently used
// first, or least frequently used first with ties to the least recently used. Used by the
// device's prefix cache and by each offload tier.
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>

#include "serving/kv/kv.hpp"

namespace tf::serving {

class EvictionOrder {
 public:
  using Slot = std::list<uint64_t>::iterator;
  explicit EvictionOrder(Eviction policy = Eviction::lru) : lfu_(policy == Eviction::lfu) {}
  [[nodiscard]] bool lfu() const { return lfu_; }
  [[nodiscard]] size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  // Adds a block used `uses` times as the most recently used of its class (LRU: the one class).
  Slot push(uint64_t hash, uint64_t uses) {
    ++size_;
    auto& q = queue(uses);
    return q.insert(q.end(), hash);
  }
  // Takes out a block pushed with `uses`.
  void erase(Slot slot, uint64_t uses) {
    --size_;
    if (!lfu_) {
      lru_.erase(slot);
      return;
    }
    const auto q = by_uses_.find(uses);
    q->second.erase(slot);
    if (q->second.empty()) by_uses_.erase(q);
  }
  // Takes out and returns the next victim (not empty()).
  uint64_t pop() {
    --size_;
    auto& q = lfu_ ? by_uses_.begin()->second : lru_;
    const uint64_t victim = q.front();
    q.pop_front();
    if (lfu_ && q.empty()) by_uses_.erase(by_uses_.begin());
    return victim;
  }

 private:
  std::list<uint64_t>& queue(uint64_t uses) { return lfu_ ? by_uses_[uses] : lru_; }
  bool lfu_;
  size_t size_ = 0;
  std::list<uint64_t> lru_;
  std::map<uint64_t, std::list<uint64_t>> by_uses_;  // LFU: one list per use count
};

}  // namespace tf::serving
