#pragma once
// What a simulated service costs and draws: its pools' chips priced on one basis, over the
// tokens the run delivered (the steady window when there is one). A colocated service is one
// pool; a prefill/decode-disaggregated one two, whose costs attribute naturally: the prefill
// pool's to input tokens, the decode pool's to output tokens.
//   $/h          = sum over pools of chips x $/busy-chip-hour (utilisation applied, tco.hpp)
//   $/Mtok out   = $/h / (output tok/s x 3600) x 1e6: every cost carried by the output tokens
//   $/Mtok total = $/h over input + output tokens
//   tok/s per MW = tok/s / (sum of chips x facility W per chip / 1e6)
#include <optional>
#include <string>
#include <vector>

#include "serving/serving.hpp"

#include "economics/tco.hpp"

namespace tf::economics {

struct PoolCost {
  std::string role;            // "service", "prefill", "decode"
  std::string system_id;
  double chips = 0;
  std::optional<Tco> tco;      // unset: no price on the basis (power may still be known)
  std::optional<Power> power;  // unset: no power figure
};

struct ServiceCost {
  double chips = 0;
  std::optional<double> usd_per_hour;             // every pool priced
  std::optional<double> facility_power_w;         // every pool's power known
  std::optional<double> usd_per_mtok_output, usd_per_mtok_total;
  // Two pools: the prefill pool's cost over input tokens, the decode pool's over output tokens.
  std::optional<double> usd_per_mtok_input_by_pool, usd_per_mtok_output_by_pool;
  std::optional<double> output_tok_s_per_mw, total_tok_s_per_mw, joules_per_output_token;
  std::vector<std::string> missing;               // why a figure is absent (a pool without a price or power)
};

// DiagnosticError when a token rate is negative or non-finite. Zero output tokens leave the
// per-token figures unset.
ServiceCost service_cost(const std::vector<PoolCost>& pools, double output_tok_s, double input_tok_s);

// Agent tool calls' CPU energy over a run: their busy core-seconds x the IT power of a busy core
// x PUE (facility energy), and its share of the service's facility energy over the run (the
// accelerators' all-in power, which includes the hosts, x the run's length); the share is unset
// when the service's power is unknown. The share shows how much of the energy the CPU work is;
// it is already inside the all-in power, not added to it.
struct ToolEnergy {
  double facility_j = 0;
  std::optional<double> share_of_service;
};
ToolEnergy tool_energy(const serving::Result& r, const EconomicsParams& p, std::optional<double> service_facility_power_w);

// One way to serve a demand on a set of chips (simulate --find-split: colocated, or a split
// between a prefill and a decode pool), at the largest rate it sustains.
struct ServiceOption {
  std::string service;  // "colocated" or "disaggregated"
  double prefill_replicas = 0, decode_replicas = 0, chips = 0;
  const serving::MaxRate* rate = nullptr;
  ServiceCost cost;
  double output_tok_s_per_chip = 0;  // steady window at that rate (0 when none meets the limits)
};
struct ServiceRanking {
  size_t best = 0;      // index into the options; == size when none meets the limits
  bool priced = false;  // ranked by USD per Mtok output (every option that meets the limits is priced)
  std::string ranked_by;
};
// The best option: the lowest USD per Mtok output when every option that meets the limits is
// priced (pools of different systems cost different amounts per chip), else the most output
// tokens per chip; the first of equals.
ServiceRanking rank_services(const std::vector<ServiceOption>& options);

}  // namespace tf::economics
