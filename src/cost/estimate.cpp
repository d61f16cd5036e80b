#include "cost/estimate.hpp"

#include <cmath>
#include <fmt/format.h>

#include "core/diagnostic.hpp"

namespace tf::cost {

std::vector<double> concurrency_grid(double max, int points_per_decade, double step) {
  std::vector<double> out;
  if (max < step) return out;
  const double ratio = std::pow(10.0, 1.0 / std::max(1, points_per_decade));
  double c = step;
  while (c < max) {
    const double snapped = std::round(c / step) * step;
    if (out.empty() || snapped > out.back()) out.push_back(snapped);
    c *= ratio;
  }
  const double top = std::floor(max / step) * step;
  if (out.empty() || top > out.back()) out.push_back(top);
  return out;
}

Ceiling compute_ceiling(const StepCostModel& model, double isl, double osl, int points_per_decade) {
  const auto& d = model.deployment();
  Ceiling c;
  const double per_replica = model.memory().weights_fit ? model.max_sequences(isl + osl) : 0;
  c.max_concurrency = per_replica * d.dp;
  const double ctx = isl + osl / 2;
  const double chips = d.chips_per_replica();
  if (per_replica < 1) return c;
  c.max_output_tok_s_per_user = 1.0 / model.ceiling_step_time(1, ctx);
  for (double b : concurrency_grid(per_replica, points_per_decade)) {
    const double t = model.ceiling_step_time(b, ctx);
    c.curve.push_back({b * d.dp, 1.0 / t, b / t / chips});
  }
  c.max_output_tok_s_per_chip = c.curve.back().output_tok_s_per_chip;
  return c;
}

Estimate estimate(const StepCostModel& model, const Workload& w, bool with_ceiling) {
  if (!(w.isl >= 1)) fail(fmt::format("--isl must be >= 1 token, got {}", w.isl));
  if (!(w.osl >= 1)) fail(fmt::format("--osl must be >= 1 token, got {}", w.osl));
  const auto& d = model.deployment();
  if (!(w.concurrency >= d.dp)) {
    fail(fmt::format("--concurrency {} is below DP {}: every replica needs at least one request", w.concurrency, d.dp));
  }
  Estimate e;
  if (with_ceiling) e.ceiling = compute_ceiling(model, w.isl, w.osl);
  const double b = w.concurrency / d.dp;  // per replica
  const double chips = d.chips_per_replica();
  const auto& mem = model.memory();
  const double max_ctx = static_cast<double>(d.model->max_position_embeddings);

  // Steady state: every step each sequence emits a token; finished requests are replaced by new
  // ones whose prompts are prefilled in the same steps, B x isl / osl prompt tokens per step.
  Batch step;
  step.decode_seqs = b;
  step.decode_context = w.isl + w.osl / 2;
  step.prefill_tokens = b * w.isl / w.osl;
  step.prefill_prompt = w.isl;
  step.prefill_seqs = b / w.osl;
  e.step = model.step(step);
  Batch alone;
  alone.prefill_tokens = w.isl;
  alone.prefill_prompt = w.isl;
  alone.prefill_seqs = 1;
  e.prefill = model.step(alone);

  e.tpot_s = e.step.time_s;
  e.ttft_s = e.prefill.time_s + 0.5 * e.step.time_s;  // arrive mid-step, then prefill
  e.output_tok_s_per_user = 1.0 / e.tpot_s;
  e.output_tok_s = d.dp * b / e.tpot_s;
  e.output_tok_s_per_chip = b / e.tpot_s / chips;
  e.total_tok_s_per_chip = e.output_tok_s_per_chip * (w.isl + w.osl) / w.osl;
  e.kv_bytes_per_chip = model.kv_bytes_per_chip(b, w.isl + w.osl);

  if (!mem.weights_fit) {
    e.reason = mem.reason;
  } else if (max_ctx > 0 && w.isl + w.osl > max_ctx) {
    e.reason = fmt::format("context {} tokens (isl + osl) exceeds the model's {} max_position_embeddings",
                           w.isl + w.osl, max_ctx);
  } else if (e.kv_bytes_per_chip > mem.kv_free_bytes) {
    e.reason = fmt::format("KV cache needs {:.1f} GB > {:.1f} GB free on {} (per chip; at most {:.0f} requests fit)",
                           e.kv_bytes_per_chip / 1e9, std::max(0.0, mem.kv_free_bytes) / 1e9, d.system->id,
                           model.max_sequences(w.isl + w.osl) * d.dp);
  } else {
    e.feasible = true;
  }
  return e;
}

}  // namespace tf::cost
