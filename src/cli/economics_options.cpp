#include "cli/economics_options.hpp"

namespace tf::cli {

void EconomicsOptions::add(CLI::App* cmd, bool with_prices, bool with_basis) {
  if (with_basis) {
    price_basis = "owned";
    cmd->add_option("--price-basis", price_basis,
                    "One pricing basis for every system compared: owned (capex build-up) or rental (public chip-hour "
                    "price); a system without a price on it shows no cost")
        ->check(CLI::IsMember({"owned", "rental"}))
        ->capture_default_str();
  }
  cmd->add_option("--economics", preset, "Economics preset name in data/economics (default, fleet, hyperscaler) or a YAML path")
      ->capture_default_str();
  cmd->add_option("--life-years", life_years, "Economic life of the hardware (years)");
  cmd->add_option("--cost-of-capital", cost_of_capital, "Yearly cost of capital for the capital recovery factor (fraction, e.g. 0.1)");
  cmd->add_option("--pue", pue, "Power usage effectiveness: facility power / IT power (>= 1)");
  cmd->add_option("--electricity-usd-per-kwh", electricity_usd_per_kwh, "Electricity price (USD per kWh)");
  cmd->add_option("--utilization", utilization, "Share of hours the fleet serves tokens, in (0, 1]; $/Mtok divides by it");
  cmd->add_option("--colocation-usd-per-kw-month", colocation_usd_per_kw_month, "Colocation price (USD per kW-month of facility power)");
  cmd->add_option("--opex-fraction", opex_fraction_per_year, "Other opex per year as a fraction of capex");
  cmd->add_option("--server-overhead", server_overhead, "Server cost / accelerator price (multiplier >= 1)");
  if (with_prices) {
    cmd->add_option("--capex-usd-per-chip", capex_usd_per_chip, "Purchase price per accelerator (USD), overriding the catalog");
    cmd->add_option("--usd-per-chip-hour", usd_per_chip_hour, "Rent instead of own: price per accelerator-hour (USD)");
    cmd->add_option("--all-in-power-w", all_in_power_w, "All-in IT power per accelerator (W: chip + host and network share, before PUE), overriding the catalog");
  }
}

economics::EconomicsParams EconomicsOptions::params(Context& ctx) const {
  auto p = economics::resolve_economics(ctx.data_dir() / "economics", preset);
  auto set = [](double& field, const std::optional<double>& v) {
    if (v) field = *v;
  };
  set(p.life_years, life_years);
  set(p.cost_of_capital, cost_of_capital);
  set(p.pue, pue);
  set(p.electricity_usd_per_kwh, electricity_usd_per_kwh);
  set(p.utilization, utilization);
  set(p.colocation_usd_per_kw_month, colocation_usd_per_kw_month);
  set(p.opex_fraction_per_year, opex_fraction_per_year);
  set(p.server_overhead, server_overhead);
  p.validate();
  return p;
}

economics::TcoOverrides EconomicsOptions::overrides() const {
  economics::TcoOverrides o;
  o.capex_usd_per_chip = capex_usd_per_chip;
  o.usd_per_chip_hour = usd_per_chip_hour;
  o.all_in_power_w = all_in_power_w;
  o.price_basis = price_basis;
  return o;
}

}  // namespace tf::cli
