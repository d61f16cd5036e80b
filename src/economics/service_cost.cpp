#include "economics/service_cost.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/diagnostic.hpp"

namespace tf::economics {

ServiceCost service_cost(const std::vector<PoolCost>& pools, double output_tok_s, double input_tok_s) {
  for (const auto& [v, what] : {std::pair{output_tok_s, "output"}, std::pair{input_tok_s, "input"}})
    if (!(v >= 0) || !std::isfinite(v)) fail(fmt::format("service cost: {} tokens/s must be finite and >= 0, got {}", what, v));
  ServiceCost c;
  double usd = 0, watts = 0;
  bool priced = true, powered = true;
  for (const auto& p : pools) {
    c.chips += p.chips;
    if (p.tco) {
      usd += p.chips * p.tco->usd_per_busy_chip_hour;
    } else {
      priced = false;
      c.missing.push_back(fmt::format("{} pool ({}): no price on the basis", p.role, p.system_id));
    }
    if (p.power) {
      watts += p.chips * p.power->facility_w;
    } else {
      powered = false;
      c.missing.push_back(fmt::format("{} pool ({}): no power figure", p.role, p.system_id));
    }
  }
  if (priced) c.usd_per_hour = usd;
  if (powered) c.facility_power_w = watts;
  const double total = output_tok_s + input_tok_s;
  if (output_tok_s > 0) {
    if (priced) {
      c.usd_per_mtok_output = usd_per_mtok(usd, output_tok_s);
      c.usd_per_mtok_total = usd_per_mtok(usd, total);
      if (pools.size() == 2 && pools[0].role == "prefill" && pools[1].role == "decode") {
        if (input_tok_s > 0) c.usd_per_mtok_input_by_pool = usd_per_mtok(pools[0].chips * pools[0].tco->usd_per_busy_chip_hour, input_tok_s);
        c.usd_per_mtok_output_by_pool = usd_per_mtok(pools[1].chips * pools[1].tco->usd_per_busy_chip_hour, output_tok_s);
      }
    }
    if (powered && watts > 0) {
      c.output_tok_s_per_mw = tok_s_per_mw(output_tok_s, watts);
      c.total_tok_s_per_mw = tok_s_per_mw(total, watts);
      c.joules_per_output_token = joules_per_token(watts, output_tok_s);
    }
  }
  return c;
}

ServiceRanking rank_services(const std::vector<ServiceOption>& options) {
  ServiceRanking r;
  r.priced = true;
  for (const auto& o : options)
    if (o.rate->found && !o.cost.usd_per_mtok_output) r.priced = false;
  r.best = options.size();
  for (size_t k = 0; k < options.size(); ++k) {
    if (!options[k].rate->found) continue;
    const bool better = r.best == options.size() ||
                        (r.priced ? *options[k].cost.usd_per_mtok_output < *options[r.best].cost.usd_per_mtok_output
                                  : options[k].output_tok_s_per_chip > options[r.best].output_tok_s_per_chip);
    if (better) r.best = k;
  }
  r.ranked_by = r.priced ? "USD per Mtok output over the steady window at the largest rate meeting the limits"
                         : "steady-window output tok/s per chip at the largest rate meeting the limits; not every "
                           "service is priced on this basis";
  return r;
}

ToolEnergy tool_energy(const serving::Result& r, const EconomicsParams& p, std::optional<double> service_facility_power_w) {
  ToolEnergy e;
  e.facility_j = r.tools.busy_s * p.host_core_power_w * p.pue;
  if (service_facility_power_w && *service_facility_power_w > 0 && r.duration_s > 0)
    e.share_of_service = e.facility_j / (*service_facility_power_w * r.duration_s);
  return e;
}

}  // namespace tf::economics
