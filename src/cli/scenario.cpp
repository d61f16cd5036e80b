#include "cli/scenario.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "cli/app.hpp"
#include "report/documents.hpp"
#include "cli/table.hpp"
#include "core/diagnostic.hpp"
#include "io/yaml_reader.hpp"

namespace tf::cli {
using namespace report;  // result documents (src/report)
namespace {

enum class Kind { text, number, integer, flag, path };

struct KeySpec {
  const char* key;   // dotted: section.key
  const char* flag;  // the simulate flag it stands for
  Kind kind;
  const char* implies = nullptr;  // a flag the key also sets (find_max_rate.* -> --find-max-rate)
};

// Every scenario key, in the order its flag is written on the command line.
const std::vector<KeySpec>& key_specs() {
  static const std::vector<KeySpec> v{
      {"model", "--model", Kind::text},
      {"hardware", "--hardware", Kind::text},
      {"engine", "--engine", Kind::text},
      {"router", "--router", Kind::text},
      {"scheduler", "--scheduler", Kind::text},
      {"kv_admission", "--kv-admission", Kind::text},
      {"step_tokens", "--step-tokens", Kind::number},
      {"max_running", "--max-running", Kind::number},
      {"request_overhead_ms", "--request-overhead-ms", Kind::number},
      {"preemption", "--preemption", Kind::text},
      {"swap_space_gb", "--swap-space-gb", Kind::number},
      {"swap_gbps", "--swap-gbps", Kind::number},
      {"prefix_caching", "--prefix-caching", Kind::flag},
      {"cascade_attention", "--cascade-attention", Kind::flag},
      {"kv_offload", "--kv-offload", Kind::text},
      {"kv_reload", "--kv-reload", Kind::text},
      {"kv_prefetch", "--kv-prefetch", Kind::text},
      {"kv_eviction", "--kv-eviction", Kind::text},
      {"kv_tier_eviction", "--kv-tier-eviction", Kind::text},
      {"kv_dram_gb", "--kv-dram-gb", Kind::number},
      {"kv_ssd_gb", "--kv-ssd-gb", Kind::number},
      {"kv_dram_gbps", "--kv-dram-gbps", Kind::number},
      {"kv_ssd_gbps", "--kv-ssd-gbps", Kind::number},
      {"kv_store_gb", "--kv-store-gb", Kind::number},
      {"kv_store_gbps", "--kv-store-gbps", Kind::number},
      {"deployment.chips", "--chips", Kind::integer},
      {"deployment.tp", "--tp", Kind::integer},
      {"deployment.pp", "--pp", Kind::integer},
      {"deployment.ep", "--ep", Kind::integer},
      {"deployment.dp", "--dp", Kind::integer},
      {"deployment.attention_dp", "--attention-dp", Kind::flag},
      {"deployment.weights", "--weights", Kind::text},
      {"deployment.activations", "--activations", Kind::text},
      {"deployment.kv", "--kv", Kind::text},
      {"deployment.attention_weights", "--attention-weights", Kind::text},
      {"deployment.moe_dispatch", "--moe-dispatch", Kind::text},
      {"deployment.launch", "--launch", Kind::text},
      {"deployment.eplb_redundant_experts", "--eplb-redundant-experts", Kind::integer},
      {"deployment.expert_load_cv", "--expert-load-cv", Kind::number},
      {"deployment.weights_tier", "--weights-tier", Kind::text},
      {"deployment.kv_tier", "--kv-tier", Kind::text},
      {"workload.trace", "--trace", Kind::path},
      {"workload.session_trace", "--session-trace", Kind::path},
      {"workload.rate", "--rate", Kind::number},
      {"workload.concurrency", "--concurrency", Kind::number},
      {"workload.batch", "--batch", Kind::flag},
      {"workload.requests", "--requests", Kind::integer},
      {"workload.isl", "--isl", Kind::number},
      {"workload.osl", "--osl", Kind::number},
      {"workload.length_spread", "--length-spread", Kind::number},
      {"workload.seed", "--seed", Kind::integer},
      {"workload.burstiness", "--burstiness", Kind::number},
      {"workload.think_time_s", "--think-time-s", Kind::number},
      {"workload.think_time_dist", "--think-time-dist", Kind::text},
      {"workload.turns", "--turns", Kind::integer},
      {"workload.tool_time_s", "--tool-time-s", Kind::number},
      {"workload.tool_time_dist", "--tool-time-dist", Kind::text},
      {"workload.cpu_cores", "--cpu-cores", Kind::integer},
      {"workload.shared_prefix_tokens", "--shared-prefix-tokens", Kind::number},
      {"workload.streams", "--streams", Kind::integer},
      {"workload.prefix_zipf", "--prefix-zipf", Kind::number},
      {"workload.prefix_groups", "--prefix-groups", Kind::integer},
      {"slo.ttft_ms", "--slo-ttft-ms", Kind::number},
      {"slo.tpot_ms", "--slo-tpot-ms", Kind::number},
      {"find_max_rate.p99_ttft_ms", "--max-p99-ttft-ms", Kind::number, "--find-max-rate"},
      {"find_max_rate.p99_tpot_ms", "--max-p99-tpot-ms", Kind::number, "--find-max-rate"},
      {"disaggregation.prefill_replicas", "--prefill-replicas", Kind::integer},
      {"disaggregation.prefill_hardware", "--prefill-hardware", Kind::text},
      {"disaggregation.prefill_tp", "--prefill-tp", Kind::integer},
      {"disaggregation.prefill_pp", "--prefill-pp", Kind::integer},
      {"disaggregation.prefill_ep", "--prefill-ep", Kind::integer},
      {"disaggregation.prefill_attention_dp", "--prefill-attention-dp", Kind::text},
      {"disaggregation.prefill_step_tokens", "--prefill-step-tokens", Kind::number},
      {"disaggregation.kv_transfer_gbps", "--kv-transfer-gbps", Kind::number},
      {"disaggregation.kv_transfer_latency_us", "--kv-transfer-latency-us", Kind::number},
      {"disaggregation.kv_transfer_link", "--kv-transfer-link", Kind::text},
      {"disaggregation.decode_router", "--decode-router", Kind::text},
      {"economics.preset", "--economics", Kind::text},
      {"economics.price_basis", "--price-basis", Kind::text},
      {"economics.pue", "--pue", Kind::number},
      {"economics.utilization", "--utilization", Kind::number},
      {"economics.electricity_usd_per_kwh", "--electricity-usd-per-kwh", Kind::number},
      {"economics.life_years", "--life-years", Kind::number},
      {"economics.cost_of_capital", "--cost-of-capital", Kind::number},
      {"requests_csv", "--requests-csv", Kind::path},
      {"chrome_trace", "--chrome-trace", Kind::path},
  };
  return v;
}

constexpr size_t kMaxVariants = 64;

// Keys valid in a map at `section` ("" for the top level).
std::vector<std::string> keys_in(const std::string& section, bool top_extras) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& s : key_specs()) {
    const std::string k = s.key;
    const auto dot = k.find('.');
    const std::string sec = dot == std::string::npos ? "" : k.substr(0, dot);
    if (section.empty()) {
      const std::string head = dot == std::string::npos ? k : sec;
      if (seen.insert(head).second) out.push_back(head);
    } else if (sec == section) {
      out.push_back(k.substr(dot + 1));
    }
  }
  if (section.empty()) {
    out.push_back("name");
    if (top_extras) {
      out.push_back("description");
      out.push_back("variants");
    }
  }
  return out;
}

const KeySpec* spec_of(const std::string& key) {
  for (const auto& s : key_specs())
    if (key == s.key) return &s;
  return nullptr;
}

// The value of one key as the command line writes it (paths made absolute from the file's folder).
std::string value_of(const io::YamlNode& n, const KeySpec& s, const std::filesystem::path& dir) {
  if (!n.is_scalar()) n.fail("must be a single value");
  switch (s.kind) {
    case Kind::text: {
      auto v = n.as_string();
      if (v.empty()) n.fail("must not be empty");
      return v;
    }
    case Kind::path: {
      auto v = n.as_string();
      if (v.empty()) n.fail("must not be empty");
      const std::filesystem::path p(v);
      return (p.is_absolute() ? p : dir / p).lexically_normal().string();
    }
    case Kind::number: {
      const double x = n.as_double();
      if (!std::isfinite(x)) n.fail(fmt::format("{} is not a finite number", x));
      return fmt::format("{}", x);
    }
    case Kind::integer:
      return std::to_string(n.as_int());
    case Kind::flag:
      return n.as_bool() ? "true" : "false";
  }
  return {};
}

// Marks a key a variant removes from the base (written `key: ~`).
const std::string kUnset = "\x01unset";

// The keys a map sets (sections flattened to dotted keys), checked against the key table. In a
// variant (`top` false) a null value removes the key from the base.
void collect(const io::YamlNode& root, bool top, const std::filesystem::path& dir,
             std::map<std::string, std::string>& out) {
  auto value = [&](const io::YamlNode& n, const KeySpec& s) {
    if (n.is_null()) {
      if (top) n.fail("has no value (a null removes a key only in a variant)");
      return kUnset;
    }
    return value_of(n, s, dir);
  };
  root.expect_map();
  root.expect_keys(keys_in("", top));
  for (const auto& k : root.keys()) {
    if (k == "name" || k == "description" || k == "variants") continue;
    const auto node = *root.optional(k);  // present (keys() listed it), possibly null
    if (const auto* s = spec_of(k)) {
      out[k] = value(node, *s);
      continue;
    }
    node.expect_map();
    node.expect_keys(keys_in(k, false));
    for (const auto& sub : node.keys()) {
      const std::string full = k + "." + sub;
      out[full] = value(*node.optional(sub), *spec_of(full));
    }
  }
}

std::vector<std::string> args_of(const std::map<std::string, std::string>& settings) {
  std::vector<std::string> args;
  std::set<std::string> implied;
  for (const auto& s : key_specs()) {
    const auto it = settings.find(s.key);
    if (it == settings.end()) continue;
    if (s.implies && implied.insert(s.implies).second) args.emplace_back(s.implies);
    if (s.kind == Kind::flag) {
      if (it->second == "true") args.emplace_back(s.flag);
    } else {
      args.emplace_back(s.flag);
      args.push_back(it->second);
    }
  }
  return args;
}

std::string quoted(const std::string& a) {
  if (!a.empty() && a.find_first_of(" \t\"'$\\") == std::string::npos) return a;
  std::string q = "'";
  for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string command_line(const std::vector<std::string>& args) {
  std::string s = "tokenfactory simulate";
  for (const auto& a : args) s += " " + quoted(a);
  return s;
}

// A number from a document at a JSON pointer, "-" when absent or null.
std::string cell(const Json& j, const char* pointer, double scale, int digits) {
  const Json::json_pointer p(pointer);
  if (!j.contains(p) || !j.at(p).is_number()) return "-";
  return fmt::format("{:.{}f}", j.at(p).get<double>() * scale, digits);
}

}  // namespace

Scenario load_scenario(const std::filesystem::path& path) {
  const auto root = io::load_yaml_file(path);
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  Scenario s;
  s.file = path.string();
  std::map<std::string, std::string> base;
  collect(root, true, dir, base);
  s.name = root.optional("name") ? root.required("name").as_string() : path.stem().string();
  if (auto d = root.optional("description")) s.description = d->as_string();
  const auto variants = root.optional("variants");
  if (!variants) {
    s.variants.push_back({s.name, base, args_of(base)});
    return s;
  }
  if (!variants->is_sequence()) variants->fail("must be a list of variants, each a map with a name");
  const auto items = variants->items();
  if (items.empty()) variants->fail("is empty: remove it to run the scenario as it is");
  if (items.size() > kMaxVariants)
    variants->fail(fmt::format("has {} variants; at most {} run side by side", items.size(), kMaxVariants));
  std::set<std::string> names;
  for (const auto& item : items) {
    item.expect_map();
    const auto name = item.required("name").as_string();
    if (name.empty()) item.required("name").fail("must not be empty");
    if (!names.insert(name).second) item.required("name").fail(fmt::format("variant '{}' is named twice", name));
    auto settings = base;
    std::map<std::string, std::string> over;
    collect(item, false, dir, over);
    for (auto& [k, v] : over) {
      if (v == kUnset)
        settings.erase(k);
      else
        settings[k] = v;
    }
    s.variants.push_back({name, settings, args_of(settings)});
  }
  return s;
}

int run_scenario(const Scenario& s, const std::string& data_flag, bool json, std::ostream& out, std::ostream& err) {
  auto args_for = [&](const ScenarioVariant& v, bool as_json) {
    std::vector<std::string> a;
    if (!data_flag.empty()) a = {"--data", data_flag};
    a.emplace_back("simulate");
    a.insert(a.end(), v.args.begin(), v.args.end());
    if (as_json) a.emplace_back("--json");
    return a;
  };
  // A variant the simulator refuses: its error, with the variant and the command it stands for.
  auto failed = [&](const ScenarioVariant& v, int, const std::string& text) -> int {
    fail(fmt::format("{}: variant '{}': {}", s.file, v.name, error_message(text)), command_line(v.args));
  };
  if (s.variants.size() == 1 && !json) {
    std::ostringstream o, e;
    const int code = run(args_for(s.variants[0], false), o, e);
    if (code != 0) return failed(s.variants[0], code, e.str());
    out << fmt::format("scenario {} ({})\n", s.name, s.file) << o.str();
    err << e.str();
    return 0;
  }
  Json doc;
  doc["schema"] = "tokenfactory.scenario/1";
  doc["scenario"] = {{"file", s.file}, {"name", s.name}, {"description", s.description}};
  Json runs = Json::array();
  for (const auto& v : s.variants) {
    std::ostringstream o, e;
    const int code = run(args_for(v, true), o, e);
    if (code != 0) return failed(v, code, e.str());
    runs.push_back({{"name", v.name}, {"command", command_line(v.args)}, {"result", Json::parse(o.str())}});
  }
  doc["variants"] = runs;
  if (json) {
    out << json_text(doc) << "\n";
    return 0;
  }
  out << fmt::format("scenario {} ({}): {} variants side by side\n", s.name, s.file, s.variants.size());
  if (!s.description.empty()) out << s.description << "\n";
  Table t({"variant", "deployment", "output tok/s", "per chip", "mean TTFT ms", "p99 TTFT ms", "mean TPOT ms",
           "p99 TPOT ms", "mean E2E s", "SLO met %", "prefix reuse %", "preemptions", "max rate /s", "USD/Mtok out",
           "USD/request", "out tok/s/MW"});
  t.right_align({2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
  for (const auto& r : runs) {
    const auto& j = r["result"];
    const bool search = j.contains("find_max_rate");
    const char* base = search ? "/at_rate" : "/result";
    auto at = [&](const std::string& tail, double scale, int digits) {
      return cell(j, (std::string(base) + tail).c_str(), scale, digits);
    };
    t.add_row({r["name"].get<std::string>(), j.value("deployment", std::string("-")), at("/output_tok_s", 1, 0),
               at("/output_tok_s_per_chip", 1, 0), at("/ttft_ms/mean", 1, 1), at("/ttft_ms/p99", 1, 1),
               at("/tpot_ms/mean", 1, 2), at("/tpot_ms/p99", 1, 2), at("/e2e_s/mean", 1, 2),
               cell(j, "/metrics/whole_run/slo_attainment", 100, 1), cell(j, "/result/prefix_cache/hit_rate", 100, 1),
               cell(j, "/result/preemptions", 1, 0), cell(j, "/find_max_rate/rate_per_s", 1, 2),
               cell(j, "/economics/usd_per_mtok_output", 1, 3), cell(j, "/economics/usd_per_request", 1, 5),
               cell(j, "/economics/output_tok_s_per_mw", 1, 0)});
  }
  t.print(out);
  out << "whole-run figures (economics: over the steady window where there is one); each variant's full document: "
         "--json; its command line: tokenfactory config expand "
      << s.file << "\n";
  return 0;
}

void expand_scenario(const Scenario& s, std::ostream& out) {
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "scenario" << YAML::Value << s.name;
  y << YAML::Key << "file" << YAML::Value << s.file;
  if (!s.description.empty()) y << YAML::Key << "description" << YAML::Value << s.description;
  y << YAML::Key << "variants" << YAML::Value << YAML::BeginSeq;
  for (const auto& v : s.variants) {
    y << YAML::BeginMap;
    y << YAML::Key << "name" << YAML::Value << v.name;
    y << YAML::Key << "settings" << YAML::Value << YAML::BeginMap;
    for (const auto& spec : key_specs())
      if (auto it = v.settings.find(spec.key); it != v.settings.end())
        y << YAML::Key << spec.key << YAML::Value << it->second;
    y << YAML::EndMap;
    y << YAML::Key << "command" << YAML::Value << command_line(v.args);
    y << YAML::EndMap;
  }
  y << YAML::EndSeq << YAML::EndMap;
  out << y.c_str() << "\n";
}

}  // namespace tf::cli
