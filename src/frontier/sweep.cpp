#include "frontier/sweep.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>

#include "core/diagnostic.hpp"
#include "core/parallel.hpp"
#include "cost/attribution.hpp"

namespace tf::frontier {

std::vector<Point> pareto(std::vector<Point> pts) {
  std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) {
    if (a.output_tok_s_per_user != b.output_tok_s_per_user) return a.output_tok_s_per_user > b.output_tok_s_per_user;
    return a.output_tok_s_per_chip > b.output_tok_s_per_chip;
  });
  std::vector<Point> out;
  double best = -1;
  for (auto& p : pts) {
    if (p.output_tok_s_per_chip > best) {
      best = p.output_tok_s_per_chip;
      out.push_back(std::move(p));
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<cost::CeilingPoint> pareto(std::vector<cost::CeilingPoint> pts) {
  std::sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) {
    if (a.output_tok_s_per_user != b.output_tok_s_per_user) return a.output_tok_s_per_user > b.output_tok_s_per_user;
    return a.output_tok_s_per_chip > b.output_tok_s_per_chip;
  });
  std::vector<cost::CeilingPoint> out;
  double best = -1;
  for (const auto& p : pts) {
    if (p.output_tok_s_per_chip > best) {
      best = p.output_tok_s_per_chip;
      out.push_back(p);
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<cost::DeploymentSpec> candidate_layouts(const model::ModelSpec& m, const hardware::SystemSpec& s,
                                                    const SweepOptions& o) {
  const int domain = static_cast<int>(s.scale_up_domain_chips.value);
  const int max_chips = o.max_chips_per_replica > 0 ? o.max_chips_per_replica : std::max(domain, 64);
  const int layers = static_cast<int>(m.num_layers());
  std::vector<int> pps;
  for (int p = 1; p <= layers; p *= 2) pps.push_back(p);
  std::vector<cost::DeploymentSpec> out;
  for (int tp : cost::valid_tp(m, s)) {
    if (tp > max_chips) break;
    for (int pp : pps) {
      if (tp * pp > max_chips) break;
      cost::DeploymentSpec base;
      base.tp = tp;
      base.pp = pp;
      if (!m.is_moe()) {
        out.push_back(base);
        continue;
      }
      const auto experts = static_cast<int>(m.moe.routed_experts);
      // An expert-parallel layout with its expert placements: by id, or (EPLB) balanced with no
      // redundant experts and with one per rank.
      auto placements = [&](const cost::DeploymentSpec& e) {
        if (!o.eplb) {
          out.push_back(e);
          return;
        }
        for (int redundant : {0, e.ep}) {
          auto b = e;
          b.eplb_redundant_experts = redundant;
          out.push_back(b);
        }
      };
      // Experts split over the TP ranks (EP 1 = expert tensor parallel; EP = TP).
      out.push_back(base);
      if (tp > 1 && experts % tp == 0) {
        auto e = base;
        e.ep = tp;
        placements(e);
        e.attention_dp = true;
        placements(e);
      }
      // Wide expert parallelism across replicas (attention DP); groups larger than the scale-up
      // domain run their all-to-all over scale-out links.
      for (int r = 2; tp > 1 && tp * r * pp <= max_chips; r *= 2) {
        if (experts % (tp * r) != 0) continue;
        auto e = base;
        e.ep = tp * r;
        e.dp = r;
        e.attention_dp = true;
        placements(e);
      }
    }
  }
  return out;
}

SystemFrontier sweep_system(const model::ModelSpec& m, const hardware::SystemSpec& s, const cost::Efficiency& eff,
                            const SweepOptions& o) {
  SystemFrontier f;
  f.system = &s;
  std::vector<Point> points;
  std::vector<cost::CeilingPoint> ceiling;
  const double ctx = o.isl + o.osl;
  const double max_ctx = static_cast<double>(m.max_position_embeddings);
  if (max_ctx > 0 && ctx > max_ctx) {
    f.note = "isl + osl exceeds the model's context length";
    return f;
  }
  bool any_fit = false;
  for (auto layout : candidate_layouts(m, s, o)) {
    for (Precision requested : o.precisions) {
      // A 4-bit float format the chip does not take maps to the one it does (NVFP4 <-> MXFP4).
      Precision p = requested;
      if (!s.computes(p) && info(p).compute_class == ComputeClass::fp4 && !s.fp4_formats.empty()) p = s.fp4_formats.front();
      if (p != requested && std::find(o.precisions.begin(), o.precisions.end(), p) != o.precisions.end()) continue;
      Precision act = p;
      if (!s.computes(p)) {
        // fp8 weights on a chip without fp8 math run weight-only (W8A16: dequantised into 16-bit
        // GEMMs, as vLLM's Marlin FP8 and TPU int8 weight-only kernels do). int8 asks for W8A8.
        if (p != Precision::fp8 || !s.computes(Precision::bf16)) continue;
        act = Precision::bf16;
      } else if (p == Precision::int8 && s.computes(Precision::fp8) &&
                 cost::peak_rate(s, ComputeClass::fp8).value_or(0) >= cost::peak_rate(s, ComputeClass::int8).value_or(0)) {
        continue;  // same bytes as fp8 at no higher rate: int8 cannot beat the fp8 point
      }
      layout.weights = p;
      layout.activations = act;
      layout.kv = p == Precision::bf16 || p == Precision::fp16 ? p : Precision::fp8;
      cost::Deployment d;
      try {
        d = cost::resolve_deployment(layout, m, s, eff);
      } catch (const DiagnosticError&) {
        continue;  // not admissible on this system (e.g. TP over an odd head count)
      }
      ++f.layouts;
      const cost::StepCostModel model(d);
      if (!model.memory().weights_fit) {
        if (!model.memory().link_problem.empty() && model.memory().reason.rfind(model.memory().link_problem, 0) == 0) {
          if (f.left_out_layouts++ == 0) f.left_out_reason = model.memory().link_problem;
        }
        continue;
      }
      const auto c = cost::compute_ceiling(model, o.isl, o.osl, o.points_per_decade);
      if (c.max_concurrency < d.dp) continue;
      any_fit = true;
      ceiling.insert(ceiling.end(), c.curve.begin(), c.curve.end());
      f.ceiling_max_tok_s_per_user = std::max(f.ceiling_max_tok_s_per_user, c.max_output_tok_s_per_user);
      for (double per_replica : cost::concurrency_grid(c.max_concurrency / d.dp, o.points_per_decade)) {
        ++f.evaluations;
        const cost::Workload w{o.isl, o.osl, per_replica * d.dp};
        const auto e = cost::estimate(model, w, false);
        if (!e.feasible || e.output_tok_s_per_user < o.min_tok_s_per_user) continue;
        if ((o.max_ttft_s > 0 && e.ttft_s > o.max_ttft_s) || (o.max_tpot_s > 0 && e.tpot_s > o.max_tpot_s)) continue;
        points.push_back({d, w.concurrency, e.output_tok_s_per_user, e.output_tok_s_per_chip, e.total_tok_s_per_chip,
                          e.ttft_s, e.tpot_s, cost::prefill_time_share(model, w, e.step.time_s), e.step.bound_by});
      }
    }
  }
  if (o.keep_all) {
    std::stable_sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
      return a.output_tok_s_per_user < b.output_tok_s_per_user;
    });
    f.points = std::move(points);
  } else {
    f.points = pareto(std::move(points));
  }
  f.ceiling = pareto(std::move(ceiling));
  if (f.points.empty()) {
    if (any_fit)
      f.note = "no configuration meets the latency targets (tokens/s per user, TTFT, TPOT)";
    else if (f.left_out_layouts > 0)
      f.note = "no layout the weights fit in can run: " + f.left_out_reason;
    else
      f.note = "the model does not fit in any layout of this system within the chip limit";
  }
  return f;
}

std::vector<SystemFrontier> sweep(const model::ModelSpec& m, const std::vector<const hardware::SystemSpec*>& systems,
                                  const cost::EfficiencyTable& eff, const SweepOptions& o, int threads,
                                  const Progress& progress) {
  std::vector<SystemFrontier> out(systems.size());
  std::atomic<size_t> done{0};
  std::mutex progress_mutex;
  // An error in one system's sweep (a bad input the cost model refuses) is rethrown here, on the
  // calling thread, after every worker has stopped.
  parallel_for(systems.size(), threads, [&](size_t i) {
    out[i] = sweep_system(m, *systems[i], eff.for_family(systems[i]->family), o);
    const size_t n = ++done;
    if (progress) {
      std::lock_guard<std::mutex> lock(progress_mutex);
      progress(n, systems.size(), systems[i]->id);
    }
  });
  return out;
}

}  // namespace tf::frontier
