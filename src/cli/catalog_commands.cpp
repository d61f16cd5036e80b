// `tokenfactory catalog ...`: what hardware and models the tool knows, as tables or JSON.
#include <algorithm>
#include <filesystem>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "report/catalog.hpp"
#include "cli/table.hpp"
#include "core/diagnostic.hpp"
#include "core/units.hpp"
#include "model/accounting.hpp"
#include "serving/serving.hpp"
#include "model/hf_config.hpp"

namespace tf::cli {
using namespace report;  // result documents (src/report)
namespace {

using json = nlohmann::ordered_json;
using hardware::SystemSpec;

std::string opt_fixed(const std::optional<hardware::Sourced>& v, double scale, int decimals) {
  return v ? fixed(v->value / scale, decimals) : "-";
}

// "hbm HBM3" for one tier; "sram+hbm+ddr" when a chip has several.
std::string tiers_summary(const SystemSpec& s) {
  if (s.memory.size() == 1) {
    const auto& t = s.memory.front();
    return std::string(to_string(t.kind)) + (t.technology.empty() ? "" : " " + t.technology);
  }
  std::string out;
  for (const auto& t : s.memory) out += (out.empty() ? "" : "+") + std::string(to_string(t.kind));
  return out;
}

void print_hardware_table(const std::vector<SystemSpec>& systems, std::ostream& out) {
  Table t({"id", "vendor", "status", "memory", "GB", "TB/s", "bf16 TF", "fp8 TF", "fp4 TF", "domain",
           "scale-up GB/s/dir", "chip W", "all-in kW", "$/chip-h"});
  t.right_align({4, 5, 6, 7, 8, 9, 10, 11, 12, 13});
  for (const auto& s : systems) {
    const auto& mem = s.main_memory();
    auto peak = [&](ComputeClass c) {
      auto v = s.peak_flop_per_s(c);
      if (!v && c == ComputeClass::bf16) v = s.peak_flop_per_s(ComputeClass::fp16);
      return v ? fixed(*v / 1e12, 0) : "-";
    };
    t.add_row({s.id, s.vendor, std::string(to_string(s.status)),
               tiers_summary(s),
               fixed(s.memory_capacity_bytes() / 1e9, s.memory_capacity_bytes() < 10e9 ? 2 : 0),
               fixed(mem.bandwidth_bytes_per_s.value / 1e12, 2),
               peak(ComputeClass::bf16), peak(ComputeClass::fp8), peak(ComputeClass::fp4),
               fixed(s.scale_up_domain_chips.value, 0), opt_fixed(s.scale_up.bandwidth_bytes_per_s, 1e9, 0),
               opt_fixed(s.chip_power_w, 1, 0), opt_fixed(s.all_in_power_w_per_chip, 1e3, 2),
               opt_fixed(s.usd_per_chip_hour, 1, 2)});
  }
  t.print(out);
  out << "\nGB: on-package capacity per chip (all tiers); TB/s: the largest tier's bandwidth; FLOP/s are dense peaks;\n"
         "scale-up bandwidth per chip per direction.\n";
}

void print_models_table(Context& ctx, std::ostream& out) {
  Table t({"id", "architecture", "layers", "hidden", "attention", "experts (top-k)", "total B", "active B",
           "KV B/token bf16", "max ctx"});
  t.right_align({2, 3, 6, 7, 8, 9});
  for (const auto& e : ctx.models().entries()) {
    const auto m = ctx.models().resolve(e.id);
    const auto p = model::count_params(m);
    std::string attn = std::string(to_string(m.attention_type));
    if (m.num_window_layers()) attn += fmt::format(" +{} window", m.num_window_layers());
    const std::string experts =
        m.is_moe() ? fmt::format("{} ({}){}", m.moe.routed_experts, m.moe.experts_per_token,
                                 m.moe.shared_experts ? fmt::format(" +{} shared", m.moe.shared_experts) : "")
                   : "-";
    t.add_row({e.id, m.architecture, std::to_string(m.num_layers()), std::to_string(m.hidden_size), attn, experts,
               fixed(p.total() / 1e9, 2), fixed(p.active() / 1e9, 2),
               thousands(model::kv_bytes_per_token(m, Precision::bf16)), thousands(static_cast<double>(m.max_position_embeddings))});
  }
  t.print(out);
  out << "\nParameters include embeddings and LM head (vision towers in totals only, MTP modules excluded).\n"
         "KV bytes per token count every layer; window layers stop growing past their window.\n";
}

void print_model_detail(const json& j, std::ostream& out) {
  out << j["id"].get<std::string>() << "  (" << j["architecture"].get<std::string>() << ")\n";
  auto num = [&](const char* k) { return j[k].get<double>(); };
  out << fmt::format("  layers {}  hidden {}  heads {}/{} kv  head_dim {}  vocab {}  max context {}\n",
                     j["num_layers"].get<long long>(), j["hidden_size"].get<long long>(),
                     j["num_attention_heads"].get<long long>(), j["num_key_value_heads"].get<long long>(),
                     j["head_dim"].get<long long>(), j["vocab_size"].get<long long>(),
                     j["max_position_embeddings"].get<long long>());
  out << fmt::format("  attention {}  window layers {}  native weights {}\n", j["attention_type"].get<std::string>(),
                     j["window_layers"].get<long long>(), j["native_weight_precision"].get<std::string>());
  if (j["moe"].get<bool>()) {
    out << fmt::format("  MoE: {} routed experts, top-{}, {} shared, {} MoE layers\n",
                       j["routed_experts"].get<long long>(), j["experts_per_token"].get<long long>(),
                       j["shared_experts"].get<long long>(), j["moe_layers"].get<long long>());
  }
  out << fmt::format("  parameters: total {:.2f} B, active {:.2f} B per token\n", num("total_params") / 1e9,
                     num("active_params") / 1e9);
  if (j.contains("published_total_params")) {
    out << fmt::format("  published: total {:.2f} B ({})\n",
                       j["published_total_params"]["value"].get<double>() / 1e9,
                       j["published_total_params"]["source"].get<std::string>());
  }
  out << fmt::format("  KV cache: {} B/token bf16, {} B/token fp8 (every layer); {} B/token beyond windows\n",
                     thousands(num("kv_bytes_per_token_bf16")), thousands(num("kv_bytes_per_token_fp8")),
                     thousands(num("kv_bytes_per_token_bf16_full_layers")));
  out << "  KV per sequence (bf16):";
  for (const auto& [k, v] : j["kv_bytes_per_sequence_bf16_at_context"].items())
    out << fmt::format("  {} tok: {}", k, format_quantity(v.get<double>(), Dimension::bytes));
  out << "\n  forward GFLOP per token at context:";
  for (const auto& [k, v] : j["flops_per_token_at_context"].items())
    out << fmt::format("  {}: {:.1f}", k, v.get<double>() / 1e9);
  out << "\n  config: " << j["source_file"].get<std::string>() << "\n";
}

void print_hardware_detail(const SystemSpec& s, std::ostream& out) {
  out << s.id << "  " << s.name << "  [" << to_string(s.status) << ", " << s.family << "]\n";
  if (!s.variant_of.empty()) out << "  variant of " << s.variant_of << "\n";
  auto src = [](const hardware::Sourced& q) { return q.source + (q.note.empty() ? "" : "; " + q.note); };
  for (const auto& t : s.memory) {
    out << fmt::format("  {} {}: {} at {}\n      source: {}\n", to_string(t.kind), t.technology,
                       format_quantity(t.capacity_bytes.value, Dimension::bytes),
                       format_quantity(t.bandwidth_bytes_per_s.value, Dimension::bytes_per_s), src(t.bandwidth_bytes_per_s));
  }
  for (const auto& [cls, q] : s.compute) {
    const bool integer = cls == ComputeClass::int8 || cls == ComputeClass::int4;
    out << fmt::format("  {} dense: {}  ({})\n", to_string(cls),
                       format_quantity(q.value, integer ? Dimension::op_per_s : Dimension::flop_per_s), src(q));
  }
  out << fmt::format("  scale-up: {} chips, {}", s.scale_up_domain_chips.value, s.scale_up.technology);
  if (s.scale_up.bandwidth_bytes_per_s)
    out << ", " << format_quantity(s.scale_up.bandwidth_bytes_per_s->value, Dimension::bytes_per_s) << " per direction";
  if (s.scale_up.latency_s) out << ", " << format_quantity(s.scale_up.latency_s->value, Dimension::seconds) << " latency";
  out << "\n";
  if (s.scale_out.bandwidth_bytes_per_s)
    out << "  scale-out: " << format_quantity(s.scale_out.bandwidth_bytes_per_s->value, Dimension::bytes_per_s)
        << " per direction per chip (" << s.scale_out.technology << ")\n";
  if (s.chip_power_w) out << "  chip power: " << format_quantity(s.chip_power_w->value, Dimension::watts) << "\n";
  if (s.all_in_power_w_per_chip)
    out << "  all-in power per chip: " << format_quantity(s.all_in_power_w_per_chip->value, Dimension::watts) << "  ("
        << src(*s.all_in_power_w_per_chip) << ")\n";
  if (s.capex_usd_per_chip) out << fmt::format("  capex per chip: {:.0f} USD  ({})\n", s.capex_usd_per_chip->value, src(*s.capex_usd_per_chip));
  if (s.usd_per_chip_hour) out << fmt::format("  rental: {:.2f} USD/chip-hour  ({})\n", s.usd_per_chip_hour->value, src(*s.usd_per_chip_hour));
  out << "  file: " << s.file << "\n";
}

}  // namespace

void register_list_command(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("list", "List the registries: architectures (Hugging Face model classes read), "
                                         "precisions, efficiency (families with data), economics (presets), "
                                         "schedulers (serving step policies), engines, routers, kv (KV policies and "
                                         "tiers)");
  auto what = std::make_shared<std::string>();
  cmd->add_option("WHAT", *what, "architectures | precisions | efficiency | economics | schedulers | engines | routers | kv")
      ->required()
      ->check(CLI::IsMember({"architectures", "precisions", "efficiency", "economics", "schedulers", "engines",
                             "routers", "kv"}));
  cmd->callback([&ctx, what] {
    ctx.action = [&ctx, what] {
      auto& out = *ctx.out;
      if (*what == "architectures") {
        Table t({"architectures[0]", "what is understood", "source"});
        for (const auto& a : model::supported_architectures()) t.add_row({a.name, a.description, a.citation});
        t.print(out);
      } else if (*what == "engines") {
        Table t({"engine", "name", "versions", "steps", "KV admission", "memory policy", "token budget", "max seqs",
                 "MoE dispatch", "launch", "source"});
        for (const auto& [id, e] : ctx.engines().all()) {
          t.add_row({id, e.name, e.versions, std::string(serving::to_string(e.scheduler)),
                     fmt::format("{} ({} preemption)", serving::to_string(serving::kv_admission_for(e)), e.preemption),
                     fmt::format("{} {:g}", cost::to_string(e.memory.kind), e.memory.fraction),
                     fmt::format("{:g}", e.token_budget), e.max_sequences > 0 ? fmt::format("{:g}", e.max_sequences) : "KV decides",
                     std::string(to_string(e.moe_dispatch)), e.graphs ? "graphs" : "eager", e.citation});
        }
        t.print(out);
      } else if (*what == "routers") {
        Table t({"router", "what it picks", "source"});
        for (const auto& r : serving::routers())
          t.add_row({std::string(r.name), std::string(r.description), std::string(r.citation)});
        t.print(out);
      } else if (*what == "kv") {
        Table t({"kind", "policy", "flag", "what it does", "source"});
        for (const auto& k : serving::kv_policies())
          t.add_row({std::string(k.kind), std::string(k.name), std::string(k.flag), std::string(k.description),
                     std::string(k.citation)});
        t.print(out);
      } else if (*what == "schedulers") {
        Table t({"scheduler", "what a step holds", "source"});
        for (const auto& s : serving::schedulers())
          t.add_row({std::string(s.name), std::string(s.description), std::string(s.citation)});
        t.print(out);
      } else if (*what == "precisions") {
        Table t({"precision", "bytes per element", "math units", "storage"});
        for (const auto& n : precision_names()) {
          const auto& i = info(parse_precision(n));
          t.add_row({n, fmt::format("{:g}", i.bytes_per_element), std::string(to_string(i.compute_class)),
                     std::string(i.source)});
        }
        t.print(out);
      } else if (*what == "efficiency") {
        Table t({"family", "provenance", "memory BW", "compute", "attention", "network", "step overhead", "file"});
        // Every family with a file, then every family that inherits (in data order), so a user
        // sees what each hardware family's numbers rest on.
        std::vector<std::string> names;
        for (const auto& [name, e] : ctx.efficiency().families()) names.push_back(name);
        for (const auto& [name, inh] : ctx.efficiency().inheritance()) names.push_back(name);
        for (const auto& name : names) {
          const auto& e = ctx.efficiency().for_family(name);
          t.add_row({name, name == "default" ? "default (uncalibrated)" : e.provenance.summary(),
                     fixed(e.memory_bandwidth_fraction, 2), fixed(e.compute_fraction, 2),
                     fixed(e.attention_compute_fraction, 2), fixed(e.network_fraction, 2),
                     format_quantity(e.step_overhead_s, Dimension::seconds), e.file});
        }
        t.print(out);
      } else {
        Table t({"preset", "file"});
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::directory_iterator(ctx.data_dir() / "economics"))
          if (e.path().extension() == ".yaml") files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const auto& f : files) t.add_row({f.stem().string(), f.string()});
        t.print(out);
      }
      return 0;
    };
  });
}

void register_catalog_commands(CLI::App& app, Context& ctx) {
  register_list_command(app, ctx);
  auto* catalog = app.add_subcommand("catalog", "List and inspect the hardware and model catalogs");
  catalog->require_subcommand(0, 1);
  auto json_flag = std::make_shared<bool>(false);
  catalog->add_flag("--json", *json_flag, "Print JSON instead of tables");
  catalog->callback([&ctx, catalog, json_flag] {
    if (!catalog->get_subcommands().empty()) return;
    ctx.action = [&ctx, json_flag] {
      // Load (and so validate) both catalogs before printing anything.
      (void)ctx.hardware();
      for (const auto& e : ctx.models().entries()) (void)ctx.models().resolve(e.id);
      if (*json_flag) {
        *ctx.out << json_text(catalog_document(ctx.hardware().systems(), ctx.models())) << "\n";
        return 0;
      }
      *ctx.out << "Hardware (" << ctx.hardware().systems().size() << " systems)\n\n";
      print_hardware_table(ctx.hardware().systems(), *ctx.out);
      *ctx.out << "\nModels (" << ctx.models().entries().size() << ")\n\n";
      print_models_table(ctx, *ctx.out);
      return 0;
    };
  });

  auto* hw = catalog->add_subcommand("hardware", "List hardware systems: memory (GB, TB/s), dense TFLOP/s, "
                                                  "scale-up domain, power (W) and price (USD per chip-hour)");
  auto hw_json = std::make_shared<bool>(false);
  hw->add_flag("--json", *hw_json, "Print JSON (SI units: bytes, bytes/s, FLOP/s, W, USD/h) instead of a table");
  hw->callback([&ctx, hw_json, json_flag] {
    ctx.action = [&ctx, hw_json, json_flag] {
      if (*hw_json || *json_flag) {
        json arr = json::array();
        for (const auto& s : ctx.hardware().systems()) arr.push_back(hardware_summary(s));
        *ctx.out << json_text(arr) << "\n";
      } else {
        print_hardware_table(ctx.hardware().systems(), *ctx.out);
      }
      return 0;
    };
  });

  auto* models = catalog->add_subcommand("models", "List models: layers, attention, experts, parameters (billions) "
                                                   "and KV-cache bytes per token");
  auto m_json = std::make_shared<bool>(false);
  models->add_flag("--json", *m_json, "Print JSON (parameters as counts, KV in bytes per token) instead of a table");
  models->callback([&ctx, m_json, json_flag] {
    ctx.action = [&ctx, m_json, json_flag] {
      if (*m_json || *json_flag) {
        json arr = json::array();
        for (const auto& e : ctx.models().entries()) arr.push_back(model_json(ctx.models().resolve(e.id), &e, false));
        *ctx.out << json_text(arr) << "\n";
      } else {
        print_models_table(ctx, *ctx.out);
      }
      return 0;
    };
  });

  auto* show = catalog->add_subcommand("show", "Show one system or model in full, with the source of every figure");
  auto id = std::make_shared<std::string>();
  show->add_option("ID", *id,
                   "A hardware system id (e.g. h100-sxm), a model id (e.g. meta-llama/Llama-3.1-70B-Instruct, "
                   "or its short name), or a path to a Hugging Face config.json")
      ->required();
  auto s_json = std::make_shared<bool>(false);
  show->add_flag("--json", *s_json, "Print JSON (SI units) instead of text");
  show->callback([&ctx, id, s_json, json_flag] {
    ctx.action = [&ctx, id, s_json, json_flag] {
      const bool as_json = *s_json || *json_flag;
      if (const auto* s = ctx.hardware().find(*id)) {
        if (as_json) *ctx.out << json_text(hardware_detail(*s)) << "\n";
        else print_hardware_detail(*s, *ctx.out);
        return 0;
      }
      std::error_code ec;
      const bool is_path = std::filesystem::exists(*id, ec);
      const model::ModelEntry* entry = is_path ? nullptr : ctx.models().lookup(*id);
      if (!is_path && !entry) {
        // Neither: one message listing both kinds of id.
        std::vector<std::string> all = ctx.hardware().ids();
        for (const auto& m : ctx.models().ids()) all.push_back(m);
        const auto near = closest_match(*id, all);
        fail(fmt::format("'{}' is not a hardware id, a model id or a config.json path", *id),
             (near.empty() ? std::string() : "did you mean '" + near + "'? ") +
                 "see 'tokenfactory catalog hardware' and 'tokenfactory catalog models'");
      }
      const auto m = ctx.models().resolve(entry ? entry->id : *id);
      const auto j = model_json(m, entry, true);
      if (as_json) *ctx.out << json_text(j) << "\n";
      else print_model_detail(j, *ctx.out);
      return 0;
    };
  });
}

}  // namespace tf::cli
