#include "cost/efficiency.hpp"

#include <fmt/format.h>
#include <algorithm>
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
                                     "memory_utilization",
                                     "runtime_reserve",
                                     "activation_tokens",
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

}  // namespace

Efficiency load_efficiency_file(const std::filesystem::path& path) {
  const auto root = io::load_yaml_file(path);
  root.expect_keys(kKeys);
  Efficiency e;
  e.file = path.string();
  e.family = root.required("family").as_string();
  if (e.family != path.stem().string())
    root.required("family").fail(fmt::format("family '{}' does not match the file name", e.family));
  e.memory_bandwidth_fraction = fraction(root, "memory_bandwidth_fraction");
  e.compute_fraction = fraction(root, "compute_fraction");
  e.attention_compute_fraction = fraction(root, "attention_compute_fraction");
  e.network_fraction = fraction(root, "network_fraction");
  e.memory_utilization = fraction(root, "memory_utilization");
  e.collective_latency_s = quantity(root, "collective_latency", Dimension::seconds);
  e.step_overhead_s = quantity(root, "step_overhead", Dimension::seconds);
  e.layer_overhead_s = quantity(root, "layer_overhead", Dimension::seconds);
  e.runtime_reserve_bytes = quantity(root, "runtime_reserve", Dimension::bytes);
  const auto tokens = value_node(root, "activation_tokens");
  e.activation_tokens = static_cast<double>(tokens.as_int());
  if (e.activation_tokens < 1) tokens.fail("must be >= 1");
  return e;
}

namespace {

std::vector<std::filesystem::path> yaml_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> paths;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".yaml") paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  return paths;
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
  return t;
}

const Efficiency& EfficiencyTable::for_family(const std::string& family) const {
  auto it = by_family_.find(family);
  return it != by_family_.end() ? it->second : by_family_.at("default");
}

}  // namespace tf::cost
