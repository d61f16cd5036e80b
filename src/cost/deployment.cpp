#include "cost/deployment.hpp"

#include <fmt/format.h>

#include "core/diagnostic.hpp"

namespace tf::cost {

std::optional<double> peak_rate(const hardware::SystemSpec& s, ComputeClass c) {
  if (auto r = s.peak_flop_per_s(c)) return r;
  if (c == ComputeClass::bf16) return s.peak_flop_per_s(ComputeClass::fp16);
  if (c == ComputeClass::fp16) return s.peak_flop_per_s(ComputeClass::bf16);
  return std::nullopt;
}

std::vector<int> valid_tp(const model::ModelSpec& m, const hardware::SystemSpec& s) {
  std::vector<int> out;
  const auto domain = static_cast<long long>(s.scale_up_domain_chips.value);
  for (long long t = 1; t <= m.num_heads && t <= domain; ++t)
    if (m.num_heads % t == 0) out.push_back(static_cast<int>(t));
  return out;
}

std::string_view to_string(MemoryPolicy::Kind k) {
  return k == MemoryPolicy::Kind::fraction_of_free ? "fraction_of_free" : "fraction_of_total";
}

std::string_view to_string(AttentionKernels k) { return k == AttentionKernels::split ? "split" : "unified"; }

std::string_view to_string(Launch l) { return l == Launch::eager ? "eager" : "graphs"; }

std::string Deployment::describe() const {
  std::string s = fmt::format("TP{} PP{}", tp, pp);
  if (model && model->is_moe()) s += fmt::format(" EP{}", ep);
  s += fmt::format(" DP{}", dp);
  if (attention_dp) s += " attnDP";
  s += fmt::format(" w{}/a{} kv{}", to_string(weights), to_string(activations), to_string(kv));
  if (attention_weights != weights) s += fmt::format(" attn-w{}", to_string(attention_weights));
  if (model && model->is_moe() && moe_dispatch != Precision::bf16) s += fmt::format(" dispatch-{}", to_string(moe_dispatch));
  if (eplb_redundant_experts) s += fmt::format(" EPLB+{}", *eplb_redundant_experts);
  if (launch == Launch::eager) s += " eager";
  return s;
}

namespace {

std::string int_list(const std::vector<int>& v) {
  std::vector<std::string> s;
  for (int x : v) s.push_back(std::to_string(x));
  return join(s);
}

std::string supported_classes(const hardware::SystemSpec& s) {
  std::vector<std::string> names;
  for (auto c : s.compute_classes()) names.emplace_back(to_string(c));
  return join(names);
}

}  // namespace

Deployment resolve_deployment(const DeploymentSpec& spec, const model::ModelSpec& m,
                              const hardware::SystemSpec& s, const Efficiency& eff) {
  Deployment d;
  d.model = &m;
  d.system = &s;
  d.efficiency = &eff;
  for (auto [name, v] : {std::pair{"tp", spec.tp}, {"pp", spec.pp}, {"ep", spec.ep}, {"dp", spec.dp}}) {
    if (v < 1) fail(fmt::format("--{} must be >= 1, got {}", name, v));
  }
  d.tp = spec.tp;
  d.pp = spec.pp;
  d.ep = spec.ep;
  d.dp = spec.dp;
  d.attention_dp = spec.attention_dp;
  d.chips = spec.chips > 0 ? spec.chips : spec.tp * spec.pp * spec.dp;
  if (d.chips != d.tp * d.pp * d.dp) {
    fail(fmt::format("--chips {} is not TP x PP x DP = {} x {} x {} = {}", d.chips, d.tp, d.pp, d.dp,
                     d.tp * d.pp * d.dp),
         "chips must equal tp * pp * dp; drop --chips to derive it");
  }
  // TP wider than the scale-up domain is allowed: its collectives run over scale-out (and a
  // scale-out link without a bandwidth figure makes the layout infeasible, see StepCostModel).
  if (!d.attention_dp && m.num_heads % d.tp != 0) {
    fail(fmt::format("TP {} does not divide the {} attention heads of {}", d.tp, m.num_heads, m.id),
         "valid TP: " + int_list(valid_tp(m, s)));
  }
  if (d.pp > m.num_layers()) {
    fail(fmt::format("PP {} exceeds the {} layers of {}", d.pp, m.num_layers(), m.id));
  }
  if (!m.is_moe() && d.ep != 1) {
    fail(fmt::format("EP {} given for the dense model {}", d.ep, m.id), "expert parallelism needs a MoE model; use --ep 1");
  }
  if (m.is_moe()) {
    if (m.moe.routed_experts % d.ep != 0) {
      fail(fmt::format("EP {} does not divide the {} routed experts of {}", d.ep, m.moe.routed_experts, m.id));
    }
    if (d.ep > d.tp * d.dp) {
      fail(fmt::format("EP {} exceeds the {} chips of one pipeline stage (TP x DP)", d.ep, d.tp * d.dp));
    }
    if (d.ep <= d.tp ? d.tp % d.ep != 0 : d.ep % d.tp != 0) {
      fail(fmt::format("EP {} and TP {} must divide one another", d.ep, d.tp),
           "experts are split over max(TP, EP) chips: EP groups tile the TP group or span whole replicas");
    }
    if (d.ep > d.tp && (d.ep / d.tp) > d.dp) {
      fail(fmt::format("EP {} spans {} replicas but DP is {}", d.ep, d.ep / d.tp, d.dp));
    }
  }
  if (d.attention_dp && d.tp == 1) {
    fail("--attention-dp needs TP > 1: attention runs data-parallel over the TP ranks");
  }

  // Precisions.
  auto computes = [&](Precision p) { return s.computes(p); };
  if (spec.weights) {
    d.weights = *spec.weights;
  } else {
    // The model's native format; on a chip that can neither compute in it nor run it weight-only
    // in bf16/fp16, the widest narrower format the chip computes in (reported in every result).
    d.weights = m.native_weight_precision == Precision::fp32 ? Precision::bf16 : m.native_weight_precision;
    if (!computes(d.weights) && !computes(Precision::bf16)) {
      for (Precision p : {Precision::fp8, Precision::nvfp4, Precision::mxfp4}) {
        if (info(p).bytes_per_element <= info(d.weights).bytes_per_element && computes(p)) {
          d.weights = p;
          break;
        }
      }
    }
  }
  if (spec.activations) {
    d.activations = *spec.activations;
  } else {
    const bool integer = d.weights == Precision::int4 || d.weights == Precision::int8;
    d.activations = computes(d.weights) && !integer ? d.weights : Precision::bf16;
  }
  d.kv = spec.kv.value_or(m.native_kv_precision.value_or(Precision::bf16));
  d.gemm_class = info(d.activations).compute_class;
  if (peak_rate(s, d.gemm_class) && !s.computes(d.activations)) {
    std::vector<std::string> f;
    for (auto p : s.fp4_formats) f.emplace_back(to_string(p));
    fail(fmt::format("{} runs 4-bit floats as {} only, not {}", s.id, join(f), to_string(d.activations)),
         "use --weights/--activations " + join(f));
  }
  if (!peak_rate(s, d.gemm_class)) {
    fail(fmt::format("{} has no {} compute for --activations {}", s.id, to_string(d.gemm_class),
                     to_string(d.activations)),
         "this chip computes in: " + supported_classes(s) +
             " (weights may still be stored in a smaller format: weight-only quantisation)");
  }
  if (info(d.weights).bytes_per_element > info(d.activations).bytes_per_element) {
    fail(fmt::format("weights {} are wider than activations {}", to_string(d.weights), to_string(d.activations)),
         "GEMMs run in the activation format; use activations at least as wide as the weights");
  }
  // The checkpoint's own split: attention kept unquantised (modules_to_not_convert) applies when
  // the weights are the checkpoint's native format.
  const bool native_split = !spec.attention_weights && m.native_attention_precision &&
                            d.weights == m.native_weight_precision && *m.native_attention_precision != d.weights;
  d.attention_weights = spec.attention_weights.value_or(native_split ? *m.native_attention_precision : d.weights);
  d.attention_proj_class = d.gemm_class;
  if (d.attention_weights != d.weights) {
    // Projections in a wider format run their GEMMs in it; a narrower one keeps the activations'.
    const auto& a = info(d.attention_weights);
    if (a.bytes_per_element > info(d.activations).bytes_per_element) {
      d.attention_proj_class = a.compute_class;
      if (!peak_rate(s, d.attention_proj_class) && native_split)
        d.attention_proj_class = d.gemm_class;  // no 16-bit math: dequantised into the activations' format
      else if (!peak_rate(s, d.attention_proj_class))
        fail(fmt::format("{} has no {} compute for --attention-weights {}", s.id, to_string(d.attention_proj_class),
                         to_string(d.attention_weights)));
    }
  }
  const bool low_precision_attention =
      (d.gemm_class == ComputeClass::fp8 || d.gemm_class == ComputeClass::fp4) && d.kv == Precision::fp8;
  d.attention_class = low_precision_attention && peak_rate(s, ComputeClass::fp8) ? ComputeClass::fp8
                      : peak_rate(s, ComputeClass::bf16)                             ? ComputeClass::bf16
                                                                                     : d.gemm_class;

  auto check_tier = [&](const std::optional<hardware::MemoryTierKind>& t, const char* flag) {
    if (!t) return;
    for (const auto& tier : s.memory)
      if (tier.kind == *t) return;
    std::vector<std::string> kinds;
    for (const auto& tier : s.memory) kinds.emplace_back(to_string(tier.kind));
    fail(fmt::format("{} has no {} memory for {}", s.id, to_string(*t), flag), "tiers on this chip: " + join(kinds));
  };
  check_tier(spec.weight_tier, "--weights-tier");
  check_tier(spec.kv_tier, "--kv-tier");
  d.weight_tier = spec.weight_tier;
  d.kv_tier = spec.kv_tier;
  if (spec.moe_dispatch) {
    if (info(*spec.moe_dispatch).bytes_per_element > 2)
      fail(fmt::format("--moe-dispatch {} is wider than the 16-bit activations it would carry", to_string(*spec.moe_dispatch)),
           "valid: bf16, fp16, fp8, int8, nvfp4, mxfp4, int4");
    d.moe_dispatch = *spec.moe_dispatch;
  }
  d.attention_kernels = spec.attention_kernels.value_or(AttentionKernels::unified);
  d.launch = spec.launch.value_or(Launch::graphs);
  if (spec.memory_policy) {
    const double f = spec.memory_policy->fraction;
    if (!(f > 0 && f <= 1)) fail(fmt::format("memory fraction {} is not in (0, 1]", f));
  }
  d.memory_policy = spec.memory_policy;
  d.expert_load_cv = m.moe.load_cv;
  d.expert_load_cv_source = m.moe.load_cv_source;
  if (spec.expert_load_cv) {
    const double cv = *spec.expert_load_cv;
    if (!m.is_moe()) fail(fmt::format("--expert-load-cv: {} is not a mixture-of-experts model", m.id));
    if (!(cv >= 0 && cv <= 10)) fail(fmt::format("--expert-load-cv must be in [0, 10], got {}", cv));
    d.expert_load_cv = cv;
    d.expert_load_cv_source = "--expert-load-cv";
  }
  if (spec.eplb_redundant_experts) {
    const long long r = *spec.eplb_redundant_experts, e = m.moe.routed_experts;
    if (!m.is_moe()) fail(fmt::format("--eplb-redundant-experts: {} is not a mixture-of-experts model", m.id));
    if (d.ep <= 1)
      fail("--eplb-redundant-experts needs EP > 1: it balances the expert-parallel ranks' loads",
           "give --ep, or drop --eplb-redundant-experts");
    if (r < 0 || r > 4 * e)
      fail(fmt::format("--eplb-redundant-experts must be in [0, {}] (4 x the {} routed experts), got {}", 4 * e, e, r));
    if ((e + r) % d.ep != 0)
      fail(fmt::format("--eplb-redundant-experts {}: the {} expert slots per layer ({} experts + {}) do not divide "
                       "over EP {}",
                       r, e + r, e, r, d.ep),
           fmt::format("every EP rank holds the same number of slots: e.g. {} or {} redundant experts",
                       r - (e + r) % d.ep, r + d.ep - (e + r) % d.ep));
    d.eplb_redundant_experts = static_cast<int>(r);
  }
  return d;
}

}  // namespace tf::cost
