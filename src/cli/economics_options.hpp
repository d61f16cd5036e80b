#pragma once
// Economics flags shared by tco, estimate, frontier, plan and capex: a preset plus overrides.
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "cli/context.hpp"
#include "economics/tco.hpp"

namespace tf::cli {

struct EconomicsOptions {
  std::string preset = "default";
  std::optional<double> life_years, cost_of_capital, pue, electricity_usd_per_kwh, utilization,
      colocation_usd_per_kw_month, opex_fraction_per_year, server_overhead;
  std::optional<double> capex_usd_per_chip, usd_per_chip_hour, all_in_power_w;
  std::string price_basis;  // "", owned, rental

  // `with_prices`: also the per-chip price and power overrides; `with_basis`: --price-basis
  // (comparisons across systems: one basis for all, default owned).
  void add(CLI::App* cmd, bool with_prices, bool with_basis = false);
  [[nodiscard]] economics::EconomicsParams params(Context& ctx) const;
  [[nodiscard]] economics::TcoOverrides overrides() const;
};

}  // namespace tf::cli
