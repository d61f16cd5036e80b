#pragma once
// A pool of engine replicas behind a router, every replica on one clock (the cluster component
// of the serving simulator): the load-aware routed deployment and each pool of a
// prefill/decode-disaggregated service are pools. The pool owns its replicas and the router's
// state (the prompt blocks each replica has been sent, each session's replica); the caller owns
// the event loop (which replica iterates next, when a request is released to the pool).
#include <cstddef>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_set>
#include <vector>

#include "serving/cluster/cluster.hpp"
#include "serving/cluster/event_queue.hpp"
#include "serving/engine/replica.hpp"

namespace tf::serving {

class Pool {
 public:
  // `replicas` replicas of `model` under `engine`, each holding `cap_kv` bytes of KV per chip;
  // `w` supplies the block hashes (its requests are not read); `sessions` is the number of
  // closed-loop clients (session-sticky needs it > 0); `expected` requests in all. Replica r
  // records its iterations as timeline replica `first_timeline_replica + r`.
  Pool(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w, double cap_kv, size_t replicas,
       Router router, size_t sessions, size_t expected, Timeline* timeline, size_t first_timeline_replica = 0);

  [[nodiscard]] size_t size() const { return reps_.size(); }
  [[nodiscard]] Replica& operator[](size_t r) { return *reps_[r]; }
  [[nodiscard]] const Replica& operator[](size_t r) const { return *reps_[r]; }

  // The replica `q` goes to under the router (session: its client, for session-sticky), from
  // the replicas' state as of their last finished iteration.
  [[nodiscard]] size_t choose(const Request& q, size_t session);
  // Hands `q` (workload index `index`) to replica `r`, arriving at `at`.
  void send(size_t r, const Request& q, double at, size_t index);

  // The replica whose next iteration starts first (ties: the lowest index) and when; size()
  // and +inf when every replica is idle.
  [[nodiscard]] size_t due(double& time) const;

  // Workload indices of the requests each replica was sent, in the order sent.
  [[nodiscard]] const std::vector<size_t>& sent_to(size_t r) const { return index_[r]; }

 private:
  [[nodiscard]] size_t least_outstanding() const;
  [[nodiscard]] double in_system(size_t r) const;
  [[nodiscard]] uint32_t affinity(size_t r, const Request& q) const;

  const Workload& w_;
  double cap_kv_;
  Router router_;
  std::unique_ptr<KvTierBlocks> store_;  // the replicas' shared KV store (declared first: it outlives them)
  std::vector<std::unique_ptr<Replica>> reps_;
  std::vector<std::vector<size_t>> index_;
  size_t sent_count_ = 0;
  std::vector<size_t> home_;                         // session-sticky: each session's replica (size() = none yet)
  std::vector<std::unordered_set<uint64_t>> sent_;  // prefix affinity: leading blocks each replica was sent
};

// What closed-loop clients send, for the simulations that route each released request.
// Without sessions: client c first sends request c, and a completion sends the next request not
// yet sent. With sessions (Workload::next_turn): client c first sends the first turn of session
// c, a completion sends the next turn of its session, and after a session's last turn the
// client starts the next session not yet started. Each release waits the request's think time.
class ClientQueue {
 public:
  // `clients` clients asked for; clients() of them run (no more than there are sessions, or requests).
  ClientQueue(const Workload& w, size_t clients);
  [[nodiscard]] size_t clients() const { return clients_; }
  // When client c sends its first request: its session's arrival (Workload::session_start_s),
  // else t = 0.
  [[nodiscard]] double start_s(size_t c) const {
    return w_.session_start_s.empty() ? 0 : w_.session_start_s[first(c)];
  }
  // The request client c sends first (c < clients()).
  [[nodiscard]] size_t first(size_t c) const;
  // The request sent when request i completes (its client's next), or none.
  [[nodiscard]] std::optional<size_t> after(size_t i);
  [[nodiscard]] double think_s(size_t i) const { return w_.think_s.empty() ? 0 : w_.think_s[i]; }
  // Request i, released by its client's answer at `done`, is ready after its think time; if it
  // has a tool call, that runs then (run_tool, taken in time order with the other events: it
  // waits for a free core, first come first served) and the request is sent when it ends.
  [[nodiscard]] double ready_time(size_t i, double done) const { return done + think_s(i); }
  [[nodiscard]] bool has_tool(size_t i) const { return !w_.tool_s.empty() && w_.tool_s[i] > 0; }
  double run_tool(size_t i, double at);
  [[nodiscard]] const Result::Tools& tools() const { return tools_; }

 private:
  const Workload& w_;
  std::priority_queue<double, std::vector<double>, std::greater<>> cores_;  // when each core is free
  Result::Tools tools_;
  std::vector<size_t> starts_;  // sessions: each session's first turn, in request order
  size_t clients_ = 0;
  size_t next_ = 0;             // the next request (no sessions) or session start not yet sent
};

// Requests reaching a service's router, as arrival events on the service's queue: open loop,
// every request at its arrival time; closed loop, each client's first request at its start
// (ClientQueue), then, when a request completes, its client's next one after its think time and
// (when it has one) its tool call, which starts when its arrival event is taken and pushes the
// arrival again at the call's end.
class Arrivals {
 public:
  // Pushes the first arrivals onto `events`; `clients` closed-loop clients asked for (0: open loop).
  Arrivals(const Workload& w, size_t clients, EventQueue& events);
  [[nodiscard]] bool closed() const { return closed_; }
  [[nodiscard]] size_t clients() const { return queue_.clients(); }
  // An arrival event just taken: the request to route now, or none when the event started its
  // tool call (its arrival is pushed again for the call's end).
  [[nodiscard]] std::optional<size_t> take(const Event& e);
  // The client (session) of request i (0 for open loop).
  [[nodiscard]] size_t client_of(size_t i) const { return closed_ ? client_of_[i] : 0; }
  // Request i completed at `at`: its client's next request, if any, is released.
  void completed(size_t i, double at);
  [[nodiscard]] const Result::Tools& tools() const { return queue_.tools(); }

 private:
  EventQueue& events_;
  bool closed_;
  ClientQueue queue_;
  std::vector<size_t> client_of_;
  std::vector<char> tool_pending_;  // released, its tool call not yet run
};

// Imbalance guard of the prefix-affinity router (the sgl-router cache-aware policy's defaults):
// when the busiest replica holds more than kBalanceAbs requests beyond the idlest and more than
// kBalanceRel times as many, a request goes to the idlest replica whatever its prefix.
inline constexpr double kBalanceAbs = 32;
inline constexpr double kBalanceRel = 1.0001;

}  // namespace tf::serving
