#pragma once
// The service's event queue: one clock for every pool, replica, client and link of a simulated
// service. Events are taken in (time, class, sequence) order: the earliest first; at one time,
// arrivals before KV transfers (and both before the replicas' iterations, which the loops take
// only when no event is due first: lowest replica index first); within a class, in the order
// they were pushed (a per-simulation sequence number). So a run is deterministic, and its order
// does not depend on how a heap breaks ties.
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <vector>

namespace tf::serving {

enum class EventClass : uint8_t {
  arrival,      // a request reaches the service's router (open-loop arrival, a client's next request, a tool call's end)
  kv_transfer,  // a prompt's KV lands on a decode replica (disaggregated service)
};
inline constexpr size_t kEventClasses = 2;

struct Event {
  double time = std::numeric_limits<double>::infinity();
  EventClass kind = EventClass::arrival;
  uint64_t seq = 0;     // per simulation, in push order
  size_t request = 0;   // workload index
  size_t target = 0;    // kv_transfer: the decode replica
};

class EventQueue {
 public:
  // Schedules an event; returns its sequence number.
  uint64_t push(EventClass kind, double time, size_t request, size_t target = 0) {
    const uint64_t seq = next_seq_++;
    heads_[static_cast<size_t>(kind)].push(Event{time, kind, seq, request, target});
    return seq;
  }
  [[nodiscard]] bool empty() const {
    for (const auto& h : heads_)
      if (!h.empty()) return false;
    return true;
  }
  // The next event in (time, class, sequence) order; nullptr when there is none.
  [[nodiscard]] const Event* top() const {
    const Event* best = nullptr;
    for (const auto& h : heads_)  // classes in order: at one time the lower class wins
      if (!h.empty() && (!best || h.top().time < best->time)) best = &h.top();
    return best;
  }
  // The next event of one class; nullptr when there is none.
  [[nodiscard]] const Event* first(EventClass kind) const {
    const auto& h = heads_[static_cast<size_t>(kind)];
    return h.empty() ? nullptr : &h.top();
  }
  // When the next event happens (+inf when none).
  [[nodiscard]] double next_time() const {
    const Event* e = top();
    return e ? e->time : std::numeric_limits<double>::infinity();
  }
  // Takes the next event (the queue must not be empty).
  Event pop() {
    const Event* e = top();
    const Event out = *e;
    heads_[static_cast<size_t>(out.kind)].pop();
    return out;
  }

 private:
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };
  std::array<std::priority_queue<Event, std::vector<Event>, Later>, kEventClasses> heads_;
  uint64_t next_seq_ = 0;
};

}  // namespace tf::serving
