#include "hardware/catalog.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <functional>
#include <set>

#include "core/diagnostic.hpp"
#include "io/text.hpp"
#include "io/yaml_reader.hpp"

namespace tf::hardware {
namespace {

using io::YamlNode;
using References = std::map<std::string, std::string>;

const std::vector<std::string> kTopKeys{"id", "name", "vendor", "family", "status", "released",
                                        "variant_of", "references", "chip", "scale_up",
                                        "scale_out", "host", "all_in_power_per_chip", "price"};
// The source and note of a figure whose value the caller has read; reference keys resolve to
// their citation.
Sourced with_source(const YamlNode& n, const References& refs, double value) {
  Sourced s;
  s.value = value;
  const auto src = n.required("source").as_string();
  auto it = refs.find(src);
  s.source = it != refs.end() ? it->second : src;
  if (auto note = n.optional("note")) s.note = note->as_string();
  return s;
}

// {value: "<n> <unit>", source: ..., note: ...} (+ direction: for links)
Sourced read_quantity(const YamlNode& n, Dimension d, const References& refs, bool with_direction = false) {
  const auto v = n.sourced_value(with_direction ? std::vector<std::string>{"direction"} : std::vector<std::string>{});
  Sourced s = with_source(n, refs, v.as_quantity(d));
  if (with_direction) {
    const auto dir_node = n.required("direction");
    const auto dir = dir_node.as_string();
    if (dir == "bidirectional") {
      s.value /= 2;  // stored per direction
      s.note += std::string(s.note.empty() ? "" : "; ") + "halved from a bidirectional figure";
    } else if (dir != "per_direction") {
      dir_node.fail(fmt::format("unknown direction '{}'", dir), "valid: per_direction, bidirectional");
    }
  }
  return s;
}

// {value: <number>, source: ...} for counts and shares (> 0; whole numbers when `integer`).
Sourced read_count(const YamlNode& n, const References& refs, bool integer = true) {
  const auto v = n.sourced_value();
  const double x = integer ? static_cast<double>(v.as_int()) : v.as_double();
  const bool ok = integer ? x >= 1 : x > 0;
  if (!ok) v.fail(fmt::format("must be {}, got {}", integer ? ">= 1" : "> 0", x));
  return with_source(n, refs, x);
}

template <typename Enum>
Enum read_enum(const YamlNode& n, const std::vector<std::pair<std::string, Enum>>& choices) {
  const auto s = n.as_string();
  std::vector<std::string> names;
  for (const auto& [name, e] : choices) {
    if (name == s) return e;
    names.push_back(name);
  }
  n.fail(fmt::format("unknown value '{}'", s), "valid: " + join(names));
}

void read_link(const YamlNode& n, Link& link, const References& refs) {
  n.expect_keys({"domain_chips", "technology", "topology", "bandwidth", "latency"});
  if (auto t = n.optional("technology")) link.technology = t->as_string();
  if (auto t = n.optional("topology"))
    link.topology = read_enum<Topology>(*t, {{"switched", Topology::switched}, {"full_mesh", Topology::full_mesh}, {"multi_hop", Topology::multi_hop}});
  if (auto b = n.optional("bandwidth"))
    link.bandwidth_bytes_per_s = read_quantity(*b, Dimension::bytes_per_s, refs, true);
  if (auto l = n.optional("latency")) link.latency_s = read_quantity(*l, Dimension::seconds, refs);
}

// Applies the keys present in `root` onto `s` (so a variant overrides only what it names).
void apply(const YamlNode& root, SystemSpec& s, References& refs) {
  root.expect_keys(kTopKeys);
  if (auto r = root.optional("references")) {
    for (const auto& k : r->keys()) refs[k] = r->required(k).as_string();
  }
  if (auto v = root.optional("name")) s.name = v->as_string();
  if (auto v = root.optional("vendor")) s.vendor = v->as_string();
  if (auto v = root.optional("family")) s.family = v->as_string();
  if (auto v = root.optional("released")) s.released = v->as_string();
  if (auto v = root.optional("status")) {
    s.status = read_enum<Status>(
        *v, {{"shipping", Status::shipping}, {"announced", Status::announced}, {"legacy", Status::legacy}});
  }
  if (auto chip = root.optional("chip")) {
    chip->expect_keys({"memory", "compute", "fp4_formats", "power"});
    if (auto f = chip->optional("fp4_formats")) {
      s.fp4_formats.clear();
      for (const auto& item : f->items()) {
        const auto name = item.as_string();
        const auto p = precision_from_string(name);
        if (!p || info(*p).compute_class != ComputeClass::fp4) item.fail(fmt::format("'{}' is not a 4-bit float format", name), "valid: nvfp4, mxfp4");
        s.fp4_formats.push_back(*p);
      }
    }
    if (auto mem = chip->optional("memory")) {
      s.memory.clear();
      for (const auto& t : mem->items()) {
        t.expect_keys({"tier", "technology", "capacity", "bandwidth"});
        MemoryTier tier;
        tier.kind = read_enum<MemoryTierKind>(t.required("tier"), {{"hbm", MemoryTierKind::hbm},
                                                                   {"sram", MemoryTierKind::sram},
                                                                   {"gddr", MemoryTierKind::gddr},
                                                                   {"lpddr", MemoryTierKind::lpddr},
                                                                   {"ddr", MemoryTierKind::ddr}});
        if (auto tech = t.optional("technology")) tier.technology = tech->as_string();
        tier.capacity_bytes = read_quantity(t.required("capacity"), Dimension::bytes, refs);
        tier.bandwidth_bytes_per_s = read_quantity(t.required("bandwidth"), Dimension::bytes_per_s, refs);
        if (tier.capacity_bytes.value <= 0) t.required("capacity").fail("capacity must be > 0");
        if (tier.bandwidth_bytes_per_s.value <= 0) t.required("bandwidth").fail("bandwidth must be > 0");
        s.memory.push_back(std::move(tier));
      }
      if (s.memory.empty()) mem->fail("at least one memory tier is required");
    }
    if (auto comp = chip->optional("compute")) {
      comp->expect_keys(compute_class_names());
      for (const auto& k : comp->keys()) {
        const auto cls = *compute_class_from_string(k);
        const bool integer = cls == ComputeClass::int8 || cls == ComputeClass::int4;
        const auto node = comp->required(k);
        Sourced q = read_quantity(node, integer ? Dimension::op_per_s : Dimension::flop_per_s, refs);
        if (q.value <= 0) node.fail("peak rate must be > 0 (omit formats the chip lacks)");
        s.compute[cls] = std::move(q);
      }
    }
    if (auto p = chip->optional("power")) s.chip_power_w = read_quantity(*p, Dimension::watts, refs);
  }
  if (auto su = root.optional("scale_up")) {
    read_link(*su, s.scale_up, refs);
    if (auto dc = su->optional("domain_chips")) s.scale_up_domain_chips = read_count(*dc, refs);
  }
  if (auto so = root.optional("scale_out")) {
    if (so->has("domain_chips")) so->required("domain_chips").fail("domain_chips belongs under scale_up");
    read_link(*so, s.scale_out, refs);
  }
  if (auto h = root.optional("host")) {
    h->expect_keys({"chips_per_node", "cpu_cores_per_chip", "dram_per_chip", "dram_bandwidth_per_chip",
                    "ssd_capacity_per_node", "ssd_bandwidth_per_node", "pcie_bandwidth_per_chip"});
    if (auto v = h->optional("chips_per_node")) s.host.chips_per_node = read_count(*v, refs);
    // Fractional shares are allowed (e.g. 72 Grace cores shared by 2 GPUs = 36).
    if (auto v = h->optional("cpu_cores_per_chip")) s.host.cpu_cores_per_chip = read_count(*v, refs, false);
    if (auto v = h->optional("dram_per_chip")) s.host.dram_bytes_per_chip = read_quantity(*v, Dimension::bytes, refs);
    if (auto v = h->optional("dram_bandwidth_per_chip"))
      s.host.dram_bandwidth_bytes_per_s_per_chip = read_quantity(*v, Dimension::bytes_per_s, refs);
    if (auto v = h->optional("ssd_capacity_per_node")) s.host.ssd_bytes_per_node = read_quantity(*v, Dimension::bytes, refs);
    if (auto v = h->optional("ssd_bandwidth_per_node"))
      s.host.ssd_bandwidth_bytes_per_s_per_node = read_quantity(*v, Dimension::bytes_per_s, refs);
    if (auto v = h->optional("pcie_bandwidth_per_chip"))
      s.host.pcie_bandwidth_bytes_per_s_per_chip = read_quantity(*v, Dimension::bytes_per_s, refs, true);
  }
  if (auto p = root.optional("all_in_power_per_chip"))
    s.all_in_power_w_per_chip = read_quantity(*p, Dimension::watts, refs);
  if (auto pr = root.optional("price")) {
    pr->expect_keys({"capex_per_chip", "capex_scope", "usd_per_chip_hour"});
    if (auto v = pr->optional("capex_scope")) {
      const auto scope = v->as_string();
      if (scope != "chip" && scope != "system") v->fail(fmt::format("unknown capex_scope '{}'", scope), "valid: chip, system");
      s.capex_includes_system = scope == "system";
    }
    if (auto v = pr->optional("capex_per_chip")) s.capex_usd_per_chip = read_quantity(*v, Dimension::usd, refs);
    if (auto v = pr->optional("usd_per_chip_hour"))
      s.usd_per_chip_hour = read_quantity(*v, Dimension::usd_per_hour, refs);
  }
}

void check_complete(const YamlNode& root, const SystemSpec& s) {
  auto missing = [&](const char* key) { root.fail(fmt::format("missing required key '{}'", key)); };
  if (s.name.empty()) missing("name");
  if (s.vendor.empty()) missing("vendor");
  if (s.family.empty()) missing("family");
  if (!root.has("status") && s.variant_of.empty()) missing("status");
  if (s.memory.empty()) missing("chip.memory");
  if (s.compute.empty()) missing("chip.compute");
  if (s.scale_up_domain_chips.value < 1) missing("scale_up.domain_chips");
}

struct RawFile {
  YamlNode root;
  std::filesystem::path path;
};

std::string read_id(const YamlNode& root, const std::filesystem::path& path) {
  root.expect_map();
  const auto id_node = root.required("id");
  const auto id = id_node.as_string();
  if (id != path.stem().string()) {
    id_node.fail(fmt::format("id '{}' does not match the file name '{}'", id, path.filename().string()),
                 "a system file is named <id>.yaml");
  }
  return id;
}

}  // namespace

SystemSpec load_system_file(const std::filesystem::path& path) {
  const auto root = io::load_yaml_file(path);
  SystemSpec s;
  s.id = read_id(root, path);
  s.file = path.string();
  References refs;
  if (root.has("variant_of")) root.required("variant_of").fail("variant files are resolved by the catalog");
  apply(root, s, refs);
  check_complete(root, s);
  return s;
}

Catalog Catalog::load(const std::filesystem::path& dir) {
  io::require_directory(dir, "hardware catalog");
  std::vector<std::filesystem::path> paths;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".yaml") paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());  // deterministic order
  std::map<std::string, RawFile> raw;
  for (const auto& p : paths) {
    auto root = io::load_yaml_file(p);
    auto id = read_id(root, p);
    if (raw.count(id)) {
      root.required("id").fail(fmt::format("duplicate system id '{}', also in {}", id, raw.at(id).path.string()));
    }
    raw.emplace(id, RawFile{root, p});
  }

  std::map<std::string, std::pair<SystemSpec, References>> built;
  std::set<std::string> in_progress;
  std::function<const std::pair<SystemSpec, References>&(const std::string&)> build =
      [&](const std::string& id) -> const std::pair<SystemSpec, References>& {
    if (auto it = built.find(id); it != built.end()) return it->second;
    const RawFile& f = raw.at(id);
    in_progress.insert(id);
    SystemSpec s;
    References refs;
    if (auto base = f.root.optional("variant_of")) {
      const auto base_id = base->as_string();
      if (!raw.count(base_id)) {
        std::vector<std::string> ids;
        for (const auto& [k, _] : raw) ids.push_back(k);
        const auto near = closest_match(base_id, ids);
        base->fail(fmt::format("unknown base system '{}'", base_id),
                   near.empty() ? "valid ids: " + join(ids) : "did you mean '" + near + "'?");
      }
      if (in_progress.count(base_id)) base->fail(fmt::format("variant_of cycle through '{}'", base_id));
      const auto& b = build(base_id);
      s = b.first;
      refs = b.second;
      s.variant_of = base_id;
    }
    s.id = id;
    s.file = f.path.string();
    apply(f.root, s, refs);
    check_complete(f.root, s);
    in_progress.erase(id);
    return built.emplace(id, std::make_pair(std::move(s), std::move(refs))).first->second;
  };

  Catalog c;
  for (const auto& [id, _] : raw) c.systems_.push_back(build(id).first);
  return c;
}

const SystemSpec* Catalog::find(const std::string& id) const {
  auto it = std::lower_bound(systems_.begin(), systems_.end(), id,
                             [](const SystemSpec& s, const std::string& k) { return s.id < k; });
  return it != systems_.end() && it->id == id ? &*it : nullptr;
}

std::vector<std::string> Catalog::ids() const {
  std::vector<std::string> out;
  for (const auto& s : systems_) out.push_back(s.id);
  return out;
}

const SystemSpec& Catalog::get(const std::string& id) const {
  if (const auto* s = find(id)) return *s;
  const auto near = closest_match(id, ids());
  fail(fmt::format("unknown hardware id '{}'", id),
       (near.empty() ? std::string() : "did you mean '" + near + "'? ") + "valid ids: " + join(ids()));
}

}  // namespace tf::hardware
