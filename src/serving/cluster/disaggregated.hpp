#pragma once
// Prefill/decode disaggregation (Splitwise, DistServe, Mooncake; vLLM / SGLang / Dynamo PD
// serving): a prefill pool computes every prompt and its first token, the prompt's KV moves over
// the network to a replica of the decode pool, which generates the rest. Each pool is its own
// deployment (system, layout, engine); both share one clock.
//
// A request is routed to a prefill replica when it arrives (the prefill router), runs its
// prompt there as a one-token request (chunked under that engine's token budget, batched with
// other prompts), and when its prefill ends its decode replica is chosen (the decode router) and
// its KV sent: the transfer waits until the prefill replica's outbound and the decode replica's
// inbound links are both free (one transfer at a time on each, first come first served), then
// takes latency + bytes / bandwidth. Bytes: the prompt's KV over the prefill replica's chips.
// Bandwidth: the smaller of the two replicas' links, each its chips x the per-chip figure (every
// rank sends its own shard in parallel). The decode replica admits the request under its own KV
// policy when the KV has arrived, and the first token reaches the user then (the prefill's token
// travels with the KV). A request with one output token ends at its prefill. Transfers start
// after the prefill ends (no layer-by-layer overlap), and the prefill replica's KV is freed when
// the prefill ends (its wait for the link holds no prefill memory): both are stated limits.
// Prefix caching and KV offload tiers are the prefill pool's (it computes the prompts): the
// decode pool receives every prompt's KV and caches no prefixes, whatever its engine says.
#include "serving/cluster/cluster.hpp"

namespace tf::serving {

struct KvTransferLink {
  // Per chip and direction, bytes/s (+inf: free); latency per transfer, s.
  double bandwidth_bytes_per_s = 0;
  double latency_s = 0;
};

struct DisaggregatedService {
  const cost::StepCostModel* prefill = nullptr;  // its deployment's dp = prefill replicas
  EngineConfig prefill_engine;
  const cost::StepCostModel* decode = nullptr;   // its deployment's dp = decode replicas
  EngineConfig decode_engine;
  KvTransferLink link;
  Router prefill_router = Router::least_outstanding_tokens;
  Router decode_router = Router::least_outstanding_tokens;
  // Replica counts in place of the deployments' dp (0: the deployment's): the step cost of a
  // replica does not depend on how many there are, so one model prices every split.
  size_t prefill_replicas = 0, decode_replicas = 0;
};

// Runs the workload through the service. Request records: arrival as given, first token when
// the decode replica admits it (its prefill's end for one-token outputs), replica = its decode
// replica. DiagnosticError on an invalid workload or service (a request whose prompt does not
// fit a prefill replica or whose context does not fit a decode replica, a bandwidth <= 0, a
// negative latency, a router that needs what the pool does not have). `timeline`: prefill
// replicas as timeline replicas 0..P-1, decode replicas as P..P+D-1.
Result simulate_disaggregated(const DisaggregatedService& s, const Workload& w, Timeline* timeline = nullptr);

// How to split a chip budget between the pools: every split of `chips` into P prefill and D
// decode replicas (P, D >= 1; each replica the chips of its pool's deployment) that leaves fewer
// chips over than either replica needs, each with the largest Poisson rate meeting the limits
// (find_max_rate over the service at that split). Ordered by P.
struct SplitOption {
  size_t prefill_replicas = 0, decode_replicas = 0;
  double chips = 0;  // P x prefill replica chips + D x decode replica chips
  MaxRate rate;
};
std::vector<SplitOption> search_splits(const DisaggregatedService& s, double chips, const RateSearchSpec& spec);

}  // namespace tf::serving
