#pragma once
// Plans that hold under load: a fleet sized from steady-state estimates, replayed request by
// request through the serving simulator, and grown until the share of requests meeting the SLO
// reaches a target. The economics layer uses the serving layer here (ARCHITECTURE.md).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "economics/plan.hpp"
#include "serving/serving.hpp"

namespace tf::economics {

struct ServingCheckSpec {
  std::vector<serving::Request> requests;  // the trace's requests, or Poisson arrivals at the demand
  serving::Slo slo;                        // per-request limits (TTFT, TPOT)
  double target_attainment = 0.99;         // share of requests that must meet them
  double max_growth = 64;                  // give up beyond this many times the planned replicas
};

struct ServingCheck {
  double planned_units = 0;       // replicas the steady-state plan sized
  double planned_attainment = 0;  // share meeting the SLO with them
  double units = 0;               // replicas after growing (= planned when it held)
  double attainment = 0;          // share meeting the SLO with `units`
  double p99_ttft_s = 0, p99_tpot_s = 0;  // with `units`
  double planned_p99_ttft_s = 0, planned_p99_tpot_s = 0;
  int simulations = 0;
  bool holds = false;             // attainment >= target with `units`
  std::string note;               // when it does not hold within max_growth
};

// Replays spec.requests over `f`'s replicas (round robin; each replica the plan's layout, the
// default engine: mixed steps, the efficiency file's token budget, whole-context KV) and grows the
// replica count by 10% (at least one) until the target attainment holds. DiagnosticError on an
// empty workload, no SLO limit or a target outside (0, 1].
ServingCheck check_under_load(const FleetPlan& f, const ServingCheckSpec& spec);

// Checks every system's fleet of `plan` under load, grows those that do not hold (with_units),
// and re-picks the best: the cheapest fleet that holds (the cheapest of all when none does).
// Returns the check per system id.
std::map<std::string, ServingCheck> check_plan_under_load(PlanResult& plan, const ServingCheckSpec& spec,
                                                          const EconomicsParams& economics, const PlanRequest& request);

}  // namespace tf::economics
