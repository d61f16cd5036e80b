#pragma once
// What a simulated run measured (the metrics component of the serving simulator): per-request
// records, distributions, the steady window, the run's result with its counters, the iteration
// timeline, and the `vllm bench serve` figures with goodput under an SLO. Depends on nothing else
// of the simulator.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace tf::serving {

// Where a run's steady window lies (see SteadyWindow): the window holds the requests that
// arrive after the first `warmup_fraction` and before the last `drain_fraction` of the arrival
// span (first to last arrival). 0 <= each, sum < 1.
struct WindowSpec {
  double warmup_fraction = 0.1;
  double drain_fraction = 0.1;
};

struct RequestRecord {
  double arrival_s = 0, first_token_s = 0, finish_s = 0;
  double input_tokens = 0, output_tokens = 0;  // output: per stream
  uint32_t replica = 0;  // the DP replica that served it
  uint32_t streams = 1;  // parallel streams over the prompt (Request::streams)
  // Output tokens of every stream: the request's share of the throughput.
  [[nodiscard]] double emitted_tokens() const { return output_tokens * streams; }
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

// One stretch of a run: a time span and the requests that arrived in it.
struct Phase {
  double start_s = 0, end_s = 0;        // [start_s, end_s)
  size_t requests = 0;                  // requests that arrived in the span
  size_t completed = 0;                 // requests (any) that completed in the span
  double output_tokens = 0;             // output tokens (any request's) emitted in the span
  double output_tok_s = 0;              // output_tokens / (end_s - start_s)
  Distribution ttft_s, tpot_s, e2e_s;   // over the requests that arrived in the span
};

// The steady window of a run whose arrivals are spread over time (open loop; closed loop, whose
// arrivals are the clients' next requests). With a0 and a1 the first and last arrival and
// S = a1 - a0, the window is [a0 + W S, a1 - D S) (W, D: WindowSpec). Latency distributions are
// over the requests that arrive in the window; throughput is the output tokens emitted in the
// window / its length, a request emitting its first token at first_token_s and the others
// evenly over (first_token_s, finish_s]. Below capacity that is the arrival rate x mean output
// tokens (flow conservation), whatever the run's length. Warm-up is [a0, window start) with the
// requests arriving in it, drain [window end, last completion] with the requests arriving
// after the window: window.requests + warmup.requests + drain.requests = all requests, and the
// three output_tokens add up to all output tokens. A queued batch (every arrival at one time)
// has no window: `measured` is false and only the whole-run figures apply.
struct SteadyWindow {
  bool measured = false;    // a window of positive length holding at least one arrival
  Phase window, warmup, drain;
  double mean_in_system = 0;  // time-average of the requests in the system over the window
};

struct Result {
  std::vector<RequestRecord> requests;  // in workload order
  // Whole-run figures: every request, first arrival to last completion (ramp-up and drain in).
  double duration_s = 0;                // first arrival to last completion
  double output_tok_s = 0, input_tok_s = 0;
  Distribution ttft_s, tpot_s, e2e_s;   // tpot over requests with more than one output token
  SteadyWindow steady;                  // the same figures over the steady window
  double steps = 0;                     // engine steps simulated (jumps count every step)
  size_t step_evaluations = 0;          // step-cost evaluations (the simulator's work)
  double mean_in_system = 0;            // requests in the system on average (Little: sum of E2E / duration)
  double busy_s = 0;                    // time with at least one request in flight
  double peak_running = 0;              // most sequences in flight at once
  double peak_kv_bytes = 0;             // most KV bytes per chip reserved at once (<= capacity)
  double kv_capacity_bytes = 0;         // the capacity the run used
  // Tool calls on the host's cores (Workload::tool_s): how many ran, their core-seconds and how
  // long they waited for a free core.
  struct Tools {
    size_t calls = 0;
    double cores = 0, busy_s = 0, wait_s = 0;
  } tools;
  size_t preemptions = 0;               // paged KV: decoding requests preempted (and recomputed)
  double recomputed_tokens = 0;         // paged KV: prompt + generated tokens prefilled again
  size_t swaps = 0;                     // paged KV, swap: preemptions whose KV went to host memory
  double swapped_bytes = 0;             // per chip, out and back in (each counted once per direction)
  double swap_s = 0;                    // steps' time spent copying KV to and from the host
  double peak_swap_bytes = 0;           // per chip, host swap space in use at most (per replica)
  // Prefix caching (EngineConfig::prefix_caching): over every request's first admission, the
  // prompt tokens looked up and the ones found cached (their prefill skipped); cached blocks
  // evicted to make room; the most blocks cached at once.
  struct PrefixCache {
    bool enabled = false;
    double lookup_tokens = 0, hit_tokens = 0;  // hit_tokens: every tier (the device's and the loads)
    size_t evicted_blocks = 0, peak_blocks = 0;  // evicted from the device tier (to the first offload tier, if any)
    [[nodiscard]] double hit_rate() const { return lookup_tokens > 0 ? hit_tokens / lookup_tokens : 0; }
    // Per offload tier (EngineConfig::kv_offload, same order), summed over replicas (peaks: the
    // largest replica's).
    struct Tier {
      std::string name;
      double capacity_blocks = 0;      // per replica
      double hit_tokens = 0;           // prompt tokens loaded back from this tier
      double loaded_bytes = 0;         // per chip, summed over loads
      double load_s = 0;               // summed load time (latency + bytes / bandwidth)
      double recomputed_tokens = 0;    // found here but recomputed, as that was faster
      size_t stored_blocks = 0;        // blocks that entered the tier
      size_t dropped_blocks = 0;       // blocks evicted from it (to the next tier, or dropped from the last)
      size_t peak_blocks = 0;
      // Prefetch (--kv-prefetch on-arrival): blocks staged from this tier into the first while
      // their requests queued, their bytes per chip, and the summed staging time.
      size_t prefetched_blocks = 0;
      double prefetched_bytes = 0, prefetch_s = 0;
      // Summed time reads from this tier (loads and stagings) waited for its medium, busy with
      // an earlier read (tiers below the first; the first tier's loads queue on the host link).
      double medium_wait_s = 0;
    };
    std::vector<Tier> tiers;
    double load_wait_s = 0;            // summed time admitted requests waited for their loads
    size_t loads = 0;                  // requests that loaded a prefix from a tier
    size_t prefetches = 0;             // requests whose prefix was staged into the first tier on arrival
  } prefix_cache;
  std::vector<size_t> per_replica;  // requests each replica served (simulate_deployment; disaggregated: decode pool)
  // Prefill/decode disaggregation (simulate_disaggregated): what each pool did and what the KV
  // hand-off between them cost. The figures above cover the whole service (steps, busy time and
  // preemptions summed over both pools); peaks and the KV capacity are the decode pool's.
  struct Disaggregation {
    bool enabled = false;
    size_t prefill_replicas = 0, decode_replicas = 0;
    std::vector<size_t> per_prefill;  // requests each prefill replica served
    size_t transfers = 0;             // requests whose KV moved (every one with more than one output token)
    double transferred_bytes = 0;     // KV bytes moved from the prefill to the decode pool, all chips
    Distribution transfer_s;          // prefill end to KV arrival: waiting for the links, latency, wire time
    Distribution decode_wait_s;       // KV arrival to decode admission (the first token reaches the user then)
    double prefill_busy_s = 0, decode_busy_s = 0;  // summed over each pool's replicas
    double prefill_peak_kv_bytes = 0, prefill_kv_capacity_bytes = 0;  // per prefill chip
    double link_busy_s = 0;           // summed wire time of the transfers
  } disaggregation;
};

// One engine iteration as a timeline records it (Chrome-trace / Perfetto export): when it started,
// how long it ran, the steps it stands for (a decode stretch is one iteration of many steps),
// what it held, and the KV in use and sequences in flight.
struct IterationEvent {
  double start_s = 0, duration_s = 0, steps = 0;
  double decode_seqs = 0, prefill_tokens = 0;
  double kv_bytes = 0, running = 0;
};
// Filled by a simulation given one: iterations per replica, at most max_events in all (the rest
// counted in `dropped`, so a long run's file stays bounded).
struct Timeline {
  size_t max_events = 500000;
  size_t recorded = 0, dropped = 0;
  std::vector<std::vector<IterationEvent>> replicas;
};

// ---- benchmark metrics (vllm bench serve's names) ----

// Service-level objectives a request meets when its TTFT and its TPOT (first token excluded)
// are within them; unset: no limit of that kind.
struct Slo {
  std::optional<double> ttft_s, tpot_s;
  [[nodiscard]] bool any() const { return ttft_s || tpot_s; }
  [[nodiscard]] bool met_by(const RequestRecord& r) const;
};

// The figures `vllm bench serve` reports, over a set of requests and the span they were served
// in, plus goodput under an SLO. Throughputs divide by `duration_s`. TPOT follows vLLM: (E2E -
// TTFT) / (output tokens - 1) over requests with more than one output token; `tpot_incl_first`
// is the other convention, E2E / output tokens. ITL pools the gaps between successive tokens of
// every request; the simulator spreads a request's tokens evenly after its first, so each of its
// output - 1 gaps is its TPOT (token-weighted; real ITL also has the spikes of prompt chunks
// sharing a step, which this does not show).
struct BenchMetrics {
  size_t completed = 0;
  double duration_s = 0;
  double request_throughput = 0, output_throughput = 0, total_token_throughput = 0;  // per s
  Distribution ttft_s, tpot_s, tpot_incl_first_s, itl_s, e2el_s;
  bool slo_given = false;
  size_t slo_met = 0;
  double slo_attainment = 0;  // share of requests meeting the SLO, 0..1
  double goodput = 0;         // requests per second meeting the SLO
};
// Requests arriving in [start_s, end_s) (every request by default).
struct ArrivalWindow {
  double start_s = -std::numeric_limits<double>::infinity();
  double end_s = std::numeric_limits<double>::infinity();
};
BenchMetrics bench_metrics(const std::vector<RequestRecord>& requests, double duration_s, const Slo& slo = {},
                           const ArrivalWindow& window = {});

Distribution distribution(std::vector<double> v);

// The steady window of a set of request records (Result::steady is this with the workload's spec).
SteadyWindow steady_window(const std::vector<RequestRecord>& requests, const WindowSpec& spec = {});

// Pieces every simulation that assembles a result shares.
// Refuses warm-up and drain fractions that leave no window.
void check_window(const WindowSpec& w);
// Fills the whole-run figures and the steady window of `res` from its request records.
void summarise(Result& res, const WindowSpec& window);
// Adds one replica's run to a service's: its requests (local k is workload index[k], served by
// `replica`), summed steps and work, maximised peaks, summed preemption and prefix-cache counts.
void merge(Result& res, const Result& one, const std::vector<size_t>& index, size_t replica);

}  // namespace tf::serving
