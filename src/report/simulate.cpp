#include "report/simulate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace tf::report {

Json dist_json(const serving::Distribution& d, double scale) {
  return {{"mean", d.mean * scale}, {"median", d.median * scale}, {"p90", d.p90 * scale},
          {"p99", d.p99 * scale},   {"max", d.max * scale}};
}

std::string window_definition(const serving::WindowSpec& w) {
  return fmt::format("requests arriving after the first {:g}% and before the last {:g}% of the arrival span; "
                     "throughput = output tokens emitted in the window / its length",
                     100 * w.warmup_fraction, 100 * w.drain_fraction);
}

Json phase_json(const serving::Phase& p, double chips) {
  return {{"start_s", p.start_s},
          {"end_s", p.end_s},
          {"requests", p.requests},
          {"completed", p.completed},
          {"output_tokens", p.output_tokens},
          {"output_tok_s", p.output_tok_s},
          {"output_tok_s_per_chip", p.output_tok_s / chips},
          {"ttft_ms", dist_json(p.ttft_s, 1e3)},
          {"tpot_ms", dist_json(p.tpot_s, 1e3)},
          {"e2e_s", dist_json(p.e2e_s, 1)}};
}

Json steady_json(const serving::SteadyWindow& s, const serving::WindowSpec& spec, double chips) {
  Json j;
  j["measured"] = s.measured;
  j["definition"] = window_definition(spec);
  if (!s.measured) {
    j["reason"] = "arrivals not spread over time (a queued batch) or no request in the window: whole-run figures only";
    return j;
  }
  j["window"] = phase_json(s.window, chips);
  j["mean_requests_in_system"] = s.mean_in_system;
  j["warmup"] = phase_json(s.warmup, chips);
  j["drain"] = phase_json(s.drain, chips);
  return j;
}

Json bench_definitions() {
  return {{"names", "as vllm bench serve reports them"},
          {"tpot", "(e2e - ttft) / (output tokens - 1), requests with more than one output token (vLLM)"},
          {"tpot_incl_first", "e2e / output tokens (the convention that counts the first token)"},
          {"itl", "gaps between successive tokens, pooled over requests; the simulator spreads a request's tokens "
                  "evenly after its first, so each gap is its TPOT"},
          {"goodput", "requests per second meeting every SLO given (--slo-ttft-ms, --slo-tpot-ms)"}};
}

Json bench_json(const serving::BenchMetrics& m) {
  Json j{{"completed", m.completed},
                 {"duration", m.duration_s},
                 {"request_throughput", m.request_throughput},
                 {"output_throughput", m.output_throughput},
                 {"total_token_throughput", m.total_token_throughput}};
  auto add = [&](const char* name, const serving::Distribution& d) {
    j[fmt::format("mean_{}_ms", name)] = d.mean * 1e3;
    j[fmt::format("median_{}_ms", name)] = d.median * 1e3;
    j[fmt::format("p90_{}_ms", name)] = d.p90 * 1e3;
    j[fmt::format("p99_{}_ms", name)] = d.p99 * 1e3;
  };
  add("ttft", m.ttft_s);
  add("tpot", m.tpot_s);
  add("tpot_incl_first", m.tpot_incl_first_s);
  add("itl", m.itl_s);
  add("e2el", m.e2el_s);
  if (m.slo_given) {
    j["request_goodput"] = m.goodput;
    j["slo_met"] = m.slo_met;
    j["slo_attainment"] = m.slo_attainment;
  }
  return j;
}

Json run_header(const cost::Deployment& d) {
  Json j;
  j["schema"] = "tokenfactory.simulate/1";
  j["model"] = d.model->id;
  j["hardware"] = d.system->id;
  j["chips"] = d.chips;
  j["deployment"] = d.describe();
  j["efficiency"] = d.efficiency->file;
  j["provenance"] = provenance_json(*d.system, *d.efficiency);
  return j;
}


Json latency_histograms_json(const std::vector<serving::RequestRecord>& requests, int bins) {
  bins = std::max(1, bins);
  auto histogram = [&](auto value, double scale, const char* unit) {
    std::vector<double> v;
    v.reserve(requests.size());
    for (const auto& q : requests)
      if (auto x = value(q); x) v.push_back(*x * scale);
    const double hi = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
    const double width = hi > 0 ? hi / bins : 1;
    std::vector<long long> counts(static_cast<size_t>(bins), 0);
    for (double x : v) counts[std::min<size_t>(static_cast<size_t>(x / width), counts.size() - 1)]++;
    return Json{{"unit", unit}, {"bin_width", width}, {"requests", v.size()}, {"counts", counts}};
  };
  using R = serving::RequestRecord;
  return Json{
      {"ttft_ms", histogram([](const R& q) { return std::optional<double>(q.ttft_s()); }, 1e3, "ms")},
      {"tpot_ms", histogram([](const R& q) { return q.output_tokens > 1 ? std::optional<double>(q.tpot_s()) : std::nullopt; },
                            1e3, "ms")},
      {"e2e_s", histogram([](const R& q) { return std::optional<double>(q.e2e_s()); }, 1.0, "s")}};
}

Json timeline_series_json(const serving::Timeline& t, double duration_s, double kv_capacity_bytes_per_chip,
                          int points) {
  points = std::max(1, points);
  const size_t n = static_cast<size_t>(points);
  const double width = duration_s > 0 ? duration_s / points : 0;
  std::vector<double> kv_mean(n, 0), kv_max(n, 0), run_mean(n, 0), run_max(n, 0), time_s(n);
  for (size_t b = 0; b < n; ++b) time_s[b] = (static_cast<double>(b) + 0.5) * width;
  const size_t replicas = t.replicas.size();
  if (width > 0 && replicas > 0) {
    std::vector<double> kv(n), run(n);
    for (const auto& events : t.replicas) {
      std::fill(kv.begin(), kv.end(), 0.0);
      std::fill(run.begin(), run.end(), 0.0);
      for (const auto& e : events) {
        // Spread the iteration's span over the bins it covers.
        const double a = e.start_s, z = e.start_s + e.duration_s;
        const size_t first = std::min(n - 1, static_cast<size_t>(std::max(0.0, a / width)));
        for (size_t b = first; b < n; ++b) {
          const double lo = static_cast<double>(b) * width, hi = lo + width;
          if (lo >= z) break;
          const double overlap = std::min(hi, z) - std::max(lo, a);
          if (overlap <= 0) continue;
          kv[b] += e.kv_bytes * overlap / width;
          run[b] += e.running * overlap / width;
        }
      }
      for (size_t b = 0; b < n; ++b) {
        kv_mean[b] += kv[b] / static_cast<double>(replicas);
        run_mean[b] += run[b] / static_cast<double>(replicas);
        kv_max[b] = std::max(kv_max[b], kv[b]);
        run_max[b] = std::max(run_max[b], run[b]);
      }
    }
  }
  return Json{{"definition", "equal time bins over the run; in each, the time-weighted mean of every replica's "
                             "iterations (idle time counts as zero), averaged over replicas (mean) and the "
                             "busiest replica's (max)"},
              {"bin_s", width},
              {"complete", t.dropped == 0},
              {"kv_capacity_bytes_per_chip", kv_capacity_bytes_per_chip},
              {"time_s", time_s},
              {"kv_bytes_per_chip_mean", kv_mean},
              {"kv_bytes_per_chip_max", kv_max},
              {"running_per_replica_mean", run_mean},
              {"running_per_replica_max", run_max}};
}

Json service_cost_json(const economics::ServiceCost& c, const std::vector<economics::PoolCost>& pools,
                       const std::string& price_basis, const std::string& preset, const std::string& over) {
  auto opt = [](const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); };
  Json ps = Json::array();
  for (const auto& p : pools)
    ps.push_back({{"role", p.role},
                  {"hardware", p.system_id},
                  {"chips", p.chips},
                  {"pricing", p.tco ? Json(p.tco->mode) : Json(nullptr)},
                  {"usd_per_chip_hour", p.tco ? Json(p.tco->usd_per_chip_hour) : Json(nullptr)},
                  {"usd_per_busy_chip_hour", p.tco ? Json(p.tco->usd_per_busy_chip_hour) : Json(nullptr)},
                  {"price_source", p.tco ? Json(p.tco->price_source) : Json(nullptr)},
                  {"facility_power_w_per_chip", p.power ? Json(p.power->facility_w) : Json(nullptr)},
                  {"power_source", p.power ? Json(p.power->source) : Json(nullptr)}});
  Json j{{"price_basis", price_basis},
         {"preset", preset},
         {"tokens_over", over},
         {"chips", c.chips},
         {"pools", ps},
         {"usd_per_hour", opt(c.usd_per_hour)},
         {"facility_power_mw", c.facility_power_w ? Json(*c.facility_power_w / 1e6) : Json(nullptr)},
         {"usd_per_mtok_output", opt(c.usd_per_mtok_output)},
         {"usd_per_mtok_total", opt(c.usd_per_mtok_total)},
         {"output_tok_s_per_mw", opt(c.output_tok_s_per_mw)},
         {"total_tok_s_per_mw", opt(c.total_tok_s_per_mw)},
         {"joules_per_output_token", opt(c.joules_per_output_token)}};
  if (pools.size() == 2) {
    j["usd_per_mtok_input_prefill_pool"] = opt(c.usd_per_mtok_input_by_pool);
    j["usd_per_mtok_output_decode_pool"] = opt(c.usd_per_mtok_output_by_pool);
  }
  j["missing"] = c.missing;
  return j;
}

}  // namespace tf::report
