#pragma once
// The generational chart: output tokens/s per chip at a fixed interactivity for each generation
// of a vendor line, against on-package memory capacity x bandwidth, with the log-log fit.
#include <filesystem>
#include <string>
#include <vector>

#include "frontier/sweep.hpp"
#include "hardware/catalog.hpp"

namespace tf::economics {

struct VendorLine {
  std::string name;               // "nvidia"
  std::vector<std::string> ids;   // oldest first
  std::string source;
};

// data/generations/vendor-lines.yaml: the vendor lines (ids checked against the catalog).
std::vector<VendorLine> load_generations(const std::filesystem::path& path, const hardware::Catalog& catalog);

struct GenerationRow {
  std::string line;
  const hardware::SystemSpec* system = nullptr;
  double hbm_capacity_bytes = 0;
  double hbm_bandwidth_bytes_per_s = 0;
  double capacity_x_bandwidth = 0;          // bytes x bytes/s
  double output_tok_s_per_chip = 0;         // best at >= the interactivity target (0 if unreachable)
  std::string config;                       // the configuration that achieves it
  std::string note;
};

struct LogLogFit {
  double slope = 0;      // d log10(tok/s per chip) / d log10(capacity x bandwidth)
  double intercept = 0;  // log10 tok/s per chip at capacity x bandwidth = 1
  double r2 = 0;
  int n = 0;
};

// Least squares on log10 values of the rows with throughput > 0 (n < 2: zero fit).
LogLogFit fit_log_log(const std::vector<GenerationRow>& rows);

struct GenerationsResult {
  std::vector<GenerationRow> rows;
  LogLogFit fit;                                       // all rows
  std::vector<std::pair<std::string, LogLogFit>> per_line;
};

GenerationsResult generations(const model::ModelSpec& model, const std::vector<VendorLine>& lines,
                              const hardware::Catalog& catalog, const cost::EfficiencyTable& efficiency,
                              double tok_s_per_user, const frontier::SweepOptions& options, int threads = 1);

}  // namespace tf::economics
