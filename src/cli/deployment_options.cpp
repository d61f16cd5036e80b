#include "cli/deployment_options.hpp"

#include <fmt/format.h>

#include "core/diagnostic.hpp"

namespace tf::cli {

void DeploymentOptions::add_layout(CLI::App* cmd) {
  cmd->add_option("--chips", chips, "Accelerators in the deployment (default TP x PP x DP; must equal it)");
  cmd->add_option("--tp", tp, "Tensor-parallel degree within one replica (divides the attention heads, <= scale-up domain)")
      ->capture_default_str();
  cmd->add_option("--pp", pp, "Pipeline-parallel stages (<= layers)")->capture_default_str();
  cmd->add_option("--ep", ep, "Expert-parallel group size for MoE models (divides the routed experts)")
      ->capture_default_str();
  cmd->add_option("--dp", dp, "Data-parallel replicas (independent engine instances)")->capture_default_str();
  cmd->add_flag("--attention-dp", attention_dp,
                "Run attention data-parallel over the TP ranks with experts over EP (DeepSeek-style)");
  const std::string formats = join(precision_names());
  cmd->add_option("--weights", weights, "Weight precision: " + formats + " (default: the model's native format, or the widest narrower one the chip computes in)");
  cmd->add_option("--activations", activations,
                  "Activation / GEMM precision (default: the weights' format if the chip computes in it, else bf16)");
  cmd->add_option("--kv", kv, "KV-cache precision (default: the model's native KV format, else bf16)");
  cmd->add_option("--attention-weights", attention_weights,
                  "Precision of the attention projections when a checkpoint keeps them apart from the rest "
                  "(e.g. bf16 for FFN-only FP8 checkpoints; default: --weights)");
  cmd->add_option("--moe-dispatch", moe_dispatch,
                  "Precision of the hidden states an expert-parallel all-to-all dispatches (the combine stays "
                  "16-bit; e.g. fp8 for DeepEP; default: the engine profile's, else bf16)");
  cmd->add_option("--eplb-redundant-experts", eplb_redundant_experts,
                  "Balance the expert-parallel ranks EPLB-style (DeepSeek EPLB; TensorRT-LLM moe_config.load_balancer; "
                  "SGLang --enable-eplb): place each MoE layer's experts, and replicate the hottest into this many "
                  "redundant slots (0: placement only; experts + redundant must divide over EP; default: static "
                  "placement by expert id)");
  cmd->add_option("--expert-load-cv", expert_load_cv,
                  "Routing skew of the MoE model: coefficient of variation of the experts' shares of a layer's "
                  "routed tokens (0: uniform; default: data/models/moe-routing.yaml)");
  cmd->add_option("--launch", launch,
                  "How the engine issues a step's kernels: graphs (captured CUDA/HIP graphs or a compiled step) or "
                  "eager (host dispatch per kernel, e.g. vLLM --enforce-eager: a step takes at least layers x the "
                  "engine's eager_launch; default: the engine profile's, else graphs)");
  cmd->add_option("--weights-tier", weight_tier,
                  "Memory tier holding weights: hbm, sram, gddr, lpddr, ddr (default: fastest that fits)");
  cmd->add_option("--kv-tier", kv_tier, "Memory tier holding the KV cache (default: the weights' tier)");
}

namespace {
hardware::MemoryTierKind parse_tier(const std::string& s, const char* flag) {
  for (auto k : {hardware::MemoryTierKind::hbm, hardware::MemoryTierKind::sram, hardware::MemoryTierKind::gddr,
                 hardware::MemoryTierKind::lpddr, hardware::MemoryTierKind::ddr}) {
    if (to_string(k) == s) return k;
  }
  fail(fmt::format("unknown memory tier '{}' for {}", s, flag), "valid: hbm, sram, gddr, lpddr, ddr");
}
}  // namespace

cost::DeploymentSpec DeploymentOptions::spec() const {
  // Each degree is bounded by its flag check; their product is the replica count times the chips
  // per replica, and must stay a chip count the model can hold in an int (docs/limits.md).
  constexpr long long kMaxChips = 1 << 20;
  const long long product = static_cast<long long>(tp) * pp * dp;
  if (product > kMaxChips)
    fail(fmt::format("--tp x --pp x --dp = {} chips, more than the {} a deployment may have", product, kMaxChips));
  cost::DeploymentSpec s;
  s.chips = chips;
  s.tp = tp;
  s.pp = pp;
  s.ep = ep;
  s.dp = dp;
  s.attention_dp = attention_dp;
  if (!weights.empty()) s.weights = parse_precision(weights);
  if (!activations.empty()) s.activations = parse_precision(activations);
  if (!kv.empty()) s.kv = parse_precision(kv);
  if (!attention_weights.empty()) s.attention_weights = parse_precision(attention_weights);
  if (!moe_dispatch.empty()) s.moe_dispatch = parse_precision(moe_dispatch);
  s.eplb_redundant_experts = eplb_redundant_experts;
  s.expert_load_cv = expert_load_cv;
  if (launch == "graphs") s.launch = cost::Launch::graphs;
  else if (launch == "eager") s.launch = cost::Launch::eager;
  else if (!launch.empty()) fail(fmt::format("unknown --launch '{}'", launch), "valid: graphs, eager");
  if (!weight_tier.empty()) s.weight_tier = parse_tier(weight_tier, "--weights-tier");
  if (!kv_tier.empty()) s.kv_tier = parse_tier(kv_tier, "--kv-tier");
  return s;
}

void add_static_experts_flag(CLI::App* cmd, bool& static_experts) {
  cmd->add_flag("--static-experts", static_experts,
                "Sweep expert-parallel layouts with the static placement by expert id only (default: also EPLB "
                "placement, with no redundant experts and with one per EP rank)");
}

void WorkloadOptions::add(CLI::App* cmd, bool with_concurrency) {
  cmd->add_option("--isl", isl, "Input (prompt) tokens per request")->capture_default_str();
  cmd->add_option("--osl", osl, "Output (generated) tokens per request")->capture_default_str();
  if (with_concurrency) {
    cmd->add_option("--concurrency", concurrency, "Requests in flight over the whole deployment (>= DP)")
        ->capture_default_str();
  }
}

}  // namespace tf::cli
