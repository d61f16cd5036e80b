#pragma once
// The capex document (`tokenfactory.capex/1`): the ARR test and the spend test; the plan
// document (`tokenfactory.plan/1`).
#include <map>
#include <optional>
#include <string>

#include "economics/capex.hpp"
#include "economics/plan.hpp"
#include "economics/verify.hpp"
#include "io/trace.hpp"
#include "report/documents.hpp"

namespace tf::report {

// Adds the ARR test's keys to a capex document.
void capex_arr_json(Json& j, double arr_usd, double gross_margin, double depreciation_years);
// Adds the spend test's keys to a capex document.
void capex_spend_json(Json& j, const economics::CapexSpend& c, const economics::CapexSpendSpec& spec,
                      const hardware::SystemSpec& s, const model::ModelSpec& m, const economics::EconomicsParams& p);

// One fleet: its configuration, replicas, chips, racks, power, HBM, capex, opex and $/Mtok.
Json fleet_json(const economics::FleetPlan& f);

// What a plan document reports: the request, its SLO as given, the plan, and (when the plan was
// checked under load) the check's spec and each system's check.
struct PlanDocument {
  std::string model;
  economics::PlanRequest request;
  double min_tok_s_per_user = 0, max_ttft_ms = 0, max_tpot_ms = 0;  // as given (0: none)
  std::string preset, price_basis;
  std::optional<double> power_cap_mw;
  const io::Trace* trace = nullptr;  // the demand's trace, when one was given
  const economics::PlanResult* plan = nullptr;
  const economics::ServingCheckSpec* check = nullptr;  // null: not checked under load
  std::map<std::string, economics::ServingCheck> checks;
  const cost::EfficiencyTable* efficiency = nullptr;   // each system's provenance
};
Json plan_document(const PlanDocument& d);

}  // namespace tf::report
