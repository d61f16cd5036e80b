#pragma once
// Parameter, KV-cache and FLOP accounting for a ModelSpec. Pure functions of the spec; the
// formulas are written out in docs/model-accounting.md and checked by hand-computed tests.
#include "model/model_spec.hpp"

namespace tf::model {

struct ParamBreakdown {
  double embedding = 0;       // input token embedding
  double lm_head = 0;         // output projection (0 when tied)
  double attention = 0;       // all layers: projections, biases, sinks, QK-norm
  double dense_ffn = 0;       // dense SwiGLU layers
  double routed_experts = 0;  // all routed experts, all MoE layers
  double routed_experts_active = 0;  // top-k experts per MoE layer
  double shared_experts = 0;
  double router = 0;
  double norms = 0;           // per-layer and final RMSNorms
  double vision = 0;          // vision tower + projector (total only)
  double mtp = 0;             // multi-token-prediction modules (reported, not in total)

  // Everything a deployment stores (excluding MTP modules).
  [[nodiscard]] double total() const;
  // Parameters touched per token: all non-expert weights + top-k routed + shared experts,
  // embeddings and LM head included; vision tower excluded.
  [[nodiscard]] double active() const;
  // Weights read by a decode step per token, excluding the input embedding (a row lookup).
  [[nodiscard]] double active_matmul() const;
  // Weights that are never expert-routed (always read once per step).
  [[nodiscard]] double non_expert() const;
};

ParamBreakdown count_params(const ModelSpec& m);

// KV-cache bytes one layer stores per cached token at `bytes_per_element`.
double kv_bytes_per_token_per_layer(const ModelSpec& m, double bytes_per_element);

// Bytes per cached token when every layer holds it (short contexts, or engines without a
// hybrid allocator). MLA caches the compressed latent (kv_lora_rank + qk_rope_head_dim).
double kv_bytes_per_token(const ModelSpec& m, Precision kv);

// Per-token growth beyond every window: only full-attention layers keep growing.
double kv_bytes_per_token_full_layers(const ModelSpec& m, Precision kv);

// KV bytes for one sequence of `context_tokens`: window layers keep min(context, window).
double kv_bytes_for_context(const ModelSpec& m, Precision kv, double context_tokens);

// Forward FLOPs for one token at position `context_tokens` (attending that many tokens):
// 2 x active matmul weights + attention score/value FLOPs (windows capped).
double flops_per_token(const ModelSpec& m, double context_tokens);

// Attention score + value FLOPs for one query token over `context_tokens` keys, all layers.
double attention_flops_per_token(const ModelSpec& m, double context_tokens);

}  // namespace tf::model
