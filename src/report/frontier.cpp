#include "report/frontier.hpp"

#include <cmath>

namespace tf::report {

FrontierResult compute_frontier(const model::ModelSpec& model, const cost::EfficiencyTable& efficiency,
                                FrontierQuery query, const frontier::Progress& progress) {
  FrontierResult r;
  r.model = &model;
  r.systems = frontier::sweep(model, query.systems, efficiency, query.sweep, std::max(1, query.threads), progress);
  for (const auto* s : query.systems) {
    r.economics[s->id] = {economics::try_compute_tco(*s, query.economics, query.overrides),
                          economics::facility_power(*s, query.economics, query.overrides)};
  }
  r.query = std::move(query);
  return r;
}

double per_mw(const EconomicsMap& e, const hardware::SystemSpec& s, double tok_s_per_chip) {
  const auto& w = e.at(s.id).power;
  return w ? economics::tok_s_per_mw(tok_s_per_chip, w->facility_w) : NAN;
}

double per_usd(const EconomicsMap& e, const hardware::SystemSpec& s, double tok_s_per_chip) {
  const auto& c = e.at(s.id).tco;
  return c ? tok_s_per_chip * 3600 / c->usd_per_busy_chip_hour : NAN;
}

const frontier::Point* best_at(const frontier::SystemFrontier& f, double tok_s_per_user) {
  const frontier::Point* best = nullptr;
  for (const auto& p : f.points)
    if (p.output_tok_s_per_user >= tok_s_per_user && (!best || p.output_tok_s_per_chip > best->output_tok_s_per_chip))
      best = &p;
  return best;
}

namespace {
Json number_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }
}  // namespace

Json frontier_point_json(const frontier::Point& p, const EconomicsMap& e) {
  const auto& s = *p.config.system;
  Json j{{"output_tok_s_per_user", p.output_tok_s_per_user},
         {"output_tok_s_per_chip", p.output_tok_s_per_chip},
         {"output_tok_s_per_mw", number_or_null(per_mw(e, s, p.output_tok_s_per_chip))},
         {"output_tokens_per_usd", number_or_null(per_usd(e, s, p.output_tok_s_per_chip))},
         {"total_tok_s_per_chip", p.total_tok_s_per_chip},
         {"concurrency", p.concurrency},
         {"ttft_ms", p.ttft_s * 1e3},
         {"tpot_ms", p.tpot_s * 1e3},
         {"bound_by", std::string(to_string(p.bound_by))},
         {"config", deployment_json(p.config)}};
  // The point is bound by a hardware term its family's calibration left at a bound of its range.
  const auto at = p.config.efficiency ? cost::term_at_bound(*p.config.efficiency, p.bound_by) : std::string();
  j["bound_term_at_limit"] = at.empty() ? Json(nullptr) : Json(at);
  if (const auto& t = e.at(s.id).tco) {
    const auto c = economics::token_cost(*t, p.output_tok_s_per_chip, p.total_tok_s_per_chip - p.output_tok_s_per_chip,
                                         p.prefill_time_share);
    j["pricing"] = t->mode;
    j["usd_per_mtok_total"] = c.usd_per_mtok_total;
    j["usd_per_mtok_input"] = c.usd_per_mtok_input;
    j["usd_per_mtok_output"] = c.usd_per_mtok_output;
  } else {
    j["pricing"] = nullptr;
    j["usd_per_mtok_total"] = nullptr;
  }
  if (const auto& w = e.at(s.id).power) j["joules_per_output_token"] = w->facility_w / p.output_tok_s_per_chip;
  else j["joules_per_output_token"] = nullptr;
  return j;
}

Json frontier_document(const FrontierResult& r, const cost::EfficiencyTable& efficiency) {
  const auto& q = r.query;
  Json j{{"schema", "tokenfactory.frontier/1"},
         {"model", r.model->id},
         {"workload", {{"isl", q.sweep.isl}, {"osl", q.sweep.osl}}},
         {"precisions", q.precision_names},
         {"economics", q.economics.name},
         {"price_basis", q.overrides.price_basis},
         {"pue", q.economics.pue},
         {"systems", Json::array()}};
  for (const auto& f : r.systems) {
    Json pts = Json::array();
    for (const auto& p : f.points) pts.push_back(frontier_point_json(p, r.economics));
    Json ceil = Json::array();
    for (const auto& c : f.ceiling) {
      const auto& s = *f.system;
      ceil.push_back({{"concurrency", c.concurrency},
                      {"output_tok_s_per_user", c.output_tok_s_per_user},
                      {"output_tok_s_per_chip", c.output_tok_s_per_chip},
                      {"output_tok_s_per_mw", number_or_null(per_mw(r.economics, s, c.output_tok_s_per_chip))},
                      {"output_tokens_per_usd", number_or_null(per_usd(r.economics, s, c.output_tok_s_per_chip))}});
    }
    j["systems"].push_back({{"hardware", f.system->id},
                            {"vendor", f.system->vendor},
                            {"provenance", provenance_json(*f.system, efficiency.for_family(f.system->family))},
                            {"points", pts},
                            {"ceiling", ceil},
                            {"ceiling_max_output_tok_s_per_user", f.ceiling_max_tok_s_per_user},
                            {"layouts", f.layouts},
                            {"evaluations", f.evaluations},
                            {"note", f.note},
                            {"layouts_left_out",
                             f.left_out_layouts > 0
                                 ? Json{{"count", f.left_out_layouts}, {"reason", f.left_out_reason}}
                                 : Json(nullptr)}});
  }
  return j;
}

}  // namespace tf::report
