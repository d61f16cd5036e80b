#pragma once
// Measured reality: reading public measured results (the shared calibration CSV schema),
// predicting each row with the step-cost engine, summarising the errors, and fitting the
// per-family efficiency parameters to the rows (`tokenfactory validate` / `calibrate`).
//
// Nothing here special-cases a row, a source or a number: every prediction is the cost model
// evaluated for the row's stated configuration and scenario.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cost/deployment.hpp"
#include "io/csv.hpp"
#include "cost/efficiency.hpp"
#include "hardware/catalog.hpp"
#include "model/catalog.hpp"
#include "serving/cluster/disaggregated.hpp"
#include "serving/engine/engine_profile.hpp"
#include "serving/serving.hpp"
#include "validate/notes.hpp"

namespace tf::validate {

// CSV records come from io::parse_csv (RFC 4180).
using io::CsvRecord;
using io::parse_csv;

// ---- the measured-results schema ----
enum class Scenario { offline, static_batch, fixed_concurrency, single_stream, poisson_rate };
enum class Metric {
  output_tok_s,
  total_tok_s,
  input_tok_s,
  output_tok_s_per_user,
  ttft_ms,
  tpot_ms,
  e2e_s,
  ttft_ms_median,
  tpot_ms_median
};
std::string_view to_string(Scenario s);
std::string_view to_string(Metric m);
bool is_throughput(Metric m);  // tokens/s metrics; the rest are latencies

extern const std::vector<std::string> kColumns;  // the schema's columns, in order

struct MeasuredRow {
  int line = 0;
  std::string id, group;  // group: id prefix before the last '-' (source group)
  std::string hardware, model;
  int num_chips = 1, tp = 1, pp = 1, ep = 1, dp = 1;
  bool attention_dp = false;
  std::string weight_dtype, act_dtype, kv_dtype;
  Scenario scenario = Scenario::offline;
  double isl = 0, osl = 0;
  std::optional<double> concurrency, request_rate;
  std::string spec_decode;
  Metric metric = Metric::output_tok_s;
  double value = 0;
  std::string unit, trust, source, notes;
};

struct MeasuredSet {
  std::string file;       // as given
  std::string file_name;  // file name only (for provenance)
  std::string fnv1a64;    // hash of the file's bytes, 16 hex digits
  std::vector<MeasuredRow> rows;
};

// Parses and checks every row: unknown hardware or model ids, bad numbers, a missing column,
// unknown scenarios/metrics/dtypes and inconsistent layouts are DiagnosticErrors naming the file,
// the line and the column.
MeasuredSet parse_measured(const std::string& text, const std::string& file, const hardware::Catalog& hw,
                           const model::ModelCatalog& models);
MeasuredSet read_measured(const std::filesystem::path& path, const hardware::Catalog& hw,
                          const model::ModelCatalog& models);

// EngineFacts and parse_notes (the facts stated in a row's notes): validate/notes.hpp.
// parse_notes plus the engine profile the notes and source name, its step policy and the
// per-rank reading of caps.
EngineFacts engine_facts(const MeasuredRow& row, const serving::EngineProfiles& engines);

// ---- prediction ----
struct Prediction {
  bool supported = false;
  double predicted = 0;
  std::string reason;              // why unsupported
  std::vector<std::string> notes;  // assumptions made (defaulted dtypes, ...)
  std::string efficiency_file;     // which efficiency file the prediction used
  double batch = 0;                // requests in flight per replica the prediction assumed
  bool simulated = false;          // predicted by the serving simulator (else steady state / static batch)
};

// One row made ready for repeated evaluation under different efficiencies: the deployment is
// resolved once; only the StepCostModel is rebuilt per evaluation.
struct PreparedRow {
  const MeasuredRow* row = nullptr;
  std::string family;
  bool modelable = false;
  std::string reason;
  std::vector<std::string> notes;
  cost::Deployment deployment;  // a disaggregated run's prefill pool
  EngineFacts facts;
  // A prefill/decode-disaggregated run (its notes state the pools): the decode pool and the link
  // the KV crosses between them (the system's scale-out network, per chip).
  std::optional<cost::Deployment> decode;
  serving::KvTransferLink kv_link;
};

class Predictor {
 public:
  Predictor(const hardware::Catalog& hw, const model::ModelCatalog& models, const serving::EngineProfiles& engines);
  // Resolves every row's deployment with its family's efficiency from `table`. The rows point
  // into this predictor (model specs) and into `set`: both must outlive them.
  std::vector<PreparedRow> prepare(const MeasuredSet& set, const cost::EfficiencyTable& table);

 private:
  void prepare_disaggregated(PreparedRow& q, const cost::DeploymentSpec& spec, const model::ModelSpec& model,
                             const hardware::SystemSpec& system, const cost::Efficiency& eff);
  const hardware::Catalog& hw_;
  const model::ModelCatalog& models_;
  const serving::EngineProfiles& engines_;
  std::map<std::string, model::ModelSpec> model_cache_;
};

// The row's metric under efficiency `eff` (which must outlive nothing: it is used immediately).
// Rows that describe a request process (a stated number of requests queued at t = 0, fixed
// concurrency, Poisson arrivals) run through the serving simulator; unbounded offline runs,
// static batches and single streams use the closed forms.
Prediction predict(const PreparedRow& p, const cost::Efficiency& eff);
// The closed-form stand-in for the same row (no simulation): the calibration's fast surrogate.
// Poisson rows take the steady state at `batch_hint` requests per replica (from a simulation).
Prediction predict_closed_form(const PreparedRow& p, const cost::Efficiency& eff, double batch_hint = 1);

// ---- errors ----
struct ErrorStats {
  size_t n = 0, supported = 0;
  double median_ape = 0, p90_ape = 0;                  // percent
  double within_10 = 0, within_25 = 0, within_50 = 0;  // shares of supported rows, 0..1
};
struct Summary {
  ErrorStats overall;
  size_t n_outside_poisson = 0;
  size_t supported_outside_poisson = 0;
  double coverage = 0;  // supported_outside_poisson / n_outside_poisson
  ErrorStats throughput, latency;
  std::map<std::string, ErrorStats> by_hardware, by_model, by_metric, by_scenario, by_group;
  // "<source group>/throughput" and "<source group>/latency": what the accuracy ratchet bounds.
  std::map<std::string, ErrorStats> by_group_kind;
};
struct RowResult {
  const MeasuredRow* row = nullptr;
  Prediction prediction;
  double ape = 0;  // percent, supported rows only
};
std::vector<RowResult> evaluate(const std::vector<PreparedRow>& rows, const cost::EfficiencyTable& table);
Summary summarise(const std::vector<RowResult>& results);

}  // namespace tf::validate
