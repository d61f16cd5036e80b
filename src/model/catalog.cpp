#include "model/catalog.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>

#include "core/diagnostic.hpp"
#include "io/text.hpp"
#include "io/yaml_reader.hpp"
#include "model/hf_config.hpp"

namespace tf::model {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::optional<Published> read_published(const io::YamlNode& n) {
  const auto v = n.sourced_value();
  Published p;
  p.value = v.as_double();
  if (p.value <= 0) v.fail("must be > 0");
  p.source = n.required("source").as_string();
  return p;
}

RoutingSkew read_skew(const io::YamlNode& n) {
  n.expect_keys({"expert_load_cv", "notes"});
  const auto f = n.required("expert_load_cv");
  const auto v = f.sourced_value();
  RoutingSkew r;
  r.load_cv = v.as_double();
  if (!(r.load_cv >= 0 && r.load_cv <= 10)) v.fail("must be a coefficient of variation in [0, 10]");
  r.source = f.required("source").as_string();
  return r;
}

}  // namespace

ModelCatalog ModelCatalog::load(const std::filesystem::path& dir) {
  ModelCatalog c;
  io::require_directory(dir, "model catalog");
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().filename() != "config.json") continue;
    const auto rel = std::filesystem::relative(e.path().parent_path(), dir);
    ModelEntry m;
    m.id = rel.generic_string();
    m.config_path = e.path();
    const auto src = e.path().parent_path() / "source.yaml";
    const auto root = io::load_yaml_file(src);  // required: every bundled model states its source
    root.expect_keys({"hf_id", "config_source", "published", "notes"});
    const auto hf_id = root.required("hf_id").as_string();
    if (hf_id != m.id) root.required("hf_id").fail(fmt::format("'{}' does not match the folder '{}'", hf_id, m.id));
    m.config_source = root.required("config_source").as_string();
    if (auto pub = root.optional("published")) {
      pub->expect_keys({"total_params_billion", "active_params_billion"});
      if (auto t = pub->optional("total_params_billion")) m.total_params_billion = read_published(*t);
      if (auto a = pub->optional("active_params_billion")) m.active_params_billion = read_published(*a);
    }
    c.entries_.push_back(std::move(m));
  }
  std::sort(c.entries_.begin(), c.entries_.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  const auto routing = dir / "moe-routing.yaml";
  if (std::filesystem::is_regular_file(routing)) {
    const auto root = io::load_yaml_file(routing);
    root.expect_keys({"default", "models", "notes"});
    c.default_skew_ = read_skew(root.required("default"));
    if (auto ms = root.optional("models")) {
      ms->expect_map();
      for (const auto& id : ms->keys()) {
        const auto node = ms->required(id);
        if (!c.find(id)) node.fail(fmt::format("'{}' is not a catalog model", id), "catalog ids: " + join(c.ids()));
        c.model_skew_.emplace_back(id, read_skew(node));
      }
    }
  }
  return c;
}

std::optional<RoutingSkew> ModelCatalog::routing_skew(const std::string& id) const {
  for (const auto& [m, r] : model_skew_)
    if (m == id) return r;
  return default_skew_;
}

void ModelCatalog::attach_routing(ModelSpec& m) const {
  if (!m.is_moe()) return;
  if (const auto r = routing_skew(m.id)) {
    m.moe.load_cv = r->load_cv;
    m.moe.load_cv_source = r->source;
  }
}

const ModelEntry* ModelCatalog::find(const std::string& id) const {
  for (const auto& e : entries_)
    if (e.id == id) return &e;
  return nullptr;
}

std::vector<std::string> ModelCatalog::ids() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.id);
  return out;
}

const ModelEntry* ModelCatalog::lookup(const std::string& name) const {
  if (const auto* e = find(name)) return e;
  const auto key = lower(name);
  const ModelEntry* hit = nullptr;
  int hits = 0;
  for (const auto& e : entries_) {
    const auto id = lower(e.id);
    const auto shortname = id.substr(id.find('/') + 1);
    if (id == key || shortname == key) {
      hit = &e;
      ++hits;
    }
  }
  return hits == 1 ? hit : nullptr;
}

ModelSpec ModelCatalog::resolve(const std::string& name) const {
  std::error_code ec;
  const std::filesystem::path p(name);
  auto with_routing = [&](ModelSpec m) {
    attach_routing(m);
    return m;
  };
  if (std::filesystem::is_regular_file(p, ec)) return with_routing(read_hf_config(p, name));
  if (std::filesystem::is_directory(p, ec)) {
    if (std::filesystem::is_regular_file(p / "config.json", ec))
      return with_routing(read_hf_config(p / "config.json", name));
    fail(fmt::format("folder '{}' has no config.json", name));
  }
  if (const auto* e = lookup(name)) return with_routing(read_hf_config(e->config_path, e->id));
  std::vector<std::string> ids = this->ids();
  std::string near = closest_match(name, ids);
  if (near.empty()) {
    std::vector<std::string> shorts;
    for (const auto& id : ids) shorts.push_back(id.substr(id.find('/') + 1));
    near = closest_match(name, shorts);
  }
  fail(fmt::format("unknown model '{}' (not a catalog id and no such file)", name),
       (near.empty() ? std::string() : "did you mean '" + near + "'? ") + "catalog ids: " + join(ids) +
           "; or pass a path to a Hugging Face config.json");
}

}  // namespace tf::model
