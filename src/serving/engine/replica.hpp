#pragma once
// One engine instance as a state machine the caller advances one engine iteration at a time, so
// that several replicas can share one clock behind a router (serving/cluster). `simulate` runs a
// single replica to completion with this class; the arithmetic is the one the simulator has
// always had (continuous batching, chunked prefill, whole-context or paged KV with preemption by
// recompute, prefix caching, the pure-decode jump).
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <limits>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cost/step_cost.hpp"
#include "serving/engine/engine.hpp"
#include "serving/kv/prefix_cache.hpp"
#include "serving/metrics/metrics.hpp"
#include "serving/workload/workload.hpp"

namespace tf::serving {

// Parallel streams per request at most (Request::streams).
inline constexpr uint32_t kMaxStreams = 1024;

// KV bytes per chip of request r's streams when each holds `context` tokens: the shared input
// once and every stream's tokens beyond it (kv(context) for one stream).
inline double streams_kv(const cost::StepCostModel& m, const Request& r, double context) {
  if (r.streams == 1) return m.kv_bytes_per_chip(1, context);
  const double shared = m.kv_bytes_per_chip(1, r.input_tokens);
  return shared + r.streams * (m.kv_bytes_per_chip(1, context) - shared);
}


// A request that may arrive at a replica before its next iteration ends: the replica ends a
// pure-decode stretch at the first step after `time` if the request could be admitted, as it does
// for its own next arrival.
struct Arrival {
  double time = std::numeric_limits<double>::infinity();
  const Request* request = nullptr;
};

class Replica {
 public:
  // `w` supplies the block hashes, block size and client count (its requests are not read:
  // they are added with add()); `cap_kv` is the KV capacity in bytes per chip. The workload must
  // have been checked (check_workload).
  // `shared_store`: the service's shared KV store (the engine's last offload tier when it is
  // shared; one for every replica, which must outlive them).
  Replica(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w, double cap_kv,
          size_t expected_requests = 0, KvTierBlocks* shared_store = nullptr);
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Adds a request (local index = requests added before it; the replica keeps a reference, so
  // `r` must outlive it). Open loop: it arrives at `arrival_s` (default r.arrival_s), not before
  // the previous one. Closed loop: the first `clients` arrive at 0, every later one when an
  // earlier one completes.
  void add(const Request& r, std::optional<double> arrival_s = std::nullopt);
  // When the next iteration starts (+inf when there is nothing to do until a request is added).
  [[nodiscard]] double next_time() const;
  // Runs one engine iteration (or moves the clock to the next arrival when idle). `external`: a
  // request not yet routed that may come here (ends a decode stretch like an own arrival).
  void iterate(const Arrival& external = {});
  [[nodiscard]] bool finished() const { return done_ == reqs_.size(); }

  // What a router sees.
  [[nodiscard]] double outstanding_tokens() const { return outstanding_; }  // prompt + output not yet done
  [[nodiscard]] double kv_in_use_bytes() const;                             // reserved + held by decoders
  [[nodiscard]] double kv_capacity_bytes() const { return cap_kv_; }
  [[nodiscard]] uint32_t cached_blocks(const Request& r) const;             // leading prompt blocks cached
  [[nodiscard]] size_t requests() const { return reqs_.size(); }
  [[nodiscard]] size_t completed() const { return done_; }
  // Requests (local indices) that completed in the last iteration, and when a request finished.
  [[nodiscard]] const std::vector<size_t>& just_completed() const { return just_completed_; }
  [[nodiscard]] double finish_s(size_t local) const { return res_.requests[local].finish_s; }

  // Decode pool of a disaggregated service: requests arrive with their prompt's KV (computed and
  // transferred by a prefill pool) and their first token, so admission starts them decoding
  // with no prefill; a request preempted later recomputes its context here. Call before add().
  void set_prefilled(bool on) { prefilled_ = on; }

  // Records every iteration into timeline->replicas[replica] (bounded by its max_events).
  void record(Timeline* timeline, size_t replica);

  // The run: request records in local order (arrival filled), counters; not yet summarised.
  Result take();

 private:
  double kv(double tokens) const { return model_.kv_bytes_per_chip(1, tokens); }
  // When request i reaches the engine (closed loop: +inf until its client sends it): its
  // client's send time (kept in its record) plus the request overhead outside the engine's
  // steps. A decode pool's requests come from a prefill pool, not a client: none.
  double arrival(size_t i) const { return engine_time(res_.requests[i].arrival_s); }
  double engine_time(double client_s) const { return client_s + (prefilled_ ? 0 : frontend_s_); }
  // KV bytes per chip request i holds while its prompt runs: its whole context (whole-context
  // admission), or its prompt and next token (paged; a preempted request's prompt holds the
  // tokens it had generated).
  double need(size_t i) const {
    const auto& r = *reqs_[i];
    if (r.streams == 1) return paged_ ? kv(prompt_[i] + 1) : kv(r.input_tokens + r.output_tokens);
    return streams_kv(model_, r, paged_ ? r.input_tokens + emitted_[i] + 1 : r.input_tokens + r.output_tokens);
  }
  // When request i's prefix load from an offload tier ends (0 without tiers).
  double ready_at(size_t i) const { return ready_at_.empty() ? 0 : ready_at_[i]; }
  double in_flight() const { return decoding_ + prefilling_streams_; }  // sequences (streams)
  void release(size_t id, bool finished);
  void complete(size_t id);
  void prompt_done(size_t id);
  double decoder_kv(double& growth) const;

  const cost::StepCostModel& model_;
  const EngineConfig& engine_;
  const Workload& w_;
  double cap_kv_, admit_cap_, slack_, cap_running_;
  bool closed_, paged_, caching_;
  bool linear_kv_;        // KV linear in context: decoder_kv() from context_sum_
  double kv_per_token_;   // KV bytes per chip of one token's context (when linear)
  bool prefilled_ = false;
  size_t clients_;
  double frontend_s_;     // request overhead outside the engine's steps (EngineConfig)
  Result res_;
  std::vector<const Request*> reqs_;  // the caller's requests (they outlive the replica)
  std::vector<double> prompt_, emitted_;
  std::deque<std::pair<size_t, double>> prefilling_;  // sequences whose prompt runs (tokens done)
  double prefilling_streams_ = 0;  // the streams they will decode as
  double shared_extra_ = 0;        // decoders' prompt tokens counted once per stream beyond the first
  // Decoding sequences all advance one token per decode step ("tick"), so one that starts
  // decoding at tick g with r tokens to go finishes at tick g + r: a min-heap on that tick
  // (entries of preempted sequences are stale: their epoch has moved on).
  struct Finish {
    double tick;
    size_t id;
    uint32_t epoch;
    bool operator>(const Finish& o) const { return std::tie(tick, id) > std::tie(o.tick, o.id); }
  };
  std::priority_queue<Finish, std::vector<Finish>, std::greater<>> finishing_;
  std::vector<uint32_t> epoch_;
  // Paged KV: decoding sequences in admission order (the last is preempted first), with the tick
  // and tokens emitted when each started decoding (these vectors stay empty without paged KV).
  std::set<std::pair<uint64_t, size_t>> decoders_;
  std::vector<uint64_t> admitted_as_;
  std::vector<double> start_tick_, start_emitted_;
  uint64_t admissions_ = 0;
  double tick_ = 0, decoding_ = 0, context_sum_ = 0;  // context_sum: cached tokens of the decoders
  std::deque<size_t> waiting_;
  size_t issued_ = 0, next_ = 0, done_ = 0;  // issued: requests whose arrival time is known
  double t_ = 0, reserved_ = 0;  // reserved: whole-context reservations, or paged prefill blocks
  double outstanding_ = 0;
  std::unique_ptr<PrefixCache> cache_;
  std::vector<uint32_t> pinned_;  // leading blocks each request has pinned
  // Offload tiers: when each request's prefix load ends (0: none; its prefill waits until then),
  // and when the replica's host link is free for the next load.
  std::vector<double> ready_at_;  // empty without offload tiers
  double load_free_ = 0;
  // Swap preemption: the KV bytes per chip each request holds in the host's swap space (0: none;
  // empty unless the engine swaps), the space in use, and the copy time the next step carries.
  std::vector<double> swapped_;
  double swap_used_ = 0, pending_swap_s_ = 0;
  [[nodiscard]] double swap_copy_s(double bytes) const {
    return engine_.swap_latency_s + bytes / engine_.swap_bytes_per_s;
  }
  double offload_load(size_t i, uint32_t hit, uint32_t& extra);  // see iterate()
  std::vector<double> chunk_;     // tokens per prefilling entry this step (a prefix of the queue)
  std::vector<size_t> just_completed_;
  Timeline* timeline_ = nullptr;
  size_t replica_ = 0;
};

// Refuses a workload the simulator cannot run (no requests, lengths below 1, unsorted open-loop
// arrivals, a request that can never fit `cap_kv`, prefix blocks outside the hash pool).
void check_workload(const cost::StepCostModel& m, const EngineConfig& e, double cap_kv, const Workload& w);

}  // namespace tf::serving
