#pragma once
// Achievable fractions of peak and fixed overheads per hardware family, read from
// data/efficiency/<family>.yaml (default.yaml when a family has none). Never code literals.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace tf::cost {

// Where a family's efficiency values come from, stated on every result that uses them.
enum class EfficiencyStatus {
  calibrated,  // fitted by `tokenfactory calibrate` to measured rows of this family
  pooled,      // fitted by `tokenfactory calibrate` to the rows of every calibrated family together
               // (a family with too few rows of its own, or data/calibration/pooled.yaml itself)
  anchors,     // the family's own published planning anchors (data/efficiency), not fitted
  inherited,   // another family's values (data/efficiency/inheritance.yaml names which and why)
  fallback,    // data/efficiency/default.yaml: no family-specific evidence at all
};
std::string_view to_string(EfficiencyStatus s);

struct EfficiencyProvenance {
  EfficiencyStatus status = EfficiencyStatus::fallback;
  std::string family;          // the family asked for
  std::string from_family;     // inherited: the family whose values are used (after its own chain)
  EfficiencyStatus from_status = EfficiencyStatus::fallback;  // inherited: that family's own status
  std::string reason;          // inherited: why (from the inheritance file)
  long long rows = 0;          // calibration rows behind the values (own or inherited)
  double cv_median_ape_pct = -1;  // cross-validated median error of those rows (-1: not recorded)
  std::string cv_hold_out;        // what that cross-validation held out ("source group", "hardware family")
  // The software terms (per-step and per-layer overheads): which engine's fit they come from
  // ("vllm-v1", "default"), empty when they are the efficiency file's own (uncalibrated, or a
  // family whose published anchors include its vendor stack).
  // Hardware terms whose calibration ended within 10% of a bound of their plausible range
  // (`calibration.at_bound` in the file): the fit leaned on them to absorb what the model lacks,
  // so results bound by them are less certain than the family's error says.
  std::vector<std::string> at_bound;
  std::string software_engine;
  long long software_rows = 0;       // rows behind that engine's fit
  double software_cv_ape_pct = -1;   // its cross-validated median error (-1: not recorded)
  // "calibrated (636 rows, CV 13.5%)", "inherited from blackwell (calibrated, 120 rows)",
  // "pooled across calibrated families (inherited: no rows of its own)", "default".
  [[nodiscard]] std::string summary() const;
  // "engine vllm-v1 (calibrated, 300 rows, CV 12.0%)", or "family file" when the overheads are
  // the efficiency file's own.
  [[nodiscard]] std::string software_summary() const;
  // True only for values fitted to this family's own measurements.
  [[nodiscard]] bool is_calibrated() const { return status == EfficiencyStatus::calibrated; }
};

struct Efficiency {
  std::string family;  // the file's family ("default" for the fallback)
  std::string file;    // where it was read from
  EfficiencyProvenance provenance;
  double memory_bandwidth_fraction = 0;
  double compute_fraction = 0;
  double attention_compute_fraction = 0;
  double network_fraction = 0;
  double collective_latency_s = 0;
  double step_overhead_s = 0;
  double layer_overhead_s = 0;
  // Host time to dispatch one layer's kernels in eager mode (Launch::eager): a software term of
  // the engine, unused when the step runs as captured graphs.
  double eager_launch_s = 0;
  // Time a request spends outside the engine's steps, once per request: the API server's
  // receive and tokenisation, the hand-off to the scheduler and streaming the first token back.
  // A software term of the engine: it adds to TTFT and E2E (and a closed-loop client's cycle),
  // never to a step.
  double request_overhead_s = 0;
  double memory_utilization = 0;
  double runtime_reserve_bytes = 0;
  double activation_tokens = 0;
  // Device time one MoE layer's expert kernels take beyond their roofline (routing, permutation,
  // grouped GEMMs, combine; docs/kernels.md): a hardware term measured on kernels. A family with
  // kernel timings takes it from its kernel fit (data/calibration/kernels/<family>.yaml).
  double moe_floor_s = 0;
  std::string moe_floor_file;  // the kernel fit it came from; empty: the efficiency file's own value
};

// The software terms of the step cost, one row each: the key in the efficiency, calibration and
// engine files, the Efficiency field it sets, the unit calibration files write it in and the
// largest value a file may state. Loading, an engine's terms replacing a family's and the
// calibration's fit, files and reports all go through this table, so a new software term is a
// row here (and where the step cost charges it).
struct SoftwareTerm {
  const char* key;
  double Efficiency::*field;
  const char* unit;  // "us" or "ms"
  double max_s;      // a file's value must lie in [0, max_s]
};
const std::vector<SoftwareTerm>& software_terms();

// The software half of the step cost: fixed costs the serving engine decides (host scheduling,
// launches, synchronisation), fitted per engine profile across hardware families by
// `tokenfactory calibrate` (data/calibration/engines/<engine>.yaml). The hardware half (achievable
// fractions of peak) stays per hardware family.
struct SoftwareTerms {
  std::string engine;  // engine profile id (data/engines); "default" = the typical engine
  std::string file;
  std::vector<double> values;  // in the order of software_terms()
  long long rows = 0;
  double cv_median_ape_pct = -1;
  // Sets the software fields of `e` to these terms.
  void apply_to(Efficiency& e) const;
};
SoftwareTerms load_software_file(const std::filesystem::path& path);

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
  // The family's parameters: its own file (calibrated or anchors); else the family it inherits
  // from (data/efficiency/inheritance.yaml, resolved through chains); else default.yaml.
  // `provenance` on the result says which. The software terms are the default engine's when
  // calibrated engine terms exist (see for_family(family, engine)).
  [[nodiscard]] const Efficiency& for_family(const std::string& family) const;
  // As for_family, with the step and layer overheads of `engine`'s calibrated software terms
  // (the default engine's when `engine` has none of its own). Families whose own file holds
  // published anchors (vendor-only stacks, e.g. an LPU compiler) keep their own overheads.
  [[nodiscard]] const Efficiency& for_family(const std::string& family, const std::string& engine) const;
  // Calibrated software terms per engine (empty when data/calibration/engines does not exist).
  [[nodiscard]] const std::map<std::string, SoftwareTerms>& software() const { return software_; }
  // Families with a file of their own (data/efficiency or data/calibration).
  [[nodiscard]] const std::map<std::string, Efficiency>& families() const { return by_family_; }
  struct Inheritance {
    std::string from;
    std::string reason;
  };
  // family -> the family it inherits from, as read from inheritance.yaml.
  [[nodiscard]] const std::map<std::string, Inheritance>& inheritance() const { return inherits_; }

 private:
  void resolve();
  [[nodiscard]] const Efficiency& hardware_for(const std::string& family) const;
  std::map<std::string, Efficiency> by_family_;
  std::map<std::string, SoftwareTerms> software_;
  // (family, engine) -> the family's hardware terms with the engine's software terms.
  std::map<std::pair<std::string, std::string>, Efficiency> combined_;
  std::map<std::string, Inheritance> inherits_;
  std::map<std::string, Efficiency> resolved_;  // inherited families, with their provenance
  struct KernelTerms {
    double moe_floor_s = 0;
    std::string file;
  };
  // Kernel-measured hardware terms per family (data/calibration/kernels/<family>.yaml, beside
  // data/efficiency): they replace the anchors' values for the family and the families that
  // inherit from it; a calibration file states its own (written from the same kernel fit).
  std::map<std::string, KernelTerms> kernel_terms_;
  Efficiency fallback_;                          // default.yaml, provenance "fallback"
};

Efficiency load_efficiency_file(const std::filesystem::path& path);

}  // namespace tf::cost
