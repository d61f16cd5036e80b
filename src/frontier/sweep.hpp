#pragma once
// Configuration sweeps and Pareto frontiers: for a model and each system, every admissible
// parallel layout and precision at every concurrency up to the memory limit; keep the points not
// dominated in (output tokens/s per chip, output tokens/s per user), with the ceiling envelope.
#include <functional>
#include <string>
#include <vector>

#include "cost/estimate.hpp"
#include "hardware/system.hpp"

namespace tf::frontier {

struct SweepOptions {
  double isl = 1024;
  double osl = 1024;
  // Weights = activations where the chip computes the format; fp8 on a chip without fp8 math runs
  // weight-only (W8A16); int8 is W8A8 and only swept where it beats fp8's rate.
  std::vector<Precision> precisions{Precision::bf16, Precision::fp8, Precision::int8, Precision::nvfp4};
  int max_chips_per_replica = 0;  // 0: max(scale-up domain, 64)
  int points_per_decade = 6;      // concurrency grid density
  double min_tok_s_per_user = 0;  // drop points slower than this
  double max_ttft_s = 0;          // drop points with a longer TTFT (0: no limit)
  double max_tpot_s = 0;          // drop points with a longer TPOT (0: no limit)
  bool keep_all = false;          // keep every feasible point instead of the Pareto set (planning)
  // Expert-parallel layouts run EPLB-style placement (cost::DeploymentSpec::eplb_redundant_experts),
  // with no redundant experts and with one per rank, as vLLM, SGLang and TensorRT-LLM can; false:
  // the static placement by expert id only.
  bool eplb = true;
};

struct Point {
  cost::Deployment config;
  double concurrency = 0;  // whole deployment
  double output_tok_s_per_user = 0;
  double output_tok_s_per_chip = 0;
  double total_tok_s_per_chip = 0;
  double ttft_s = 0;
  double tpot_s = 0;
  double prefill_time_share = 0;  // of each step, for input/output cost attribution
  cost::Bound bound_by = cost::Bound::memory;
};

struct SystemFrontier {
  const hardware::SystemSpec* system = nullptr;
  std::vector<Point> points;                // Pareto set (or all points), per-user speed ascending
  std::vector<cost::CeilingPoint> ceiling;  // Pareto envelope of every layout's ceiling curve
  double ceiling_max_tok_s_per_user = 0;
  long long layouts = 0;       // deployments considered
  long long evaluations = 0;   // operating points evaluated
  std::string note;            // why there is no point, when empty
  // Layouts the weights fit in but the system cannot run (a link they need states no bandwidth):
  // how many, and the first one's reason (the smallest such layout, in sweep order).
  long long left_out_layouts = 0;
  std::string left_out_reason;
};

// Maximises both coordinates; returns the non-dominated points sorted by per-user speed.
std::vector<Point> pareto(std::vector<Point> points);
std::vector<cost::CeilingPoint> pareto(std::vector<cost::CeilingPoint> points);

using Progress = std::function<void(size_t done, size_t total, const std::string& system_id)>;

// Sweeps every system (in parallel on `threads` threads); results are in the order of `systems`
// and identical whatever the thread count.
std::vector<SystemFrontier> sweep(const model::ModelSpec& model, const std::vector<const hardware::SystemSpec*>& systems,
                                  const cost::EfficiencyTable& efficiency, const SweepOptions& options, int threads = 1,
                                  const Progress& progress = {});

SystemFrontier sweep_system(const model::ModelSpec& model, const hardware::SystemSpec& system,
                            const cost::Efficiency& efficiency, const SweepOptions& options);

// The layouts a sweep considers for a system (validated; weights may still not fit).
std::vector<cost::DeploymentSpec> candidate_layouts(const model::ModelSpec& model, const hardware::SystemSpec& system,
                                                    const SweepOptions& options);

}  // namespace tf::frontier
