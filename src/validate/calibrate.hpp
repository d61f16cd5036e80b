#pragma once
// Calibration: fitting the cost model's efficiency terms to measured rows, with hardware and
// software kept apart. Hardware terms (achievable fractions of peak bandwidth and compute,
// collective bandwidth and latency) belong to a hardware family; software terms (per-step and
// per-layer fixed costs) belong to the serving engine that ran the row, and are fitted across
// every family that engine ran on. Kernel-level fits (`tokenfactory calibrate-kernels`, written
// to data/calibration/kernels/<family>.yaml) are strong priors on a family's hardware terms, so
// end-to-end rows cannot push software effects into them.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "validate/validate.hpp"

namespace tf::validate {

// One fitted parameter: the Efficiency field it sets, its plausible range, and which half of the
// step cost it belongs to.
struct ParamSpec {
  const char* key;
  double lo, hi;
  bool software = false;  // per engine (else per hardware family)
  double cost::Efficiency::*field = nullptr;
  const char* unit = "";  // "" for a fraction of peak; "us" or "ms" for a time (the files' unit)
  // A software term only some rows move: which rows identify it, and what an engine without
  // them lacks ("eager rows"), for its flag and its file's source. Null: every row does.
  bool (*identified_by)(const PreparedRow&) = nullptr;
  const char* identifying_rows = nullptr;
  // The value in the unit written to files and reports (seconds -> us or ms; fractions as they are).
  [[nodiscard]] double in_unit(double v) const;
};
// The fitted parameters in a fixed order (one table drives the fit, the files and the reports).
const std::vector<ParamSpec>& fitted_parameters();
// Indices into fitted_parameters() of the software (per engine) or hardware (per family) terms.
std::vector<size_t> software_indices();
std::vector<size_t> hardware_indices();
// The parameter's value in an Efficiency (`key` as in fitted_parameters()).
double parameter_value(const cost::Efficiency& e, size_t index);
void set_parameter(cost::Efficiency& e, size_t index, double v);

// Hardware priors for one family from kernel measurements: parameter index -> value, with the
// source text to record.
struct KernelPrior {
  std::string family, file;
  std::map<size_t, double> values;
  std::map<size_t, std::string> sources;
};
// Reads data/calibration/kernels/<family>.yaml files (only the keys that are fitted parameters;
// the rest of the file is the kernel fit's own report). A missing folder gives no priors.
std::map<std::string, KernelPrior> load_kernel_priors(const std::filesystem::path& dir);

struct FitOptions {
  size_t min_rows = 20;              // families / engines with fewer supported rows use the pooled /
                                     // typical-engine values
  int max_evaluations = 4000;        // Nelder-Mead budget per fit (restarts included)
  double prior_weight = 1e-2;        // weak pull to the published anchors (transformed space), which
                                     // only decides parameters the rows cannot identify
  double kernel_prior_weight = 0.1;  // strong pull to kernel-measured hardware terms
  int outer_iterations = 3;          // refits of the closed-form surrogate against fresh simulations
  int rounds = 2;                    // Levenberg-Marquardt iterations per outer iteration, in units of 12
  std::map<std::string, KernelPrior> kernel_priors;  // per family
  // The hardware terms the kernel fits hold (keys of fitted_parameters()). Empty by default: held
  // at weight 0.1 (memory, compute and network fractions) they raise the cross-validated error
  // on the shared file from 12.1% to 15.3% (network fraction alone: 12.6%), because the cost
  // model lacks what the kernel fits show (non-GEMM kernels, per-precision GEMM efficiency,
  // attention activation I/O; docs/kernels.md). `calibrate` reports kernel vs end-to-end values
  // side by side instead.
  std::set<std::string> kernel_prior_params;
};

struct FamilyFit {
  std::string family;
  std::string kind;                      // "family" (own rows), "pooled" (too few rows), "defaults" (fit rejected)
  cost::Efficiency efficiency;           // hardware terms fitted; software terms the default engine's
  cost::Efficiency start;                // where the fit started (the uncalibrated file)
  size_t rows = 0;                       // supported rows the fit used
  std::map<std::string, size_t> groups;  // rows per source group
  double start_loss = 0, loss = 0;       // mean squared log error
  int evaluations = 0;
  std::vector<std::string> flags;  // parameters at a bound, rejected fits, unidentified parameters
  std::vector<std::string> at_bound;  // keys of the hardware terms within 10% of a bound of their range
  std::string prior;               // kernel prior file held the hardware terms ("" when none)
  ErrorStats in_sample;
};

// The software terms of one engine profile, fitted over its rows on every family.
struct EngineFit {
  std::string engine;  // profile id; "default" = the typical engine (all rows)
  std::string kind;    // "engine" (own rows) or "typical" (all rows)
  // The software terms' values, and how many of the engine's rows identify each (a term no row
  // identifies stays at its prior), both in the order of software_indices().
  std::vector<double> values;
  std::vector<size_t> identifying;
  size_t rows = 0;
  [[nodiscard]] double value(std::string_view key) const;
  std::map<std::string, size_t> groups;    // rows per source group
  std::map<std::string, size_t> families;  // rows per hardware family
  double start_loss = 0, loss = 0;
  std::vector<std::string> flags;
  ErrorStats in_sample;
};

struct Calibration {
  std::vector<FamilyFit> families;  // every family present in the rows, sorted
  FamilyFit pooled;                 // hardware terms over all rows (families without enough rows)
  std::vector<EngineFit> engines;   // engines with their own fit, then "default"
  // The efficiency a row is predicted with: its family's hardware terms (pooled when the
  // family has no fit) and its engine's software terms (the typical engine's when the engine
  // has no fit of its own).
  [[nodiscard]] cost::Efficiency efficiency_for(const PreparedRow& p, const cost::EfficiencyTable& base) const;
};

// The software key a row is fitted under: its engine profile's id ("default" when the engine is
// not recognised).
std::string engine_key(const PreparedRow& p);

// Fits every family and engine present in `rows` (supported rows only), starting from `base`
// (uncalibrated) and the kernel priors in `o`.
Calibration calibrate(const std::vector<PreparedRow>& rows, const cost::EfficiencyTable& base,
                      const FitOptions& o = {});

// What a cross-validation fold holds out.
enum class HoldOut {
  source_group,  // one source group (a publication, benchmark round or engine version)
  family,        // one hardware family: how well a chip family never measured is predicted
};
std::string_view to_string(HoldOut h);

// Leave-one-out over `by`: for each group (or family), fit on the other rows and predict its rows.
// A held-out family has no fit of its own, so its rows take the pooled hardware terms of the
// other families (Calibration::efficiency_for), as an uncalibrated family would.
std::vector<RowResult> cross_validate(const std::vector<PreparedRow>& rows, const cost::EfficiencyTable& base,
                                      const FitOptions& o = {}, int threads = 2,
                                      HoldOut by = HoldOut::source_group);

// The calibration file for one family (same schema as data/efficiency, plus provenance).
// `cross_validated`: the family's rows' errors under the cross-validation that held out `hold_out`
// (recorded, with what was held out, so every result can state the evidence behind its
// efficiencies); null when cross-validation did not run.
std::string calibration_yaml(const FamilyFit& fit, const MeasuredSet& set, const std::string& date,
                             const ErrorStats* cross_validated = nullptr, HoldOut hold_out = HoldOut::source_group);
// The software-terms file for one engine (data/calibration/engines/<engine>.yaml).
std::string engine_calibration_yaml(const EngineFit& fit, const MeasuredSet& set, const std::string& date,
                                    const ErrorStats* cross_validated = nullptr,
                                    HoldOut hold_out = HoldOut::source_group);

}  // namespace tf::validate
