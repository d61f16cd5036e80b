#include "model/hf_config.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <functional>

#include "core/diagnostic.hpp"
#include "io/json_reader.hpp"
#include "io/text.hpp"

namespace tf::model {
namespace {

using io::JsonObject;
// Most decoder layers a config.json may declare (the largest published models have under 200;
// the bound keeps a typo such as 1e11 from allocating without limit). Documented in
// docs/model-accounting.md.
constexpr long long kMaxLayers = 16384;
// Lower bound for keys whose own check gives the clearer message ("must be >= 1 or null").
constexpr long long kAnyInt = -io::kMaxJsonCount;
using Reader = std::function<void(const JsonObject&, ModelSpec&)>;

struct Entry {
  ArchitectureInfo info;
  Reader read;
};

// ---- shared pieces -------------------------------------------------------------------------

void read_common(const JsonObject& c, ModelSpec& m) {
  m.hidden_size = c.required_count("hidden_size");
  m.vocab_size = c.required_count("vocab_size");
  m.num_heads = c.required_count("num_attention_heads");
  m.num_kv_heads = c.optional_count("num_key_value_heads").value_or(m.num_heads);
  if (m.num_kv_heads < 1 || m.num_heads % m.num_kv_heads != 0) {
    c.fail("num_key_value_heads",
           fmt::format("{} does not divide num_attention_heads {}", m.num_kv_heads, m.num_heads));
  }
  m.head_dim = c.optional_count("head_dim").value_or(0);
  if (m.head_dim == 0) {
    if (m.hidden_size % m.num_heads != 0)
      c.fail("head_dim", "missing and hidden_size is not a multiple of num_attention_heads");
    m.head_dim = m.hidden_size / m.num_heads;
  }
  m.max_position_embeddings = c.optional_count("max_position_embeddings").value_or(0);
  m.tie_word_embeddings = c.optional_bool("tie_word_embeddings").value_or(false);
  m.attention_bias = c.optional_bool("attention_bias").value_or(false);
  const long long n = c.required_count("num_hidden_layers", 1, kMaxLayers);
  m.layers.assign(static_cast<size_t>(n), LayerSpec{});
}

void dense_ffn_everywhere(const JsonObject& c, ModelSpec& m, const char* key = "intermediate_size") {
  const long long inter = c.required_count(key);
  for (auto& l : m.layers) {
    l.moe = false;
    l.dense_intermediate = inter;
  }
}

// Mistral-style `sliding_window` on every layer (null or absent = full attention).
void uniform_sliding_window(const JsonObject& c, ModelSpec& m) {
  if (c.optional_bool("use_sliding_window") == false) return;  // Qwen: window present but disabled
  if (auto w = c.optional_count("sliding_window", kAnyInt)) {
    if (*w < 1) c.fail("sliding_window", "must be >= 1 or null");
    for (auto& l : m.layers) {
      l.attention = AttentionKind::sliding;
      l.window_tokens = *w;
    }
  }
}

// Explicit per-layer list: "full_attention" / "sliding_attention".
void layer_types(const JsonObject& c, ModelSpec& m) {
  const auto* types = c.optional_array("layer_types");
  if (!types) return;
  if (types->size() != m.layers.size()) {
    c.fail("layer_types", fmt::format("has {} entries for {} layers", types->size(), m.layers.size()));
  }
  const long long window = c.optional_count("sliding_window", kAnyInt).value_or(0);
  for (size_t i = 0; i < types->size(); ++i) {
    const auto& t = (*types)[i];
    const std::string s = t.is_string() ? t.get<std::string>() : io::describe_json(t);
    if (s == "full_attention") {
      m.layers[i].attention = AttentionKind::full;
      m.layers[i].window_tokens = 0;
    } else if (s == "sliding_attention") {
      if (window < 1) c.fail("sliding_window", "required (>= 1) when layer_types has sliding_attention");
      m.layers[i].attention = AttentionKind::sliding;
      m.layers[i].window_tokens = window;
    } else {
      c.fail(fmt::format("layer_types[{}]", i), fmt::format("unknown layer type {}", s),
             "valid: full_attention, sliding_attention");
    }
  }
}

void native_precision(const JsonObject& c, ModelSpec& m) {
  const auto dtype = c.optional_string("torch_dtype").value_or("bfloat16");
  if (dtype != "bfloat16" && dtype != "float16" && dtype != "float32")
    c.fail("torch_dtype", fmt::format("unknown dtype '{}'", dtype), "valid: bfloat16, float16, float32");
  m.native_weight_precision = dtype == "float16" ? Precision::fp16
                              : dtype == "float32" ? Precision::fp32
                                                   : Precision::bf16;
  const Precision unquantised = m.native_weight_precision;
  if (auto q = c.optional_object("quantization_config")) {
    const auto method = q->optional_string("quant_method").value_or("");
    // Modules the quantisation skips (gpt-oss: self_attn, router, embeddings, lm_head stay
    // bf16): attention projections named there keep the checkpoint's 16-bit precision.
    if (const auto* skip = q->optional_array("modules_to_not_convert")) {
      for (const auto& s : *skip) {
        if (!s.is_string()) q->fail("modules_to_not_convert", "expected a list of module name strings");
        const auto name = s.get<std::string>();
        if (name.find("self_attn") != std::string::npos || name.find(".attn") != std::string::npos)
          m.native_attention_precision = unquantised;
      }
    }
    if (method == "fp8") {
      m.native_weight_precision = Precision::fp8;
      m.quantization_note = "fp8 weights (quantization_config.quant_method = fp8)";
    } else if (method == "mxfp4") {
      m.native_weight_precision = Precision::mxfp4;
      m.quantization_note = "mxfp4 on MoE expert weights; attention, router, embeddings in bf16";
    } else if (!method.empty()) {
      m.quantization_note = "quantization_config.quant_method = " + method;
    }
  }
}

void moe_gqa(const JsonObject& c, ModelSpec& m, const char* experts_key, const char* inter_key) {
  m.moe.routed_experts = c.required_count(experts_key);
  m.moe.experts_per_token = c.required_count("num_experts_per_tok");
  m.moe.expert_intermediate = c.required_count(inter_key);
  if (m.moe.experts_per_token > m.moe.routed_experts) {
    c.fail("num_experts_per_tok", fmt::format("{} exceeds the {} experts", m.moe.experts_per_token,
                                              m.moe.routed_experts));
  }
}

// ---- architectures -------------------------------------------------------------------------

void read_llama(const JsonObject& c, ModelSpec& m) {
  read_common(c, m);
  dense_ffn_everywhere(c, m);
  uniform_sliding_window(c, m);
  if (c.optional_bool("mlp_bias").value_or(false)) c.fail("mlp_bias", "MLP biases are not supported");
}

void read_qwen2(const JsonObject& c, ModelSpec& m) {
  read_llama(c, m);
  m.qkv_bias_only = true;  // Qwen2 attention: bias on q, k, v; none on o
}

void read_qwen3(const JsonObject& c, ModelSpec& m) {
  read_llama(c, m);
  m.qk_norm = true;
}

void read_mixtral(const JsonObject& c, ModelSpec& m) {
  read_common(c, m);
  uniform_sliding_window(c, m);
  moe_gqa(c, m, "num_local_experts", "intermediate_size");
  for (auto& l : m.layers) l.moe = true;
}

void read_qwen3_moe(const JsonObject& c, ModelSpec& m) {
  read_common(c, m);
  uniform_sliding_window(c, m);
  m.qk_norm = true;
  moe_gqa(c, m, "num_experts", "moe_intermediate_size");
  const long long step = c.optional_count("decoder_sparse_step").value_or(1);
  if (step < 1) c.fail("decoder_sparse_step", "must be >= 1");
  const std::vector<long long> dense_only = c.optional_int_list("mlp_only_layers").value_or(std::vector<long long>{});
  const long long inter = c.optional_count("intermediate_size").value_or(0);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const bool dense = std::find(dense_only.begin(), dense_only.end(), static_cast<long long>(i)) !=
                           dense_only.end() ||
                       (static_cast<long long>(i) + 1) % step != 0;
    m.layers[i].moe = !dense;
    if (dense) {
      if (inter < 1) c.fail("intermediate_size", "required for dense layers of a MoE model");
      m.layers[i].dense_intermediate = inter;
    }
  }
}

void read_deepseek_v3(const JsonObject& c, ModelSpec& m) {
  read_common(c, m);
  m.attention_type = AttentionType::mla;
  m.mla.q_lora_rank = c.optional_count("q_lora_rank").value_or(0);
  m.mla.kv_lora_rank = c.required_count("kv_lora_rank");
  m.mla.qk_nope_head_dim = c.required_count("qk_nope_head_dim");
  m.mla.qk_rope_head_dim = c.required_count("qk_rope_head_dim");
  m.mla.v_head_dim = c.required_count("v_head_dim");
  m.head_dim = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim;
  m.num_kv_heads = m.num_heads;
  moe_gqa(c, m, "n_routed_experts", "moe_intermediate_size");
  m.moe.shared_experts = c.optional_count("n_shared_experts").value_or(0);
  m.moe.shared_intermediate = m.moe.expert_intermediate;
  const long long first_dense = c.optional_count("first_k_dense_replace").value_or(0);
  const long long freq = c.optional_count("moe_layer_freq").value_or(1);
  if (freq < 1) c.fail("moe_layer_freq", "must be >= 1");
  const long long inter = c.required_count("intermediate_size");
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const auto li = static_cast<long long>(i);
    m.layers[i].moe = li >= first_dense && li % freq == 0;
    if (!m.layers[i].moe) m.layers[i].dense_intermediate = inter;
  }
  m.mtp_layers = c.optional_count("num_nextn_predict_layers").value_or(0);
  m.moe.router_bias = c.optional_string("topk_method").value_or("") == "noaux_tc";
}

void read_gpt_oss(const JsonObject& c, ModelSpec& m) {
  read_common(c, m);
  moe_gqa(c, m, "num_local_experts", "intermediate_size");
  for (auto& l : m.layers) l.moe = true;
  m.moe.expert_bias = true;
  m.moe.router_bias = true;
  m.attention_sinks = true;
  if (!c.has("layer_types")) c.fail("layer_types", "missing: gpt-oss alternates sliding and full layers");
  layer_types(c, m);
}

// Llama 4: the text model lives under text_config; vision_config (if present) adds a tower.
long long llama4_vision_params(const JsonObject& v, long long text_hidden) {
  const long long h = v.required_count("hidden_size");
  const long long inter = v.required_count("intermediate_size");
  const long long layers = v.required_count("num_hidden_layers", 0);
  const long long patch = v.required_count("patch_size");
  const long long image = v.required_count("image_size");
  const long long channels = v.optional_count("num_channels").value_or(3);
  const double shuffle = v.optional_number("pixel_shuffle_ratio").value_or(0.5);
  const long long proj_in = v.required_count("projector_input_dim");
  const long long proj_out = v.required_count("projector_output_dim");
  const long long out_dim = v.required_count("vision_output_dim");
  // Encoder layer: q,k,v,o with bias; fc1/fc2 with bias; two LayerNorms with bias. Computed in
  // double: exact for any real tower, and a hostile config cannot overflow an integer.
  const double hd = static_cast<double>(h), interd = static_cast<double>(inter), patchd = static_cast<double>(patch);
  const double per_layer = 4 * (hd * hd + hd) + (hd * interd + interd) + (interd * hd + hd) + 4 * hd;
  const double side = static_cast<double>(image / patch);
  const double patches = side * side + 1;  // + class token
  const double embed = hd /*class*/ + patches * hd /*positional*/ + static_cast<double>(channels) * patchd * patchd * hd +
                       4 * hd /*pre/post LayerNorm*/;
  if (!(shuffle > 0)) v.fail("pixel_shuffle_ratio", "must be > 0");
  const double shuffled = std::floor(hd / (shuffle * shuffle));
  const double adapter = shuffled * static_cast<double>(proj_in) + static_cast<double>(proj_in) * static_cast<double>(proj_out);
  const double projector = static_cast<double>(out_dim) * static_cast<double>(text_hidden);
  const double total = static_cast<double>(layers) * per_layer + embed + adapter + projector;
  if (!(total < 9e18)) v.fail("hidden_size", "the vision tower's parameter count does not fit a 64-bit integer");
  return static_cast<long long>(total);
}

void read_llama4(const JsonObject& root, ModelSpec& m) {
  const auto text = root.optional_object("text_config");
  const JsonObject& c = text ? *text : root;
  read_common(c, m);
  m.tie_word_embeddings = root.optional_bool("tie_word_embeddings").value_or(m.tie_word_embeddings);
  moe_gqa(c, m, "num_local_experts", "intermediate_size");
  m.moe.shared_experts = 1;
  m.moe.shared_intermediate = m.moe.expert_intermediate;
  const long long n = m.num_layers();
  std::vector<bool> moe_layer(static_cast<size_t>(n), false);
  if (const auto ml = c.optional_int_list("moe_layers")) {
    for (const auto i : *ml) {
      if (i < 0 || i >= n) c.fail("moe_layers", fmt::format("layer {} out of range", i));
      moe_layer[static_cast<size_t>(i)] = true;
    }
  } else {
    const long long step = c.optional_count("interleave_moe_layer_step").value_or(1);
    if (step < 1) c.fail("interleave_moe_layer_step", "must be >= 1");
    for (long long i = step - 1; i < n; i += step) moe_layer[static_cast<size_t>(i)] = true;
  }
  const long long dense_inter = c.optional_count("intermediate_size_mlp").value_or(0);
  // Chunked local attention on RoPE layers, global NoPE attention on the others
  // (Meta llama-models llama4/model.py: every 4th layer is NoPE when no_rope_layers is absent).
  const long long chunk = c.optional_count("attention_chunk_size").value_or(0);
  const auto no_rope = c.optional_int_list("no_rope_layers");
  if (no_rope && static_cast<long long>(no_rope->size()) != n)
    c.fail("no_rope_layers", fmt::format("has {} entries for {} layers", no_rope->size(), n));
  for (long long i = 0; i < n; ++i) {
    auto& l = m.layers[static_cast<size_t>(i)];
    l.moe = moe_layer[static_cast<size_t>(i)];
    if (!l.moe) {
      if (dense_inter < 1) c.fail("intermediate_size_mlp", "required for the dense layers");
      l.dense_intermediate = dense_inter;
    }
    const bool uses_rope = no_rope ? (*no_rope)[static_cast<size_t>(i)] != 0 : (i + 1) % 4 != 0;
    if (uses_rope && chunk > 0) {
      l.attention = AttentionKind::chunked;
      l.window_tokens = chunk;
    }
  }
  if (auto v = root.optional_object("vision_config")) m.vision.params = llama4_vision_params(*v, m.hidden_size);
}

const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries = [] {
    const char* hf = "Hugging Face transformers configuration and modeling code for the architecture";
    std::vector<Entry> e;
    e.push_back({{"LlamaForCausalLM", "Llama 2/3/3.1/3.3: dense SwiGLU, GQA, full attention", hf}, read_llama});
    e.push_back({{"MistralForCausalLM", "Mistral: Llama layout with an optional sliding window on every layer", hf},
                 read_llama});
    e.push_back({{"Qwen2ForCausalLM", "Qwen2/2.5 dense: Llama layout with q/k/v biases", hf}, read_qwen2});
    e.push_back({{"Qwen3ForCausalLM", "Qwen3 dense: GQA with QK-norm, explicit head_dim", hf}, read_qwen3});
    e.push_back({{"MixtralForCausalLM", "Mixtral: every layer MoE (num_local_experts, top-k), GQA", hf}, read_mixtral});
    e.push_back({{"Qwen3MoeForCausalLM", "Qwen3 MoE: routed experts, no shared expert, QK-norm", hf}, read_qwen3_moe});
    e.push_back({{"DeepseekV3ForCausalLM",
                  "DeepSeek-V3/R1 and Kimi-K2: MLA latent KV, shared + routed experts, dense first layers, MTP",
                  "DeepSeek-V3 technical report (arXiv 2412.19437) and inference/model.py"},
                 read_deepseek_v3});
    e.push_back({{"GptOssForCausalLM",
                  "gpt-oss: MoE with biased experts, alternating sliding/full layers (layer_types), sinks",
                  "openai/gpt-oss model card and transformers gpt_oss modeling code"},
                 read_gpt_oss});
    e.push_back({{"Llama4ForConditionalGeneration",
                  "Llama 4: interleaved MoE with a shared expert, chunked local attention on RoPE layers, vision tower",
                  "meta-llama/llama-models llama4/model.py and the Llama 4 model card"},
                 read_llama4});
    e.push_back({{"Llama4ForCausalLM", "Llama 4 text-only checkpoint", "as Llama4ForConditionalGeneration"},
                 read_llama4});
    return e;
  }();
  return entries;
}

}  // namespace

const std::vector<ArchitectureInfo>& supported_architectures() {
  static const std::vector<ArchitectureInfo> infos = [] {
    std::vector<ArchitectureInfo> out;
    for (const auto& e : registry()) out.push_back(e.info);
    return out;
  }();
  return infos;
}

static ModelSpec read_document(const io::JsonDocument& doc, const std::string& id) {
  const auto root = doc.object();
  const auto* arch = root.optional_array("architectures");
  if (!arch || arch->empty() || !(*arch)[0].is_string()) {
    root.fail("architectures", "missing or empty", "a Hugging Face config.json lists its model class here");
  }
  const auto name = (*arch)[0].get<std::string>();
  std::vector<std::string> names;
  for (const auto& e : registry()) {
    names.push_back(e.info.name);
    if (e.info.name == name) {
      ModelSpec m;
      m.id = id;
      m.architecture = name;
      m.source_file = *doc.file;
      e.read(root, m);
      native_precision(root, m);
      return m;
    }
  }
  const auto near = closest_match(name, names);
  root.fail("architectures", fmt::format("unsupported architecture '{}'", name),
            (near.empty() ? std::string() : "did you mean '" + near + "'? ") + "supported: " + join(names));
}

ModelSpec read_hf_config_string(const std::string& json_text, const std::string& name) {
  return read_document(io::load_json_string(json_text, name), name);
}

ModelSpec read_hf_config(const std::filesystem::path& config_path, const std::string& id) {
  auto m = read_document(io::load_json_file(config_path), id);
  // NVIDIA ModelOpt checkpoints describe their quantisation in hf_quant_config.json.
  const auto quant_path = config_path.parent_path() / "hf_quant_config.json";
  if (std::filesystem::exists(quant_path)) {
    const auto doc = io::load_json_file(quant_path);
    const auto root = doc.object();
    if (auto q = root.optional_object("quantization")) {
      const auto algo = q->optional_string("quant_algo").value_or("");
      if (algo == "FP8") m.native_weight_precision = Precision::fp8;
      else if (algo == "NVFP4") m.native_weight_precision = Precision::nvfp4;
      else if (algo == "W4A16_AWQ" || algo == "W4A8_AWQ") m.native_weight_precision = Precision::int4;
      else if (!algo.empty()) q->fail("quant_algo", fmt::format("unknown quantisation '{}'", algo),
                                      "known: FP8, NVFP4, W4A16_AWQ, W4A8_AWQ");
      const auto kv = q->optional_string("kv_cache_quant_algo").value_or("");
      if (kv == "FP8") m.native_kv_precision = Precision::fp8;
      else if (kv == "NVFP4") m.native_kv_precision = Precision::nvfp4;
      m.quantization_note = "hf_quant_config.json: " + algo + (kv.empty() ? "" : ", KV " + kv);
    }
  }
  return m;
}

}  // namespace tf::model
