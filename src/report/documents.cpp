#include "report/documents.hpp"

namespace tf::report {

Json deployment_json(const cost::Deployment& d) {
  Json j{{"chips", d.chips},
              {"tp", d.tp},
              {"pp", d.pp},
              {"ep", d.ep},
              {"dp", d.dp},
              {"attention_dp", d.attention_dp},
              {"weights", std::string(to_string(d.weights))},
              {"activations", std::string(to_string(d.activations))},
              {"kv", std::string(to_string(d.kv))},
              {"gemm_math", std::string(to_string(d.gemm_class))},
              {"attention_math", std::string(to_string(d.attention_class))},
              {"attention_weights", std::string(to_string(d.attention_weights))},
              {"moe_dispatch", std::string(to_string(d.moe_dispatch))},
              {"attention_kernels", std::string(to_string(d.attention_kernels))},
              {"launch", std::string(to_string(d.launch))}};
  if (d.model && d.model->is_moe())
    j["experts"] = {{"placement", d.eplb_redundant_experts ? "eplb" : "static"},
                    {"redundant_experts", d.eplb_redundant_experts ? Json(*d.eplb_redundant_experts) : Json()},
                    {"load_cv", d.expert_load_cv},
                    {"load_cv_source", d.expert_load_cv_source}};
  return j;
}

Json memory_json(const cost::StepCostModel& m, double kv_bytes_per_chip) {
  const auto& b = m.memory();
  return Json{{"weight_tier", std::string(to_string(b.weight_tier))},
              {"kv_tier", std::string(to_string(b.kv_tier))},
              {"usable_bytes", b.usable_bytes},
              {"weights", b.weights_bytes},
              {"kv", kv_bytes_per_chip},
              {"activations", b.activation_bytes},
              {"reserve", b.reserve_bytes},
              {"free", b.kv_free_bytes - kv_bytes_per_chip},
              {"kv_capacity", b.kv_free_bytes}};
}

Json breakdown_json(const cost::StepCost& s) {
  Json arr = Json::array();
  for (size_t i = 0; i < cost::kOpGroups; ++i) {
    const auto& g = s.groups[i];
    if (g.time_s <= 0 && g.flops <= 0 && g.bytes <= 0) continue;
    arr.push_back({{"group", std::string(to_string(static_cast<cost::OpGroup>(i)))},
                   {"time_ms", g.time_s * 1e3},
                   {"share", s.time_s > 0 ? g.time_s / s.time_s : 0.0},
                   {"bound", std::string(to_string(g.bound))},
                   {"flops", g.flops},
                   {"bytes", g.bytes},
                   {"net_bytes", g.net_bytes}});
  }
  return arr;
}

Json ceiling_json(const cost::Ceiling& c) {
  Json curve = Json::array();
  for (const auto& p : c.curve) {
    curve.push_back({{"concurrency", p.concurrency},
                     {"output_tok_s_per_user", p.output_tok_s_per_user},
                     {"output_tok_s_per_chip", p.output_tok_s_per_chip}});
  }
  return Json{{"max_concurrency", c.max_concurrency},
              {"max_output_tok_s_per_user", c.max_output_tok_s_per_user},
              {"max_output_tok_s_per_chip", c.max_output_tok_s_per_chip},
              {"curve", curve}};
}

Json estimate_json(const cost::StepCostModel& m, const cost::Workload& w, const cost::Estimate& e) {
  const auto& d = m.deployment();
  Json j{{"schema", "tokenfactory.estimate/1"},
         {"model", d.model->id},
         {"hardware", d.system->id},
         {"deployment", deployment_json(d)},
         {"workload", {{"isl", w.isl}, {"osl", w.osl}, {"concurrency", w.concurrency}}},
         {"feasible", e.feasible},
         {"reason", e.reason},
         {"ttft_ms", e.ttft_s * 1e3},
         {"tpot_ms", e.tpot_s * 1e3},
         {"output_tok_s_per_user", e.output_tok_s_per_user},
         {"output_tok_s_per_chip", e.output_tok_s_per_chip},
         {"total_tok_s_per_chip", e.total_tok_s_per_chip},
         {"output_tok_s", e.output_tok_s},
         {"memory", memory_json(m, e.kv_bytes_per_chip)},
         {"bound_by", std::string(to_string(e.step.bound_by))},
         {"breakdown", breakdown_json(e.step)},
         {"prefill_breakdown", breakdown_json(e.prefill)},
         {"ceiling", ceiling_json(e.ceiling)},
         {"efficiency", {{"family", d.efficiency->family}, {"file", d.efficiency->file}}},
         {"provenance", provenance_json(*d.system, *d.efficiency)}};
  return j;
}

Json tco_json(const economics::Tco& t, const economics::EconomicsParams& p) {
  const double total = t.usd_per_chip_hour;
  auto share = [&](double v) { return total > 0 ? v / total : 0.0; };
  return Json{{"schema", "tokenfactory.tco/1"},
              {"hardware", t.system_id},
              {"economics", p.name},
              {"mode", t.mode},
              {"usd_per_chip_hour", t.usd_per_chip_hour},
              {"usd_per_busy_chip_hour", t.usd_per_busy_chip_hour},
              {"utilization", p.utilization},
              {"chip_price_usd", t.chip_price_usd},
              {"capex_usd_per_chip", t.capex_usd_per_chip},
              {"capital_recovery_factor", t.capital_recovery_factor},
              {"life_years", p.life_years},
              {"cost_of_capital", p.cost_of_capital},
              {"power", {{"it_w_per_chip", t.it_power_w}, {"all_in_w_per_chip", t.all_in_power_w}, {"pue", p.pue},
                         {"source", t.power_source}}},
              {"components_usd_per_hour",
               {{"capital", t.capex_usd_per_hour}, {"energy", t.energy_usd_per_hour},
                {"colocation", t.colocation_usd_per_hour}, {"other_opex", t.opex_usd_per_hour}}},
              {"shares",
               {{"capital", share(t.capex_usd_per_hour)}, {"energy", share(t.energy_usd_per_hour)},
                {"colocation", share(t.colocation_usd_per_hour)}, {"other_opex", share(t.opex_usd_per_hour)},
                {"rental", t.mode == "rental" ? 1.0 : 0.0}}},
              {"price_source", t.price_source}};
}

Json token_cost_json(const economics::TokenCost& c, const economics::Tco& t) {
  return Json{{"pricing", t.mode},
              {"usd_per_chip_hour", t.usd_per_chip_hour},
              {"usd_per_mtok_total", c.usd_per_mtok_total},
              {"usd_per_mtok_input", c.usd_per_mtok_input},
              {"usd_per_mtok_output", c.usd_per_mtok_output},
              {"output_tok_s_per_mw", c.output_tok_s_per_mw},
              {"total_tok_s_per_mw", c.total_tok_s_per_mw},
              {"joules_per_output_token", c.joules_per_output_token},
              {"joules_per_token", c.joules_per_token},
              {"all_in_power_w_per_chip", t.all_in_power_w}};
}

Json provenance_json(const hardware::SystemSpec& s, const cost::Efficiency& e) {
  const auto& p = e.provenance;
  Json eff{{"status", std::string(to_string(p.status))},
           {"family", s.family},
           {"values_from", e.family},
           {"file", e.file},
           {"calibration_rows", p.rows},
           {"cv_median_ape_pct", p.cv_median_ape_pct >= 0 ? Json(p.cv_median_ape_pct) : Json(nullptr)},
           {"at_bound", p.at_bound},
           {"summary", p.summary()}};
  if (p.status == cost::EfficiencyStatus::inherited) {
    eff["inherited_from"] = p.from_family;
    eff["inherited_status"] = std::string(to_string(p.from_status));
    eff["reason"] = p.reason;
  }
  Json sw{{"engine", p.software_engine.empty() ? Json(nullptr) : Json(p.software_engine)},
          {"calibration_rows", p.software_rows},
          {"cv_median_ape_pct", p.software_cv_ape_pct >= 0 ? Json(p.software_cv_ape_pct) : Json(nullptr)},
          {"summary", p.software_summary()}};
  return Json{{"efficiency", eff}, {"software", sw}, {"hardware_status", std::string(to_string(s.status))}};
}

std::string provenance_text(const hardware::SystemSpec& s, const cost::Efficiency& e) {
  return e.provenance.summary() + "; " + std::string(to_string(s.status));
}

std::string ProvenanceColumn::cell(const hardware::SystemSpec& s) {
  const auto& e = table_.for_family(s.family);
  const bool mark = !e.provenance.is_calibrated();
  marked_ = marked_ || mark;
  return (mark ? "* " : "") + provenance_text(s, e);
}

std::string ProvenanceColumn::footnote() const {
  return marked_ ? "* not calibrated against this system's own measurements: its efficiencies are inherited, pooled across families or "
                   "defaults, so its rank is less certain than a calibrated neighbour's.\n"
                 : "";
}

}  // namespace tf::report
