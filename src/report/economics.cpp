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

}  // namespace tf::report
