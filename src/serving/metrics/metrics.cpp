#include "serving/metrics/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/diagnostic.hpp"
#include "core/stats.hpp"

namespace tf::serving {

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
  res.prefix_cache.prefetches += one.prefix_cache.prefetches;
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
    t.prefetched_blocks += o.prefetched_blocks;
    t.prefetched_bytes += o.prefetched_bytes;
    t.prefetch_s += o.prefetch_s;
    t.medium_wait_s += o.medium_wait_s;
  }
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

}  // namespace tf::serving
