#pragma once
// Bottom-up hardware efficiencies from measured kernel timings (the aiconfigurator perf database
// in ../shared/calibration/kernels): GEMM, decode and prefill attention, MoE and all-reduce
// latencies fitted with the cost model's own roofline formulas (src/cost/step_cost.cpp), per
// system and pooled per hardware family. The fits are priors for `tokenfactory calibrate`, which
// cannot identify several of these terms from end-to-end measurements alone.
//
// Model of one kernel (all times in seconds, peaks from the hardware catalog):
//   t = max(flops / (peak(class) x c), bytes / (bw x m)) + extra_bytes / (bw x m) + floor
// with c a compute fraction, m a bandwidth fraction and floor a fixed per-kernel time. The
// all-reduce is the same form with no compute term: t = alpha + 2(n-1)/n x bytes / (link x f).
// Fits minimise the sum of squared log residuals (Levenberg-Marquardt in log-parameters), in two
// stages: (1) every row clearly on one side of the roofline fixes the floors (the plateau of the
// smallest kernels); (2) with the floors held, c and m are fitted to the kernels of at least
// kLargeKernelS at peak. See docs/kernels.md.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/precision.hpp"
#include "hardware/catalog.hpp"

namespace tf::validate::kernels {

// ---- configuration: data/kernels/systems.yaml ----

struct SystemMapping {
  std::string folder;     // kernel system folder, e.g. "h100_sxm"
  std::string system_id;  // catalog id, e.g. "h100-sxm"
  std::string family;     // catalog family (checked against the catalog)
  std::string reason;
  // False for a system whose scale-up link differs in kind from its family's (PCIe cards in an
  // NVLink family): its all-reduce is fitted and reported, but not pooled into the family value.
  bool pool_collectives = true;
};

struct DtypeMapping {
  std::string name;        // table dtype, e.g. "fp8_block"
  Precision weights;       // storage (weights; KV cache for kv_cache_dtype)
  Precision activations;   // math format: its compute class picks the peak
  std::string reason;
};

struct Exclusion {
  std::string backend, table, dtype, kernel_contains;  // empty = any
  std::string reason;
};

struct KernelConfig {
  std::string file;
  std::vector<SystemMapping> systems;  // file order
  std::vector<DtypeMapping> dtypes;    // file order
  std::vector<Exclusion> exclusions;
  [[nodiscard]] const SystemMapping* system_for_folder(const std::string& folder) const;
  [[nodiscard]] const DtypeMapping* dtype(const std::string& name) const;
};

// Reads and checks the mapping: unknown keys, an unknown catalog id, a family that disagrees with
// the catalog, an unknown precision are DiagnosticErrors naming the line.
KernelConfig load_kernel_config(const std::filesystem::path& file, const hardware::Catalog& catalog);

// ---- fit results ----

struct Quality {
  size_t rows = 0;
  double median_ape_pct = 0;
  double p90_ape_pct = 0;
};

// One roofline fit.
struct RoofFit {
  bool fitted = false;
  std::string note;                // why not fitted, or what was held fixed
  double compute_fraction = 0;     // c (fitted, or held fixed: see compute_fixed)
  bool compute_fixed = false;
  bool compute_identified = false; // enough compute-bound rows in the fit set
  double memory_fraction = 0;      // m
  bool memory_fixed = false;
  bool memory_identified = false;
  std::vector<std::pair<std::string, double>> floors_s;  // per floor group (dtype), seconds
  size_t rows = 0;                 // rows of the table(s) (after exclusions)
  size_t fit_rows = 0;             // rows in the fit set (clearly compute- or memory-bound)
  size_t compute_rows = 0, memory_rows = 0;
  Quality all;                     // fitted model over every row
  Quality fit;                     // over the fit set
};

// All-reduce latency = alpha + 2(n-1)/n x bytes / (link bandwidth x f).
struct LinkFit {
  bool fitted = false;
  int num_gpus = 0;                // 0: pooled over group sizes
  double latency_s = 0;            // alpha from small messages (<= 64 KiB) ...
  double network_fraction = 0;     // ... f from large ones (>= 64 MiB), fitted jointly
  Quality ends;                    // on those rows
  Quality all;                     // that model on every message size
  double latency_all_s = 0;        // the same model fitted to every message size
  double network_fraction_all = 0;
  Quality all_fit;
  size_t rows = 0;
};

// A numeric table for the report (NaN = empty cell).
struct ShapeTable {
  std::string title;
  std::string axis;                 // first column
  std::vector<std::string> columns; // further columns
  std::vector<double> axis_values;
  std::vector<std::vector<double>> rows;
};

// Every roofline fit uses the rows clearly on one side of the roofline (one term at least twice
// the other). The primary fits further keep only kernels with at least kLargeKernelS of roofline
// time at catalog peak, where a kernel's fixed costs and ramp are a minor share (the cost model
// applies its fractions to whole steps and charges fixed costs as overheads), with the floors held
// at the table-wide fit's; the table-wide fits (`*_table`, reported at family level) use every
// clearly bound row, tiny shapes included, and fit the floors too.
inline constexpr double kLargeKernelS = 20e-6;

struct TableFits {
  RoofFit gemm;                                 // all dtypes: shared c, m; floor per dtype
  std::vector<std::pair<std::string, RoofFit>> gemm_by_dtype;
  RoofFit context_attention;                    // c_attn (m held at the GEMM's)
  RoofFit generation_attention;                 // m_attn (c held at the prefill fit)
  RoofFit moe;                                  // balanced rows
  RoofFit gemm_table, context_attention_table, generation_attention_table, moe_table;
  // Not a cost-model formula, a diagnostic for the lead: prefill attention with the Q, K, V reads
  // and O writes (bf16 activations) added to its memory term, compute and memory both fitted.
  RoofFit context_attention_io;
  Quality moe_power_law;                        // power-law rows under the balanced fit
  double moe_power_law_ratio = 0;               // their median measured / predicted
  std::vector<LinkFit> allreduce;               // per num_gpus
  LinkFit allreduce_pooled;
  std::vector<std::pair<std::string, size_t>> excluded;  // reason -> rows
  std::vector<std::string> sources;             // "trtllm-1.3.0rc20", ...
  // Table (file stem) -> "h100-sxm+h200-sxm trtllm-1.3.0rc20": the systems and folders behind it.
  std::map<std::string, std::string> provenance;
};

struct SystemBackend {
  std::string folder, system_id, family;
  std::string backend;  // trtllm, vllm, sglang, nccl
  TableFits fits;
};

struct FamilyFits {
  std::string family;
  std::vector<std::string> systems;    // catalog ids, kernel-folder order
  std::vector<std::string> collectives_apart;  // systems kept out of the pooled all-reduce fits
  std::string backend;                 // the primary backend pooled here
  TableFits fits;                      // primary backend, systems pooled
  LinkFit nccl_allreduce;              // NCCL all_reduce cross-check, pooled
  std::vector<LinkFit> nccl_by_gpus;
  double wire_latency_s = 0;           // mean scale-up link latency of the systems (catalog)
  std::vector<ShapeTable> tables;      // GEMM by m, by weight bytes, attention, MoE, all-reduce
};

struct ReadStats {
  size_t files = 0;
  size_t rows = 0;
  uintmax_t bytes = 0;
};

struct KernelCalibration {
  std::string dir_name;         // last component of the kernels folder
  std::string manifest_fnv1a64; // empty when MANIFEST.csv is absent
  std::string primary_backend;
  std::vector<std::pair<std::string, std::string>> skipped;  // path -> why
  std::vector<SystemBackend> systems;  // per system and backend, folder order then backend
  std::vector<FamilyFits> families;    // family order of first appearance in the config
  ReadStats read;
};

struct Options {
  std::string primary_backend = "trtllm";
  bool other_backends = true;  // also fit vLLM and SGLang tables (reported apart)
};

// Reads every table the fits use and fits them. A missing folder, a malformed CSV (bad number,
// missing column, wrong field count) is a DiagnosticError naming file, line and column; folders
// the config does not map are reported in `skipped`.
KernelCalibration calibrate_kernels(const std::filesystem::path& dir, const KernelConfig& config,
                                    const hardware::Catalog& catalog, const Options& options = {});

// data/calibration/kernels/<family>.yaml (deterministic: same inputs, same bytes).
std::string family_yaml(const FamilyFits& family, const KernelCalibration& calibration);

// End-to-end values to compare with (data/calibration/<family>.yaml), by family and key.
using Comparison = std::map<std::string, std::map<std::string, double>>;

// The Markdown report: fit quality per table, shape tables, other backends, comparison.
std::string kernels_markdown(const KernelCalibration& calibration, const Comparison& end_to_end = {});

// Median and p90 absolute percentage error of predicted vs measured pairs.
Quality quality_of(const std::vector<double>& ape_pct);

}  // namespace tf::validate::kernels
