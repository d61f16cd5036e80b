#pragma once
// The request-level serving simulator (fidelity 3): one engine replica serving a stream of
// requests with continuous batching, chunked prefill under a per-step token budget and a paged
// KV cache that admits a request only when its whole context (prompt + output) fits, so nothing
// is ever evicted. Each engine step is priced by cost::StepCostModel, so the simulator and the
// steady-state estimate share one cost model.
//
// Time advances step by step while prompts are being prefilled; stretches of pure decode in
// which no request arrives, finishes or can be admitted are advanced in one jump (their steps
// are priced at the stretch's mid-point context), so a run costs O(events), not O(tokens).
//
// Arrivals are open loop (each request's arrival time is given: Poisson, a trace) or closed
// loop (`clients` users, each sending its next request when the previous one completes, as
// benchmark clients at a fixed concurrency do).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cost/step_cost.hpp"

namespace tf::serving {

// How an engine forms its steps.
enum class Scheduler {
  // Prompt chunks ride in the same steps as the running decodes (vLLM V1, TensorRT-LLM
  // in-flight batching): decode tokens first, the rest of the token budget to prompts.
  mixed,
  // A step is either prompts only or decodes only; waiting prompts go first (SGLang's default,
  // vLLM V0 without chunked prefill): decodes pause while prompts are prefilled.
  prefill_first,
};
std::string_view to_string(Scheduler s);
std::optional<Scheduler> parse_scheduler(std::string_view s);

// The registry of step policies: name, what it does, which engines behave so (citation).
struct SchedulerInfo {
  Scheduler scheduler;
  std::string_view name, description, citation;
};
const std::vector<SchedulerInfo>& schedulers();

struct EngineConfig {
  Scheduler scheduler = Scheduler::mixed;
  double max_running = 0;       // sequences in flight per replica (engine cap); 0 = no cap
  double step_tokens = 8192;    // token budget per step (max_num_batched_tokens / max_num_tokens)
  // KV bytes per chip the engine may fill; unset: what the deployment leaves after weights,
  // activations and reserve (StepCostModel::memory().kv_free_bytes). A request reserves the KV
  // of its whole context (input + output, sliding windows included) when it is admitted.
  std::optional<double> kv_capacity_bytes;
};

struct Request {
  double arrival_s = 0;  // open loop only (closed loop: the client's previous completion)
  double input_tokens = 1;
  double output_tokens = 1;
};

struct Workload {
  std::vector<Request> requests;  // served in this order (FCFS)
  int clients = 0;                // > 0: closed loop with this many concurrent clients
};

struct RequestRecord {
  double arrival_s = 0, first_token_s = 0, finish_s = 0;
  double input_tokens = 0, output_tokens = 0;
  [[nodiscard]] double ttft_s() const { return first_token_s - arrival_s; }
  [[nodiscard]] double e2e_s() const { return finish_s - arrival_s; }
  // Mean time per output token after the first (0 for a single-token output).
  [[nodiscard]] double tpot_s() const {
    return output_tokens > 1 ? (finish_s - first_token_s) / (output_tokens - 1) : 0;
  }
};

struct Distribution {
  double mean = 0, median = 0, p90 = 0, p99 = 0, max = 0;
};

struct Result {
  std::vector<RequestRecord> requests;  // in workload order
  double duration_s = 0;                // first arrival to last completion
  double output_tok_s = 0, input_tok_s = 0;
  Distribution ttft_s, tpot_s, e2e_s;   // tpot over requests with more than one output token
  double steps = 0;                     // engine steps simulated (jumps count every step)
  size_t step_evaluations = 0;          // step-cost evaluations (the simulator's work)
  double mean_in_system = 0;            // requests in the system on average (Little: sum of E2E / duration)
  double busy_s = 0;                    // time with at least one request in flight
  double peak_running = 0;              // most sequences in flight at once
  double peak_kv_bytes = 0;             // most KV bytes per chip reserved at once (<= capacity)
  double kv_capacity_bytes = 0;         // the capacity the run used
};

// Simulates one replica. DiagnosticError when the workload is invalid (no requests, lengths
// below 1, unsorted open-loop arrivals) or a request cannot fit the KV capacity on its own.
Result simulate(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w);

// Simulates the deployment's DP replicas behind a round-robin router: open-loop request i goes
// to replica i mod DP; closed-loop clients are split as evenly as possible (the first
// clients mod DP replicas get one more) and each replica serves its clients' requests. The
// result merges every request (in workload order); steps and peaks are summed / maximised
// over replicas, throughput is the whole deployment's. Fewer clients than replicas leave the
// remaining replicas idle.
Result simulate_deployment(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w);

// ---- workload helpers (deterministic for a seed) ----

// Token lengths drawn uniformly from [mean x (1 - spread), mean x (1 + spread)], rounded to
// whole tokens (at least 1). spread = 0 gives every request exactly `mean` tokens.
struct LengthSpec {
  double mean = 1;
  double spread = 0;  // relative half-width, 0 <= spread < 1
};

// `n` requests; arrival times all zero (closed loop or a batch queued at t = 0) when
// `rate_per_s` is 0, else a Poisson process of that rate starting at t = 0.
std::vector<Request> make_requests(size_t n, const LengthSpec& input, const LengthSpec& output, double rate_per_s,
                                   uint64_t seed);

Distribution distribution(std::vector<double> v);

}  // namespace tf::serving
