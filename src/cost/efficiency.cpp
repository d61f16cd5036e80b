#include "cost/efficiency.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/diagnostic.hpp"
#include "io/text.hpp"
#include "io/yaml_reader.hpp"

namespace tf::cost {
namespace {

const std::vector<std::string> kKeys{"family",
                                     "description",
                                     "memory_bandwidth_fraction",
                                     "compute_fraction",
                                     "attention_compute_fraction",
                                     "network_fraction",
                                     "collective_latency",
                                     "step_overhead",
                                     "layer_overhead",
                                     "eager_launch",
                                     "request_overhead",
                                     "memory_utilization",
                                     "runtime_reserve",
                                     "activation_tokens",
                                     "moe_floor",
                                     "calibration"};

io::YamlNode value_node(const io::YamlNode& root, const char* key) { return root.required(key).sourced_value(); }

double fraction(const io::YamlNode& root, const char* key) {
  const auto v = value_node(root, key);
  const double x = v.as_double();
  if (!(x > 0 && x <= 1)) v.fail(fmt::format("{} is not a fraction in (0, 1]", x));
  return x;
}

double quantity(const io::YamlNode& root, const char* key, Dimension d) {
  return value_node(root, key).as_quantity(d);
}

// Every software term of software_terms(), each within [0, its max].
void read_software_terms(const io::YamlNode& root, Efficiency& e) {
  for (const auto& t : software_terms()) {
    const double x = quantity(root, t.key, Dimension::seconds);
    const double scale = std::string_view(t.unit) == "ms" ? 1e3 : 1e6;
    if (!(x >= 0 && x <= t.max_s))
      value_node(root, t.key)
          .fail(fmt::format("{:g} {} is not in [0, {:g}] {}", x * scale, t.unit, t.max_s * scale, t.unit));
    e.*t.field = x;
  }
}

const char* const kInheritanceFile = "inheritance.yaml";

// data/calibration/kernels/<family>.yaml (written by `tokenfactory calibrate-kernels`): only the
// terms the cost model takes from kernel timings are read; the rest is the kernel fit's report.
// A missing folder, or a file without such a term, gives none.
template <typename Terms>
std::map<std::string, Terms> load_kernel_terms(const std::filesystem::path& dir) {
  std::map<std::string, Terms> out;
  for (const auto& path : io::files_with_extension(dir, ".yaml")) {
    const auto root = io::load_yaml_file(path);
    const auto family = root.required("family");
    if (family.as_string() != path.stem().string())
      family.fail(fmt::format("family '{}' does not match the file name", family.as_string()));
    const auto floor = root.optional("moe_floor");
    if (!floor) continue;
    const auto v = floor->sourced_value();
    Terms t;
    t.moe_floor_s = v.as_quantity(Dimension::seconds);
    if (!(t.moe_floor_s >= 0 && t.moe_floor_s <= 1e-3))
      v.fail(fmt::format("{} us is not a kernel floor in [0, 1000] us", t.moe_floor_s * 1e6));
    t.file = path.string();
    out[family.as_string()] = std::move(t);
  }
  return out;
}

}  // namespace

Efficiency load_efficiency_file(const std::filesystem::path& path) {
  const auto root = io::load_yaml_file(path);
  root.expect_keys(kKeys);
  Efficiency e;
  e.file = path.string();
  e.family = root.required("family").as_string();
  e.provenance.family = e.family;
  e.provenance.status = e.family == "default" ? EfficiencyStatus::fallback : EfficiencyStatus::anchors;
  if (auto cal = root.optional("calibration")) {
    // Written by `tokenfactory calibrate`: the rows behind the fit and, when cross-validation
    // ran, the family's cross-validated median error.
    cal->expect_map();
    e.provenance.status = EfficiencyStatus::calibrated;
    if (auto fit = cal->optional("fit"); fit && fit->as_string() == "pooled")
      e.provenance.status = EfficiencyStatus::pooled;
    if (auto rows = cal->optional("rows")) {
      e.provenance.rows = rows->as_int();
      if (e.provenance.rows < 0) rows->fail("must be >= 0");
    }
    if (auto b = cal->optional("at_bound")) {
      for (const auto& k : b->items()) {
        const auto key = k.as_string();
        if (key != "memory_bandwidth_fraction" && key != "compute_fraction" && key != "attention_compute_fraction" &&
            key != "network_fraction" && key != "collective_latency")
          k.fail(fmt::format("'{}' is not a hardware term", key),
                 "valid: memory_bandwidth_fraction, compute_fraction, attention_compute_fraction, network_fraction, "
                 "collective_latency");
        e.provenance.at_bound.push_back(key);
      }
    }
    if (auto cv = cal->optional("cross_validated")) {
      cv->expect_map();
      if (auto m = cv->optional("median_ape_pct")) {
        e.provenance.cv_median_ape_pct = m->as_double();
        if (!(e.provenance.cv_median_ape_pct >= 0) || !std::isfinite(e.provenance.cv_median_ape_pct))
          m->fail("must be a finite percentage >= 0");
      }
      if (auto h = cv->optional("hold_out")) {
        e.provenance.cv_hold_out = h->as_string();
        if (e.provenance.cv_hold_out != "source group" && e.provenance.cv_hold_out != "hardware family")
          h->fail("must be 'source group' or 'hardware family'");
      }
    }
  }
  if (e.family != path.stem().string())
    root.required("family").fail(fmt::format("family '{}' does not match the file name", e.family));
  e.memory_bandwidth_fraction = fraction(root, "memory_bandwidth_fraction");
  e.compute_fraction = fraction(root, "compute_fraction");
  e.attention_compute_fraction = fraction(root, "attention_compute_fraction");
  e.network_fraction = fraction(root, "network_fraction");
  e.memory_utilization = fraction(root, "memory_utilization");
  e.collective_latency_s = quantity(root, "collective_latency", Dimension::seconds);
  read_software_terms(root, e);
  e.runtime_reserve_bytes = quantity(root, "runtime_reserve", Dimension::bytes);
  e.moe_floor_s = quantity(root, "moe_floor", Dimension::seconds);
  if (!(e.moe_floor_s >= 0 && e.moe_floor_s <= 1e-3))
    value_node(root, "moe_floor").fail(fmt::format("{} us is not a kernel floor in [0, 1000] us", e.moe_floor_s * 1e6));
  const auto tokens = value_node(root, "activation_tokens");
  e.activation_tokens = static_cast<double>(tokens.as_int());
  if (e.activation_tokens < 1) tokens.fail("must be >= 1");
  return e;
}

const std::vector<SoftwareTerm>& software_terms() {
  // Largest values a file may state: beyond them a "fixed cost" is a queue or a missing
  // mechanism, not an overhead.
  static const std::vector<SoftwareTerm> t{
      {"step_overhead", &Efficiency::step_overhead_s, "us", 0.1},
      {"layer_overhead", &Efficiency::layer_overhead_s, "us", 1e-3},
      {"eager_launch", &Efficiency::eager_launch_s, "us", 10e-3},
      {"request_overhead", &Efficiency::request_overhead_s, "ms", 1.0},
  };
  return t;
}

void SoftwareTerms::apply_to(Efficiency& e) const {
  const auto& terms = software_terms();
  for (size_t k = 0; k < terms.size() && k < values.size(); ++k) e.*terms[k].field = values[k];
}

SoftwareTerms load_software_file(const std::filesystem::path& path) {
  const auto root = io::load_yaml_file(path);
  std::vector<std::string> keys{"engine", "description", "calibration"};
  for (const auto& term : software_terms()) keys.emplace_back(term.key);
  root.expect_keys(keys);
  SoftwareTerms t;
  t.file = path.string();
  t.engine = root.required("engine").as_string();
  if (t.engine != path.stem().string())
    root.required("engine").fail(fmt::format("engine '{}' does not match the file name", t.engine));
  Efficiency e;
  read_software_terms(root, e);
  for (const auto& term : software_terms()) t.values.push_back(e.*term.field);
  if (auto cal = root.optional("calibration")) {
    cal->expect_map();
    if (auto rows = cal->optional("rows")) {
      t.rows = rows->as_int();
      if (t.rows < 0) rows->fail("must be >= 0");
    }
    if (auto cv = cal->optional("cross_validated")) {
      cv->expect_map();
      if (auto m = cv->optional("median_ape_pct")) {
        t.cv_median_ape_pct = m->as_double();
        if (!(t.cv_median_ape_pct >= 0) || !std::isfinite(t.cv_median_ape_pct))
          m->fail("must be a finite percentage >= 0");
      }
    }
  }
  return t;
}

namespace {

std::vector<std::filesystem::path> yaml_files(const std::filesystem::path& dir) {
  auto paths = io::files_with_extension(dir, ".yaml");
  std::erase_if(paths, [](const std::filesystem::path& p) { return p.filename() == kInheritanceFile; });
  return paths;
}

// family -> {from, reason}; `from` is a hardware family (its values once it has a file here or in
// data/calibration; the defaults until then, and the provenance says so), another entry, or
// "default". Unknown keys, self-reference, cycles, a missing reason and a family that has a file
// of its own here (the entry would never apply) are errors naming the line.
std::map<std::string, EfficiencyTable::Inheritance> load_inheritance(const std::filesystem::path& path,
                                                                     const std::map<std::string, Efficiency>& own) {
  std::map<std::string, EfficiencyTable::Inheritance> out;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return out;
  const auto root = io::load_yaml_file(path);
  root.expect_keys({"inherit"});
  const auto inherit = root.required("inherit");
  inherit.expect_map();
  for (const auto& family : inherit.keys()) {
    const auto entry = inherit.required(family);
    entry.expect_keys({"from", "reason"});
    auto from = entry.required("from");
    EfficiencyTable::Inheritance inh{from.as_string(), entry.required("reason").as_string()};
    if (inh.reason.empty()) entry.required("reason").fail("must say why the values transfer");
    if (inh.from == family) from.fail(fmt::format("family '{}' inherits from itself", family));
    if (own.count(family))
      entry.fail(fmt::format("family '{}' has an efficiency file of its own; the entry would never apply", family));
    out[family] = std::move(inh);
  }
  for (const auto& [family, inh] : out) {
    std::string at = family;
    for (size_t hops = 0; out.count(at); ++hops) {
      at = out.at(at).from;
      if (hops > out.size())
        inherit.required(family).fail(fmt::format("inheritance of '{}' forms a cycle", family));
    }
  }
  return out;
}

}  // namespace

EfficiencyTable EfficiencyTable::load(const std::filesystem::path& dir) {
  auto t = load_uncalibrated(dir);
  auto norm = dir.lexically_normal();
  if (norm.filename().empty()) norm = norm.parent_path();
  t.apply_overrides(norm.parent_path() / "calibration");
  return t;
}

void EfficiencyTable::apply_overrides(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return;
  for (const auto& p : yaml_files(dir)) {
    auto e = load_efficiency_file(p);
    by_family_[e.family] = std::move(e);
  }
  // Software terms per engine, fitted across families (engines/<engine>.yaml).
  if (std::filesystem::is_directory(dir / "engines", ec)) {
    for (const auto& p : yaml_files(dir / "engines")) {
      auto t = load_software_file(p);
      software_[t.engine] = std::move(t);
    }
  }
  resolve();
}

void EfficiencyTable::resolve() {
  fallback_ = by_family_.at("default");
  resolved_.clear();
  // Kernel-measured terms of the nearest family on `family`'s inheritance chain (itself first)
  // that has them, unless a calibration file on the way states its own.
  auto kernel_measured = [&](const std::string& family, Efficiency& e) {
    for (std::string at = family;;) {
      if (auto f = by_family_.find(at); f != by_family_.end() && f->second.provenance.status != EfficiencyStatus::anchors &&
                                        f->second.provenance.status != EfficiencyStatus::fallback)
        return;
      if (auto k = kernel_terms_.find(at); k != kernel_terms_.end()) {
        e.moe_floor_s = k->second.moe_floor_s;
        e.moe_floor_file = k->second.file;
        return;
      }
      if (by_family_.count(at) || !inherits_.count(at)) return;
      at = inherits_.at(at).from;
    }
  };
  for (auto& [family, e] : by_family_) kernel_measured(family, e);
  for (const auto& [family, inh] : inherits_) {
    // Follow the chain to a family with a file of its own (or default); cycles were refused
    // when the file was read.
    std::string at = inh.from;
    while (!by_family_.count(at) && inherits_.count(at)) at = inherits_.at(at).from;
    const Efficiency& src = by_family_.count(at) ? by_family_.at(at) : fallback_;
    Efficiency e = src;
    e.provenance = EfficiencyProvenance{};
    e.provenance.family = family;
    e.provenance.reason = inh.reason;
    e.provenance.from_family = src.family;
    e.provenance.from_status = src.provenance.status;
    e.provenance.rows = src.provenance.rows;
    e.provenance.cv_median_ape_pct = src.provenance.cv_median_ape_pct;
    e.provenance.cv_hold_out = src.provenance.cv_hold_out;
    e.provenance.at_bound = src.provenance.at_bound;
    e.provenance.status = src.family == "default" ? EfficiencyStatus::fallback : EfficiencyStatus::inherited;
    kernel_measured(family, e);
    resolved_[family] = std::move(e);
  }
  // A family with kernel timings and no file of its own: the default values with its terms.
  for (const auto& [family, k] : kernel_terms_) {
    if (by_family_.count(family) || resolved_.count(family)) continue;
    Efficiency e = fallback_;
    kernel_measured(family, e);
    resolved_[family] = std::move(e);
  }
  combined_.clear();
  if (software_.empty()) return;
  auto combine = [&](const std::string& family, const Efficiency& hw) {
    // A family whose own file holds published anchors runs its vendor's stack: the overheads
    // in those anchors are that stack's, not a general engine's.
    const bool own_stack = hw.provenance.status == EfficiencyStatus::anchors ||
                           (hw.provenance.status == EfficiencyStatus::inherited &&
                            hw.provenance.from_status == EfficiencyStatus::anchors);
    for (const auto& [engine, sw] : software_) {
      Efficiency e = hw;
      if (!own_stack) {
        sw.apply_to(e);
        e.provenance.software_engine = engine;
        e.provenance.software_rows = sw.rows;
        e.provenance.software_cv_ape_pct = sw.cv_median_ape_pct;
      }
      combined_[{family, engine}] = std::move(e);
    }
  };
  for (const auto& [family, e] : by_family_) combine(family, e);
  for (const auto& [family, e] : resolved_) combine(family, e);
}

const Efficiency& EfficiencyTable::hardware_for(const std::string& family) const {
  if (auto it = by_family_.find(family); it != by_family_.end()) return it->second;
  if (auto it = resolved_.find(family); it != resolved_.end()) return it->second;
  return fallback_;
}

EfficiencyTable EfficiencyTable::load_uncalibrated(const std::filesystem::path& dir) {
  EfficiencyTable t;
  io::require_directory(dir, "efficiency");
  for (const auto& p : yaml_files(dir)) {
    auto e = load_efficiency_file(p);
    t.by_family_[e.family] = std::move(e);
  }
  if (!t.by_family_.count("default")) {
    Diagnostic d;
    d.file = (dir / "default.yaml").string();
    d.message = "missing: the default efficiency file is required";
    throw DiagnosticError(d);
  }
  t.inherits_ = load_inheritance(dir / kInheritanceFile, t.by_family_);
  auto norm = dir.lexically_normal();
  if (norm.filename().empty()) norm = norm.parent_path();
  t.kernel_terms_ = load_kernel_terms<KernelTerms>(norm.parent_path() / "calibration" / "kernels");
  t.resolve();
  return t;
}

const Efficiency& EfficiencyTable::for_family(const std::string& family) const {
  return for_family(family, "default");
}

const Efficiency& EfficiencyTable::for_family(const std::string& family, const std::string& engine) const {
  if (software_.empty()) return hardware_for(family);
  const std::string& eng = software_.count(engine) ? engine : std::string("default");
  if (!software_.count(eng)) return hardware_for(family);
  const bool known = by_family_.count(family) || resolved_.count(family);
  return combined_.at({known ? family : std::string("default"), eng});
}

std::string_view to_string(EfficiencyStatus s) {
  switch (s) {
    case EfficiencyStatus::calibrated: return "calibrated";
    case EfficiencyStatus::anchors: return "anchors";
    case EfficiencyStatus::pooled: return "pooled";
    case EfficiencyStatus::inherited: return "inherited";
    case EfficiencyStatus::fallback: return "default";
  }
  return "?";
}

std::string EfficiencyProvenance::summary() const {
  auto evidence = [&] {
    std::string s = fmt::format("{} rows", rows);
    if (cv_median_ape_pct >= 0)
      s += fmt::format(", CV {:.1f}%{}", cv_median_ape_pct,
                       cv_hold_out == "hardware family" ? " leaving each family out" : "");
    for (const auto& k : at_bound) s += fmt::format("; {} fitted at a bound", k);
    return s;
  };
  switch (status) {
    case EfficiencyStatus::calibrated: return fmt::format("calibrated ({})", evidence());
    case EfficiencyStatus::anchors: return "uncalibrated (family anchors)";
    case EfficiencyStatus::pooled:
      if (family == "pooled") return fmt::format("pooled across calibrated families ({})", evidence());
      return rows > 0 ? fmt::format("pooled across calibrated families ({} rows of its own, too few for a fit)", rows)
                      : "pooled across calibrated families";
    case EfficiencyStatus::inherited:
      if (from_status == EfficiencyStatus::pooled)
        return fmt::format("pooled across calibrated families ({}; none of its own)", evidence());
      return from_status == EfficiencyStatus::calibrated
                 ? fmt::format("inherited from {} (calibrated, {})", from_family, evidence())
                 : fmt::format("inherited from {} ({})", from_family, to_string(from_status));
    case EfficiencyStatus::fallback: return "default (uncalibrated)";
  }
  return "?";
}

std::string EfficiencyProvenance::software_summary() const {
  if (software_engine.empty()) return "family file";
  std::string s = fmt::format("engine {} (calibrated, {} rows", software_engine, software_rows);
  if (software_cv_ape_pct >= 0) s += fmt::format(", CV {:.1f}%", software_cv_ape_pct);
  return s + ")";
}

}  // namespace tf::cost
