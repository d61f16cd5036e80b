// Parameter, KV and FLOP accounting against hand-computed cases.
#include <gtest/gtest.h>

#include "model/accounting.hpp"
#include "model/catalog.hpp"
#include "support/test_support.hpp"

namespace tf::model {
namespace {

ModelSpec load(const std::string& id) {
  static const ModelCatalog c = ModelCatalog::load(test::data_dir() / "models");
  return c.resolve(id);
}

TEST(Accounting, Llama31_70B_ExactParameterCount) {
  const auto m = load("meta-llama/Llama-3.1-70B-Instruct");
  // embed + lm_head: 2 x 128256 x 8192
  const double emb = 2.0 * 128256 * 8192;
  // per layer: q,o 8192x8192 each; k,v 8192x1024 each; SwiGLU 3 x 8192 x 28672; 2 RMSNorms
  const double layer = 2.0 * 8192 * 8192 + 2.0 * 8192 * 1024 + 3.0 * 8192 * 28672 + 2 * 8192;
  const double expected = emb + 80 * layer + 8192;
  EXPECT_DOUBLE_EQ(expected, 70553706496.0);
  EXPECT_DOUBLE_EQ(count_params(m).total(), expected);
  EXPECT_DOUBLE_EQ(count_params(m).active(), expected);  // dense
}

TEST(Accounting, DeepSeekV3_MlaAndMoeParameterCount) {
  const auto m = load("deepseek-ai/DeepSeek-V3");
  const double h = 7168, nh = 128;
  const double q = h * 1536 + 1536 + 1536 * nh * (128 + 64);  // q_a, q_a_norm, q_b
  const double kv = h * (512 + 64) + 512 + 512 * nh * (128 + 128);  // kv_a (+rope), norm, kv_b
  const double o = nh * 128 * h;
  const double attn = q + kv + o;
  const double expert = 3 * h * 2048;
  const double moe_layer = 256 * expert + 1 * expert /*shared*/ + h * 256 + 256 /*router + bias*/;
  const double total = 2 * 129280 * h + 61 * attn + 3 * (3 * h * 18432) + 58 * moe_layer + 61 * 2 * h + h;
  const double active = total - 58 * (256 - 8) * expert;
  const auto p = count_params(m);
  EXPECT_DOUBLE_EQ(p.total(), total);
  EXPECT_DOUBLE_EQ(p.active(), active);
  EXPECT_NEAR(p.total() / 1e9, 671.03, 0.005);
  EXPECT_NEAR(p.active() / 1e9, 37.55, 0.005);
  EXPECT_GT(p.mtp, 0);  // reported separately, not in the total
}

TEST(Accounting, KvBytesPerTokenHandFormulas) {
  // GQA: 2 (K,V) x layers x kv_heads x head_dim x bytes
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(load("meta-llama/Llama-3.1-70B-Instruct"), Precision::bf16),
                   2.0 * 80 * 8 * 128 * 2);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(load("meta-llama/Llama-3.1-70B-Instruct"), Precision::fp8),
                   2.0 * 80 * 8 * 128 * 1);
  // MLA: layers x (kv_lora_rank + qk_rope_head_dim) x bytes
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(load("deepseek-ai/DeepSeek-R1"), Precision::bf16), 61.0 * (512 + 64) * 2);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(load("deepseek-ai/DeepSeek-R1"), Precision::bf16), 70272.0);
  // Llama-2-7B is full multi-head attention: 32 kv heads.
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(load("meta-llama/Llama-2-7b-hf"), Precision::bf16), 2.0 * 32 * 32 * 128 * 2);
}

TEST(Accounting, SlidingWindowLayersCapTheirKv) {
  const auto m = load("openai/gpt-oss-120b");  // 18 full + 18 sliding(128) layers, 8 kv heads x 64
  const double per_layer = 2.0 * 8 * 64 * 2;
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, Precision::bf16), 36 * per_layer);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token_full_layers(m, Precision::bf16), 18 * per_layer);
  EXPECT_DOUBLE_EQ(kv_bytes_for_context(m, Precision::bf16, 131072), 18 * 131072 * per_layer + 18 * 128 * per_layer);
  // Below the window every layer grows.
  EXPECT_DOUBLE_EQ(kv_bytes_for_context(m, Precision::bf16, 100), 36 * 100 * per_layer);
}

TEST(Accounting, Llama4ChunkedAndGlobalLayers) {
  const auto m = load("meta-llama/Llama-4-Scout-17B-16E-Instruct");
  ASSERT_EQ(m.num_layers(), 48);
  EXPECT_EQ(m.num_window_layers(), 36);
  for (int i = 0; i < 48; ++i) {
    const auto& l = m.layers[static_cast<size_t>(i)];
    if ((i + 1) % 4 == 0) {
      EXPECT_EQ(l.attention, AttentionKind::full) << i;
    } else {
      EXPECT_EQ(l.attention, AttentionKind::chunked) << i;
      EXPECT_EQ(l.window_tokens, 8192);
    }
  }
  const double per_layer = 2.0 * 8 * 128 * 2;
  EXPECT_DOUBLE_EQ(kv_bytes_for_context(m, Precision::bf16, 1e6), 12 * 1e6 * per_layer + 36 * 8192 * per_layer);
  EXPECT_EQ(m.num_moe_layers(), 48);
  const auto mav = load("meta-llama/Llama-4-Maverick-17B-128E-Instruct");
  EXPECT_EQ(mav.num_moe_layers(), 24);
  EXPECT_TRUE(mav.layers[1].moe);
  EXPECT_FALSE(mav.layers[0].moe);
  EXPECT_EQ(mav.layers[0].dense_intermediate, 16384);
}

TEST(Accounting, MistralSlidingWindowEveryLayer) {
  const auto m = load("mistralai/Mistral-7B-v0.1");
  EXPECT_EQ(m.num_window_layers(), 32);
  EXPECT_DOUBLE_EQ(kv_bytes_for_context(m, Precision::bf16, 10000), 32.0 * 4096 * 2 * 8 * 128 * 2);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token_full_layers(m, Precision::bf16), 0.0);
}

TEST(Accounting, FlopsPerTokenIsTwiceActiveWeightsPlusAttention) {
  const auto m = load("meta-llama/Llama-3.1-8B-Instruct");
  const auto p = count_params(m);
  const double matmul = p.active() - 128256.0 * 4096;  // the input embedding is a lookup
  EXPECT_DOUBLE_EQ(flops_per_token(m, 0), 2 * matmul);
  // attention: 4 x heads x head_dim FLOPs per key per layer
  EXPECT_DOUBLE_EQ(flops_per_token(m, 8192) - flops_per_token(m, 0), 4.0 * 32 * 128 * 8192 * 32);
}

TEST(Accounting, MlaAttentionFlopsUseQkAndVHeadDims) {
  const auto m = load("deepseek-ai/DeepSeek-V3");
  EXPECT_DOUBLE_EQ(attention_flops_per_token(m, 1000), 61.0 * 1000 * (2 * 128 * 192 + 2 * 128 * 128));
}

}  // namespace
}  // namespace tf::model
