#pragma once
// One normalised description of a decoder-only transformer, whatever Hugging Face architecture it
// came from: dense or MoE FFNs per layer, GQA or MLA attention, full / sliding-window / chunked
// layers, MTP modules and an optional vision tower (counted in totals, not in per-token costs).
#include <optional>
#include <string>
#include <vector>

#include "core/precision.hpp"

namespace tf::model {

enum class AttentionKind { full, sliding, chunked };
enum class AttentionType { gqa, mla };  // gqa covers MHA (kv heads = heads) and MQA

std::string_view to_string(AttentionKind k);
std::string_view to_string(AttentionType t);

struct LayerSpec {
  AttentionKind attention = AttentionKind::full;
  long long window_tokens = 0;   // tokens a sliding/chunked layer keeps (0 for full)
  bool moe = false;
  long long dense_intermediate = 0;  // SwiGLU width when !moe
};

struct MlaSpec {
  long long q_lora_rank = 0;  // 0: queries are not compressed
  long long kv_lora_rank = 0;
  long long qk_nope_head_dim = 0;
  long long qk_rope_head_dim = 0;
  long long v_head_dim = 0;
};

struct MoeSpec {
  long long routed_experts = 0;       // 0 for dense models
  long long experts_per_token = 0;    // top-k
  long long expert_intermediate = 0;  // SwiGLU width of one routed expert
  long long shared_experts = 0;
  long long shared_intermediate = 0;  // SwiGLU width of one shared expert
  bool expert_bias = false;           // gpt-oss experts carry biases
  bool router_bias = false;
  // Routing skew at inference: the coefficient of variation of the share of a layer's routed
  // tokens each expert receives (0: uniform routing), with where the figure comes from. Read
  // from data/models/moe-routing.yaml by the model catalog; a bare config.json has none.
  double load_cv = 0;
  std::string load_cv_source = "none: uniform routing assumed";
};

struct VisionSpec {
  long long params = 0;  // vision tower + projector, counted in total parameters only
};

struct ModelSpec {
  std::string id;            // "org/name" for catalog models, else the config path
  std::string architecture;  // architectures[0]
  std::string source_file;

  long long hidden_size = 0;
  long long vocab_size = 0;
  long long num_heads = 0;
  long long num_kv_heads = 0;
  long long head_dim = 0;  // per-head width of q/k/v for GQA
  long long max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q, k, v and o projections carry biases
  bool qkv_bias_only = false;   // only q, k, v carry biases (Qwen2)
  bool qk_norm = false;         // learned per-head RMSNorm on q and k
  bool attention_sinks = false; // one learned logit per head (gpt-oss)

  AttentionType attention_type = AttentionType::gqa;
  MlaSpec mla;
  MoeSpec moe;
  std::vector<LayerSpec> layers;
  long long mtp_layers = 0;  // multi-token-prediction modules (excluded from totals)
  VisionSpec vision;

  Precision native_weight_precision = Precision::bf16;  // as published
  std::string quantization_note;                          // e.g. "mxfp4 on MoE experts only"
  // Attention projections the checkpoint keeps unquantised (quantization_config
  // modules_to_not_convert naming the attention modules): their precision, else none.
  std::optional<Precision> native_attention_precision;
  std::optional<Precision> native_kv_precision;

  [[nodiscard]] long long num_layers() const { return static_cast<long long>(layers.size()); }
  [[nodiscard]] bool is_moe() const { return moe.routed_experts > 0; }
  [[nodiscard]] long long num_moe_layers() const;
  [[nodiscard]] long long num_window_layers() const;  // sliding + chunked
};

}  // namespace tf::model
