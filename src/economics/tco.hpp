#pragma once
// Cost of ownership per chip-hour, cost per token, tokens per MW and the industry capex test.
// Formulas (shared reference formats-and-economics.md 4.1, InferenceX, Epoch, SemiAnalysis):
//   CRF(r, n)        = r (1+r)^n / ((1+r)^n - 1)            (1/n when r = 0)
//   capex per chip   = price x server_overhead x network_overhead (system-scope prices skip the server factor)
//   $/chip-hour      = capex x CRF / 8760 + energy + colocation + other opex, per hour
//   energy per hour  = all-in kW x average_power_fraction x $/kWh
//   $/Mtok           = ($/chip-hour / utilisation) / (tokens/s per chip x 3600) x 1e6
//   tokens/s per MW  = tokens/s / (all-in W / 1e6);  J/token = all-in W / tokens/s
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hardware/system.hpp"

namespace tf::economics {

struct EconomicsParams {
  std::string name;
  std::string file;
  double life_years = 0;
  double cost_of_capital = 0;
  double server_overhead = 1;
  double network_overhead = 1;
  double server_power_multiplier = 1;
  double pue = 1;
  double electricity_usd_per_kwh = 0;
  double average_power_fraction = 1;
  double utilization = 1;
  double colocation_usd_per_kw_month = 0;
  double opex_fraction_per_year = 0;
  double nodes_per_rack = 1;
  double host_core_power_w = 0;  // IT power of one busy host CPU core (agent tool calls), W
  // Throws DiagnosticError naming the parameter when a value is impossible.
  void validate() const;
};

// Loads a preset file (strict keys, every value sourced).
EconomicsParams load_economics(const std::filesystem::path& path);
// `name_or_path`: a preset name in `dir` ("default", "fleet") or a YAML path.
EconomicsParams resolve_economics(const std::filesystem::path& dir, const std::string& name_or_path);

// Per-system overrides from flags.
struct TcoOverrides {
  std::optional<double> capex_usd_per_chip;
  std::optional<double> usd_per_chip_hour;  // rent: skip the ownership build-up
  std::optional<double> all_in_power_w;  // IT power per chip (before PUE)
  // One pricing basis per comparison: "owned" (capex build-up) or "rental" (chip-hour price);
  // empty: owned when the system has a capex, else its rental price (single-system commands).
  // A system without a price on the basis has no cost (never the other basis silently).
  std::string price_basis;
};

// Facility power per chip (IT x PUE) and where it came from, or nullopt when the catalog has
// neither an all-in figure nor a TDP and no override is given. Needs no price.
struct Power {
  double it_w = 0;
  double facility_w = 0;
  std::string source;
};
std::optional<Power> facility_power(const hardware::SystemSpec& s, const EconomicsParams& p, const TcoOverrides& o = {});

struct Tco {
  std::string system_id;
  std::string mode;                 // "owned" or "rental"
  double chip_price_usd = 0;        // as listed (0 when renting)
  double capex_usd_per_chip = 0;    // with server and network overheads
  double capital_recovery_factor = 0;
  double capex_usd_per_hour = 0;
  double energy_usd_per_hour = 0;
  double colocation_usd_per_hour = 0;
  double opex_usd_per_hour = 0;
  double usd_per_chip_hour = 0;     // cost of owning (or renting) a chip for an hour
  double usd_per_busy_chip_hour = 0;  // divided by utilisation: what serving tokens costs
  double it_power_w = 0;            // IT power per chip: chip + host share + network share
  double all_in_power_w = 0;        // facility power per chip (IT x PUE): what tokens per MW divide by
  std::string power_source;
  std::string price_source;
};

double capital_recovery_factor(double rate, double years);

// Throws DiagnosticError when the system has no usable price or power data and no override.
Tco compute_tco(const hardware::SystemSpec& s, const EconomicsParams& p, const TcoOverrides& o = {});
// Like compute_tco, but nullopt instead of an error when data is missing.
std::optional<Tco> try_compute_tco(const hardware::SystemSpec& s, const EconomicsParams& p, const TcoOverrides& o = {});

double usd_per_mtok(double usd_per_chip_hour, double tok_s_per_chip);
double tok_s_per_mw(double tok_s, double power_w);
double joules_per_token(double power_w, double tok_s);

struct TokenCost {
  double usd_per_mtok_total = 0;   // over input + output tokens
  double usd_per_mtok_input = 0;   // prefill time's share of the cost over input tokens
  double usd_per_mtok_output = 0;  // decode time's share over output tokens
  double output_tok_s_per_mw = 0;
  double total_tok_s_per_mw = 0;
  double joules_per_output_token = 0;
  double joules_per_token = 0;     // over input + output tokens
};

// Attributes a chip's cost to input and output tokens by the share of time spent on prefill.
TokenCost token_cost(const Tco& t, double output_tok_s_per_chip, double input_tok_s_per_chip, double prefill_time_share);

// The capex test: ARR x (1 - gross margin) = yearly cost of goods; over a depreciation life it
// pays for that many years of infrastructure.
double supportable_infrastructure_usd(double arr_usd, double gross_margin, double depreciation_years);

}  // namespace tf::economics
