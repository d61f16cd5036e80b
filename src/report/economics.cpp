#include "report/economics.hpp"

#include <cmath>

namespace tf::report {

void capex_arr_json(Json& j, double arr, double gm, double years) {
  j["arr_usd"] = arr;
  j["gross_margin"] = gm;
  j["depreciation_years"] = years;
  j["cost_of_goods_usd_per_year"] = arr * (1 - gm);
  j["supportable_infrastructure_usd"] = economics::supportable_infrastructure_usd(arr, gm, years);
}

void capex_spend_json(Json& j, const economics::CapexSpend& c, const economics::CapexSpendSpec& spec,
                      const hardware::SystemSpec& s, const model::ModelSpec& m, const economics::EconomicsParams& p) {
  j["capex_usd"] = spec.capex_usd;
  j["hardware"] = s.id;
  j["model"] = m.id;
  j["chips"] = c.chips;
  j["config"] = deployment_json(c.best.config);
  j["output_tok_s_per_chip"] = c.best.output_tok_s_per_chip;
  j["output_tokens_per_year"] = c.output_tokens_per_year;
  j["input_tokens_per_year"] = c.input_tokens_per_year;
  j["revenue_usd_per_year"] = c.revenue_usd_per_year;
  j["running_cost_usd_per_year"] = c.running_cost_usd_per_year;
  j["depreciation_usd_per_year"] = c.depreciation_usd_per_year;
  j["gross_margin"] = c.gross_margin;
  j["payback_years"] = std::isfinite(c.payback_years) ? Json(c.payback_years) : Json(nullptr);
  j["facility_power_gw"] = c.facility_power_w / 1e9;
  j["it_power_gw"] = c.it_power_w / 1e9;
  j["pue"] = p.pue;
  j["utilization"] = p.utilization;
  j["utilization_source"] = "economics preset '" + p.name + "' (override with --utilization)";
}

Json fleet_json(const economics::FleetPlan& f) {
  return Json{{"hardware", f.system->id},
              {"config", deployment_json(f.point.config)},
              {"replicas", f.units},
              {"chips", f.chips},
              {"nodes", f.nodes},
              {"racks", f.racks},
              {"output_tok_s", f.output_tok_s},
              {"output_tok_s_per_user", f.point.output_tok_s_per_user},
              {"ttft_ms", f.point.ttft_s * 1e3},
              {"tpot_ms", f.point.tpot_s * 1e3},
              {"power_mw", f.power_w / 1e6},
              {"hbm_tb", f.hbm_bytes / 1e12},
              {"capex_usd", f.capex_usd},
              {"opex_usd_per_year", f.opex_usd_per_year},
              {"usd_per_mtok", f.usd_per_mtok},
              {"usd_per_chip_hour", f.tco.usd_per_chip_hour},
              {"pricing", f.tco.mode}};
}

Json plan_document(const PlanDocument& d) {
  const auto& r = d.request;
  const auto& res = *d.plan;
  const auto* spec = d.check;
  auto check_json = [&](const std::string& id) {
    const auto it = d.checks.find(id);
    if (!spec || it == d.checks.end()) return Json(nullptr);
    const auto& c = it->second;
    return Json{{"requests", spec->requests.size()},
                {"arrivals", d.trace ? "trace" : "poisson at the demand"},
                {"target_attainment", spec->target_attainment},
                {"planned_replicas", c.planned_units},
                {"planned_attainment", c.planned_attainment},
                {"planned_p99_ttft_ms", c.planned_p99_ttft_s * 1e3},
                {"planned_p99_tpot_ms", c.planned_p99_tpot_s * 1e3},
                {"replicas", c.units},
                {"attainment", c.attainment},
                {"p99_ttft_ms", c.p99_ttft_s * 1e3},
                {"p99_tpot_ms", c.p99_tpot_s * 1e3},
                {"holds", c.holds},
                {"simulations", c.simulations},
                {"note", c.note}};
  };
  Json j{{"schema", "tokenfactory.plan/1"},
         {"model", d.model},
         {"workload", {{"isl", r.isl}, {"osl", r.osl}}},
         {"demand_output_tok_s", r.demand_output_tok_s},
         {"slo", {{"min_tok_s_per_user", d.min_tok_s_per_user}, {"max_ttft_ms", d.max_ttft_ms}, {"max_tpot_ms", d.max_tpot_ms}}},
         {"economics", d.preset},
         {"price_basis", d.price_basis},
         {"best", res.best ? fleet_json(*res.best) : Json(nullptr)},
         {"serving_check", spec ? Json{{"target_attainment", spec->target_attainment},
                                       {"ttft_ms", spec->slo.ttft_s ? Json(*spec->slo.ttft_s * 1e3) : Json(nullptr)},
                                       {"tpot_ms", spec->slo.tpot_s ? Json(*spec->slo.tpot_s * 1e3) : Json(nullptr)}}
                                : Json(nullptr)},
         {"systems", Json::array()}};
  if (r.power_cap_w && d.power_cap_mw) j["power_cap_mw"] = *d.power_cap_mw;
  if (const auto* t = d.trace)
    j["trace"] = {{"file", t->file},
                  {"format", t->format},
                  {"requests", t->requests.size()},
                  {"duration_s", t->duration_s()},
                  {"request_rate", t->request_rate()},
                  {"mean_input_tokens", t->mean_input_tokens()},
                  {"mean_output_tokens", t->mean_output_tokens()},
                  {"skipped", t->skipped}};
  if (r.capex_budget_usd) j["capex_budget_usd"] = *r.capex_budget_usd;
  for (const auto& sp : res.systems) {
    Json sj = sp.best ? fleet_json(*sp.best)
                      : Json{{"hardware", sp.system->id}, {"reason", sp.reason},
                             {"best_tok_s_per_user", sp.best_tok_s_per_user}};
    sj["provenance"] = provenance_json(*sp.system, d.efficiency->for_family(sp.system->family));
    if (sp.best) sj["serving_check"] = check_json(sp.system->id);
    j["systems"].push_back(std::move(sj));
  }
  return j;
}

}  // namespace tf::report
