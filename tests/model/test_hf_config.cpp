// The Hugging Face config reader: dispatch, normalisation and clear errors.
#include <gtest/gtest.h>

#include "core/diagnostic.hpp"
#include "model/accounting.hpp"
#include "model/hf_config.hpp"
#include "support/test_support.hpp"

namespace tf::model {
namespace {

Diagnostic error_of(const std::string& json) {
  try {
    (void)read_hf_config_string(json, "cfg.json");
  } catch (const DiagnosticError& e) {
    return e.diagnostic();
  }
  ADD_FAILURE() << "no error";
  return {};
}

const char* kTiny = R"({
  "architectures": ["LlamaForCausalLM"],
  "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000
})";

TEST(HfConfig, TinyLlamaByHand) {
  const auto m = read_hf_config_string(kTiny, "tiny");
  EXPECT_EQ(m.head_dim, 64);
  const double layer = 256.0 * 256 * 2 + 2.0 * 256 * 128 + 3.0 * 256 * 512 + 2 * 256;
  EXPECT_DOUBLE_EQ(count_params(m).total(), 2.0 * 1000 * 256 + 2 * layer + 256);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, Precision::bf16), 2.0 * 2 * 2 * 64 * 2);
}

TEST(HfConfig, TiedEmbeddingsCountOnce) {
  std::string j = kTiny;
  j.insert(j.rfind('}'), R"(, "tie_word_embeddings": true)");
  const auto tied = read_hf_config_string(j, "tied");
  const auto untied = read_hf_config_string(kTiny, "untied");
  EXPECT_DOUBLE_EQ(count_params(untied).total() - count_params(tied).total(), 1000.0 * 256);
}

TEST(HfConfig, UnknownArchitectureListsSupported) {
  const auto d = error_of(R"({"architectures": ["MambaForCausalLM"], "hidden_size": 1})");
  EXPECT_EQ(d.key, "architectures");
  EXPECT_NE(d.message.find("MambaForCausalLM"), std::string::npos);
  EXPECT_NE(d.hint.find("LlamaForCausalLM"), std::string::npos);
  EXPECT_NE(d.hint.find("DeepseekV3ForCausalLM"), std::string::npos);
}

TEST(HfConfig, MisspelledArchitectureSuggests) {
  const auto d = error_of(R"({"architectures": ["LlamaForCasualLM"]})");
  EXPECT_NE(d.hint.find("did you mean 'LlamaForCausalLM'"), std::string::npos) << d.hint;
}

TEST(HfConfig, MissingKeyIsNamed) {
  std::string j = kTiny;
  j.replace(j.find("\"vocab_size\": 1000"), 18, "\"vocab\": 1000");
  const auto d = error_of(j);
  EXPECT_EQ(d.key, "vocab_size");
  EXPECT_NE(d.message.find("missing"), std::string::npos);
}

TEST(HfConfig, WrongTypeIsNamed) {
  std::string j = kTiny;
  j.replace(j.find("\"hidden_size\": 256"), 18, "\"hidden_size\": \"256\"");
  const auto d = error_of(j);
  EXPECT_EQ(d.key, "hidden_size");
  EXPECT_NE(d.message.find("expected an integer"), std::string::npos);
}

TEST(HfConfig, ImpossibleHeadCounts) {
  std::string j = kTiny;
  j.replace(j.find("\"num_key_value_heads\": 2"), 24, "\"num_key_value_heads\": 3");
  EXPECT_EQ(error_of(j).key, "num_key_value_heads");
  j = kTiny;
  j.replace(j.find("\"num_hidden_layers\": 2"), 22, "\"num_hidden_layers\": 0");
  EXPECT_NE(error_of(j).message.find("must be >= 1"), std::string::npos);
}

TEST(HfConfig, MalformedJsonGivesLine) {
  const auto d = error_of("{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"hidden_size\": ,\n}");
  EXPECT_NE(d.message.find("malformed JSON"), std::string::npos);
  EXPECT_EQ(d.line, 3);
}

TEST(HfConfig, QwenSlidingWindowDisabledMeansFullAttention) {
  const auto m = read_hf_config_string(R"({
    "architectures": ["Qwen3ForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 128,
    "vocab_size": 1000, "sliding_window": 4096, "use_sliding_window": false})", "q");
  EXPECT_EQ(m.num_window_layers(), 0);
  EXPECT_EQ(m.head_dim, 128);  // explicit head_dim wins over hidden/heads
  EXPECT_TRUE(m.qk_norm);
}

TEST(HfConfig, GptOssNeedsLayerTypesOfRightLength) {
  const auto d = error_of(R"({"architectures": ["GptOssForCausalLM"], "hidden_size": 64, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 10,
    "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": 8,
    "layer_types": ["sliding_attention"]})");
  EXPECT_EQ(d.key, "layer_types");
}

TEST(HfConfig, TopKAboveExpertCountIsRejected) {
  const auto d = error_of(R"({"architectures": ["MixtralForCausalLM"], "hidden_size": 64, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 10,
    "num_local_experts": 4, "num_experts_per_tok": 8})");
  EXPECT_EQ(d.key, "num_experts_per_tok");
}

TEST(HfConfig, QuantConfigBesideConfigSetsNativePrecision) {
  test::TempDir dir;
  const auto cfg = dir.write("m/config.json", kTiny);
  dir.write("m/hf_quant_config.json",
            R"({"quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": "FP8"}})");
  const auto m = read_hf_config(cfg, "m");
  EXPECT_EQ(m.native_weight_precision, Precision::nvfp4);
  ASSERT_TRUE(m.native_kv_precision.has_value());
  EXPECT_EQ(*m.native_kv_precision, Precision::fp8);
}

TEST(HfConfig, SharedReferenceConfigsAllParse) {
  // The verbatim configs in ../shared/reference/hf-configs (when present) parse or fail with a
  // clear unsupported-architecture message, never a crash.
  const auto dir = test::shared_dir() / "reference" / "hf-configs";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "shared/reference/hf-configs not present";
  int parsed = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.find("_config.json") == std::string::npos || name.find("quant") != std::string::npos) continue;
    try {
      const auto m = read_hf_config(e.path(), name);
      EXPECT_GT(count_params(m).total(), 1e9) << name;
      ++parsed;
    } catch (const DiagnosticError& err) {
      EXPECT_NE(err.diagnostic().message.find("unsupported architecture"), std::string::npos) << err.what();
    }
  }
  EXPECT_GE(parsed, 15);
}

}  // namespace
}  // namespace tf::model
