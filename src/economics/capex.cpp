#include "economics/capex.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/diagnostic.hpp"

namespace tf::economics {

CapexSpend capex_spend(const model::ModelSpec& model, const hardware::SystemSpec& s, const cost::Efficiency& efficiency,
                       const EconomicsParams& p, const TcoOverrides& overrides, const CapexSpendSpec& spec) {
  if (!(spec.capex_usd > 0)) fail("capex_usd must be > 0");
  if (!(spec.price_input_usd_per_mtok >= 0) || !(spec.price_output_usd_per_mtok >= 0))
    fail("token prices must be >= 0 USD per million tokens");
  CapexSpend c;
  c.tco = compute_tco(s, p, overrides);
  if (c.tco.mode != "owned")
    fail(fmt::format("{} has a rental price only: capex does not apply", s.id), "pass --capex-usd-per-chip");
  const auto f = frontier::sweep_system(model, s, efficiency, spec.sweep);
  const frontier::Point* best = nullptr;
  for (const auto& pt : f.points)
    if (!best || pt.output_tok_s_per_chip > best->output_tok_s_per_chip) best = &pt;
  if (!best)
    fail(fmt::format("{} cannot serve {} at {:.1f} tok/s per user", s.id, model.id, spec.sweep.min_tok_s_per_user), f.note);
  c.best = *best;
  const auto& t = c.tco;
  c.chips = std::floor(spec.capex_usd / t.capex_usd_per_chip);
  const double hours = 8760 * p.utilization;
  c.output_tokens_per_year = c.chips * best->output_tok_s_per_chip * 3600 * hours;
  c.input_tokens_per_year = c.output_tokens_per_year * spec.sweep.isl / spec.sweep.osl;
  c.revenue_usd_per_year = c.output_tokens_per_year / 1e6 * spec.price_output_usd_per_mtok +
                           c.input_tokens_per_year / 1e6 * spec.price_input_usd_per_mtok;
  c.running_cost_usd_per_year = c.chips * (t.energy_usd_per_hour + t.colocation_usd_per_hour + t.opex_usd_per_hour) * 8760;
  c.depreciation_usd_per_year = c.chips * t.capex_usd_per_chip / p.life_years;
  const double gross_profit = c.revenue_usd_per_year - c.running_cost_usd_per_year - c.depreciation_usd_per_year;
  c.gross_margin = c.revenue_usd_per_year > 0 ? gross_profit / c.revenue_usd_per_year : 0.0;
  const double margin = c.revenue_usd_per_year - c.running_cost_usd_per_year;
  c.payback_years = margin > 0 ? c.chips * t.capex_usd_per_chip / margin : INFINITY;
  c.facility_power_w = c.chips * t.all_in_power_w;
  c.it_power_w = c.chips * t.it_power_w;
  return c;
}

}  // namespace tf::economics
