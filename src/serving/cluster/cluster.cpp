#include "serving/cluster/cluster.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/diagnostic.hpp"
#include "serving/cluster/pool.hpp"
#include "serving/engine/replica.hpp"

namespace tf::serving {

namespace {
// The load-aware routers' loop (below), over `replicas` replicas.
Result simulate_routed(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w, Router router,
                       Timeline* timeline, size_t replicas);
}  // namespace

Result simulate(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w, Timeline* timeline) {
  // Think times, sessions and tool calls release requests out of completion order: the routed
  // loop orders the releases.
  if (!w.think_s.empty() || !w.next_turn.empty() || !w.tool_s.empty())
    return simulate_routed(model, engine, w, Router::round_robin, timeline, 1);
  const double cap_kv = engine.kv_capacity_bytes ? *engine.kv_capacity_bytes : model.memory().kv_free_bytes;
  check_workload(model, engine, cap_kv, w);
  check_window(w.window);
  Result res;
  {  // the replica's per-request state is freed before the summary's (peak memory per request)
    const auto store = engine.prefix_caching && !w.block_hashes.empty()
                           ? make_shared_store(engine.kv_offload, model.kv_bytes_per_chip(1, w.block_tokens), 1)
                           : nullptr;
    Replica r(model, engine, w, cap_kv, w.requests.size(), store.get());
    r.record(timeline, 0);
    for (const auto& q : w.requests) r.add(q);
    while (!r.finished()) r.iterate();
    res = r.take();
  }
  summarise(res, w.window);
  return res;
}

namespace {

// The load-aware routers: every replica on one clock; each request is routed when it arrives,
// from the replicas' state then (as of their last finished iteration). Events are taken in time
// order, an arrival before an iteration that starts at the same time, replicas in index order.
Result simulate_routed(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w, Router router,
                       Timeline* timeline, size_t replicas) {
  const size_t dp = replicas;
  const bool closed = w.clients > 0;
  if (router == Router::session_sticky && !closed)
    fail("simulation: the session-sticky router needs closed-loop clients (open-loop requests carry no session)",
         "use --concurrency N, or another router");
  const double cap_kv = engine.kv_capacity_bytes ? *engine.kv_capacity_bytes : model.memory().kv_free_bytes;
  check_workload(model, engine, cap_kv, w);
  check_window(w.window);
  const size_t n = w.requests.size();
  EventQueue events;
  Arrivals arrivals(w, closed ? static_cast<size_t>(w.clients) : 0, events);
  const size_t clients = arrivals.clients();
  // The replicas are told each request's arrival when it is routed: they read only the block
  // hashes of the workload (a closed-loop workload's copy without its clients).
  Workload hashes;
  if (closed) {
    hashes.block_hashes = w.block_hashes;
    hashes.block_tokens = w.block_tokens;
  }
  const Workload& source = closed ? hashes : w;
  Pool pool(model, engine, source, cap_kv, dp, router, clients, n, timeline);
  size_t routed = 0;
  while (true) {
    double t_due = 0;
    const size_t due = pool.due(t_due);
    if (!events.empty() && events.next_time() <= t_due) {  // an arrival before an iteration at the same time
      const Event e = events.pop();
      const auto i = arrivals.take(e);
      if (!i) continue;
      const Request& q = w.requests[*i];
      pool.send(pool.choose(q, arrivals.client_of(*i)), q, e.time, *i);
      ++routed;
      continue;
    }
    if (due == dp) break;  // every replica idle and nothing left to route: done
    Arrival next;
    if (const Event* e = events.first(EventClass::arrival)) next = {e->time, &w.requests[e->request]};
    if (closed && routed < n) {
      // Another replica's iteration may complete a request and release its client's next one
      // before this iteration would end: a decode stretch ends where the others' next
      // iterations start, as it does at an arrival it could admit.
      for (size_t r = 0; r < dp; ++r)
        if (r != due && pool[r].next_time() < next.time)
          next = {pool[r].next_time(), next.request ? next.request : &w.requests[std::min(routed, n - 1)]};
    }
    pool[due].iterate(next);
    for (const size_t local : pool[due].just_completed())
      arrivals.completed(pool.sent_to(due)[local], pool[due].finish_s(local));
  }
  if (routed != n) fail("simulation: internal error: not every request was routed");
  Result res;
  res.requests.resize(n);
  res.per_replica.assign(dp, 0);
  for (size_t r = 0; r < dp; ++r) {
    if (pool.sent_to(r).empty()) continue;
    merge(res, pool[r].take(), pool.sent_to(r), r);
    res.per_replica[r] = pool.sent_to(r).size();
  }
  res.tools = arrivals.tools();
  summarise(res, w.window);
  return res;
}

}  // namespace

const std::vector<RouterInfo>& routers() {
  static const std::vector<RouterInfo> v{
      {Router::round_robin, "round-robin", "request i to replica i mod DP, whatever their load",
       "vLLM production-stack and NGINX default; llm-d round-robin baseline"},
      {Router::least_outstanding_tokens, "least-outstanding-tokens",
       "the replica with the fewest prompt and output tokens still to process (queued and running)",
       "llm-d / Gateway API inference extension queue- and load-aware scoring; AIBrix least-request"},
      {Router::least_kv, "least-kv", "the replica with the smallest share of its KV memory in use",
       "llm-d kv-cache-utilization scorer; vLLM production-stack session/KV-aware routing"},
      {Router::prefix_affinity, "prefix-affinity",
       "the replica that was sent the longest run of this prompt's leading blocks; the idlest when loads drift "
       "apart by more than 32 requests",
       "SGLang sgl-router cache-aware policy (approximate radix tree of routed prompts, balance thresholds 32 and "
       "1.0001); llm-d prefix-cache scorer"},
      {Router::session_sticky, "session-sticky",
       "every request of a client (session) on the replica its first request went to, chosen by least "
       "outstanding tokens; closed-loop clients only",
       "vLLM production-stack session routing; llm-d / Envoy session affinity"},
  };
  return v;
}

std::string_view to_string(Router r) {
  for (const auto& i : routers())
    if (i.router == r) return i.name;
  return "?";
}

std::optional<Router> parse_router(std::string_view s) {
  for (const auto& i : routers())
    if (i.name == s) return i.router;
  return std::nullopt;
}

Result simulate_deployment(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w,
                           Router router, Timeline* timeline) {
  const size_t dp = static_cast<size_t>(std::max(1, model.deployment().dp));
  // Load-aware routers, and think times (requests released out of completion order), route
  // each request when it is released, every replica on one clock.
  // A KV store shared across the replicas needs them on one clock too.
  const bool shared_store = engine.prefix_caching && !engine.kv_offload.empty() && engine.kv_offload.back().shared;
  if (router != Router::round_robin || !w.think_s.empty() || !w.next_turn.empty() || !w.tool_s.empty() ||
      (shared_store && dp > 1))
    return simulate_routed(model, engine, w, router, timeline, dp);
  if (dp == 1) {
    auto res = simulate(model, engine, w, timeline);
    res.per_replica = {res.requests.size()};
    return res;
  }
  if (w.requests.empty()) fail("simulation: the workload has no requests");
  check_window(w.window);
  const size_t n = w.requests.size();
  std::vector<Workload> parts(dp);
  std::vector<std::vector<size_t>> index(dp);  // workload index of each replica's requests
  for (auto& p : parts) {
    p.block_hashes = w.block_hashes;  // each replica keeps a prefix cache of its own
    p.block_tokens = w.block_tokens;
    p.window = w.window;
  }
  if (w.clients > 0) {
    // Clients c = 0..C-1 go to replica c mod DP; request i belongs to client i mod C.
    const size_t c = static_cast<size_t>(w.clients);
    for (size_t r = 0; r < dp; ++r) parts[r].clients = static_cast<int>(c / dp + (r < c % dp ? 1 : 0));
    for (size_t i = 0; i < n; ++i) {
      const size_t r = (i % c) % dp;
      parts[r].requests.push_back(w.requests[i]);
      index[r].push_back(i);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      parts[i % dp].requests.push_back(w.requests[i]);
      index[i % dp].push_back(i);
    }
  }
  Result res;
  res.requests.resize(n);
  res.per_replica.assign(dp, 0);
  for (size_t r = 0; r < dp; ++r) {
    if (parts[r].requests.empty() || (w.clients > 0 && parts[r].clients == 0)) continue;
    Timeline one;
    if (timeline) one.max_events = timeline->max_events - std::min(timeline->max_events, timeline->recorded);
    merge(res, simulate(model, engine, parts[r], timeline ? &one : nullptr), index[r], r);
    if (timeline) {
      timeline->replicas.resize(dp);
      if (!one.replicas.empty()) timeline->replicas[r] = std::move(one.replicas[0]);
      timeline->recorded += one.recorded;
      timeline->dropped += one.dropped;
    }
    res.per_replica[r] = index[r].size();
  }
  summarise(res, w.window);
  return res;
}

std::string rate_violation(const Result& r, const RateLimits& limits) {
  const auto& s = r.steady;
  if (!s.measured) return "no steady window (too few requests)";
  const auto& w = s.window;
  if (limits.p99_ttft_s && w.ttft_s.p99 > *limits.p99_ttft_s)
    return fmt::format("p99 TTFT {:.1f} ms > {:.1f} ms", w.ttft_s.p99 * 1e3, *limits.p99_ttft_s * 1e3);
  if (limits.p99_tpot_s && w.tpot_s.p99 > *limits.p99_tpot_s)
    return fmt::format("p99 TPOT {:.2f} ms > {:.2f} ms", w.tpot_s.p99 * 1e3, *limits.p99_tpot_s * 1e3);
  const double arrived = static_cast<double>(w.requests), completed = static_cast<double>(w.completed);
  // In the system when the window opens: arrived during warm-up, not completed in it.
  const double at_start = static_cast<double>(s.warmup.requests) - static_cast<double>(s.warmup.completed);
  const double allowance = 0.02 * arrived + 3 * std::sqrt(2 * at_start + 1);
  if (arrived - completed > allowance)
    return fmt::format("falls behind its arrivals: {:.0f} arrived in the steady window, {:.0f} completed in it",
                       arrived, completed);
  return {};
}

namespace {

// Fewest requests a rate probe simulates, so that a low rate still has a window with a tail.
constexpr size_t kMinProbeRequests = 200;

void check_limit(const std::optional<double>& v, const char* what) {
  if (v && (!(*v > 0) || !std::isfinite(*v)))
    fail(fmt::format("rate search: the {} limit must be finite and > 0, got {}", what, *v));
}

}  // namespace

MaxRate find_max_rate(const cost::StepCostModel& model, const EngineConfig& engine, const RateSearchSpec& spec) {
  return find_max_rate([&](const Workload& w) { return simulate_deployment(model, engine, w, spec.router); }, spec);
}

MaxRate find_max_rate(const std::function<Result(const Workload&)>& run, const RateSearchSpec& spec) {
  if (!spec.limits.p99_ttft_s && !spec.limits.p99_tpot_s)
    fail("rate search: no latency limit given (p99 TTFT and / or p99 TPOT)");
  check_limit(spec.limits.p99_ttft_s, "p99 TTFT");
  check_limit(spec.limits.p99_tpot_s, "p99 TPOT");
  if (!(spec.tolerance > 0) || !std::isfinite(spec.tolerance))
    fail(fmt::format("rate search: tolerance must be finite and > 0, got {}", spec.tolerance));
  if (spec.max_probes < 2) fail(fmt::format("rate search: at least 2 probes are needed, got {}", spec.max_probes));
  if (!(spec.start_rate > 0) || !std::isfinite(spec.start_rate))
    fail(fmt::format("rate search: start rate must be finite and > 0 req/s, got {}", spec.start_rate));
  check_window(spec.window);

  MaxRate out;
  double lo = 0, hi = 0;  // largest rate meeting the limits, smallest above it violating them
  double last_in_system = 0;
  auto probe = [&](double rate) {
    size_t n = open_loop_requests(rate, spec.requests, spec.duration_s);
    if (!spec.requests) n = std::max(n, kMinProbeRequests);
    Workload w;
    w.requests = make_requests(n, spec.input, spec.output, rate, spec.seed, spec.burstiness);
    for (auto& q : w.requests) q.streams = spec.streams;
    w.window = spec.window;
    auto r = run(w);
    RateProbe p;
    p.rate = rate;
    p.requests = n;
    p.violation = rate_violation(r, spec.limits);
    p.meets = p.violation.empty();
    p.output_tok_s = r.steady.window.output_tok_s;
    p.p99_ttft_s = r.steady.window.ttft_s.p99;
    p.p99_tpot_s = r.steady.window.tpot_s.p99;
    last_in_system = r.steady.mean_in_system;
    out.probes.push_back(p);
    if (p.meets && rate > lo) {
      lo = rate;
      out.at_rate = std::move(r);
    } else if (!p.meets && (hi == 0 || rate < hi)) {
      hi = rate;
    }
    return p.meets;
  };
  auto budget = [&] { return static_cast<int>(out.probes.size()) < spec.max_probes; };

  // Bracket: double while the limits hold, halve while they do not (until requests run alone).
  double rate = spec.start_rate;
  if (probe(rate)) {
    while (budget() && probe(rate *= 2)) {
    }
  } else {
    while (budget() && last_in_system >= 0.01 && !probe(rate /= 2)) {
    }
  }
  // Bisect the bracket at its geometric mid-point.
  while (lo > 0 && hi > lo && (hi - lo) / lo > spec.tolerance && budget()) probe(std::sqrt(lo * hi));

  out.found = lo > 0;
  out.rate = lo;
  out.upper = hi > lo ? hi : 0;
  out.converged = out.found && out.upper > 0 && (out.upper - lo) / lo <= spec.tolerance;
  if (!out.found) {
    const auto& last = out.probes.back();
    out.reason = fmt::format("no rate meets the limits; at the lowest probed, {:.4g} req/s{}: {}", last.rate,
                             last_in_system < 0.01 ? " (requests run alone)" : "", last.violation);
  } else if (out.upper == 0) {
    out.reason = fmt::format("the limits hold up to {:.4g} req/s, the largest rate probed in {} simulations", lo,
                             out.probes.size());
  } else if (!out.converged) {
    out.reason = fmt::format("bracket [{:.4g}, {:.4g}] req/s not narrowed to {:g} within {} simulations", lo, hi,
                             spec.tolerance, spec.max_probes);
  }
  return out;
}

}  // namespace tf::serving
