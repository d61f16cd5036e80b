#pragma once
// One operating point: a deployment serving requests of `isl` input and `osl` output tokens at a
// fixed number of requests in flight, in steady state with chunked prefill mixed into decode
// steps; plus the first-principles ceilings beside it.
#include <string>
#include <vector>

#include "cost/step_cost.hpp"

namespace tf::cost {

struct Workload {
  double isl = 1024;         // input tokens per request
  double osl = 1024;         // output tokens per request
  double concurrency = 1;    // requests in flight over the whole deployment
};

struct CeilingPoint {
  double concurrency = 0;
  double output_tok_s_per_user = 0;
  double output_tok_s_per_chip = 0;
};

// The seed claim "throughput tracks memory size x bandwidth", made exact for one deployment:
// the largest batch memory admits at context isl + osl, the per-user speed bound from bytes per
// decode step over peak bandwidth, and the curve between them.
struct Ceiling {
  double max_concurrency = 0;             // whole deployment
  double max_output_tok_s_per_user = 0;   // at batch 1
  double max_output_tok_s_per_chip = 0;   // at max_concurrency
  std::vector<CeilingPoint> curve;        // concurrency ascending
};

struct Estimate {
  bool feasible = false;
  std::string reason;  // why not, when infeasible
  double ttft_s = 0;
  double tpot_s = 0;
  double output_tok_s_per_user = 0;
  double output_tok_s_per_chip = 0;
  double total_tok_s_per_chip = 0;
  double output_tok_s = 0;  // whole deployment
  double kv_bytes_per_chip = 0;
  StepCost step;            // the steady-state step
  StepCost prefill;         // one request's prefill alone
  Ceiling ceiling;
};

// Ceiling curve with about `points_per_decade` points per factor of 10 in concurrency.
Ceiling compute_ceiling(const StepCostModel& model, double isl, double osl, int points_per_decade = 8);

// The steady-state operating point. Workload values must be positive (DiagnosticError otherwise).
Estimate estimate(const StepCostModel& model, const Workload& w, bool with_ceiling = true);

// Concurrency grid from 1 to `max` (inclusive), geometric, deterministic, multiples of `step`.
std::vector<double> concurrency_grid(double max, int points_per_decade, double step = 1);

}  // namespace tf::cost
