#pragma once
// The capex spend test: what a capex budget spent on one system earns serving a model at an
// interactivity, at given token prices (chips bought, tokens and revenue per year, running cost,
// depreciation, gross margin, payback, power).
#include "economics/tco.hpp"
#include "frontier/sweep.hpp"

namespace tf::economics {

struct CapexSpendSpec {
  double capex_usd = 0;
  double price_input_usd_per_mtok = 0;
  double price_output_usd_per_mtok = 0;
  frontier::SweepOptions sweep;  // isl, osl, min_tok_s_per_user (the interactivity served), precisions
};

struct CapexSpend {
  Tco tco;                  // owned
  frontier::Point best;     // the highest-throughput point at the interactivity
  double chips = 0;         // floor(capex / capex per chip)
  double output_tokens_per_year = 0, input_tokens_per_year = 0;
  double revenue_usd_per_year = 0;
  double running_cost_usd_per_year = 0;  // energy, colocation and other opex of every chip, all year
  double depreciation_usd_per_year = 0;  // capex over the preset's life
  double gross_margin = 0;               // (revenue - running - depreciation) / revenue (0 without revenue)
  double payback_years = 0;              // capex / (revenue - running); infinite when that is not positive
  double facility_power_w = 0, it_power_w = 0;
};

// DiagnosticError when the system has no purchase price (rental only), when no point reaches the
// interactivity, or for impossible inputs (capex <= 0, negative prices).
CapexSpend capex_spend(const model::ModelSpec& model, const hardware::SystemSpec& system,
                       const cost::Efficiency& efficiency, const EconomicsParams& params, const TcoOverrides& overrides,
                       const CapexSpendSpec& spec);

}  // namespace tf::economics
