#pragma once
// Pieces of the simulate result document (`tokenfactory.simulate/1`): latency distributions and
// histograms, steady-window phases, `vllm bench serve` metrics, and the KV / running-sequence
// time series of a run, shared by the CLI, scenario variants, the report and the web API.
#include <string>
#include <vector>

#include "economics/service_cost.hpp"
#include "report/documents.hpp"
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

}  // namespace tf::report
