#include "economics/tco.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "core/diagnostic.hpp"
#include "io/yaml_reader.hpp"

namespace tf::economics {
namespace {

constexpr double kHoursPerYear = 8760.0;

const std::vector<std::string> kKeys{"name", "description", "life_years", "cost_of_capital", "server_overhead",
                                     "network_overhead", "server_power_multiplier", "pue", "electricity_price",
                                     "average_power_fraction", "utilization", "colocation_price",
                                     "opex_fraction_per_year", "nodes_per_rack", "host_core_power"};

io::YamlNode value_node(const io::YamlNode& root, const char* key) { return root.required(key).sourced_value(); }

}  // namespace

void EconomicsParams::validate() const {
  auto bad = [](const char* what, double v, const char* valid) {
    fail(fmt::format("{} = {} is impossible", what, v), valid);
  };
  if (!(life_years > 0)) bad("life_years", life_years, "the economic life must be > 0 years");
  if (!(cost_of_capital >= 0 && cost_of_capital < 1)) bad("cost_of_capital", cost_of_capital, "a yearly rate in [0, 1)");
  if (!(server_overhead >= 1)) bad("server_overhead", server_overhead, "a multiplier >= 1");
  if (!(network_overhead >= 1)) bad("network_overhead", network_overhead, "a multiplier >= 1");
  if (!(server_power_multiplier >= 1)) bad("server_power_multiplier", server_power_multiplier, "a multiplier >= 1");
  if (!(pue >= 1)) bad("pue", pue, "PUE is >= 1");
  if (!(electricity_usd_per_kwh >= 0)) bad("electricity_price", electricity_usd_per_kwh, "a price >= 0 USD/kWh");
  if (!(average_power_fraction > 0 && average_power_fraction <= 1))
    bad("average_power_fraction", average_power_fraction, "a fraction in (0, 1]");
  if (!(utilization > 0 && utilization <= 1)) bad("utilization", utilization, "a fraction in (0, 1]");
  if (!(colocation_usd_per_kw_month >= 0)) bad("colocation_price", colocation_usd_per_kw_month, "a price >= 0");
  if (!(opex_fraction_per_year >= 0 && opex_fraction_per_year < 1))
    bad("opex_fraction_per_year", opex_fraction_per_year, "a fraction of capex per year in [0, 1)");
  if (!(nodes_per_rack >= 1)) bad("nodes_per_rack", nodes_per_rack, ">= 1");
  if (!(host_core_power_w >= 0 && host_core_power_w < 1e4))
    bad("host_core_power", host_core_power_w, "the power of one busy CPU core, in [0, 10 kW)");
}

EconomicsParams load_economics(const std::filesystem::path& path) {
  const auto root = io::load_yaml_file(path);
  root.expect_keys(kKeys);
  EconomicsParams p;
  p.file = path.string();
  p.name = root.required("name").as_string();
  auto num = [&](const char* k) { return value_node(root, k).as_double(); };
  auto qty = [&](const char* k, Dimension d) { return value_node(root, k).as_quantity(d); };
  p.life_years = num("life_years");
  p.cost_of_capital = num("cost_of_capital");
  p.server_overhead = num("server_overhead");
  p.network_overhead = num("network_overhead");
  p.server_power_multiplier = num("server_power_multiplier");
  p.pue = num("pue");
  p.electricity_usd_per_kwh = qty("electricity_price", Dimension::usd_per_kwh);
  p.average_power_fraction = num("average_power_fraction");
  p.utilization = num("utilization");
  p.colocation_usd_per_kw_month = qty("colocation_price", Dimension::usd_per_kw_month);
  p.opex_fraction_per_year = num("opex_fraction_per_year");
  p.nodes_per_rack = num("nodes_per_rack");
  p.host_core_power_w = qty("host_core_power", Dimension::watts);
  try {
    p.validate();
  } catch (const DiagnosticError& e) {
    Diagnostic d = e.diagnostic();
    d.file = path.string();
    throw DiagnosticError(d);
  }
  return p;
}

EconomicsParams resolve_economics(const std::filesystem::path& dir, const std::string& name) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(name, ec)) return load_economics(name);
  const auto p = dir / (name + ".yaml");
  if (std::filesystem::is_regular_file(p, ec)) return load_economics(p);
  std::vector<std::string> names;
  if (std::filesystem::is_directory(dir, ec)) {
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".yaml") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  fail(fmt::format("unknown economics preset '{}'", name), "presets: " + join(names) + "; or pass a YAML path");
}

double capital_recovery_factor(double r, double n) {
  if (!(n > 0)) fail(fmt::format("economic life {} years is impossible", n), "must be > 0");
  if (r == 0) return 1.0 / n;
  const double g = std::pow(1 + r, n);
  return r * g / (g - 1);
}

std::optional<Power> facility_power(const hardware::SystemSpec& s, const EconomicsParams& p, const TcoOverrides& o) {
  // One meaning of power: IT power per chip (chip + its share of host and network) is the
  // catalog's all-in figure, else chip TDP x server multiplier; facility power = IT x PUE,
  // applied once, here.
  Power w;
  if (o.all_in_power_w) {
    if (!(*o.all_in_power_w > 0) || !std::isfinite(*o.all_in_power_w)) fail("all-in power per chip must be > 0 W");
    w.it_w = *o.all_in_power_w;
    w.source = fmt::format("override (IT power) x PUE {}", p.pue);
  } else if (s.all_in_power_w_per_chip) {
    w.it_w = s.all_in_power_w_per_chip->value;
    w.source = fmt::format("catalog all-in IT power per chip x PUE {}: {}", p.pue, s.all_in_power_w_per_chip->source);
  } else if (s.chip_power_w) {
    w.it_w = s.chip_power_w->value * p.server_power_multiplier;
    w.source = fmt::format("chip TDP {:.0f} W x server multiplier {} x PUE {}", s.chip_power_w->value,
                           p.server_power_multiplier, p.pue);
  } else {
    return std::nullopt;
  }
  w.facility_w = w.it_w * p.pue;
  return w;
}

std::optional<Tco> try_compute_tco(const hardware::SystemSpec& s, const EconomicsParams& p, const TcoOverrides& o) {
  Tco t;
  t.system_id = s.id;
  const auto power = facility_power(s, p, o);
  if (!power) return std::nullopt;
  t.it_power_w = power->it_w;
  t.all_in_power_w = power->facility_w;
  t.power_source = power->source;
  if (!o.price_basis.empty() && o.price_basis != "owned" && o.price_basis != "rental")
    fail(fmt::format("unknown price basis '{}'", o.price_basis), "valid: owned, rental");
  const double kw = t.all_in_power_w / 1e3;
  t.energy_usd_per_hour = kw * p.average_power_fraction * p.electricity_usd_per_kwh;
  t.colocation_usd_per_hour = kw * p.colocation_usd_per_kw_month * 12 / kHoursPerYear;

  std::optional<double> rent;
  if (o.price_basis == "rental") {
    if (o.usd_per_chip_hour) rent = o.usd_per_chip_hour;
    else if (s.usd_per_chip_hour) rent = s.usd_per_chip_hour->value;
    else return std::nullopt;  // no rental price: no cost on this basis
  } else if (o.price_basis.empty()) {
    rent = o.usd_per_chip_hour ? o.usd_per_chip_hour
           : (!o.capex_usd_per_chip && !s.capex_usd_per_chip && s.usd_per_chip_hour)
               ? std::optional<double>(s.usd_per_chip_hour->value)
               : std::nullopt;
  } else if (o.usd_per_chip_hour) {
    fail("--usd-per-chip-hour is a rental price", "use --price-basis rental with it, or --capex-usd-per-chip");
  }
  if (rent) {
    if (!(*rent > 0)) fail(fmt::format("price {} USD per chip-hour is impossible", *rent), "must be > 0");
    t.mode = "rental";
    t.usd_per_chip_hour = *rent;  // a rental price includes power and facility
    t.energy_usd_per_hour = t.colocation_usd_per_hour = 0;
    t.price_source = o.usd_per_chip_hour ? "override" : "catalog rental price: " + s.usd_per_chip_hour->source;
  } else {
    const std::optional<double> price =
        o.capex_usd_per_chip ? o.capex_usd_per_chip
                             : (s.capex_usd_per_chip ? std::optional<double>(s.capex_usd_per_chip->value) : std::nullopt);
    if (!price) return std::nullopt;
    if (!(*price > 0)) fail(fmt::format("capex {} USD per chip is impossible", *price), "must be > 0");
    t.mode = "owned";
    t.chip_price_usd = *price;
    const bool system_scope = !o.capex_usd_per_chip && s.capex_includes_system;
    t.capex_usd_per_chip = *price * (system_scope ? 1.0 : p.server_overhead) * p.network_overhead;
    t.capital_recovery_factor = capital_recovery_factor(p.cost_of_capital, p.life_years);
    t.capex_usd_per_hour = t.capex_usd_per_chip * t.capital_recovery_factor / kHoursPerYear;
    t.opex_usd_per_hour = t.capex_usd_per_chip * p.opex_fraction_per_year / kHoursPerYear;
    t.usd_per_chip_hour = t.capex_usd_per_hour + t.energy_usd_per_hour + t.colocation_usd_per_hour + t.opex_usd_per_hour;
    t.price_source = o.capex_usd_per_chip ? "override" : "catalog capex: " + s.capex_usd_per_chip->source;
  }
  t.usd_per_busy_chip_hour = t.usd_per_chip_hour / p.utilization;
  return t;
}

Tco compute_tco(const hardware::SystemSpec& s, const EconomicsParams& p, const TcoOverrides& o) {
  p.validate();
  if (auto t = try_compute_tco(s, p, o)) return *t;
  const bool has_power = o.all_in_power_w || s.all_in_power_w_per_chip || s.chip_power_w;
  const std::string what = o.price_basis == "rental" ? "rental price"
                           : o.price_basis == "owned" ? "purchase price (capex)"
                                                      : "price (capex or rental)";
  fail(fmt::format("{} has no {} in the catalog", s.id, has_power ? what : "power figure"),
       has_power ? (o.price_basis == "rental" ? "pass --usd-per-chip-hour" : "pass --capex-usd-per-chip or --usd-per-chip-hour")
                 : "pass --all-in-power-w");
}

double usd_per_mtok(double usd_per_chip_hour, double tok_s_per_chip) {
  return usd_per_chip_hour / (tok_s_per_chip * 3600.0) * 1e6;
}

double tok_s_per_mw(double tok_s, double power_w) { return tok_s / (power_w / 1e6); }

double joules_per_token(double power_w, double tok_s) { return power_w / tok_s; }

TokenCost token_cost(const Tco& t, double out, double in, double prefill_share) {
  TokenCost c;
  const double usd_per_s = t.usd_per_busy_chip_hour / 3600.0;
  const double share = std::clamp(prefill_share, 0.0, 1.0);
  c.usd_per_mtok_total = usd_per_mtok(t.usd_per_busy_chip_hour, out + in);
  c.usd_per_mtok_input = in > 0 ? usd_per_s * share / in * 1e6 : 0;
  c.usd_per_mtok_output = out > 0 ? usd_per_s * (1 - share) / out * 1e6 : 0;
  c.output_tok_s_per_mw = tok_s_per_mw(out, t.all_in_power_w);
  c.total_tok_s_per_mw = tok_s_per_mw(out + in, t.all_in_power_w);
  c.joules_per_output_token = joules_per_token(t.all_in_power_w, out);
  c.joules_per_token = joules_per_token(t.all_in_power_w, out + in);
  return c;
}

double supportable_infrastructure_usd(double arr, double gm, double years) {
  if (!(arr >= 0)) fail(fmt::format("ARR {} USD is impossible", arr), "must be >= 0");
  if (!(gm >= 0 && gm < 1)) fail(fmt::format("gross margin {} is impossible", gm), "a fraction in [0, 1)");
  if (!(years > 0)) fail(fmt::format("depreciation over {} years is impossible", years), "must be > 0");
  return arr * (1 - gm) * years;
}

}  // namespace tf::economics
