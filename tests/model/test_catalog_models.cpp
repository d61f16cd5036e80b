// Every bundled model: totals within 1% of the published figures, KV bytes per token exactly
// equal to the hand formula computed here straight from the raw config fields.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/diagnostic.hpp"
#include "model/accounting.hpp"
#include "model/catalog.hpp"
#include "support/test_support.hpp"

namespace tf::model {
namespace {

const ModelCatalog& catalog() {
  static const ModelCatalog c = ModelCatalog::load(test::data_dir() / "models");
  return c;
}

TEST(ModelCatalog, HasEveryRequiredModel) {
  for (const char* id :
       {"meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-70b-chat-hf", "meta-llama/Llama-3.1-8B-Instruct",
        "meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.1-405B-Instruct",
        "meta-llama/Llama-4-Scout-17B-16E-Instruct", "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
        "mistralai/Mistral-7B-v0.1", "mistralai/Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x22B-v0.1", "Qwen/Qwen3-8B",
        "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-235B-A22B", "deepseek-ai/DeepSeek-V3",
        "deepseek-ai/DeepSeek-R1", "moonshotai/Kimi-K2-Instruct", "openai/gpt-oss-20b", "openai/gpt-oss-120b"}) {
    EXPECT_NE(catalog().find(id), nullptr) << id;
  }
}

TEST(ModelCatalog, TotalParametersWithinOnePercentOfPublished) {
  for (const auto& e : catalog().entries()) {
    SCOPED_TRACE(e.id);
    ASSERT_TRUE(e.total_params_billion.has_value());
    const double computed = count_params(catalog().resolve(e.id)).total() / 1e9;
    const double published = e.total_params_billion->value;
    EXPECT_LE(std::fabs(computed - published) / published, 0.01) << computed << " vs " << published;
  }
}

TEST(ModelCatalog, ActiveParametersMatchPublishedRoundedFigures) {
  // Published active counts are rounded (DeepSeek "37B", Kimi "32B") and some exclude the input
  // embedding (gpt-oss); our active count includes embeddings and LM head. Within 5% of the
  // published figure, or of it plus the embedding where the publisher excludes it.
  for (const auto& e : catalog().entries()) {
    SCOPED_TRACE(e.id);
    ASSERT_TRUE(e.active_params_billion.has_value());
    const auto m = catalog().resolve(e.id);
    const auto p = count_params(m);
    const double published = e.active_params_billion->value;
    const double with = p.active() / 1e9, without = (p.active() - p.embedding) / 1e9;
    const double err = std::min(std::fabs(with - published), std::fabs(without - published)) / published;
    EXPECT_LE(err, 0.05) << with << " / " << without << " vs " << published;
  }
}

TEST(ModelCatalog, KvBytesPerTokenExactlyMatchHandFormula) {
  for (const auto& e : catalog().entries()) {
    SCOPED_TRACE(e.id);
    nlohmann::json raw = nlohmann::json::parse(std::ifstream(e.config_path));
    if (raw.contains("text_config")) raw = raw["text_config"];
    const double layers = raw["num_hidden_layers"].get<double>();
    double expected = 0;
    if (raw.contains("kv_lora_rank")) {
      expected = layers * (raw["kv_lora_rank"].get<double>() + raw["qk_rope_head_dim"].get<double>()) * 2;
    } else {
      const double heads = raw["num_attention_heads"].get<double>();
      const double kv = raw.value("num_key_value_heads", heads);
      const double hd = raw.contains("head_dim") ? raw["head_dim"].get<double>()
                                                  : raw["hidden_size"].get<double>() / heads;
      expected = 2 * layers * kv * hd * 2;
    }
    const auto m = catalog().resolve(e.id);
    EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, Precision::bf16), expected);
    EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, Precision::fp8), expected / 2);
  }
}

TEST(ModelCatalog, ShortNamesResolveCaseInsensitively) {
  EXPECT_EQ(catalog().resolve("deepseek-r1").id, "deepseek-ai/DeepSeek-R1");
  EXPECT_EQ(catalog().resolve("LLAMA-3.1-70B-INSTRUCT").id, "meta-llama/Llama-3.1-70B-Instruct");
}

TEST(ModelCatalog, PathToConfigWorksLikeAnId) {
  const auto& e = *catalog().find("Qwen/Qwen3-8B");
  const auto by_path = catalog().resolve(e.config_path.string());
  const auto by_dir = catalog().resolve(e.config_path.parent_path().string());
  EXPECT_DOUBLE_EQ(count_params(by_path).total(), count_params(catalog().resolve("Qwen/Qwen3-8B")).total());
  EXPECT_DOUBLE_EQ(count_params(by_dir).total(), count_params(by_path).total());
}

TEST(ModelCatalog, UnknownModelSuggests) {
  try {
    (void)catalog().resolve("deepseek-r2");
    FAIL();
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().hint.find("did you mean"), std::string::npos) << e.what();
  }
}

// MoE models resolve with the routing skew of data/models/moe-routing.yaml (a catalog id and a
// bare config path alike); dense models have none.
TEST(ModelCatalog, MoeModelsCarryTheirRoutingSkewWithItsSource) {
  const auto r1 = catalog().resolve("deepseek-ai/DeepSeek-R1");
  EXPECT_DOUBLE_EQ(r1.moe.load_cv, 1.28);
  EXPECT_NE(r1.moe.load_cv_source.find("TensorRT-LLM tech blog 4"), std::string::npos);
  const auto by_path = catalog().resolve(catalog().find("Qwen/Qwen3-30B-A3B")->config_path.string());
  EXPECT_DOUBLE_EQ(by_path.moe.load_cv, 1.28);
  EXPECT_EQ(catalog().resolve("meta-llama/Llama-3.1-8B-Instruct").moe.load_cv, 0);
}

// A bad routing file names the file and key: an unknown model, a value out of range, a figure
// without its source, an unknown key.
TEST(ModelCatalog, BadRoutingFileNamesTheKey) {
  const std::string cfg = [] {
    std::ifstream in(catalog().find("Qwen/Qwen3-30B-A3B")->config_path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  auto attempt = [&](const std::string& routing, const std::string& words) {
    test::TempDir dir;
    dir.write("Qwen/Qwen3-30B-A3B/config.json", cfg);
    dir.write("Qwen/Qwen3-30B-A3B/source.yaml",
              "hf_id: Qwen/Qwen3-30B-A3B\nconfig_source: \"test copy\"\n");
    dir.write("moe-routing.yaml", routing);
    try {
      (void)ModelCatalog::load(dir.path());
      ADD_FAILURE() << "accepted: " << routing;
    } catch (const DiagnosticError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("moe-routing.yaml"), std::string::npos) << what;
      EXPECT_NE(what.find(words), std::string::npos) << what;
    }
  };
  const std::string ok = "  expert_load_cv: {value: 1.0, source: \"test\"}\n";
  attempt("default:\n" + ok + "models:\n  org/none:\n  " + ok, "not a catalog model");
  attempt("default:\n  expert_load_cv: {value: -1, source: \"test\"}\n", "[0, 10]");
  attempt("default:\n  expert_load_cv: {value: 1.0}\n", "source");
  attempt("default:\n" + ok + "skew: 1\n", "skew");
  // Without the file, routing is uniform.
  test::TempDir dir;
  dir.write("Qwen/Qwen3-30B-A3B/config.json", cfg);
  dir.write("Qwen/Qwen3-30B-A3B/source.yaml", "hf_id: Qwen/Qwen3-30B-A3B\nconfig_source: \"test copy\"\n");
  EXPECT_EQ(ModelCatalog::load(dir.path()).resolve("Qwen/Qwen3-30B-A3B").moe.load_cv, 0);
}

}  // namespace
}  // namespace tf::model
