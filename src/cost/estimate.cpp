#include "cost/estimate.hpp"

#include <algorithm>
#include <array>
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
  // Physical capacity: all the memory the weights leave (no engine policy, workspace or reserve).
  const double per_replica =
      model.memory().link_problem.empty() ? model.max_sequences(isl + osl, /*physical=*/true) : 0;
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

  // Steady state as the cycle the engine runs (mixed steps: decodes first, prompt chunks fill
  // the rest of the per-step token budget). A request lives c + osl - 1 steps: c chunk steps
  // (the last emits its first token), then osl - 1 decode steps. Over one such cycle of S steps
  // the b requests in flight are replaced by b new prompts, whose chunks ride in N_p steps
  // (one prompt's chunks each, or several prompts' when they arrive faster than one a step);
  // the other S - N_p steps are pure decode. Pricing the two kinds of step apart keeps what is
  // concave in the tokens of a step (distinct MoE experts touched) concave.
  // An engine's token budget must admit its running decodes: past half the budget, the budget
  // is taken to grow with the batch (operators raise max_num_batched_tokens with max_num_seqs).
  // Each pipeline micro-batch has a budget of its own (see serving's replica step).
  const double budget = std::max({1.0, d.efficiency->activation_tokens * d.pp, 2 * b});
  const double room = budget - b;  // prompt tokens a step can take beside b decodes
  const double chunks = std::ceil(w.isl / room);  // steps one prompt's prefill takes
  const double cycle_steps = chunks + w.osl - 1;
  const double prefill_steps = std::min(cycle_steps, b * chunks);
  const double decoding = b * (w.osl - 1) / cycle_steps;  // sequences decoding in a step, on average
  Batch mixed;
  mixed.decode_seqs = decoding;
  mixed.decode_context = w.isl + w.osl / 2;
  mixed.prefill_tokens = b * w.isl / prefill_steps;
  mixed.prefill_prompt = w.isl;
  mixed.prefill_seqs = b / prefill_steps;
  const auto pieces = chunked_prefill(w.isl, room);
  if (pieces.chunks > 1) {
    mixed.prefill_pieces = b * pieces.chunks / prefill_steps;
    mixed.prefill_prior = b * pieces.prior_tokens / prefill_steps;
  }
  const auto t_mixed = model.step(mixed);
  StepCost t_decode;
  const double decode_steps = cycle_steps - prefill_steps;
  if (decode_steps > 0) {
    Batch dec;
    dec.decode_seqs = decoding;
    dec.decode_context = w.isl + w.osl / 2;
    t_decode = model.step(dec);
  }
  // The cycle's mean step, group by group.
  const double fm = prefill_steps / cycle_steps, fd = decode_steps / cycle_steps;
  std::array<double, 4> by_bound{};
  for (size_t i = 0; i < kOpGroups; ++i) {
    const auto& a = t_mixed.groups[i];
    const auto& c = t_decode.groups[i];
    auto& g = e.step.groups[i];
    g.time_s = fm * a.time_s + fd * c.time_s;
    g.flops = fm * a.flops + fd * c.flops;
    g.bytes = fm * a.bytes + fd * c.bytes;
    g.net_bytes = fm * a.net_bytes + fd * c.net_bytes;
    g.bound = fm * a.time_s >= fd * c.time_s ? a.bound : c.bound;
    e.step.time_s += g.time_s;
    by_bound[static_cast<size_t>(g.bound)] += g.time_s;
  }
  e.step.bound_by = static_cast<Bound>(std::max_element(by_bound.begin(), by_bound.end()) - by_bound.begin());
  Batch alone;
  alone.prefill_tokens = w.isl;
  alone.prefill_prompt = w.isl;
  alone.prefill_seqs = 1;
  e.prefill = model.step(alone);

  const double cycle_s = e.step.time_s * cycle_steps;
  // A request's own chunk steps come before its first token; its decode steps share the
  // cycle's other chunk steps (the other prompts') with the pure decode steps.
  const double others = std::max(0.0, prefill_steps - chunks);
  e.tpot_s = cycle_steps > chunks ? (others * t_mixed.time_s + decode_steps * t_decode.time_s) / (cycle_steps - chunks)
                                  : e.step.time_s;
  // The request overhead outside the engine's steps, then arrive mid-step, then the prompt's
  // chunk steps, each shared with the running decodes.
  e.ttft_s = model.deployment().efficiency->request_overhead_s + chunks * t_mixed.time_s + 0.5 * e.step.time_s;
  e.output_tok_s_per_user = 1.0 / e.tpot_s;
  e.output_tok_s = d.dp * b * w.osl / cycle_s;
  e.output_tok_s_per_chip = b * w.osl / cycle_s / chips;
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
