#include "economics/verify.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/diagnostic.hpp"

namespace tf::economics {

namespace {

struct Run {
  double attainment = 0, p99_ttft_s = 0, p99_tpot_s = 0;
};

Run replay(const FleetPlan& f, double units, const ServingCheckSpec& spec) {
  cost::Deployment d = f.point.config;
  d.dp = static_cast<int>(std::lround(units)) * std::max(1, f.point.config.dp);
  const cost::StepCostModel m(d);
  serving::EngineConfig engine;
  engine.step_tokens = std::max(1.0, d.efficiency->activation_tokens);
  serving::Workload w;
  w.requests = spec.requests;
  const auto r = serving::simulate_deployment(m, engine, w);
  const auto b = serving::bench_metrics(r.requests, r.duration_s, spec.slo);
  return {b.slo_attainment, b.ttft_s.p99, b.tpot_s.p99};
}

}  // namespace

ServingCheck check_under_load(const FleetPlan& f, const ServingCheckSpec& spec) {
  if (spec.requests.empty()) fail("serving check: no requests to replay");
  if (!spec.slo.any()) fail("serving check: no SLO limit (TTFT or TPOT) to check");
  if (!(spec.target_attainment > 0 && spec.target_attainment <= 1))
    fail(fmt::format("serving check: the target attainment must be in (0, 1], got {}", spec.target_attainment));
  if (!(spec.max_growth >= 1) || !std::isfinite(spec.max_growth))
    fail(fmt::format("serving check: max growth must be >= 1, got {}", spec.max_growth));
  ServingCheck c;
  c.planned_units = std::max(1.0, f.units);
  double units = c.planned_units;
  Run run = replay(f, units, spec);
  ++c.simulations;
  c.planned_attainment = run.attainment;
  c.planned_p99_ttft_s = run.p99_ttft_s;
  c.planned_p99_tpot_s = run.p99_tpot_s;
  while (run.attainment < spec.target_attainment) {
    const double next = std::max(units + 1, std::ceil(units * 1.1));
    if (next > c.planned_units * spec.max_growth) {
      c.note = fmt::format("{:.1f}% of requests meet the SLO at {:.0f} replicas ({:.0f}x the plan); more replicas do "
                           "not reach {:.1f}%: the per-request latency, not the load, misses it",
                           100 * run.attainment, units, units / c.planned_units, 100 * spec.target_attainment);
      break;
    }
    units = next;
    run = replay(f, units, spec);
    ++c.simulations;
  }
  c.units = units;
  c.attainment = run.attainment;
  c.p99_ttft_s = run.p99_ttft_s;
  c.p99_tpot_s = run.p99_tpot_s;
  c.holds = run.attainment >= spec.target_attainment;
  return c;
}

std::map<std::string, ServingCheck> check_plan_under_load(PlanResult& plan, const ServingCheckSpec& spec,
                                                          const EconomicsParams& economics, const PlanRequest& request) {
  std::map<std::string, ServingCheck> checks;
  for (auto& sp : plan.systems) {
    if (!sp.best) continue;
    const auto c = check_under_load(*sp.best, spec);
    if (c.units != sp.best->units) sp.best = with_units(*sp.best, c.units, economics, request);
    checks[sp.system->id] = c;
  }
  const bool any_holds = std::any_of(checks.begin(), checks.end(), [](const auto& kv) { return kv.second.holds; });
  plan.best.reset();
  for (const auto& sp : plan.systems) {
    if (!sp.best || (any_holds && !checks.at(sp.system->id).holds)) continue;
    if (!plan.best || better_plan(*sp.best, *plan.best, false)) plan.best = sp.best;
  }
  return checks;
}

}  // namespace tf::economics
