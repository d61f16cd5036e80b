#include "serving/serving.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <numbers>
#include <queue>
#include <limits>
#include <random>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "core/diagnostic.hpp"
#include "core/stats.hpp"
#include "serving/pool.hpp"
#include "serving/replica.hpp"

namespace tf::serving {

const std::vector<SchedulerInfo>& schedulers() {
  static const std::vector<SchedulerInfo> v{
      {Scheduler::mixed, "mixed",
       "prompt chunks ride in the decode steps: decodes first, the rest of the token budget to prompts, first "
       "come first served",
       "Agrawal et al., Sarathi-Serve (OSDI 2024); vLLM V1 chunked prefill; TensorRT-LLM in-flight batching"},
      {Scheduler::prefill_first, "prefill-first",
       "a step runs prompts only (up to the token budget) while any are waiting, else decodes only",
       "Yu et al., Orca (OSDI 2022) iteration-level scheduling; SGLang default scheduler; vLLM V0 without chunked "
       "prefill"},
  };
  return v;
}

std::string_view to_string(Scheduler s) {
  for (const auto& i : schedulers())
    if (i.scheduler == s) return i.name;
  return "?";
}

std::optional<Scheduler> parse_scheduler(std::string_view s) {
  for (const auto& i : schedulers())
    if (i.name == s) return i.scheduler;
  return std::nullopt;
}

Distribution distribution(std::vector<double> v) {
  Distribution d;
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  auto q = [&](double p) { return percentile_sorted(v, p); };
  double s = 0;
  for (double x : v) s += x;
  d.mean = s / static_cast<double>(v.size());
  d.median = q(0.5);
  d.p90 = q(0.9);
  d.p99 = q(0.99);
  d.max = v.back();
  return d;
}

void check_window(const WindowSpec& w) {
  if (!(w.warmup_fraction >= 0) || !(w.drain_fraction >= 0) || !(w.warmup_fraction + w.drain_fraction < 1))
    fail(fmt::format("simulation: the steady window's warm-up ({}) and drain ({}) fractions must be >= 0 and sum "
                     "to less than 1",
                     w.warmup_fraction, w.drain_fraction));
}

void summarise(Result& res, const WindowSpec& window) {
  double first = std::numeric_limits<double>::infinity(), last = 0, out_tokens = 0, in_tokens = 0, e2e_sum = 0;
  std::vector<double> ttft, tpot, e2e;
  for (const auto& r : res.requests) {
    e2e_sum += r.e2e_s();
    first = std::min(first, r.arrival_s);
    last = std::max(last, r.finish_s);
    out_tokens += r.emitted_tokens();
    in_tokens += r.input_tokens;
    ttft.push_back(r.ttft_s());
    e2e.push_back(r.e2e_s());
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());
  }
  res.duration_s = last - first;
  res.output_tok_s = res.duration_s > 0 ? out_tokens / res.duration_s : 0;
  res.input_tok_s = res.duration_s > 0 ? in_tokens / res.duration_s : 0;
  res.mean_in_system = res.duration_s > 0 ? e2e_sum / res.duration_s : 0;
  res.ttft_s = distribution(std::move(ttft));
  res.tpot_s = distribution(std::move(tpot));
  res.e2e_s = distribution(std::move(e2e));
  res.steady = steady_window(res.requests, window);
}

namespace {

// Output tokens a request emits in [a, b): its first at first_token_s, the others evenly over
// (first_token_s, finish_s].
double tokens_in(const RequestRecord& r, double a, double b) {
  double n = 0;
  const double f = r.first_token_s, e = r.finish_s;
  if (e <= f) return (f >= a && f < b) ? r.emitted_tokens() : 0;
  if (f >= a && f < b) n += 1;
  const double overlap = std::min(e, b) - std::max(f, a);
  if (overlap > 0) n += (r.output_tokens - 1) * overlap / (e - f);
  return n * r.streams;
}

}  // namespace

SteadyWindow steady_window(const std::vector<RequestRecord>& requests, const WindowSpec& spec) {
  check_window(spec);
  SteadyWindow s;
  if (requests.empty()) return s;
  double a0 = std::numeric_limits<double>::infinity(), a1 = -a0, last = -a0;
  for (const auto& r : requests) {
    a0 = std::min(a0, r.arrival_s);
    a1 = std::max(a1, r.arrival_s);
    last = std::max(last, r.finish_s);
  }
  const double span = a1 - a0;
  if (!(span > 0)) return s;  // a queued batch: no window
  const double ts = a0 + spec.warmup_fraction * span, te = a1 - spec.drain_fraction * span;
  const double inf = std::numeric_limits<double>::infinity();
  // Phase k spans [lo[k], hi[k]) for counting; the outer phases are open-ended so that every
  // token and completion falls in exactly one.
  const double lo[3] = {-inf, ts, te}, hi[3] = {ts, te, inf};
  Phase* phase[3] = {&s.warmup, &s.window, &s.drain};
  s.warmup.start_s = a0;
  s.warmup.end_s = ts;
  s.window.start_s = ts;
  s.window.end_s = te;
  s.drain.start_s = te;
  s.drain.end_s = std::max(te, last);
  std::vector<double> ttft[3], tpot[3], e2e[3];
  double in_system = 0;  // request-seconds in the system within the window
  for (const auto& r : requests) {
    const int k = r.arrival_s < ts ? 0 : r.arrival_s < te ? 1 : 2;
    phase[k]->requests += 1;
    ttft[k].push_back(r.ttft_s());
    e2e[k].push_back(r.e2e_s());
    if (r.output_tokens > 1) tpot[k].push_back(r.tpot_s());
    for (int j = 0; j < 3; ++j) {
      phase[j]->output_tokens += tokens_in(r, lo[j], hi[j]);
      if (r.finish_s >= lo[j] && r.finish_s < hi[j]) phase[j]->completed += 1;
    }
    in_system += std::max(0.0, std::min(r.finish_s, te) - std::max(r.arrival_s, ts));
  }
  for (int k = 0; k < 3; ++k) {
    Phase& p = *phase[k];
    const double len = p.end_s - p.start_s;
    p.output_tok_s = len > 0 ? p.output_tokens / len : 0;
    p.ttft_s = distribution(std::move(ttft[k]));
    p.tpot_s = distribution(std::move(tpot[k]));
    p.e2e_s = distribution(std::move(e2e[k]));
  }
  s.measured = te > ts && s.window.requests > 0;
  s.mean_in_system = te > ts ? in_system / (te - ts) : 0;
  return s;
}

std::string_view to_string(KvAdmission k) {
  switch (k) {
    case KvAdmission::whole_context: return "whole-context";
    case KvAdmission::paged: return "paged";
  }
  return "?";
}

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
    Replica r(model, engine, w, cap_kv, w.requests.size());
    r.record(timeline, 0);
    for (const auto& q : w.requests) r.add(q);
    while (!r.finished()) r.iterate();
    res = r.take();
  }
  summarise(res, w.window);
  return res;
}

// Adds one replica's run to the deployment's: its requests (local k is workload index[k]),
// summed steps and work, maximised peaks, summed prefix-cache counts.
void merge(Result& res, const Result& one, const std::vector<size_t>& index, size_t replica) {
  for (size_t k = 0; k < one.requests.size(); ++k) {
    res.requests[index[k]] = one.requests[k];
    res.requests[index[k]].replica = static_cast<uint32_t>(replica);
  }
  res.steps += one.steps;
  res.step_evaluations += one.step_evaluations;
  res.busy_s += one.busy_s;
  res.peak_running = std::max(res.peak_running, one.peak_running);
  res.peak_kv_bytes = std::max(res.peak_kv_bytes, one.peak_kv_bytes);
  res.kv_capacity_bytes = one.kv_capacity_bytes;
  res.preemptions += one.preemptions;
  res.recomputed_tokens += one.recomputed_tokens;
  res.swaps += one.swaps;
  res.swapped_bytes += one.swapped_bytes;
  res.swap_s += one.swap_s;
  res.peak_swap_bytes = std::max(res.peak_swap_bytes, one.peak_swap_bytes);
  res.prefix_cache.enabled = one.prefix_cache.enabled;
  res.prefix_cache.lookup_tokens += one.prefix_cache.lookup_tokens;
  res.prefix_cache.hit_tokens += one.prefix_cache.hit_tokens;
  res.prefix_cache.evicted_blocks += one.prefix_cache.evicted_blocks;
  res.prefix_cache.peak_blocks = std::max(res.prefix_cache.peak_blocks, one.prefix_cache.peak_blocks);
  res.prefix_cache.load_wait_s += one.prefix_cache.load_wait_s;
  res.prefix_cache.loads += one.prefix_cache.loads;
  auto& tiers = res.prefix_cache.tiers;
  if (tiers.empty()) {
    tiers = one.prefix_cache.tiers;
    return;
  }
  for (size_t k = 0; k < tiers.size() && k < one.prefix_cache.tiers.size(); ++k) {
    const auto& o = one.prefix_cache.tiers[k];
    auto& t = tiers[k];
    t.hit_tokens += o.hit_tokens;
    t.loaded_bytes += o.loaded_bytes;
    t.load_s += o.load_s;
    t.recomputed_tokens += o.recomputed_tokens;
    t.stored_blocks += o.stored_blocks;
    t.dropped_blocks += o.dropped_blocks;
    t.peak_blocks = std::max(t.peak_blocks, o.peak_blocks);
  }
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
  if (router != Router::round_robin || !w.think_s.empty() || !w.next_turn.empty() || !w.tool_s.empty())
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

bool Slo::met_by(const RequestRecord& r) const {
  if (ttft_s && r.ttft_s() > *ttft_s) return false;
  if (tpot_s && r.output_tokens > 1 && r.tpot_s() > *tpot_s) return false;
  return true;
}

BenchMetrics bench_metrics(const std::vector<RequestRecord>& requests, double duration_s, const Slo& slo,
                           const ArrivalWindow& window) {
  for (const auto* v : {&slo.ttft_s, &slo.tpot_s})
    if (*v && (!(**v > 0) || !std::isfinite(**v))) fail(fmt::format("SLO limits must be finite and > 0 s, got {}", **v));
  BenchMetrics m;
  m.duration_s = duration_s;
  m.slo_given = slo.any();
  auto in = [&](const RequestRecord& r) { return r.arrival_s >= window.start_s && r.arrival_s < window.end_s; };
  // ITL: each request's TPOT, once per gap; percentiles over the pooled gaps (token-weighted).
  std::vector<std::pair<double, double>> gaps;  // (gap, count)
  double in_tokens = 0, out_tokens = 0, gap_count = 0, gap_sum = 0;
  size_t multi = 0;
  for (const auto& r : requests) {
    if (!in(r)) continue;
    ++m.completed;
    in_tokens += r.input_tokens;
    out_tokens += r.emitted_tokens();
    if (r.output_tokens > 1) ++multi;
    if (slo.met_by(r)) ++m.slo_met;
  }
  gaps.reserve(multi);
  // One latency at a time, each in a vector of its own that its distribution sorts and frees
  // (peak memory: one double per request beside the gaps).
  auto dist = [&](auto&& value, bool multi_only) {
    std::vector<double> v;
    v.reserve(multi_only ? multi : m.completed);
    for (const auto& r : requests)
      if (in(r) && (!multi_only || r.output_tokens > 1)) v.push_back(value(r));
    return distribution(std::move(v));
  };
  m.ttft_s = dist([](const RequestRecord& r) { return r.ttft_s(); }, false);
  m.tpot_s = dist([](const RequestRecord& r) { return r.tpot_s(); }, true);
  m.tpot_incl_first_s = dist([](const RequestRecord& r) { return r.e2e_s() / r.output_tokens; }, false);
  m.e2el_s = dist([](const RequestRecord& r) { return r.e2e_s(); }, false);
  for (const auto& r : requests) {
    if (!in(r) || !(r.output_tokens > 1)) continue;
    gaps.emplace_back(r.tpot_s(), r.output_tokens - 1);
    gap_count += r.output_tokens - 1;
    gap_sum += r.tpot_s() * (r.output_tokens - 1);
  }
  if (gap_count > 0) {
    std::sort(gaps.begin(), gaps.end());
    auto weighted = [&](double p) {  // smallest gap with at least p of the gaps at or below it
      double seen = 0;
      for (const auto& [g, c] : gaps) {
        seen += c;
        if (seen >= p * gap_count) return g;
      }
      return gaps.back().first;
    };
    m.itl_s.mean = gap_sum / gap_count;
    m.itl_s.median = weighted(0.5);
    m.itl_s.p90 = weighted(0.9);
    m.itl_s.p99 = weighted(0.99);
    m.itl_s.max = gaps.back().first;
  }
  if (duration_s > 0) {
    m.request_throughput = static_cast<double>(m.completed) / duration_s;
    m.output_throughput = out_tokens / duration_s;
    m.total_token_throughput = (in_tokens + out_tokens) / duration_s;
    m.goodput = static_cast<double>(m.slo_met) / duration_s;
  }
  m.slo_attainment = m.completed > 0 ? static_cast<double>(m.slo_met) / static_cast<double>(m.completed) : 0;
  return m;
}

std::vector<Request> requests_from_trace(const io::Trace& t, size_t n) {
  if (n == 0 || n > t.requests.size()) n = t.requests.size();
  std::vector<Request> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& r = t.requests[i];
    out.push_back({r.arrival_s, static_cast<double>(std::max(1LL, r.input_tokens)),
                   static_cast<double>(std::max(1LL, r.output_tokens))});
  }
  return out;
}

bool add_trace_prefixes(const io::Trace& t, Workload& w) {
  std::vector<uint64_t> pool;
  const size_t n = std::min(w.requests.size(), t.requests.size());
  for (size_t i = 0; i < n; ++i) {
    const auto& h = t.requests[i].block_hashes;
    if (pool.size() + h.size() > std::numeric_limits<uint32_t>::max())
      fail(fmt::format("{}: more than {} prefix-block hashes", t.file, std::numeric_limits<uint32_t>::max()));
    auto& r = w.requests[i];
    r.hash_begin = static_cast<uint32_t>(pool.size());
    r.prompt_blocks = r.context_blocks = static_cast<uint32_t>(h.size());
    pool.insert(pool.end(), h.begin(), h.end());
  }
  if (pool.empty()) {
    for (size_t i = 0; i < n; ++i) w.requests[i].hash_begin = w.requests[i].prompt_blocks = w.requests[i].context_blocks = 0;
    return false;
  }
  w.block_hashes = std::move(pool);
  w.block_tokens = kMooncakeBlockTokens;
  return true;
}

void add_shared_prefixes(Workload& w, double tokens, int groups, double block_tokens, double zipf_s, uint64_t seed) {
  if (!(tokens >= 1 && std::isfinite(tokens)))
    fail(fmt::format("shared prefix: must be >= 1 token, got {}", tokens));
  if (groups < 1 || groups > (1 << 20)) fail(fmt::format("shared prefix: groups must be in [1, 2^20], got {}", groups));
  if (!(block_tokens >= 1)) fail(fmt::format("shared prefix: block size must be >= 1 token, got {}", block_tokens));
  if (!(zipf_s >= 0 && zipf_s <= 10))
    fail(fmt::format("shared prefix: the Zipf exponent must be in [0, 10] (0: request i uses group i mod N), got {}",
                     zipf_s));
  for (size_t i = 0; i < w.requests.size(); ++i)
    if (w.requests[i].input_tokens <= tokens)
      fail(fmt::format("shared prefix of {} tokens: request {} has a prompt of only {} tokens (the prefix must be "
                       "shorter than every prompt)",
                       tokens, i, w.requests[i].input_tokens));
  const auto blocks = static_cast<uint32_t>(std::floor(tokens / block_tokens));
  if (static_cast<double>(blocks) * groups > 1e8)
    fail(fmt::format("shared prefix: {} groups x {} blocks is more than 1e8 hashes", groups, blocks));
  // Chained hashes: block k of group g stands for that group's first k + 1 blocks.
  w.block_hashes.clear();
  for (int g = 0; g < groups; ++g)
    for (uint32_t k = 0; k < blocks; ++k)
      w.block_hashes.push_back((static_cast<uint64_t>(g) << 32) | k);
  w.block_tokens = block_tokens;
  // Popularity: a cycle (request i uses group i mod N), or group g with probability
  // proportional to 1 / (g + 1)^s (Zipf; popular system prompts, tools, documents), drawn from
  // the seed by inverting the cumulative distribution.
  std::vector<double> cdf;
  if (zipf_s > 0) {
    cdf.resize(static_cast<size_t>(groups));
    double sum = 0;
    for (int g = 0; g < groups; ++g) cdf[static_cast<size_t>(g)] = sum += std::pow(g + 1.0, -zipf_s);
    for (auto& c : cdf) c /= sum;
  }
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  for (size_t i = 0; i < w.requests.size(); ++i) {
    auto& r = w.requests[i];
    size_t g = i % static_cast<size_t>(groups);
    if (!cdf.empty()) {
      const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
      g = std::min(cdf.size() - 1, static_cast<size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin()));
    }
    r.hash_begin = static_cast<uint32_t>(g * blocks);
    r.prompt_blocks = r.context_blocks = blocks;
  }
}

namespace {

// Uniform in [0, 1) from the top 53 bits: the same sequence on every platform.
double u01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Gamma(shape k, scale 1): Marsaglia and Tsang (2000) for k >= 1 (normal deviates by Box-Muller),
// and Gamma(k + 1) x U^(1/k) below 1. Only the portable uniform source is used, so the draws are
// the same on every platform (std::gamma_distribution's are not).
double gamma_draw(double k, std::mt19937_64& rng) {
  if (k < 1) return gamma_draw(k + 1, rng) * std::pow(1 - u01(rng), 1 / k);
  const double d = k - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  while (true) {
    double x = 0, v = 0;
    do {
      const double r = std::sqrt(-2 * std::log(1 - u01(rng)));
      x = r * std::cos(2 * std::numbers::pi * u01(rng));
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = 1 - u01(rng);  // (0, 1]
    if (u < 1 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v))) return d * v;
  }
}

}  // namespace

std::vector<Request> make_requests(size_t n, const LengthSpec& input, const LengthSpec& output, double rate_per_s,
                                   uint64_t seed, double burstiness) {
  if (!(burstiness > 0) || !std::isfinite(burstiness))
    fail(fmt::format("arrival burstiness must be finite and > 0 (1: Poisson), got {}", burstiness));
  for (const auto* l : {&input, &output}) {
    if (!(l->mean >= 1)) fail(fmt::format("request lengths: mean must be >= 1 token, got {}", l->mean));
    if (!(l->spread >= 0 && l->spread < 1))
      fail(fmt::format("request lengths: spread must be in [0, 1), got {}", l->spread));
  }
  if (!(rate_per_s >= 0) || !std::isfinite(rate_per_s))
    fail(fmt::format("request rate must be finite and >= 0, got {}", rate_per_s));
  std::mt19937_64 rng(seed);
  auto draw = [&](const LengthSpec& l) {
    if (l.spread == 0) return std::max(1.0, std::round(l.mean));
    return std::max(1.0, std::round(l.mean * (1 - l.spread + 2 * l.spread * u01(rng))));
  };
  std::vector<Request> out(n);
  double t = 0;
  for (auto& r : out) {
    if (rate_per_s > 0) {
      t += burstiness == 1 ? -std::log(1 - u01(rng)) / rate_per_s : gamma_draw(burstiness, rng) / (burstiness * rate_per_s);
      r.arrival_s = t;
    }
    r.input_tokens = draw(input);
    r.output_tokens = draw(output);
  }
  return out;
}

Workload make_sessions(size_t sessions, int turns, double system_tokens, const LengthSpec& turn_input,
                       const LengthSpec& output, double block_tokens, uint64_t seed) {
  if (sessions < 1) fail("sessions: at least one session is needed");
  if (turns < 1 || turns > 100000) fail(fmt::format("sessions: turns must be in [1, 100000], got {}", turns));
  if (!(system_tokens >= 0) || !std::isfinite(system_tokens))
    fail(fmt::format("sessions: the system prompt must be finite and >= 0 tokens, got {}", system_tokens));
  if (!(block_tokens >= 1) || !std::isfinite(block_tokens))
    fail(fmt::format("sessions: the block size must be >= 1 token, got {}", block_tokens));
  if (static_cast<double>(sessions) * turns > 1e8)
    fail(fmt::format("sessions: {} sessions x {} turns is more than 1e8 requests", sessions, turns));
  Workload w;
  const size_t n = sessions * static_cast<size_t>(turns);
  auto lengths = make_requests(n, turn_input, output, 0, seed);  // the lengths of every turn, in order
  w.requests.resize(n);
  w.next_turn.assign(n, kLastTurn);
  w.block_tokens = block_tokens;
  const auto system_blocks = static_cast<uint32_t>(std::floor(system_tokens / block_tokens));
  for (size_t s = 0; s < sessions; ++s) {
    const size_t first = s * static_cast<size_t>(turns);
    // The session's whole context, then its blocks: the system prompt's (shared), its own.
    double context = system_tokens;
    for (int k = 0; k < turns; ++k) context += lengths[first + k].input_tokens + lengths[first + k].output_tokens;
    const auto blocks = static_cast<uint32_t>(std::floor(context / block_tokens));
    if (static_cast<double>(w.block_hashes.size()) + blocks > 4e9)
      fail("sessions: more than 4e9 prefix-block hashes (fewer sessions, turns or tokens)");
    const auto begin = static_cast<uint32_t>(w.block_hashes.size());
    for (uint32_t b = 0; b < blocks; ++b)
      w.block_hashes.push_back(b < system_blocks ? (0xffffull << 48) | b : ((static_cast<uint64_t>(s) + 1) << 32) | b);
    double before = system_tokens;
    for (int k = 0; k < turns; ++k) {
      auto& r = w.requests[first + k];
      r.input_tokens = before + lengths[first + k].input_tokens;
      r.output_tokens = lengths[first + k].output_tokens;
      r.hash_begin = begin;
      r.prompt_blocks = static_cast<uint32_t>(std::floor(r.input_tokens / block_tokens));
      r.context_blocks = static_cast<uint32_t>(std::floor((r.input_tokens + r.output_tokens) / block_tokens));
      before = r.input_tokens + r.output_tokens;
      if (k + 1 < turns) w.next_turn[first + k] = static_cast<uint32_t>(first + k + 1);
    }
  }
  return w;
}

Workload sessions_from_trace(const io::SessionTrace& t, double block_tokens) {
  if (!(block_tokens >= 1) || !std::isfinite(block_tokens))
    fail(fmt::format("sessions: the block size must be >= 1 token, got {}", block_tokens));
  Workload w;
  w.block_tokens = block_tokens;
  w.requests.reserve(t.turns);
  w.next_turn.reserve(t.turns);
  bool think = false, tool = false;
  for (const auto& s : t.sessions)
    for (size_t k = 1; k < s.turns.size(); ++k) think = think || s.turns[k].think_s > 0, tool = tool || s.turns[k].tool_s > 0;
  for (size_t si = 0; si < t.sessions.size(); ++si) {
    const auto& s = t.sessions[si];
    double context = 0;
    for (const auto& turn : s.turns) context += turn.new_tokens + turn.output_tokens;
    const auto blocks = static_cast<uint32_t>(std::floor(context / block_tokens));
    if (static_cast<double>(w.block_hashes.size()) + blocks > 4e9)
      fail("sessions: more than 4e9 prefix-block hashes (fewer sessions or tokens)");
    const auto begin = static_cast<uint32_t>(w.block_hashes.size());
    for (uint32_t b = 0; b < blocks; ++b) w.block_hashes.push_back((static_cast<uint64_t>(si) + 1) << 32 | b);
    double before = 0;
    for (size_t k = 0; k < s.turns.size(); ++k) {
      const auto& turn = s.turns[k];
      Request r;
      r.input_tokens = before + turn.new_tokens;
      r.output_tokens = turn.output_tokens;
      r.hash_begin = begin;
      r.prompt_blocks = static_cast<uint32_t>(std::floor(r.input_tokens / block_tokens));
      r.context_blocks = static_cast<uint32_t>(std::floor((r.input_tokens + r.output_tokens) / block_tokens));
      before = r.input_tokens + r.output_tokens;
      w.next_turn.push_back(k + 1 < s.turns.size() ? static_cast<uint32_t>(w.requests.size() + 1) : kLastTurn);
      // A session's first turn is sent when it starts: its think and tool times are not used.
      if (think) w.think_s.push_back(k > 0 ? turn.think_s : 0);
      if (tool) w.tool_s.push_back(k > 0 ? turn.tool_s : 0);
      if (t.has_arrivals()) w.session_start_s.push_back(k == 0 ? *s.arrival_s : 0);
      w.requests.push_back(r);
    }
  }
  if (t.has_arrivals()) w.clients = static_cast<int>(std::min<size_t>(t.sessions.size(), 1u << 30));
  return w;
}

SessionStats session_stats(const Workload& w, const Result& r) {
  SessionStats st;
  if (w.next_turn.empty() || r.requests.size() != w.requests.size()) return st;
  std::vector<char> follows(w.requests.size(), 0);
  for (const uint32_t j : w.next_turn)
    if (j != kLastTurn) follows[j] = 1;
  std::vector<double> durations;
  double turns = 0, last_prompt = 0;
  for (size_t i = 0; i < w.requests.size(); ++i) {
    if (follows[i]) continue;
    size_t k = i, count = 1;
    while (w.next_turn[k] != kLastTurn) k = w.next_turn[k], ++count;
    durations.push_back(r.requests[k].finish_s - r.requests[i].arrival_s);
    turns += static_cast<double>(count);
    last_prompt += w.requests[k].input_tokens;
  }
  st.sessions = durations.size();
  if (st.sessions == 0) return st;
  st.mean_turns = turns / static_cast<double>(st.sessions);
  st.mean_last_prompt_tokens = last_prompt / static_cast<double>(st.sessions);
  st.duration_s = distribution(std::move(durations));
  return st;
}

std::optional<ThinkTime> parse_think_time(std::string_view s) {
  if (s == "fixed") return ThinkTime::fixed;
  if (s == "exponential") return ThinkTime::exponential;
  return std::nullopt;
}

std::string_view to_string(ThinkTime t) { return t == ThinkTime::fixed ? "fixed" : "exponential"; }

std::vector<double> make_think_times(size_t n, double mean_s, ThinkTime kind, uint64_t seed) {
  if (!(mean_s >= 0) || !std::isfinite(mean_s))
    fail(fmt::format("think time: the mean must be finite and >= 0 s, got {}", mean_s));
  std::vector<double> out(n, mean_s);
  if (kind == ThinkTime::exponential && mean_s > 0) {
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);  // a stream apart from the lengths'
    for (auto& t : out) t = -std::log(1 - u01(rng)) * mean_s;
  }
  return out;
}

size_t open_loop_requests(double rate_per_s, std::optional<double> stated_requests,
                          std::optional<double> stated_duration_s, size_t cap) {
  if (stated_requests) {
    if (!(*stated_requests >= 1) || !std::isfinite(*stated_requests))
      fail(fmt::format("requests to simulate must be >= 1, got {}", *stated_requests));
    return static_cast<size_t>(std::ceil(*stated_requests));
  }
  if (!(rate_per_s > 0) || !std::isfinite(rate_per_s))
    fail(fmt::format("request rate must be finite and > 0, got {}", rate_per_s));
  if (stated_duration_s && (!(*stated_duration_s > 0) || !std::isfinite(*stated_duration_s)))
    fail(fmt::format("run duration must be finite and > 0 s, got {}", *stated_duration_s));
  const double seconds = std::max(stated_duration_s.value_or(0.0), kSettleSeconds);
  const double n = std::ceil(rate_per_s * seconds);
  return static_cast<size_t>(std::clamp(n, 1.0, static_cast<double>(std::max<size_t>(cap, 1))));
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
