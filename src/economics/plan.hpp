#pragma once
// Fleet planning: the cheapest configuration per system (and overall) that serves a token demand
// at a latency SLO, or the most tokens a power cap or capex budget buys.
#include <optional>
#include <string>
#include <vector>

#include "economics/tco.hpp"
#include "frontier/sweep.hpp"

namespace tf::economics {

struct Slo {
  double min_tok_s_per_user = 0;  // tokens/s per user (1 / TPOT), 0: none
  double max_ttft_s = 0;          // 0: none
  double max_tpot_s = 0;          // 0: none
};

struct PlanRequest {
  double isl = 1024;
  double osl = 1024;
  double demand_output_tok_s = 0;   // tokens/s to serve (0 in budget mode)
  std::optional<double> power_cap_w;      // maximise tokens under this facility power
  std::optional<double> capex_budget_usd; // maximise tokens under this capex
  Slo slo;
  std::vector<Precision> precisions{Precision::bf16, Precision::fp8, Precision::nvfp4};
  int max_chips_per_replica = 0;
  bool eplb = true;  // sweep EPLB placements of expert-parallel layouts (frontier::SweepOptions::eplb)
};

struct FleetPlan {
  const hardware::SystemSpec* system = nullptr;
  frontier::Point point;          // the operating point of every replica
  double units = 0;               // replicas (each config.chips accelerators)
  double chips = 0;
  double nodes = 0;
  double racks = 0;
  double output_tok_s = 0;        // what the fleet serves (>= demand)
  double power_w = 0;             // all-in facility power
  double hbm_bytes = 0;           // on-package memory across the fleet
  double capex_usd = 0;           // 0 when renting
  double opex_usd_per_year = 0;   // energy, colocation, other opex (or rent)
  double usd_per_mtok = 0;        // fleet cost per hour / served output tokens
  Tco tco;
};

struct SystemPlan {
  const hardware::SystemSpec* system = nullptr;
  std::optional<FleetPlan> best;
  std::string reason;             // why there is no plan
  double best_tok_s_per_user = 0; // fastest the system can go for this model (for infeasible SLOs)
};

struct PlanResult {
  std::vector<SystemPlan> systems;  // in the order given
  std::optional<FleetPlan> best;    // cheapest overall (or most tokens in budget mode)
};

// Sizes a fleet for one operating point (exposed for tests and brute-force checks).
FleetPlan size_fleet(const frontier::Point& p, const Tco& t, const EconomicsParams& e, const PlanRequest& r);
// Whether fleet `a` beats `b`: cheaper per token, then fewer chips (budget mode: more tokens, then
// cheaper per token).
bool better_plan(const FleetPlan& a, const FleetPlan& b, bool budget_mode);
// The same fleet with `units` replicas (chips, racks, power, HBM, capex, opex and $/Mtok follow).
FleetPlan with_units(const FleetPlan& f, double units, const EconomicsParams& e, const PlanRequest& r);

// Throws DiagnosticError when no candidate meets the SLO, naming the best each system can do.
PlanResult plan(const model::ModelSpec& model, const std::vector<const hardware::SystemSpec*>& systems,
                const cost::EfficiencyTable& efficiency, const EconomicsParams& economics, const PlanRequest& request,
                const TcoOverrides& overrides = {}, int threads = 1);

}  // namespace tf::economics
