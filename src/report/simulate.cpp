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

Json engine_json(const serving::EngineConfig& e, double request_overhead_s, const std::string& overhead_source,
                 const serving::EngineProfile* profile) {
  Json j = {{"scheduler", serving::to_string(e.scheduler)},
            {"step_tokens", e.step_tokens},
            {"max_running", e.max_running > 0 ? Json(e.max_running) : Json()},
            {"kv_admission", serving::to_string(e.kv_admission)}};
  j["preemption"] = e.preemption == serving::EngineConfig::Preemption::swap ? "swap" : "recompute";
  if (e.preemption == serving::EngineConfig::Preemption::swap) {
    j["swap_space_bytes_per_chip"] = e.swap_bytes;
    j["swap_bytes_per_s_per_chip"] = e.swap_bytes_per_s;
  }
  if (e.cascade_attention) j["cascade_attention"] = true;
  j["request_overhead_ms"] = request_overhead_s * 1e3;
  j["request_overhead_source"] = overhead_source;
  if (profile) j["profile"] = profile->id;
  return j;
}

Json disaggregation_result_json(Json dj, const serving::Result& r) {
  const auto& dis = r.disaggregation;
  dj["prefill"]["requests_per_replica"] = dis.per_prefill;
  dj["prefill"]["busy_s"] = dis.prefill_busy_s;
  dj["prefill"]["peak_kv_bytes_per_chip"] = dis.prefill_peak_kv_bytes;
  dj["prefill"]["kv_capacity_bytes_per_chip"] = dis.prefill_kv_capacity_bytes;
  dj["decode"]["requests_per_replica"] = r.per_replica;
  dj["decode"]["busy_s"] = dis.decode_busy_s;
  dj["transfers"] = {{"count", dis.transfers},
                     {"bytes", dis.transferred_bytes},
                     {"link_busy_s", dis.link_busy_s},
                     {"transfer_ms", dist_json(dis.transfer_s, 1e3)},
                     {"decode_wait_ms", dist_json(dis.decode_wait_s, 1e3)}};
  return dj;
}

namespace {

Json prefix_cache_json(const SimulateRun& run) {
  const auto& r = *run.result;
  const auto& pc = r.prefix_cache;
  Json p = {{"enabled", pc.enabled},
            {"block_tokens", run.requests->block_tokens},
            {"lookup_tokens", pc.lookup_tokens},
            {"hit_tokens", pc.hit_tokens},
            {"hit_rate", pc.hit_rate()},
            {"evicted_blocks", pc.evicted_blocks},
            {"peak_cached_blocks_per_replica", pc.peak_blocks}};
  if (const auto* u = run.uncached) {
    p["without_caching"] = {{"mean_ttft_ms", u->ttft_s.mean * 1e3},
                            {"p99_ttft_ms", u->ttft_s.p99 * 1e3},
                            {"output_tok_s", u->output_tok_s}};
    p["mean_ttft_saved_ms"] = (u->ttft_s.mean - r.ttft_s.mean) * 1e3;
  }
  if (!run.prefix_note.empty()) p["note"] = run.prefix_note;
  const auto& tiers = *run.tiers;
  if (!tiers.empty()) {
    Json list = Json::array();
    for (size_t k = 0; k < tiers.size() && k < pc.tiers.size(); ++k) {
      const auto& t = tiers[k];
      const auto& got = pc.tiers[k];
      list.push_back({{"name", t.tier.name},
                      {"capacity_bytes_per_chip", t.tier.capacity_bytes},
                      {"capacity_blocks_per_replica", got.capacity_blocks},
                      {"read_bytes_per_s_per_chip", t.tier.read_bytes_per_s},
                      {"latency_s", t.tier.latency_s},
                      {"eviction", t.tier.eviction == serving::Eviction::lfu ? "lfu" : "lru"},
                      {"sources",
                       {{"capacity", t.capacity_source}, {"bandwidth", t.bandwidth_source}, {"latency", t.latency_source}}},
                      {"hit_tokens", got.hit_tokens},
                      {"loaded_bytes_per_chip", got.loaded_bytes},
                      {"load_s", got.load_s},
                      {"recomputed_tokens", got.recomputed_tokens},
                      {"stored_blocks", got.stored_blocks},
                      {"dropped_blocks", got.dropped_blocks},
                      {"peak_blocks_per_replica", got.peak_blocks},
                      {"prefetched_blocks", got.prefetched_blocks},
                      {"prefetched_bytes_per_chip", got.prefetched_bytes},
                      {"prefetch_s", got.prefetch_s},
                      {"medium_wait_s", got.medium_wait_s}});
      // A store every replica shares: its block counts are the store's, not one replica's.
      if (t.tier.shared) list.back()["shared"] = true;
    }
    p["offload"] = {{"reload", run.kv_reload},
                    {"prefetch", run.kv_prefetch},
                    {"prefetches", pc.prefetches},
                    {"tiers", list},
                    {"loads", pc.loads},
                    {"mean_load_wait_ms", pc.loads ? pc.load_wait_s / static_cast<double>(pc.loads) * 1e3 : 0.0}};
    if (const auto* dev = run.device_only)
      p["offload"]["device_only"] = {{"hit_rate", dev->prefix_cache.hit_rate()},
                                     {"mean_ttft_ms", dev->ttft_s.mean * 1e3},
                                     {"p99_ttft_ms", dev->ttft_s.p99 * 1e3},
                                     {"output_tok_s", dev->output_tok_s}};
  }
  return p;
}

}  // namespace

Json simulate_document(const SimulateRun& run) {
  const auto& d = *run.deployment;
  const auto& r = *run.result;
  const auto& w = *run.requests;
  const auto& wl = run.workload;
  auto opt = [](const auto& v) { return v ? Json(*v) : Json(); };
  Json j = run_header(d);
  if (run.service) {  // both pools (each detailed in "disaggregation")
    j["chips"] = run.chips;
    j["deployment"] = *run.service;
  }
  j["workload"] = {{"arrivals", wl.arrivals},
                   {"requests", w.requests.size()},
                   {"streams", wl.streams},
                   {"turns_per_session", opt(wl.turns_per_session)},
                   {"mean_input_tokens", wl.mean_input_tokens},
                   {"mean_output_tokens", wl.mean_output_tokens},
                   {"length_spread", wl.length_spread},
                   {"burstiness", opt(wl.burstiness)},
                   {"think_time_s", opt(wl.think_time_s)},
                   {"think_time_dist", opt(wl.think_time_dist)},
                   {"seed", wl.seed}};
  Json engine = run.engine;
  engine["kv_capacity_bytes_per_chip"] = r.kv_capacity_bytes;
  j["engine"] = engine;
  j["router"] = {{"policy", run.router}, {"requests_per_replica", r.per_replica}};
  j["result"] = {{"duration_s", r.duration_s},
                 {"output_tok_s", r.output_tok_s},
                 {"input_tok_s", r.input_tok_s},
                 {"output_tok_s_per_chip", r.output_tok_s / run.chips},
                 {"ttft_ms", dist_json(r.ttft_s, 1e3)},
                 {"tpot_ms", dist_json(r.tpot_s, 1e3)},
                 {"e2e_s", dist_json(r.e2e_s, 1)},
                 {"mean_requests_in_system", r.mean_in_system},
                 {"peak_running_per_replica", r.peak_running},
                 {"peak_kv_bytes_per_chip", r.peak_kv_bytes},
                 {"preemptions", r.preemptions},
                 {"swaps", r.swaps},
                 {"swapped_bytes_per_chip", r.swapped_bytes},
                 {"swap_s", r.swap_s},
                 {"peak_swap_bytes_per_chip", r.peak_swap_bytes},
                 {"recomputed_tokens", r.recomputed_tokens},
                 {"steps", r.steps},
                 {"step_evaluations", r.step_evaluations}};
  j["result"]["prefix_cache"] = prefix_cache_json(run);
  if (!w.tool_s.empty())
    j["result"]["tool_calls"] = {{"calls", r.tools.calls},
                                 {"cores", r.tools.cores},
                                 {"cores_source", run.tool_cores_source},
                                 {"busy_core_s", r.tools.busy_s},
                                 {"wait_s", r.tools.wait_s},
                                 {"core_utilisation", r.duration_s > 0 ? r.tools.busy_s / (r.tools.cores * r.duration_s) : 0.0}};
  if (!w.tool_s.empty() && run.tool_energy) {
    auto& tc = j["result"]["tool_calls"];
    tc["host_core_power_w"] = run.host_core_power_w;
    tc["host_core_power_source"] = run.host_core_power_source;
    tc["cpu_energy_j"] = run.tool_energy->facility_j;
    tc["cpu_share_of_service_energy"] =
        run.tool_energy->share_of_service ? Json(*run.tool_energy->share_of_service) : Json();
  }
  if (!w.next_turn.empty()) {
    const auto ss = serving::session_stats(w, r);
    j["result"]["sessions"] = {{"sessions", ss.sessions},
                               {"tool_share_of_session_time",
                                r.tools.calls > 0 && ss.sessions > 0
                                    ? Json((r.tools.busy_s + r.tools.wait_s) /
                                           (ss.duration_s.mean * static_cast<double>(ss.sessions)))
                                    : Json()},
                               {"turns_per_session", ss.mean_turns},
                               {"mean_last_prompt_tokens", ss.mean_last_prompt_tokens},
                               {"duration_s", dist_json(ss.duration_s, 1)}};
  }
  j["distributions"] = latency_histograms_json(r.requests);
  j["timeline"] = timeline_series_json(*run.timeline, r.duration_s, r.kv_capacity_bytes);
  j["steady"] = steady_json(r.steady, run.window, run.chips);
  j["metrics"] = {{"definitions", bench_definitions()},
                  {"whole_run", bench_json(run.bench)},
                  {"steady_window", run.bench_window ? bench_json(*run.bench_window) : Json()}};
  j["economics"] = run.economics;
  // What one request (an answer: every stream) costs, at the run's USD per output token.
  if (const auto& u = run.economics["usd_per_mtok_output"]; u.is_number())
    j["economics"]["usd_per_request"] = u.get<double>() * wl.mean_output_tokens * wl.streams / 1e6;
  if (run.slo_ttft_ms || run.slo_tpot_ms)
    j["metrics"]["slo"] = {{"ttft_ms", opt(run.slo_ttft_ms)}, {"tpot_ms", opt(run.slo_tpot_ms)}};
  if (run.disaggregation) {
    j["disaggregation"] = *run.disaggregation;
    j["steady_state"] = {{"note", "no steady-state estimate for a disaggregated service"}};
  } else {
    const auto& e = *run.steady;
    j["steady_state"] = {{"concurrency", run.steady_concurrency},
                         {"feasible", e.feasible},
                         {"ttft_ms", e.ttft_s * 1e3},
                         {"tpot_ms", e.tpot_s * 1e3},
                         {"output_tok_s", e.output_tok_s}};
  }
  return j;
}

Json max_rate_document(const MaxRateRun& run) {
  const auto& a = *run.search;
  const auto& spec = *run.spec;
  const auto& r = a.at_rate;
  const auto& win = r.steady.window;
  Json j = run_header(*run.deployment);
  if (run.service) {
    j["chips"] = run.chips;
    j["deployment"] = *run.service;
  }
  j["workload"] = run.workload;
  j["engine"] = run.engine;
  j["engine"]["kv_capacity_bytes_per_chip"] = r.kv_capacity_bytes;
  Json probes = Json::array();
  for (const auto& p : a.probes)
    probes.push_back({{"rate_per_s", p.rate},
                      {"requests", p.requests},
                      {"meets", p.meets},
                      {"violation", p.violation.empty() ? Json() : Json(p.violation)},
                      {"output_tok_s", p.output_tok_s},
                      {"p99_ttft_ms", p.p99_ttft_s * 1e3},
                      {"p99_tpot_ms", p.p99_tpot_s * 1e3}});
  j["router"] = {{"policy", run.router}, {"requests_per_replica", r.per_replica}};
  j["find_max_rate"] = {{"rate_per_s", a.rate},
                        {"burstiness", spec.burstiness},
                        {"bracket", {{"lower_per_s", a.rate}, {"upper_per_s", a.upper > 0 ? Json(a.upper) : Json()}}},
                        {"tolerance", spec.tolerance},
                        {"converged", a.converged},
                        {"note", a.reason.empty() ? Json() : Json(a.reason)},
                        {"iterations", a.probes.size()},
                        {"max_iterations", spec.max_probes},
                        {"limits", run.limits},
                        {"probes", probes}};
  j["at_rate"] = {{"requests", r.requests.size()},
                  {"output_tok_s", win.output_tok_s},
                  {"output_tok_s_per_chip", win.output_tok_s / run.chips},
                  {"ttft_ms", dist_json(win.ttft_s, 1e3)},
                  {"tpot_ms", dist_json(win.tpot_s, 1e3)},
                  {"e2e_s", dist_json(win.e2e_s, 1)},
                  {"steady", steady_json(r.steady, run.window, run.chips)}};
  if (run.disaggregation) j["disaggregation"] = *run.disaggregation;
  j["economics"] = run.economics;
  return j;
}

Json tier_size_document(const TierSizeRun& run) {
  const auto& found = *run.found;
  const auto& at = found.at_size;
  Json j = run_header(*run.deployment);
  Json probes = Json::array();
  for (const auto& p : found.probes)
    probes.push_back({{"bytes_per_chip", p.bytes},
                      {"hit_rate", p.hit_rate},
                      {"mean_ttft_ms", p.mean_ttft_s * 1e3},
                      {"output_tok_s", p.output_tok_s}});
  j["workload"] = run.workload;
  j["find_dram"] = {{"target_hit_rate", run.target_hit_rate},
                    {"bytes_per_chip", found.bytes},
                    {"bytes_per_node", run.chips_per_node ? Json(found.bytes * *run.chips_per_node) : Json()},
                    {"upper_bytes_per_chip", run.upper_bytes},
                    {"upper_source", run.upper_source},
                    {"tiers", run.tiers},
                    {"tolerance_of_upper", 0.01},
                    {"simulations", found.probes.size()},
                    {"at_size",
                     {{"hit_rate", at.prefix_cache.hit_rate()},
                      {"mean_ttft_ms", at.ttft_s.mean * 1e3},
                      {"p99_ttft_ms", at.ttft_s.p99 * 1e3},
                      {"output_tok_s", at.output_tok_s}}},
                    {"probes", probes}};
  return j;
}

Json split_document(const SplitRun& run) {
  auto opt = [](const std::optional<double>& v) { return v ? Json(*v) : Json(); };
  Json j = run_header(*run.deployment);
  j["chips"] = run.chips;
  j["deployment"] = run.service;
  j["workload"] = run.workload;
  j["engine"] = run.engine;
  j["disaggregation"] = run.disaggregation;
  Json list = Json::array();
  for (const auto& row : *run.options) {
    const auto& a = *row.rate;
    const auto& win = a.at_rate.steady.window;
    Json e = {{"service", row.service},
              {"prefill_replicas", row.prefill_replicas},
              {"decode_replicas", row.decode_replicas},
              {"chips", row.chips},
              {"found", a.found},
              {"rate_per_s", a.found ? Json(a.rate) : Json()},
              {"converged", a.converged},
              {"simulations", a.probes.size()},
              {"note", a.reason.empty() ? Json() : Json(a.reason)}};
    if (a.found) {
      e["output_tok_s"] = win.output_tok_s;
      e["output_tok_s_per_chip"] = row.output_tok_s_per_chip;
      e["p99_ttft_ms"] = win.ttft_s.p99 * 1e3;
      e["p99_tpot_ms"] = win.tpot_s.p99 * 1e3;
      e["usd_per_mtok_output"] = opt(row.cost.usd_per_mtok_output);
      e["output_tok_s_per_mw"] = opt(row.cost.output_tok_s_per_mw);
    }
    list.push_back(e);
  }
  j["find_split"] = {{"chips", run.chips},
                     {"burstiness", run.spec->burstiness},
                     {"prefill_replica_chips", run.prefill_replica_chips},
                     {"decode_replica_chips", run.decode_replica_chips},
                     {"limits", run.limits},
                     {"tolerance", run.spec->tolerance},
                     {"ranked_by", run.ranking->ranked_by},
                     {"options", list},
                     {"best", run.ranking->best}};
  j["economics"] = {{"price_basis", run.price_basis}, {"preset", run.preset}};
  return j;
}

}  // namespace tf::report
