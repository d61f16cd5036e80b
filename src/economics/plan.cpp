#include "economics/plan.hpp"

#include <algorithm>

#include <cmath>
#include <limits>
#include <fmt/format.h>

#include "core/diagnostic.hpp"

namespace tf::economics {

namespace {

// Everything about a fleet that follows from its replica count.
void fill_fleet(FleetPlan& f, double units, const EconomicsParams& e, const PlanRequest& r) {
  const auto& s = *f.system;
  const auto& t = f.tco;
  const double unit_chips = f.point.config.chips;
  f.units = units;
  f.chips = f.units * unit_chips;
  f.output_tok_s = f.units * f.point.output_tok_s_per_chip * unit_chips;
  const double domain = s.scale_up_domain_chips.value;
  const double per_node = s.host.chips_per_node ? s.host.chips_per_node->value : std::min(domain, 8.0);
  f.nodes = std::ceil(f.chips / per_node);
  // Rack-scale systems (a scale-up domain of 16+ chips) are counted in domains; others in nodes.
  f.racks = domain >= 16 ? std::ceil(f.chips / domain) : std::ceil(f.nodes / e.nodes_per_rack);
  f.power_w = f.chips * t.all_in_power_w;
  f.hbm_bytes = f.chips * s.memory_capacity_bytes();
  f.capex_usd = f.chips * t.capex_usd_per_chip;
  const double running_per_hour = t.mode == "rental" ? t.usd_per_chip_hour
                                                     : t.energy_usd_per_hour + t.colocation_usd_per_hour + t.opex_usd_per_hour;
  f.opex_usd_per_year = f.chips * running_per_hour * 8760;
  // Cost of the whole fleet per busy hour over the tokens it serves (demand, or all it can do).
  const double served = r.demand_output_tok_s > 0 && !(r.power_cap_w || r.capex_budget_usd) ? r.demand_output_tok_s
                                                                                             : f.output_tok_s;
  f.usd_per_mtok = served > 0 ? f.chips * t.usd_per_busy_chip_hour / (served * 3600) * 1e6 : 0;
}

}  // namespace

FleetPlan size_fleet(const frontier::Point& p, const Tco& t, const EconomicsParams& e, const PlanRequest& r) {
  FleetPlan f;
  f.system = p.config.system;
  f.point = p;
  f.tco = t;
  const double unit_chips = p.config.chips;
  const double unit_tok_s = p.output_tok_s_per_chip * unit_chips;
  double units = 0;
  if (r.power_cap_w || r.capex_budget_usd) {
    double u = std::numeric_limits<double>::infinity();
    if (r.power_cap_w) u = std::min(u, std::floor(*r.power_cap_w / (t.all_in_power_w * unit_chips)));
    if (r.capex_budget_usd) {
      const double per_unit = t.capex_usd_per_chip * unit_chips;
      if (per_unit > 0) u = std::min(u, std::floor(*r.capex_budget_usd / per_unit));
    }
    units = std::isfinite(u) ? std::max(0.0, u) : 0;
  } else {
    units = std::ceil(r.demand_output_tok_s / unit_tok_s - 1e-9);
  }
  fill_fleet(f, units, e, r);
  return f;
}

FleetPlan with_units(const FleetPlan& f, double units, const EconomicsParams& e, const PlanRequest& r) {
  FleetPlan g = f;
  fill_fleet(g, units, e, r);
  return g;
}

bool better_plan(const FleetPlan& a, const FleetPlan& b, bool budget_mode) {
  if (budget_mode) {
    if (a.output_tok_s != b.output_tok_s) return a.output_tok_s > b.output_tok_s;
    return a.usd_per_mtok < b.usd_per_mtok;
  }
  if (a.usd_per_mtok != b.usd_per_mtok) return a.usd_per_mtok < b.usd_per_mtok;
  return a.chips < b.chips;
}

PlanResult plan(const model::ModelSpec& m, const std::vector<const hardware::SystemSpec*>& systems,
                const cost::EfficiencyTable& eff, const EconomicsParams& e, const PlanRequest& r,
                const TcoOverrides& o, int threads) {
  e.validate();
  const bool budget = r.power_cap_w.has_value() || r.capex_budget_usd.has_value();
  if (!budget && !(r.demand_output_tok_s > 0)) fail("the demand must be > 0 tokens/s", "pass --demand-output-tok-s or --demand-requests-s");
  if (r.power_cap_w && !(*r.power_cap_w > 0)) fail("the power cap must be > 0 MW");
  if (r.capex_budget_usd && !(*r.capex_budget_usd > 0)) fail("the capex budget must be > 0 USD");
  if (systems.empty()) fail("no candidate systems given");

  frontier::SweepOptions so;
  so.isl = r.isl;
  so.osl = r.osl;
  so.precisions = r.precisions;
  so.max_chips_per_replica = r.max_chips_per_replica;
  so.min_tok_s_per_user = r.slo.min_tok_s_per_user;
  so.max_ttft_s = r.slo.max_ttft_s;
  so.max_tpot_s = r.slo.max_tpot_s;
  so.keep_all = true;
  so.eplb = r.eplb;
  const auto sweeps = frontier::sweep(m, systems, eff, so, threads);
  // The fastest each system can go, ignoring the SLO (for the message when none meets it).
  frontier::SweepOptions fastest = so;
  fastest.min_tok_s_per_user = 0;
  fastest.max_ttft_s = fastest.max_tpot_s = 0;
  fastest.keep_all = false;

  PlanResult out;
  for (size_t i = 0; i < systems.size(); ++i) {
    const auto& s = *systems[i];
    SystemPlan sp;
    sp.system = &s;
    const auto tco = try_compute_tco(s, e, o);
    if (!tco) {
      sp.reason = !facility_power(s, e, o) ? "no power figure in the catalog"
                  : o.price_basis.empty()  ? "no price in the catalog"
                                           : fmt::format("no {} price in the catalog (price basis {})",
                                                         o.price_basis == "rental" ? "rental" : "purchase", o.price_basis);
    } else if (budget && tco->mode == "rental" && r.capex_budget_usd) {
      sp.reason = "priced by rental only: a capex budget does not apply";
    } else {
      for (const auto& p : sweeps[i].points) {
        auto f = size_fleet(p, *tco, e, r);
        if (budget && f.units < 1) continue;
        if (!sp.best || better_plan(f, *sp.best, budget)) sp.best = std::move(f);
      }
      if (!sp.best) sp.reason = sweeps[i].note.empty() ? "the budget buys less than one replica" : sweeps[i].note;
    }
    if (!sp.best) {
      const auto f = frontier::sweep_system(m, s, eff.for_family(s.family), fastest);
      for (const auto& p : f.points) sp.best_tok_s_per_user = std::max(sp.best_tok_s_per_user, p.output_tok_s_per_user);
    }
    if (sp.best && (!out.best || better_plan(*sp.best, *out.best, budget))) out.best = sp.best;
    out.systems.push_back(std::move(sp));
  }
  if (!out.best && !o.price_basis.empty() &&
      std::all_of(out.systems.begin(), out.systems.end(),
                  [](const SystemPlan& sp) { return sp.reason.rfind("no ", 0) == 0 && sp.reason.find("price") != std::string::npos; })) {
    fail(fmt::format("no candidate system has a {} price in the catalog", o.price_basis == "rental" ? "rental" : "purchase"),
         o.price_basis == "rental" ? "use --price-basis owned, or add usd_per_chip_hour to the hardware file"
                                   : "use --price-basis rental, or add price.capex_per_chip to the hardware file");
  }
  if (!out.best) {
    std::vector<std::string> lines;
    for (const auto& sp : out.systems) {
      lines.push_back(fmt::format("{}: {} (fastest {:.1f} tok/s per user)", sp.system->id, sp.reason,
                                  sp.best_tok_s_per_user));
    }
    fail(fmt::format("no candidate system can serve {} at the SLO (>= {:.1f} tok/s per user{}{})", m.id,
                     r.slo.min_tok_s_per_user,
                     r.slo.max_ttft_s > 0 ? fmt::format(", TTFT <= {:.0f} ms", r.slo.max_ttft_s * 1e3) : "",
                     r.slo.max_tpot_s > 0 ? fmt::format(", TPOT <= {:.1f} ms", r.slo.max_tpot_s * 1e3) : ""),
         "best each system can do: " + join(lines, "; "));
  }
  return out;
}

}  // namespace tf::economics
