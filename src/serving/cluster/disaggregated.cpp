#include "serving/cluster/disaggregated.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <tuple>

#include "core/diagnostic.hpp"
#include "serving/cluster/pool.hpp"

namespace tf::serving {

namespace {

double capacity(const cost::StepCostModel& m, const EngineConfig& e) {
  return e.kv_capacity_bytes ? *e.kv_capacity_bytes : m.memory().kv_free_bytes;
}

double replica_chips(const cost::StepCostModel& m) {
  return static_cast<double>(std::max(1, m.deployment().tp) * std::max(1, m.deployment().pp));
}

}  // namespace

Result simulate_disaggregated(const DisaggregatedService& s, const Workload& w, Timeline* timeline) {
  if (!s.prefill || !s.decode) fail("disaggregated simulation: both a prefill and a decode deployment are needed");
  const auto& pm = *s.prefill;
  const auto& dm = *s.decode;
  if (!(s.link.bandwidth_bytes_per_s > 0))
    fail(fmt::format("disaggregated simulation: the KV transfer bandwidth must be > 0 bytes/s per chip, got {}",
                     s.link.bandwidth_bytes_per_s));
  if (!(s.link.latency_s >= 0) || !std::isfinite(s.link.latency_s))
    fail(fmt::format("disaggregated simulation: the KV transfer latency must be finite and >= 0 s, got {}",
                     s.link.latency_s));
  const bool closed = w.clients > 0;
  for (const Router r : {s.prefill_router, s.decode_router})
    if (r == Router::session_sticky && !closed)
      fail("simulation: the session-sticky router needs closed-loop clients (open-loop requests carry no session)",
           "use --concurrency N, or another router");
  if (s.decode_router == Router::prefix_affinity)
    fail("disaggregated simulation: prefix affinity routes prompts, which the decode pool does not compute",
         "use it for the prefill pool; the decode pool takes round-robin, least-outstanding-tokens, least-kv or "
         "session-sticky");
  check_window(w.window);
  const size_t n = w.requests.size();
  if (n == 0) fail("simulation: the workload has no requests");

  // The prefill pool runs every prompt as a one-token request; the decode pool the whole request.
  std::vector<Request> prompts(w.requests);
  for (auto& q : prompts) q.output_tokens = 1, q.streams = 1;  // a prompt is computed once, whatever its streams
  Workload prefill_w;
  prefill_w.requests = prompts;
  prefill_w.block_hashes = w.block_hashes;
  prefill_w.block_tokens = w.block_tokens;
  prefill_w.clients = closed ? 1 : 0;  // checks only: arrivals are given at routing
  // The decode pool computes no prompt: it caches no prefixes (it has no block hashes either).
  EngineConfig decode_engine = s.decode_engine;
  decode_engine.prefix_caching = false;
  decode_engine.kv_offload.clear();
  const double cap_p = capacity(pm, s.prefill_engine), cap_d = capacity(dm, decode_engine);
  {
    // Each pool's checks name its side: a prompt that does not fit a prefill replica, a context
    // that does not fit a decode replica.
    auto in_pool = [](const char* pool, auto&& check) {
      try {
        check();
      } catch (const DiagnosticError& e) {
        auto dg = e.diagnostic();
        dg.message = fmt::format("{} pool: {}", pool, dg.message);
        throw DiagnosticError(dg);
      }
    };
    in_pool("prefill", [&] { check_workload(pm, s.prefill_engine, cap_p, prefill_w); });
    Workload decode_w;
    decode_w.requests = w.requests;
    decode_w.block_hashes = w.block_hashes;  // checked, never read: the decode pool caches no prefixes
    decode_w.block_tokens = w.block_tokens;
    decode_w.clients = prefill_w.clients;
    decode_w.think_s = w.think_s;
    decode_w.next_turn = w.next_turn;
    decode_w.session_start_s = w.session_start_s;
    decode_w.tool_s = w.tool_s;
    decode_w.tool_cores = w.tool_cores;
    in_pool("decode", [&] { check_workload(dm, decode_engine, cap_d, decode_w); });
  }
  prefill_w.requests.clear();
  prefill_w.clients = 0;
  const Workload no_hashes;

  const size_t np = s.prefill_replicas > 0 ? s.prefill_replicas : static_cast<size_t>(std::max(1, pm.deployment().dp));
  const size_t nd = s.decode_replicas > 0 ? s.decode_replicas : static_cast<size_t>(std::max(1, dm.deployment().dp));
  EventQueue events;  // arrivals at the service, then KV landing on decode replicas
  Arrivals arrivals(w, closed ? static_cast<size_t>(w.clients) : 0, events);
  const size_t clients = arrivals.clients();
  Pool prefill(pm, s.prefill_engine, prefill_w, cap_p, np, s.prefill_router, clients, n, timeline);
  Pool decode(dm, decode_engine, no_hashes, cap_d, nd, s.decode_router, clients, n, timeline, np);
  for (size_t r = 0; r < nd; ++r) decode[r].set_prefilled(true);

  // The hand-off: bytes of a prompt's KV (every chip of the prefill replica holds its share),
  // moved at the slower side's aggregate link rate.
  const double bw_p = s.link.bandwidth_bytes_per_s * replica_chips(pm);
  const double bw_d = s.link.bandwidth_bytes_per_s * replica_chips(dm);
  const double bw = std::min(bw_p, bw_d);
  std::vector<double> out_free(np, 0), in_free(nd, 0);

  // KV in flight to each decode replica: (arrival, sequence, request), earliest first.
  using Landing = std::tuple<double, uint64_t, size_t>;
  std::vector<std::priority_queue<Landing, std::vector<Landing>, std::greater<>>> landing(nd);

  Result res;
  res.requests.resize(n);
  auto& dis = res.disaggregation;
  dis.enabled = true;
  dis.prefill_replicas = np;
  dis.decode_replicas = nd;
  std::vector<double> transfer_s, kv_arrival(n, 0);
  std::vector<char> ends_at_prefill(n, 0);
  size_t routed = 0, finished = 0;
  auto release_next = [&](size_t i, double at) {
    ++finished;
    arrivals.completed(i, at);
  };

  while (true) {
    double tp = 0, td = 0;
    const size_t due_p = prefill.due(tp), due_d = decode.due(td);
    if (!events.empty() && events.next_time() <= std::min(tp, td)) {
      const Event e = events.pop();
      if (e.kind == EventClass::kv_transfer) {
        landing[e.target].pop();
        decode.send(e.target, w.requests[e.request], e.time, e.request);
        continue;
      }
      const auto i = arrivals.take(e);
      if (!i) continue;
      prefill.send(prefill.choose(prompts[*i], arrivals.client_of(*i)), prompts[*i], e.time, *i);
      ++routed;
      continue;
    }
    if (due_p == np && due_d == nd) break;  // every replica idle, nothing in flight
    if (due_p != np && tp <= td) {
      Arrival next;
      if (const Event* e = events.first(EventClass::arrival)) next = {e->time, &prompts[e->request]};
      if (closed && routed < n)
        // A completion in the decode pool may release a client's next prompt.
        if (due_d != nd && td < next.time) next = {td, next.request ? next.request : &prompts[std::min(routed, n - 1)]};
      prefill[due_p].iterate(next);
      for (const size_t local : prefill[due_p].just_completed()) {
        const size_t i = prefill.sent_to(due_p)[local];
        const double done = prefill[due_p].finish_s(local);
        const Request& q = w.requests[i];
        if (q.output_tokens <= 1) {
          ends_at_prefill[i] = 1;
          release_next(i, done);
          continue;
        }
        const size_t d = decode.choose(q, arrivals.client_of(i));
        const double bytes = pm.kv_bytes_per_chip(1, q.input_tokens) * replica_chips(pm);
        const double wire = std::isfinite(bw) ? bytes / bw : 0;
        const double start = std::max({done, out_free[due_p], in_free[d]});
        out_free[due_p] = in_free[d] = start + wire;
        const double at = start + wire + s.link.latency_s;
        landing[d].push({at, events.push(EventClass::kv_transfer, at, i, d), i});
        kv_arrival[i] = at;
        transfer_s.push_back(at - done);
        dis.transferred_bytes += bytes;
        dis.link_busy_s += wire;
        ++dis.transfers;
      }
      continue;
    }
    // A decode replica's iteration: a decode stretch ends at the next KV arrival it could take,
    // and (conservatively, as their KV may come here) where a prefill iteration starts, the
    // next request arrives at the service, or (closed loop) another decode replica's next
    // iteration starts, since a completion there releases its client's next prompt.
    Arrival next;
    if (!landing[due_d].empty())
      next = {std::get<0>(landing[due_d].top()), &w.requests[std::get<2>(landing[due_d].top())]};
    if (due_p != np && tp < next.time) next = {tp, next.request ? next.request : &w.requests[0]};
    if (const Event* e = events.first(EventClass::arrival); e && e->time < next.time)
      next = {e->time, next.request ? next.request : &w.requests[e->request]};
    if (closed && routed < n)
      for (size_t r = 0; r < nd; ++r)
        if (r != due_d && decode[r].next_time() < next.time)
          next = {decode[r].next_time(), next.request ? next.request : &w.requests[std::min(routed, n - 1)]};
    decode[due_d].iterate(next);
    for (const size_t local : decode[due_d].just_completed())
      release_next(decode.sent_to(due_d)[local], decode[due_d].finish_s(local));
  }
  if (routed != n || finished != n) fail("simulation: internal error: not every request was served");

  // The records: arrival from the prefill pool, first token and finish from the decode pool.
  Result pre;
  pre.requests.resize(n);
  dis.per_prefill.assign(np, 0);
  for (size_t r = 0; r < np; ++r) {
    if (prefill.sent_to(r).empty()) continue;
    const auto one = prefill[r].take();
    merge(pre, one, prefill.sent_to(r), r);
    dis.per_prefill[r] = prefill.sent_to(r).size();
    dis.prefill_busy_s += one.busy_s;
    dis.prefill_peak_kv_bytes = std::max(dis.prefill_peak_kv_bytes, one.peak_kv_bytes);
  }
  dis.prefill_kv_capacity_bytes = cap_p;
  res.per_replica.assign(nd, 0);
  for (size_t r = 0; r < nd; ++r) {
    if (decode.sent_to(r).empty()) continue;
    const auto one = decode[r].take();
    merge(res, one, decode.sent_to(r), r);
    res.per_replica[r] = decode.sent_to(r).size();
    dis.decode_busy_s += one.busy_s;
  }
  res.kv_capacity_bytes = cap_d;
  std::vector<double> waits;
  for (size_t i = 0; i < n; ++i) {
    auto& rec = res.requests[i];
    const auto& p = pre.requests[i];
    if (ends_at_prefill[i]) {
      rec = p;
      rec.output_tokens = w.requests[i].output_tokens;
      rec.streams = w.requests[i].streams;
      continue;
    }
    waits.push_back(rec.first_token_s - kv_arrival[i]);
    rec.arrival_s = p.arrival_s;
  }
  dis.transfer_s = distribution(std::move(transfer_s));
  dis.decode_wait_s = distribution(std::move(waits));
  res.steps += pre.steps;
  res.step_evaluations += pre.step_evaluations;
  res.busy_s += pre.busy_s;
  res.preemptions += pre.preemptions;
  res.recomputed_tokens += pre.recomputed_tokens;
  res.swaps += pre.swaps;
  res.swapped_bytes += pre.swapped_bytes;
  res.swap_s += pre.swap_s;
  res.peak_swap_bytes = std::max(res.peak_swap_bytes, pre.peak_swap_bytes);
  res.prefix_cache = pre.prefix_cache;
  res.tools = arrivals.tools();
  summarise(res, w.window);
  return res;
}


std::vector<SplitOption> search_splits(const DisaggregatedService& s, double chips, const RateSearchSpec& spec) {
  if (!s.prefill || !s.decode) fail("split search: the service needs a prefill and a decode pool");
  const double p = replica_chips(*s.prefill), d = replica_chips(*s.decode);
  if (!(chips >= p + d) || !std::isfinite(chips))
    fail(fmt::format("split search: {} chips cannot hold one prefill replica ({} chips) and one decode replica ({} "
                     "chips)",
                     chips, p, d));
  std::vector<SplitOption> out;
  for (size_t np = 1; static_cast<double>(np) * p + d <= chips; ++np) {
    const auto nd = static_cast<size_t>(std::floor((chips - static_cast<double>(np) * p) / d));
    const double used = static_cast<double>(np) * p + static_cast<double>(nd) * d;
    if (chips - used >= p) continue;  // one more prefill replica fits: the next split dominates this one
    auto sv = s;
    sv.prefill_replicas = np;
    sv.decode_replicas = nd;
    out.push_back({np, nd, used, find_max_rate([&](const Workload& w) { return simulate_disaggregated(sv, w); }, spec)});
  }
  return out;
}

}  // namespace tf::serving
