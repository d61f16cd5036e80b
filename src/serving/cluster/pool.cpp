#include "serving/cluster/pool.hpp"

#include <algorithm>
#include <limits>

namespace tf::serving {

Pool::Pool(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w, double cap_kv,
           size_t replicas, Router router, size_t sessions, size_t expected, Timeline* timeline,
           size_t first_timeline_replica)
    : w_(w), cap_kv_(cap_kv), router_(router), index_(replicas), home_(sessions, replicas),
      sent_(router == Router::prefix_affinity ? replicas : 0) {
  if (engine.prefix_caching && !w.block_hashes.empty())
    store_ = make_shared_store(engine.kv_offload, model.kv_bytes_per_chip(1, w.block_tokens), replicas);
  for (size_t r = 0; r < replicas; ++r) {
    reps_.push_back(std::make_unique<Replica>(model, engine, w, cap_kv, expected / replicas + 1, store_.get()));
    reps_.back()->record(timeline, first_timeline_replica + r);
  }
}

double Pool::in_system(size_t r) const {
  return static_cast<double>(reps_[r]->requests() - reps_[r]->completed());
}

uint32_t Pool::affinity(size_t r, const Request& q) const {
  uint32_t k = 0;
  while (k < q.prompt_blocks && sent_[r].count(w_.block_hashes[q.hash_begin + k])) ++k;
  return k;
}

size_t Pool::least_outstanding() const {
  size_t best = 0;
  for (size_t r = 1; r < reps_.size(); ++r)
    if (reps_[r]->outstanding_tokens() < reps_[best]->outstanding_tokens()) best = r;
  return best;
}

size_t Pool::choose(const Request& q, size_t session) {
  const size_t n = reps_.size();
  switch (router_) {
    case Router::round_robin:
      return sent_count_ % n;
    case Router::least_kv: {
      size_t best = 0;
      double best_share = reps_[0]->kv_in_use_bytes() / cap_kv_;
      for (size_t r = 1; r < n; ++r) {
        const double share = reps_[r]->kv_in_use_bytes() / cap_kv_;
        if (share < best_share ||
            (share == best_share && reps_[r]->outstanding_tokens() < reps_[best]->outstanding_tokens()))
          best = r, best_share = share;
      }
      return best;
    }
    case Router::prefix_affinity: {
      double lo = in_system(0), hi = lo;
      for (size_t r = 1; r < n; ++r) lo = std::min(lo, in_system(r)), hi = std::max(hi, in_system(r));
      if (hi - lo > kBalanceAbs && hi > kBalanceRel * lo) return least_outstanding();
      size_t best = least_outstanding();
      uint32_t best_match = affinity(best, q);
      for (size_t r = 0; r < n; ++r) {
        const uint32_t m = affinity(r, q);
        if (m > best_match) best = r, best_match = m;
      }
      return best;
    }
    case Router::session_sticky: {
      auto& h = home_[session];
      if (h == n) h = least_outstanding();
      return h;
    }
    case Router::least_outstanding_tokens:
      break;
  }
  return least_outstanding();
}

void Pool::send(size_t r, const Request& q, double at, size_t index) {
  reps_[r]->add(q, at);
  index_[r].push_back(index);
  ++sent_count_;
  if (!sent_.empty())
    for (uint32_t k = 0; k < q.prompt_blocks; ++k) sent_[r].insert(w_.block_hashes[q.hash_begin + k]);
}

size_t Pool::due(double& time) const {
  size_t due = reps_.size();
  time = std::numeric_limits<double>::infinity();
  for (size_t r = 0; r < reps_.size(); ++r) {
    const double t = reps_[r]->next_time();
    if (t < time) time = t, due = r;
  }
  return due;
}

ClientQueue::ClientQueue(const Workload& w, size_t clients) : w_(w) {
  if (!w.next_turn.empty()) {
    std::vector<char> follows(w.requests.size(), 0);
    for (const uint32_t j : w.next_turn)
      if (j != kLastTurn) follows[j] = 1;
    for (size_t i = 0; i < w.requests.size(); ++i)
      if (!follows[i]) starts_.push_back(i);
  }
  clients_ = std::min(clients, starts_.empty() ? w.requests.size() : starts_.size());
  next_ = clients_;
  if (!w.tool_s.empty()) {
    tools_.cores = w.tool_cores;
    for (double c = 0; c < w.tool_cores; ++c) cores_.push(0);
  }
}

double ClientQueue::run_tool(size_t i, double t) {
  const double start = std::max(t, cores_.top());
  cores_.pop();
  const double end = start + w_.tool_s[i];
  cores_.push(end);
  ++tools_.calls;
  tools_.busy_s += w_.tool_s[i];
  tools_.wait_s += start - t;
  return end;
}

size_t ClientQueue::first(size_t c) const { return starts_.empty() ? c : starts_[c]; }

std::optional<size_t> ClientQueue::after(size_t i) {
  if (!starts_.empty()) {
    if (w_.next_turn[i] != kLastTurn) return w_.next_turn[i];
    if (next_ < starts_.size()) return starts_[next_++];
    return std::nullopt;
  }
  if (next_ < w_.requests.size()) return next_++;
  return std::nullopt;
}

Arrivals::Arrivals(const Workload& w, size_t clients, EventQueue& events)
    : events_(events), closed_(clients > 0), queue_(w, clients) {
  const size_t n = w.requests.size();
  if (closed_) {
    client_of_.assign(n, 0);
    tool_pending_.assign(n, 0);
    for (size_t c = 0; c < queue_.clients(); ++c) {
      const size_t i = queue_.first(c);
      client_of_[i] = c;
      events_.push(EventClass::arrival, queue_.start_s(c), i);
    }
  } else {
    for (size_t i = 0; i < n; ++i) events_.push(EventClass::arrival, w.requests[i].arrival_s, i);
  }
}

std::optional<size_t> Arrivals::take(const Event& e) {
  if (closed_ && tool_pending_[e.request]) {  // its tool call runs now; the request is sent when it ends
    tool_pending_[e.request] = 0;
    events_.push(EventClass::arrival, queue_.run_tool(e.request, e.time), e.request);
    return std::nullopt;
  }
  return e.request;
}

void Arrivals::completed(size_t i, double at) {
  if (!closed_) return;
  const auto next = queue_.after(i);
  if (!next) return;
  client_of_[*next] = client_of_[i];
  events_.push(EventClass::arrival, queue_.ready_time(*next, at), *next);
  if (queue_.has_tool(*next)) tool_pending_[*next] = 1;
}

}  // namespace tf::serving
