#pragma once
// A deployment: a model on a system with a parallel layout and precisions. `DeploymentSpec` is
// what the user asked for; `resolve_deployment` validates it against the model and the system
// and fills defaults. A layout that cannot exist is a DiagnosticError saying what would be valid;
// a layout that exists but does not fit in memory is a valid deployment whose results say
// "infeasible".
#include <optional>
#include <string>
#include <vector>

#include "core/precision.hpp"
#include "cost/efficiency.hpp"
#include "hardware/system.hpp"
#include "model/model_spec.hpp"

namespace tf::cost {

// How the serving engine sizes its memory (a property of the engine, not the chip).
struct MemoryPolicy {
  enum class Kind {
    fraction_of_total,  // weights + workspace + KV within fraction x capacity (vLLM
                        // gpu_memory_utilization, SGLang mem_fraction_static)
    fraction_of_free,   // KV = fraction x what weights, workspace and runtime reserve leave
                        // (TensorRT-LLM kv_cache_free_gpu_mem_fraction)
  };
  Kind kind = Kind::fraction_of_total;
  double fraction = 0.9;
  std::string source;
};
std::string_view to_string(MemoryPolicy::Kind k);

// How the engine runs attention in a step that mixes decodes and prompt chunks (a property of the
// engine and its attention backend, not the chip).
enum class AttentionKernels {
  split,    // one kernel per phase (TensorRT-LLM context FMHA + generation XQA; FlashInfer's
            // prefill and decode wrappers): each phase pays its own roofline, the times add
  unified,  // one varlen launch over every query (vLLM V1 FlashAttention): the memory-bound decode
            // work and the compute-bound prefill work share one roofline
};
std::string_view to_string(AttentionKernels k);

// How the engine issues a step's kernels (a property of the engine and how it is run, not the
// chip). Captured graphs replay a step as one launch; in eager mode the host dispatches every
// kernel of every layer itself (PyTorch eager, vLLM --enforce-eager), and a step cannot finish
// before the host has issued it.
enum class Launch {
  graphs,  // CUDA/HIP/HPU graphs or a compiled step: no per-kernel host time on the step
  eager,   // per-kernel host dispatch: the step takes at least layers x the engine's eager_launch
};
std::string_view to_string(Launch l);

struct DeploymentSpec {
  int chips = 0;  // 0: tp x pp x dp
  int tp = 1;     // tensor parallel within one engine instance
  int pp = 1;     // pipeline stages
  int ep = 1;     // expert-parallel group size (MoE only)
  int dp = 1;     // independent replicas
  bool attention_dp = false;  // attention data-parallel over the tp ranks (DeepSeek-style)
  std::optional<Precision> weights;      // default: the model's native precision
  std::optional<Precision> activations;  // default: the weights' math format if the chip has it, else bf16
  std::optional<Precision> kv;           // default: the model's native KV precision, else bf16
  // Attention projections (q/k/v/o or MLA) kept in another precision than the rest of the
  // weights, as checkpoints that quantise only the FFN/experts do (Meta's Llama 3.1 FP8: FFN-only
  // FP8, attention BF16). Default: the weights' precision.
  std::optional<Precision> attention_weights;
  // Precision of the hidden states an expert-parallel all-to-all dispatches (the combine returns
  // 16-bit activations); default bf16. DeepEP dispatches FP8 with block scales.
  std::optional<Precision> moe_dispatch;
  std::optional<AttentionKernels> attention_kernels;   // default: unified (the default engine's)
  std::optional<Launch> launch;                         // default: graphs (the default engine's)
  std::optional<hardware::MemoryTierKind> weight_tier;  // default: fastest tier that holds the weights
  std::optional<hardware::MemoryTierKind> kv_tier;      // default: the weights' tier
  // The serving engine's memory policy; default: fraction_of_total at the efficiency's
  // memory_utilization.
  std::optional<MemoryPolicy> memory_policy;
  // EPLB-style expert placement (DeepSeek EPLB, TensorRT-LLM moe_config.load_balancer, SGLang
  // --enable-eplb): the experts of each MoE layer placed, and the hottest replicated into this
  // many redundant slots (0: placement only), to balance the EP ranks' token loads. Unset: the
  // static placement by expert id.
  std::optional<int> eplb_redundant_experts;
  // Routing skew (coefficient of variation of the experts' token shares); default: the model's.
  std::optional<double> expert_load_cv;
};

struct Deployment {
  const model::ModelSpec* model = nullptr;
  const hardware::SystemSpec* system = nullptr;
  const Efficiency* efficiency = nullptr;
  int chips = 1, tp = 1, pp = 1, ep = 1, dp = 1;
  bool attention_dp = false;
  Precision weights = Precision::bf16;
  Precision activations = Precision::bf16;
  Precision kv = Precision::bf16;
  Precision attention_weights = Precision::bf16;      // attention projections (= weights unless set)
  ComputeClass gemm_class = ComputeClass::bf16;       // math format of the GEMMs
  ComputeClass attention_proj_class = ComputeClass::bf16;  // math format of the attention projections
  ComputeClass attention_class = ComputeClass::bf16;  // math format of attention
  Precision moe_dispatch = Precision::bf16;           // EP all-to-all dispatch on the wire
  AttentionKernels attention_kernels = AttentionKernels::unified;
  Launch launch = Launch::graphs;
  std::optional<hardware::MemoryTierKind> weight_tier;
  std::optional<hardware::MemoryTierKind> kv_tier;
  std::optional<MemoryPolicy> memory_policy;
  std::optional<int> eplb_redundant_experts;  // EPLB placement with this many redundant experts per layer
  double expert_load_cv = 0;                   // routing skew the EP ranks see
  std::string expert_load_cv_source;

  [[nodiscard]] int chips_per_replica() const { return tp * pp; }
  // Short human-readable layout, e.g. "TP4 PP1 EP1 DP2 fp8/fp8 kv fp8".
  [[nodiscard]] std::string describe() const;
};

// Validates the layout; throws DiagnosticError with the valid alternatives.
Deployment resolve_deployment(const DeploymentSpec& spec, const model::ModelSpec& model,
                              const hardware::SystemSpec& system, const Efficiency& efficiency);

// Peak dense rate for a class, treating bf16 and fp16 as interchangeable when one is missing.
std::optional<double> peak_rate(const hardware::SystemSpec& s, ComputeClass c);

// Tensor-parallel degrees the model and system admit (divisors of the attention heads that fit
// in the scale-up domain), ascending.
std::vector<int> valid_tp(const model::ModelSpec& m, const hardware::SystemSpec& s);

}  // namespace tf::cost
