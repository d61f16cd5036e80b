#pragma once
// Services of replicas (the cluster component): one replica, a deployment's DP replicas behind a
// router on one clock, and the search for the largest sustainable rate. Pools, the event queue
// and disaggregated services are in this folder too.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cost/step_cost.hpp"
#include "serving/engine/engine.hpp"
#include "serving/metrics/metrics.hpp"
#include "serving/workload/workload.hpp"

namespace tf::serving {

// Simulates one replica. DiagnosticError when the workload is invalid (no requests, lengths
// below 1, unsorted open-loop arrivals) or a request cannot fit the KV capacity on its own
// (under paged KV too: a request whose whole context never fits would be preempted forever).
// `timeline`: when given, every iteration is recorded (as replica 0).
Result simulate(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w,
                Timeline* timeline = nullptr);

// How requests are spread over a deployment's DP replicas.
enum class Router {
  round_robin,               // request i to replica i mod DP, whatever their load
  least_outstanding_tokens,  // the replica with the fewest prompt + output tokens still to process
  least_kv,                  // the replica with the smallest share of its KV memory in use
  prefix_affinity,           // the replica that was sent the longest run of this prompt's leading blocks
  session_sticky,            // every request of a client on the replica its first one went to
};
struct RouterInfo {
  Router router;
  std::string_view name, description, citation;
};
const std::vector<RouterInfo>& routers();
std::string_view to_string(Router r);
std::optional<Router> parse_router(std::string_view s);

// Simulates the deployment's DP replicas behind a router. Round-robin: open-loop request i goes
// to replica i mod DP; closed-loop clients are split as evenly as possible (the first
// clients mod DP replicas get one more) and each replica serves its clients' requests; fewer
// clients than replicas leave the remaining replicas idle. The load-aware routers decide when
// each request arrives (closed loop: when its client's previous request completes), from the
// replicas' state at that time: every replica runs on one clock. Session-sticky needs closed-loop
// clients (open-loop requests carry no session). The
// result merges every request (in workload order); steps and peaks are summed / maximised
// over replicas, throughput is the whole deployment's; Result::per_replica says how many
// requests each replica served.
Result simulate_deployment(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w,
                           Router router = Router::round_robin, Timeline* timeline = nullptr);

// ---- the largest sustainable rate ----

// Latency limits on the steady window's p99 (either or both).
struct RateLimits {
  std::optional<double> p99_ttft_s, p99_tpot_s;
};

struct RateSearchSpec {
  LengthSpec input, output;
  uint64_t seed = 1;
  double burstiness = 1;             // Gamma shape of the arrival gaps (1: Poisson)
  uint32_t streams = 1;              // parallel streams per request (Request::streams)
  std::optional<double> requests;    // per probe; unset: open_loop_requests (>= 600 s of arrivals)
  std::optional<double> duration_s;  // seconds of arrivals per probe (with requests unset)
  RateLimits limits;
  WindowSpec window;
  double tolerance = 0.01;           // stop when (upper - lower) / lower <= tolerance
  int max_probes = 60;               // simulations at most (bracketing + bisection)
  double start_rate = 1;             // the first probe, req/s
  Router router = Router::round_robin;  // how each probe spreads requests over the replicas
};

struct RateProbe {
  double rate = 0;        // req/s offered to the deployment
  size_t requests = 0;
  bool meets = false;
  std::string violation;  // why not (empty when it meets)
  double output_tok_s = 0, p99_ttft_s = 0, p99_tpot_s = 0;  // steady window
};

struct MaxRate {
  bool found = false;     // some probed rate met the limits
  double rate = 0;        // the largest probed rate that met them (the lower bracket)
  double upper = 0;       // the smallest probed rate above it that did not (0: none found)
  bool converged = false; // (upper - rate) / rate <= tolerance
  std::vector<RateProbe> probes;  // in the order simulated
  Result at_rate;         // the run at `rate`
  std::string reason;     // when not found or not converged
};

// Whether a run meets the limits and keeps up with its arrivals: empty when it does, else the
// first violation. It meets them when a steady window exists, its p99 TTFT / TPOT are within the
// limits, and the requests in the system do not grow over the window: arrivals - completions in
// the window (= in system at its end - at its start) stay within 2% of the arrivals plus three
// standard deviations of the difference of two Poisson counts of the number N in the system when
// the window opens, 3 sqrt(2 N + 1). A stable queue passes whatever its length; an overloaded
// one, whose backlog grows by (rate - capacity) x window, fails once the excess passes 2-4%.
std::string rate_violation(const Result& r, const RateLimits& limits);

// Bisects the largest Poisson rate (req/s, the deployment's, same seed at every rate) that
// meets the limits: doubling or halving from start_rate until a bracket [meets, violates] is
// found, then bisecting it (geometric mid-point) to the tolerance; deterministic for a seed.
// DiagnosticError on no limit or a non-positive / non-finite one.
MaxRate find_max_rate(const cost::StepCostModel& model, const EngineConfig& engine, const RateSearchSpec& spec);
// The same search over any service: `run` simulates a workload through it (a disaggregated
// service, say); spec.router is not used.
MaxRate find_max_rate(const std::function<Result(const Workload&)>& run, const RateSearchSpec& spec);

}  // namespace tf::serving
