#pragma once
// Pieces of the simulate result document (`tokenfactory.simulate/1`): latency distributions and
// histograms, steady-window phases, `vllm bench serve` metrics, and the KV / running-sequence
// time series of a run, shared by the CLI, scenario variants, the report and the web API.
#include <optional>
#include <string>
#include <vector>

#include "economics/service_cost.hpp"
#include "report/documents.hpp"
#include "cost/estimate.hpp"
#include "serving/engine/engine_profile.hpp"
#include "serving/kv/offload.hpp"
#include "serving/serving.hpp"

namespace tf::report {

Json dist_json(const serving::Distribution& d, double scale);
std::string window_definition(const serving::WindowSpec& w);
Json phase_json(const serving::Phase& p, double chips);
Json steady_json(const serving::SteadyWindow& s, const serving::WindowSpec& spec, double chips);
Json bench_definitions();
Json bench_json(const serving::BenchMetrics& m);
// What every simulate document starts with: its schema, the deployment and where its numbers
// come from.
Json run_header(const cost::Deployment& d);

// Histograms of TTFT (ms), TPOT (ms, requests with more than one output token) and E2E (s):
// `bins` equal bins from 0 to the largest value, counts of requests in each.
Json latency_histograms_json(const std::vector<serving::RequestRecord>& requests, int bins = 40);

// KV in use per chip and sequences in flight over the run, from a recorded timeline: `points`
// equal time bins over [0, duration_s]; in each, the time-weighted mean over its span of every
// replica's iterations (idle time counts as zero), averaged over replicas and the largest
// replica's. Empty arrays when nothing was recorded.
Json timeline_series_json(const serving::Timeline& t, double duration_s, double kv_capacity_bytes_per_chip,
                          int points = 240);

// What the simulated service costs and draws (economics::service_cost) and where the figures
// come from: the price basis and preset, each pool's chips, price and power with their sources,
// which tokens they are over (`over`: "steady window" or "whole run"); absent figures are null,
// with the reason in "missing".
Json service_cost_json(const economics::ServiceCost& c, const std::vector<economics::PoolCost>& pools,
                       const std::string& price_basis, const std::string& preset, const std::string& over);

// The engine block: step policy, token budget, sequence cap, KV admission, preemption (and swap
// space), the request overhead and where it comes from, the engine profile when one was named.
Json engine_json(const serving::EngineConfig& e, double request_overhead_s, const std::string& overhead_source,
                 const serving::EngineProfile* profile);

// What a disaggregated run adds to the setup block (pool layouts and link, built by the caller):
// requests per replica, busy time and peak KV of each pool, and the KV transfers.
Json disaggregation_result_json(Json setup, const serving::Result& r);

// The workload a run simulated, as the user described it.
struct SimulatedWorkload {
  std::string arrivals;  // "Poisson, 2 requests/s", "trace FILE (N requests)", ...
  unsigned streams = 1;
  std::optional<int> turns_per_session;
  double mean_input_tokens = 0, mean_output_tokens = 0, length_spread = 0;
  std::optional<double> burstiness, think_time_s;
  std::optional<std::string> think_time_dist;
  unsigned long long seed = 1;
};

// Everything the main simulate document (`tokenfactory.simulate/1`, one run) reports. Pointers
// are non-null unless stated.
struct SimulateRun {
  const cost::Deployment* deployment = nullptr;  // the deployment (a disaggregated run's decode pool)
  double chips = 0;                               // every pool's chips
  std::optional<std::string> service;             // a disaggregated service's name
  SimulatedWorkload workload;
  Json engine;                                    // engine_json()
  std::string router;
  const serving::Workload* requests = nullptr;
  const serving::Result* result = nullptr;
  const serving::Result* uncached = nullptr;     // the same requests without prefix caching (or null)
  const serving::Result* device_only = nullptr;  // with the device cache alone (or null)
  std::string prefix_note;
  const std::vector<serving::OffloadTierSpec>* tiers = nullptr;  // may be empty
  std::string kv_reload;
  std::string kv_prefetch = "none";
  std::string tool_cores_source;
  std::optional<economics::ToolEnergy> tool_energy;  // with tool calls
  double host_core_power_w = 0;
  std::string host_core_power_source;
  const serving::Timeline* timeline = nullptr;
  serving::WindowSpec window;
  serving::BenchMetrics bench;
  std::optional<serving::BenchMetrics> bench_window;
  Json economics;                                 // service_cost_json()
  std::optional<double> slo_ttft_ms, slo_tpot_ms;
  std::optional<Json> disaggregation;             // disaggregation_result_json(); no steady-state estimate
  double steady_concurrency = 0;
  const cost::Estimate* steady = nullptr;         // colocated runs
};
Json simulate_document(const SimulateRun& run);

// `simulate --find-max-rate`: the largest sustainable rate, its bracket and probes, and the run
// at that rate over its steady window.
struct MaxRateRun {
  const cost::Deployment* deployment = nullptr;
  double chips = 0;
  std::optional<std::string> service;   // a disaggregated service's name
  std::optional<Json> disaggregation;   // disaggregation_result_json() of the run at the rate
  Json workload, engine, limits;        // as the search was asked (arrivals, lengths; limits)
  std::string router;
  const serving::MaxRate* search = nullptr;
  const serving::RateSearchSpec* spec = nullptr;
  serving::WindowSpec window;
  Json economics;
};
Json max_rate_document(const MaxRateRun& run);

// `simulate --find-dram-size`: the smallest DRAM tier reaching a prefix-cache hit rate, its
// probes and the run at that size.
struct TierSizeRun {
  const cost::Deployment* deployment = nullptr;
  Json workload;
  double target_hit_rate = 0;
  const serving::TierSize* found = nullptr;
  std::optional<double> chips_per_node;
  double upper_bytes = 0;
  std::string upper_source;
  std::vector<std::string> tiers;
};
Json tier_size_document(const TierSizeRun& run);

// `simulate --find-split`: each split of the chips between a prefill and a decode pool, and the
// colocated deployment on them, at the largest rate each sustains, ranked.
struct SplitRun {
  const cost::Deployment* deployment = nullptr;  // the decode pool's replica
  double chips = 0;
  std::string service;                           // what was split, in words
  Json workload, engine, disaggregation, limits;  // as asked (the pools' setup block)
  const serving::RateSearchSpec* spec = nullptr;
  double prefill_replica_chips = 0, decode_replica_chips = 0;
  const std::vector<economics::ServiceOption>* options = nullptr;
  const economics::ServiceRanking* ranking = nullptr;
  std::string price_basis, preset;
};
Json split_document(const SplitRun& run);

}  // namespace tf::report
