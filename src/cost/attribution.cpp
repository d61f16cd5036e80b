#include "cost/attribution.hpp"

#include <algorithm>

namespace tf::cost {

double prefill_time_share(const StepCostModel& model, const Workload& w, double mixed_step_time_s) {
  if (!(mixed_step_time_s > 0)) return 0;
  Batch decode_only;
  decode_only.decode_seqs = w.concurrency / model.deployment().dp;
  decode_only.decode_context = w.isl + w.osl / 2;
  const double t = model.step(decode_only).time_s;
  return std::clamp(1.0 - t / mixed_step_time_s, 0.0, 1.0);
}

}  // namespace tf::cost
