#pragma once
// Splitting a steady-state step's time between prefill (input tokens) and decode (output tokens),
// for cost attribution ($/Mtok input vs output).
#include "cost/estimate.hpp"

namespace tf::cost {

// Share of the steady-state step spent on prefill work: 1 - decode-only step / mixed step.
double prefill_time_share(const StepCostModel& model, const Workload& w, double mixed_step_time_s);

}  // namespace tf::cost
