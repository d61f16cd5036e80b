#pragma once
// Achievable fractions of peak and fixed overheads per hardware family, read from
// data/efficiency/<family>.yaml (default.yaml when a family has none). Never code literals.
#include <filesystem>
#include <map>
#include <string>

namespace tf::cost {

struct Efficiency {
  std::string family;  // the file's family ("default" for the fallback)
  std::string file;    // where it was read from
  double memory_bandwidth_fraction = 0;
  double compute_fraction = 0;
  double attention_compute_fraction = 0;
  double network_fraction = 0;
  double collective_latency_s = 0;
  double step_overhead_s = 0;
  double layer_overhead_s = 0;
  double memory_utilization = 0;
  double runtime_reserve_bytes = 0;
  double activation_tokens = 0;
};

class EfficiencyTable {
 public:
  // Loads every *.yaml in `dir`; default.yaml is required. Then, when a sibling folder
  // `calibration/` exists (data/calibration beside data/efficiency), every <family>.yaml there,
  // written by `tokenfactory calibrate`, replaces that family's values; Efficiency::file says
  // which file a family's values came from.
  static EfficiencyTable load(const std::filesystem::path& dir);
  // As load, without the calibration overrides (the published anchors only).
  static EfficiencyTable load_uncalibrated(const std::filesystem::path& dir);
  // Overrides families with every *.yaml in `dir` (no-op when the folder does not exist).
  void apply_overrides(const std::filesystem::path& dir);
  // The family's parameters, or the defaults when the family has no file.
  [[nodiscard]] const Efficiency& for_family(const std::string& family) const;
  [[nodiscard]] const std::map<std::string, Efficiency>& families() const { return by_family_; }

 private:
  std::map<std::string, Efficiency> by_family_;
};

Efficiency load_efficiency_file(const std::filesystem::path& path);

}  // namespace tf::cost
