#include "serving/engine/engine_profile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/diagnostic.hpp"
#include "io/text.hpp"
#include "io/yaml_reader.hpp"

namespace tf::serving {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::vector<std::string> phrases(const io::YamlNode& n) {
  if (!n.is_sequence()) n.fail("must be a list of phrases");
  std::vector<std::string> out;
  for (const auto& item : n.items()) {
    auto p = lower(item.as_string());
    if (p.empty()) item.fail("an empty phrase would match everything");
    out.push_back(std::move(p));
  }
  if (out.empty()) n.fail("must name at least one phrase");
  return out;
}

bool contains_any(const std::string& text, const std::vector<std::string>& ps, std::string* which = nullptr) {
  for (const auto& p : ps) {
    if (text.find(p) != std::string::npos) {
      if (which) *which = p;
      return true;
    }
  }
  return false;
}

// A sourced count or number that must be finite and within [lo, hi].
double bounded(const io::YamlNode& root, const char* key, double lo, double hi, std::string& source) {
  const auto fig = root.required(key);
  const auto v = fig.sourced_value();
  source = fig.required("source").as_string();
  const double x = v.as_double();
  if (!std::isfinite(x) || x < lo || x > hi) v.fail(fmt::format("{} is outside [{}, {}]", x, lo, hi));
  return x;
}

std::string sourced_text(const io::YamlNode& root, const char* key, std::string& source) {
  const auto fig = root.required(key);
  const auto v = fig.sourced_value();
  source = fig.required("source").as_string();
  return v.as_string();
}

}  // namespace

EngineProfile load_engine_profile(const std::filesystem::path& path) {
  const auto root = io::load_yaml_file(path);
  root.expect_keys({"engine", "name", "versions", "citation", "scheduler", "mixed_when", "memory_policy",
                    "token_budget", "max_sequences", "preemption", "graphs", "moe_dispatch",
                    "attention_kernels"});
  EngineProfile p;
  p.file = path.string();
  p.id = root.required("engine").as_string();
  if (p.id != path.stem().string())
    root.required("engine").fail(fmt::format("engine '{}' does not match the file name", p.id));
  p.name = root.required("name").as_string();
  p.versions = root.required("versions").as_string();
  p.citation = root.required("citation").as_string();
  {
    const auto fig = root.required("scheduler");
    const auto v = fig.sourced_value();
    p.scheduler_source = fig.required("source").as_string();
    auto s = v.as_string();
    std::replace(s.begin(), s.end(), '_', '-');
    const auto sched = parse_scheduler(s);
    if (!sched) v.fail(fmt::format("unknown scheduler '{}'", v.as_string()), "valid: mixed, prefill_first");
    p.scheduler = *sched;
  }
  if (auto m = root.optional("mixed_when")) p.mixed_when = phrases(*m);
  {
    const auto mp = root.required("memory_policy");
    mp.expect_keys({"kind", "fraction"});
    const auto kind = mp.required("kind");
    const auto k = kind.as_string();
    if (k == "fraction_of_total") p.memory.kind = cost::MemoryPolicy::Kind::fraction_of_total;
    else if (k == "fraction_of_free") p.memory.kind = cost::MemoryPolicy::Kind::fraction_of_free;
    else kind.fail(fmt::format("unknown memory policy '{}'", k), "valid: fraction_of_total, fraction_of_free");
    p.memory.fraction = bounded(mp, "fraction", 1e-3, 1, p.memory.source);
  }
  p.token_budget = bounded(root, "token_budget", 1, 1 << 24, p.token_budget_source);
  p.max_sequences = bounded(root, "max_sequences", 0, 1 << 24, p.max_sequences_source);
  std::string ignored;
  p.preemption = sourced_text(root, "preemption", ignored);
  if (p.preemption != "recompute" && p.preemption != "swap" && p.preemption != "none")
    root.required("preemption").sourced_value().fail(fmt::format("unknown preemption '{}'", p.preemption),
                                                      "valid: recompute, swap, none");
  {
    const auto fig = root.required("graphs");
    p.graphs = fig.sourced_value().as_bool();
  }
  if (auto fig = root.optional("moe_dispatch")) {
    const auto v = fig->sourced_value();
    const auto prec = precision_from_string(v.as_string());
    if (!prec || info(*prec).bytes_per_element > 2)
      v.fail(fmt::format("unknown or too wide moe_dispatch precision '{}'", v.as_string()),
             "valid: bf16, fp16, fp8, int8, nvfp4, mxfp4, int4");
    p.moe_dispatch = *prec;
    p.moe_dispatch_source = fig->required("source").as_string();
  }
  if (auto fig = root.optional("attention_kernels")) {
    const auto v = fig->sourced_value();
    const auto k = v.as_string();
    if (k == "split") p.attention_kernels = cost::AttentionKernels::split;
    else if (k == "unified") p.attention_kernels = cost::AttentionKernels::unified;
    else v.fail(fmt::format("unknown attention_kernels '{}'", k), "valid: split, unified");
    p.attention_kernels_source = fig->required("source").as_string();
  }
  return p;
}

void apply_engine(const EngineProfile& p, cost::DeploymentSpec& spec) {
  spec.memory_policy = p.memory;
  if (!spec.moe_dispatch) spec.moe_dispatch = p.moe_dispatch;
  if (!spec.attention_kernels) spec.attention_kernels = p.attention_kernels;
  if (!spec.launch) spec.launch = p.graphs ? cost::Launch::graphs : cost::Launch::eager;
}

KvAdmission kv_admission_for(const EngineProfile& p) {
  return p.preemption == "none" ? KvAdmission::whole_context : KvAdmission::paged;
}

EngineProfiles EngineProfiles::load(const std::filesystem::path& dir) {
  io::require_directory(dir, "engines");
  EngineProfiles out;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".yaml" && e.path().filename() != "aliases.yaml")
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto p = load_engine_profile(f);
    out.profiles_[p.id] = std::move(p);
  }
  if (!out.profiles_.count("default")) {
    Diagnostic d;
    d.file = (dir / "default.yaml").string();
    d.message = "missing: the default engine profile is required";
    throw DiagnosticError(d);
  }
  const auto aliases_path = dir / "aliases.yaml";
  std::error_code ec;
  if (std::filesystem::is_regular_file(aliases_path, ec)) {
    const auto root = io::load_yaml_file(aliases_path);
    root.expect_keys({"engines", "unsupported"});
    if (auto list = root.optional("engines")) {
      if (!list->is_sequence()) list->fail("must be a list of {match, engine}");
      for (const auto& a : list->items()) {
        a.expect_keys({"match", "engine"});
        Alias al{phrases(a.required("match")), a.required("engine").as_string()};
        if (!out.profiles_.count(al.engine)) {
          std::vector<std::string> ids;
          for (const auto& [id, p] : out.profiles_) ids.push_back(id);
          a.required("engine").fail(fmt::format("unknown engine '{}'", al.engine), "engines: " + join(ids));
        }
        out.aliases_.push_back(std::move(al));
      }
    }
    if (auto list = root.optional("unsupported")) {
      if (!list->is_sequence()) list->fail("must be a list of {match, reason}");
      for (const auto& u : list->items()) {
        u.expect_keys({"match", "reason", "except_when"});
        Unsupported un{phrases(u.required("match")), u.required("reason").as_string()};
        if (un.reason.empty()) u.required("reason").fail("must say why");
        if (auto e = u.optional("except_when")) {
          if (e->as_string() != "pools_stated")
            e->fail(fmt::format("unknown condition '{}'", e->as_string()),
                    "pools_stated (the notes state the prefill and decode pools)");
          un.except_when_pools_stated = true;
        }
        out.unsupported_.push_back(std::move(un));
      }
    }
  }
  return out;
}

const EngineProfile& EngineProfiles::get(const std::string& id) const {
  if (auto it = profiles_.find(id); it != profiles_.end()) return it->second;
  std::vector<std::string> ids;
  for (const auto& [k, p] : profiles_) ids.push_back(k);
  fail(fmt::format("unknown engine '{}'", id), "engines: " + join(ids) + " (tokenfactory list engines)");
}

EngineMatch EngineProfiles::match(const std::string& text, bool pools_stated) const {
  EngineMatch m;
  const auto t = lower(text);
  m.profile = &fallback();
  for (const auto& a : aliases_) {
    std::string which;
    if (contains_any(t, a.phrases, &which)) {
      m.profile = &profiles_.at(a.engine);
      m.recognised = true;
      m.phrase = which;
      break;
    }
  }
  for (const auto& u : unsupported_) {
    if (u.except_when_pools_stated && pools_stated) continue;
    if (contains_any(t, u.phrases)) {
      m.unsupported = u.reason;
      break;
    }
  }
  return m;
}

Scheduler scheduler_for(const EngineProfile& p, const std::string& text, std::string* reason) {
  std::string which;
  if (p.scheduler == Scheduler::prefill_first && contains_any(lower(text), p.mixed_when, &which)) {
    if (reason) *reason = fmt::format("{} with '{}': prompt chunks mixed into decode steps", p.name, which);
    return Scheduler::mixed;
  }
  if (reason)
    *reason = fmt::format("{}: {}", p.name,
                          p.scheduler == Scheduler::mixed ? "prompt chunks mixed into decode steps"
                                                          : "prompts in their own steps");
  return p.scheduler;
}

}  // namespace tf::serving
