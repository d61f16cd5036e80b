#include "model/accounting.hpp"

#include <algorithm>

namespace tf::model {
namespace {

double d(long long v) { return static_cast<double>(v); }

double attention_params_per_layer(const ModelSpec& m) {
  const double h = d(m.hidden_size);
  const double nh = d(m.num_heads);
  if (m.attention_type == AttentionType::mla) {
    const auto& a = m.mla;
    const double qk = d(a.qk_nope_head_dim + a.qk_rope_head_dim);
    double q = 0;
    if (a.q_lora_rank > 0) {
      q = h * d(a.q_lora_rank) + d(a.q_lora_rank) /*q_a_layernorm*/ + d(a.q_lora_rank) * nh * qk;
    } else {
      q = h * nh * qk;
    }
    const double kv_a = h * d(a.kv_lora_rank + a.qk_rope_head_dim) + d(a.kv_lora_rank) /*kv_a_layernorm*/;
    const double kv_b = d(a.kv_lora_rank) * nh * d(a.qk_nope_head_dim + a.v_head_dim);
    const double o = nh * d(a.v_head_dim) * h;
    return q + kv_a + kv_b + o;
  }
  const double hd = d(m.head_dim);
  const double nkv = d(m.num_kv_heads);
  const double q_width = nh * hd;
  const double kv_width = nkv * hd;
  double p = h * q_width + 2 * h * kv_width + q_width * h;
  if (m.attention_bias) p += q_width + 2 * kv_width + h;
  if (m.qkv_bias_only) p += q_width + 2 * kv_width;
  if (m.qk_norm) p += 2 * hd;
  if (m.attention_sinks) p += nh;
  return p;
}

double swiglu(double h, double inter) { return 3 * h * inter; }

}  // namespace

double ParamBreakdown::total() const {
  return embedding + lm_head + attention + dense_ffn + routed_experts + shared_experts + router + norms +
         vision;
}

double ParamBreakdown::non_expert() const {
  return embedding + lm_head + attention + dense_ffn + shared_experts + router + norms;
}

double ParamBreakdown::active() const { return non_expert() + routed_experts_active; }

double ParamBreakdown::active_matmul() const { return active() - embedding; }

ParamBreakdown count_params(const ModelSpec& m) {
  ParamBreakdown p;
  const double h = d(m.hidden_size);
  p.embedding = d(m.vocab_size) * h;
  p.lm_head = m.tie_word_embeddings ? 0 : d(m.vocab_size) * h;
  const double attn = attention_params_per_layer(m);
  const auto& e = m.moe;
  const double expert =
      swiglu(h, d(e.expert_intermediate)) + (e.expert_bias ? 2 * d(e.expert_intermediate) + h : 0);
  for (const auto& l : m.layers) {
    p.attention += attn;
    p.norms += 2 * h;
    if (l.moe) {
      p.routed_experts += d(e.routed_experts) * expert;
      p.routed_experts_active += d(e.experts_per_token) * expert;
      p.shared_experts += d(e.shared_experts) * swiglu(h, d(e.shared_intermediate));
      p.router += h * d(e.routed_experts) + (e.router_bias ? d(e.routed_experts) : 0);
    } else {
      p.dense_ffn += swiglu(h, d(l.dense_intermediate));
    }
  }
  p.norms += h;  // final norm
  p.vision = d(m.vision.params);
  if (m.mtp_layers > 0) {
    // DeepSeek-V3 MTP module: a full MoE decoder layer + two RMSNorms + a 2h->h projection
    // (embedding and head shared with the main model), per the V3 technical report.
    const double layer = attn + 2 * h + d(e.routed_experts) * expert + d(e.shared_experts) * swiglu(h, d(e.shared_intermediate)) +
                         h * d(e.routed_experts);
    p.mtp = d(m.mtp_layers) * (layer + 2 * h + 2 * h * h + h);
  }
  return p;
}

double kv_bytes_per_token_per_layer(const ModelSpec& m, double bytes_per_element) {
  if (m.attention_type == AttentionType::mla) {
    return d(m.mla.kv_lora_rank + m.mla.qk_rope_head_dim) * bytes_per_element;
  }
  return 2.0 * d(m.num_kv_heads) * d(m.head_dim) * bytes_per_element;
}

double kv_bytes_per_token(const ModelSpec& m, Precision kv) {
  return d(m.num_layers()) * kv_bytes_per_token_per_layer(m, info(kv).bytes_per_element);
}

double kv_bytes_per_token_full_layers(const ModelSpec& m, Precision kv) {
  const double full = d(m.num_layers() - m.num_window_layers());
  return full * kv_bytes_per_token_per_layer(m, info(kv).bytes_per_element);
}

double kv_bytes_for_context(const ModelSpec& m, Precision kv, double context_tokens) {
  const double per_layer = kv_bytes_per_token_per_layer(m, info(kv).bytes_per_element);
  double tokens = 0;
  for (const auto& l : m.layers) {
    tokens += l.attention == AttentionKind::full ? context_tokens
                                                 : std::min(context_tokens, d(l.window_tokens));
  }
  return tokens * per_layer;
}

double attention_flops_per_token(const ModelSpec& m, double context_tokens) {
  const double nh = d(m.num_heads);
  // Scores (q.k) and weighted values (p.v): 2 FLOPs per multiply-add.
  double per_key = 0;
  if (m.attention_type == AttentionType::mla) {
    per_key = 2 * nh * d(m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim) + 2 * nh * d(m.mla.v_head_dim);
  } else {
    per_key = 4 * nh * d(m.head_dim);
  }
  double keys = 0;
  for (const auto& l : m.layers) {
    keys += l.attention == AttentionKind::full ? context_tokens : std::min(context_tokens, d(l.window_tokens));
  }
  return per_key * keys;
}

double flops_per_token(const ModelSpec& m, double context_tokens) {
  return 2 * count_params(m).active_matmul() + attention_flops_per_token(m, context_tokens);
}

}  // namespace tf::model
