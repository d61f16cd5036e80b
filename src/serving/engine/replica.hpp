#pragma once
// One engine instance as a state machine the caller advances one engine iteration at a time, so
// that several replicas can share one clock behind a router (serving/cluster). `simulate` runs a
// single replica to completion with this class; the arithmetic is the one the simulator has
// always had (continuous batching, chunked prefill, prefix caching, the pure-decode jump); the
// device KV memory (whole-context or paged, preemption by recompute or swap) is a KvManager
// (serving/kv/kv_manager.hpp).
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
#include "serving/kv/kv_manager.hpp"
#include "serving/kv/prefix_cache.hpp"
#include "serving/metrics/metrics.hpp"
#include "serving/workload/workload.hpp"

namespace tf::serving {

// Parallel streams per request at most (Request::streams).
inline constexpr uint32_t kMaxStreams = 1024;

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
  // KV bytes per chip request i holds while its prompt runs (the KV manager's need()).
  double need(size_t i) const { return kv_->need(*reqs_[i], prompt_[i], emitted_[i]); }
  DecodeState decode_state() const { return {tick_, decoding_, context_sum_, shared_extra_}; }
  // When request i's prefix load from an offload tier ends (0 without tiers).
  double ready_at(size_t i) const { return ready_at_.empty() ? 0 : ready_at_[i]; }
  double in_flight() const { return decoding_ + prefilling_streams_; }  // sequences (streams)
  void release(size_t id, bool finished);
  void complete(size_t id);
  void prompt_done(size_t id);
  double decoder_kv(double& growth) const { return kv_->decoders(decode_state(), growth); }

  const cost::StepCostModel& model_;
  const EngineConfig& engine_;
  const Workload& w_;
  double cap_kv_, cap_running_;
  bool closed_, paged_, caching_;
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
  double tick_ = 0, decoding_ = 0, context_sum_ = 0;  // context_sum: cached tokens of the decoders
  std::deque<size_t> waiting_;
  size_t issued_ = 0, next_ = 0, done_ = 0;  // issued: requests whose arrival time is known
  double t_ = 0;
  std::unique_ptr<KvManager> kv_;  // the device KV memory (whole-context or paged)
  double outstanding_ = 0;
  std::unique_ptr<PrefixCache> cache_;
  std::vector<uint32_t> pinned_;  // leading blocks each request has pinned
  // Offload tiers: when each request's prefix load ends (0: none; its prefill waits until then),
  // and when the replica's host link is free for the next load.
  std::vector<double> ready_at_;  // empty without offload tiers
  double load_free_ = 0;
  // Swap preemption: the copy time the next step carries (the swap space is the KV manager's).
  double pending_swap_s_ = 0;
  [[nodiscard]] double swap_copy_s(double bytes) const {
    return engine_.swap_latency_s + bytes / engine_.swap_bytes_per_s;
  }
  void offload_load(size_t i, uint32_t hit, uint32_t& extra);  // see iterate()
  // Prefetch on arrival (EngineConfig::prefetch): when each request's staging into the first
  // tier ends and the blocks it holds there (empty unless prefetching), and when the replica's
  // staging path is next free.
  bool prefetching_ = false;
  std::vector<double> prefetch_ready_;
  std::vector<std::pair<uint32_t, uint32_t>> staged_;
  double prefetch_free_ = 0;
  std::vector<uint32_t> per_tier_;  // scratch: blocks per tier of the load or staging at hand
  void prefetch(size_t i);
  // Each tier below the first is one medium (the node's drives, the store's link) that a load to
  // the device and a staging into the first tier both read: when it is next free (index: tier;
  // the first tier's entry is unused, its loads being serialised by load_free_).
  std::vector<double> medium_free_;
  // Reads per_tier_'s blocks tier after tier from `first`, starting no sooner than `start`: a part
  // from a tier below the first waits for that tier's medium and holds it; returns when the last
  // part ends (start + the summed part times when nothing is in the way).
  double transfer(double start, size_t first);
  std::vector<double> chunk_;     // tokens per prefilling entry this step (a prefix of the queue)
  std::vector<size_t> just_completed_;
  Timeline* timeline_ = nullptr;
  size_t replica_ = 0;
};

// Refuses a workload the simulator cannot run (no requests, lengths below 1, unsorted open-loop
// arrivals, a request that can never fit `cap_kv`, prefix blocks outside the hash pool).
void check_workload(const cost::StepCostModel& m, const EngineConfig& e, double cap_kv, const Workload& w);

}  // namespace tf::serving
