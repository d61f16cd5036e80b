#include "report/generations.hpp"

namespace tf::report {

GenerationsReport compute_generations(const model::ModelSpec& model, const std::vector<economics::VendorLine>& lines,
                                      const hardware::Catalog& catalog, const cost::EfficiencyTable& efficiency,
                                      GenerationsQuery query) {
  GenerationsReport g;
  g.model = &model;
  g.result = economics::generations(model, lines, catalog, efficiency, query.tok_s_per_user, query.sweep,
                                    std::max(1, query.threads));
  // Cost and power of each row's best point, on one price basis for every system (a system
  // without a price on it has no cost; power alone gives tokens per MW).
  const double input_per_output = query.sweep.isl / query.sweep.osl;
  for (const auto& r : g.result.rows) {
    GenerationCost c;
    c.tco = economics::try_compute_tco(*r.system, query.economics, query.overrides);
    c.power = economics::facility_power(*r.system, query.economics, query.overrides);
    if (c.tco && r.output_tok_s_per_chip > 0)
      c.token_cost = economics::token_cost(*c.tco, r.output_tok_s_per_chip, r.output_tok_s_per_chip * input_per_output, 0);
    g.costs.push_back(std::move(c));
  }
  g.query = std::move(query);
  return g;
}

std::optional<double> GenerationsReport::tok_s_per_mw(size_t i) const {
  if (!costs[i].power || !(result.rows[i].output_tok_s_per_chip > 0)) return std::nullopt;
  return economics::tok_s_per_mw(result.rows[i].output_tok_s_per_chip, costs[i].power->facility_w);
}

std::optional<double> GenerationsReport::usd_per_mtok(size_t i) const {
  if (!costs[i].token_cost || !(costs[i].tco->usd_per_chip_hour > 0)) return std::nullopt;
  return costs[i].token_cost->usd_per_mtok_total;
}

namespace {
Json fit_json(const economics::LogLogFit& f) {
  return Json{{"slope", f.slope}, {"intercept", f.intercept}, {"r2", f.r2}, {"n", f.n}};
}
}  // namespace

Json generations_document(const GenerationsReport& g, const cost::EfficiencyTable& efficiency) {
  Json rows = Json::array();
  for (size_t i = 0; i < g.result.rows.size(); ++i) {
    const auto& r = g.result.rows[i];
    const auto mw = g.tok_s_per_mw(i), cost = g.usd_per_mtok(i);
    rows.push_back({{"line", r.line},
                    {"hardware", r.system->id},
                    {"hbm_capacity_bytes", r.hbm_capacity_bytes},
                    {"hbm_bandwidth_bytes_per_s", r.hbm_bandwidth_bytes_per_s},
                    {"capacity_x_bandwidth", r.capacity_x_bandwidth},
                    {"output_tok_s_per_chip", r.output_tok_s_per_chip},
                    {"output_tok_s_per_mw", mw ? Json(*mw) : Json(nullptr)},
                    {"usd_per_mtok_total", cost ? Json(*cost) : Json(nullptr)},
                    {"config", r.config},
                    {"note", r.note},
                    {"provenance", provenance_json(*r.system, efficiency.for_family(r.system->family))}});
  }
  Json per = Json::object();
  for (const auto& [name, f] : g.result.per_line) per[name] = fit_json(f);
  const auto& q = g.query;
  return Json{{"schema", "tokenfactory.generations/1"},
              {"model", g.model->id},
              {"tok_s_per_user", q.tok_s_per_user},
              {"workload", {{"isl", q.sweep.isl}, {"osl", q.sweep.osl}}},
              {"economics", q.economics.name},
              {"price_basis", q.overrides.price_basis},
              {"pue", q.economics.pue},
              {"rows", rows},
              {"fit", fit_json(g.result.fit)},
              {"fit_per_line", per}};
}

}  // namespace tf::report
