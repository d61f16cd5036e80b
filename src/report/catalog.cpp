#include "report/catalog.hpp"

#include "core/units.hpp"
#include "model/accounting.hpp"

namespace tf::report {
namespace {

using json = Json;
using hardware::SystemSpec;

json sourced(const hardware::Sourced& s, const char* unit) {
  json j{{"value", s.value}, {"unit", unit}, {"source", s.source}};
  if (!s.note.empty()) j["note"] = s.note;
  return j;
}

template <typename T>
void put(json& j, const char* key, const std::optional<T>& v, const char* unit) {
  if (v) j[key] = sourced(*v, unit);
}

std::string compute_unit(ComputeClass c) {
  return c == ComputeClass::int8 || c == ComputeClass::int4 ? "OP/s" : "FLOP/s";
}

}  // namespace

json hardware_summary(const SystemSpec& s) {
  json j{{"id", s.id}, {"name", s.name}, {"vendor", s.vendor}, {"family", s.family},
         {"status", std::string(to_string(s.status))}};
  const auto& mem = s.main_memory();
  j["memory_kind"] = std::string(to_string(mem.kind));
  j["memory_capacity_bytes"] = s.memory_capacity_bytes();
  j["memory_bandwidth_bytes_per_s"] = mem.bandwidth_bytes_per_s.value;
  json c = json::object();
  for (const auto& [cls, q] : s.compute) c[std::string(to_string(cls))] = q.value;
  j["dense_peak_per_s"] = c;
  j["scale_up_domain_chips"] = s.scale_up_domain_chips.value;
  j["scale_up_bytes_per_s_per_direction"] =
      s.scale_up.bandwidth_bytes_per_s ? json(s.scale_up.bandwidth_bytes_per_s->value) : json(nullptr);
  j["chip_power_w"] = s.chip_power_w ? json(s.chip_power_w->value) : json(nullptr);
  j["all_in_power_w_per_chip"] = s.all_in_power_w_per_chip ? json(s.all_in_power_w_per_chip->value) : json(nullptr);
  j["usd_per_chip_hour"] = s.usd_per_chip_hour ? json(s.usd_per_chip_hour->value) : json(nullptr);
  return j;
}

json hardware_detail(const SystemSpec& s) {
  json j{{"id", s.id}, {"name", s.name}, {"vendor", s.vendor}, {"family", s.family},
         {"status", std::string(to_string(s.status))}, {"released", s.released}, {"file", s.file}};
  if (!s.variant_of.empty()) j["variant_of"] = s.variant_of;
  json mem = json::array();
  for (const auto& t : s.memory) {
    mem.push_back({{"tier", std::string(to_string(t.kind))}, {"technology", t.technology},
                   {"capacity_bytes", sourced(t.capacity_bytes, "B")},
                   {"bandwidth_bytes_per_s", sourced(t.bandwidth_bytes_per_s, "B/s")}});
  }
  json chip{{"memory", mem}};
  json comp = json::object();
  for (const auto& [cls, q] : s.compute) comp[std::string(to_string(cls))] = sourced(q, compute_unit(cls).c_str());
  chip["compute_dense"] = comp;
  put(chip, "power_w", s.chip_power_w, "W");
  j["chip"] = chip;
  auto link = [](const hardware::Link& l) {
    json k{{"technology", l.technology}};
    put(k, "bandwidth_bytes_per_s_per_direction", l.bandwidth_bytes_per_s, "B/s");
    put(k, "latency_s", l.latency_s, "s");
    return k;
  };
  j["scale_up"] = link(s.scale_up);
  j["scale_up"]["domain_chips"] = sourced(s.scale_up_domain_chips, "chips");
  j["scale_out"] = link(s.scale_out);
  json host = json::object();
  put(host, "chips_per_node", s.host.chips_per_node, "chips");
  put(host, "cpu_cores_per_chip", s.host.cpu_cores_per_chip, "cores");
  put(host, "dram_bytes_per_chip", s.host.dram_bytes_per_chip, "B");
  put(host, "dram_bandwidth_bytes_per_s_per_chip", s.host.dram_bandwidth_bytes_per_s_per_chip, "B/s");
  put(host, "ssd_bytes_per_node", s.host.ssd_bytes_per_node, "B");
  put(host, "ssd_bandwidth_bytes_per_s_per_node", s.host.ssd_bandwidth_bytes_per_s_per_node, "B/s");
  put(host, "pcie_bandwidth_bytes_per_s_per_chip", s.host.pcie_bandwidth_bytes_per_s_per_chip, "B/s");
  j["host"] = host;
  put(j, "all_in_power_w_per_chip", s.all_in_power_w_per_chip, "W");
  put(j, "capex_usd_per_chip", s.capex_usd_per_chip, "USD");
  put(j, "usd_per_chip_hour", s.usd_per_chip_hour, "USD/h");
  return j;
}

json model_json(const model::ModelSpec& m, const model::ModelEntry* entry, bool detail) {
  const auto p = model::count_params(m);
  json j{{"id", m.id}, {"architecture", m.architecture}};
  j["num_layers"] = m.num_layers();
  j["hidden_size"] = m.hidden_size;
  j["num_attention_heads"] = m.num_heads;
  j["num_key_value_heads"] = m.num_kv_heads;
  j["head_dim"] = m.head_dim;
  j["vocab_size"] = m.vocab_size;
  j["max_position_embeddings"] = m.max_position_embeddings;
  j["attention_type"] = std::string(to_string(m.attention_type));
  j["moe"] = m.is_moe();
  if (m.is_moe()) {
    j["routed_experts"] = m.moe.routed_experts;
    j["experts_per_token"] = m.moe.experts_per_token;
    j["shared_experts"] = m.moe.shared_experts;
    j["moe_layers"] = m.num_moe_layers();
    j["expert_load_cv"] = m.moe.load_cv;
    j["expert_load_cv_source"] = m.moe.load_cv_source;
  }
  j["window_layers"] = m.num_window_layers();
  j["total_params"] = p.total();
  j["active_params"] = p.active();
  j["kv_bytes_per_token_bf16"] = model::kv_bytes_per_token(m, Precision::bf16);
  j["kv_bytes_per_token_fp8"] = model::kv_bytes_per_token(m, Precision::fp8);
  j["kv_bytes_per_token_bf16_full_layers"] = model::kv_bytes_per_token_full_layers(m, Precision::bf16);
  j["native_weight_precision"] = std::string(to_string(m.native_weight_precision));
  if (detail) {
    j["source_file"] = m.source_file;
    if (!m.quantization_note.empty()) j["quantization"] = m.quantization_note;
    if (m.attention_type == model::AttentionType::mla) {
      j["mla"] = {{"q_lora_rank", m.mla.q_lora_rank}, {"kv_lora_rank", m.mla.kv_lora_rank},
                  {"qk_nope_head_dim", m.mla.qk_nope_head_dim}, {"qk_rope_head_dim", m.mla.qk_rope_head_dim},
                  {"v_head_dim", m.mla.v_head_dim}};
    }
    j["mtp_layers"] = m.mtp_layers;
    j["params"] = {{"embedding", p.embedding}, {"lm_head", p.lm_head}, {"attention", p.attention},
                   {"dense_ffn", p.dense_ffn}, {"routed_experts", p.routed_experts},
                   {"routed_experts_active", p.routed_experts_active}, {"shared_experts", p.shared_experts},
                   {"router", p.router}, {"norms", p.norms}, {"vision", p.vision}, {"mtp_excluded", p.mtp}};
    json kv = json::object();
    for (long long ctx : {1024LL, 8192LL, 32768LL, 131072LL}) {
      kv[std::to_string(ctx)] = model::kv_bytes_for_context(m, Precision::bf16, static_cast<double>(ctx));
    }
    j["kv_bytes_per_sequence_bf16_at_context"] = kv;
    json fl = json::object();
    for (long long ctx : {1LL, 1024LL, 8192LL, 32768LL, 131072LL}) {
      fl[std::to_string(ctx)] = model::flops_per_token(m, static_cast<double>(ctx));
    }
    j["flops_per_token_at_context"] = fl;
    json layers = json::array();
    for (const auto& l : m.layers) {
      json lj{{"attention", std::string(to_string(l.attention))}, {"moe", l.moe}};
      if (l.window_tokens) lj["window_tokens"] = l.window_tokens;
      if (!l.moe) lj["dense_intermediate"] = l.dense_intermediate;
      layers.push_back(lj);
    }
    j["layers"] = layers;
  }
  if (entry) {
    j["config_source"] = entry->config_source;
    if (entry->total_params_billion)
      j["published_total_params"] = {{"value", entry->total_params_billion->value * 1e9},
                                     {"source", entry->total_params_billion->source}};
    if (entry->active_params_billion)
      j["published_active_params"] = {{"value", entry->active_params_billion->value * 1e9},
                                      {"source", entry->active_params_billion->source}};
  }
  return j;
}


Json catalog_document(const std::vector<hardware::SystemSpec>& systems, const model::ModelCatalog& models) {
  Json j{{"schema", "tokenfactory.catalog/1"}, {"hardware", Json::array()}, {"models", Json::array()}};
  for (const auto& s : systems) j["hardware"].push_back(hardware_summary(s));
  for (const auto& e : models.entries()) j["models"].push_back(model_json(models.resolve(e.id), &e, false));
  return j;
}

}  // namespace tf::report
