#pragma once
// KV offload tiers from the system data: host DRAM and local SSD below the device memory, each
// with its capacity, read bandwidth and latency per chip (EngineConfig::kv_offload), and where
// each figure came from.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hardware/system.hpp"
#include "serving/kv/kv.hpp"
#include "serving/metrics/metrics.hpp"

namespace tf::serving {

// What a run asks for: tier names in order ("dram", "ssd"), and figures that replace the data's.
struct OffloadRequest {
  std::vector<std::string> tiers;
  std::optional<double> dram_bytes, ssd_bytes;                // per chip
  std::optional<double> dram_bytes_per_s, ssd_bytes_per_s;    // per chip, tier to device
  std::optional<double> store_bytes, store_bytes_per_s;       // shared store: share per chip; per chip, store to device
};

struct OffloadTierSpec {
  OffloadTier tier;
  std::string capacity_source, bandwidth_source, latency_source;
};

// Share of the host's DRAM (and of its SSD) the KV pool takes when no size is given: the rest is
// the operating system's, the engine process's and its pinned staging buffers' (an estimate;
// LMCache and SGLang HiCache size the pool by configuration).
inline constexpr double kHostShareForKv = 0.5;
// Latency of one load from each tier (estimates: a DMA over PCIe or NVLink-C2C from pinned host
// memory takes microseconds to start; an NVMe read about 100 us).
inline constexpr double kDramLoadLatencyS = 10e-6, kSsdLoadLatencyS = 100e-6;
// A load from a KV store across nodes when the scale-out link states no latency (estimate: an
// RDMA read of a remote node's memory after the store's metadata lookup, as Mooncake's transfer
// engine does, takes tens of microseconds).
inline constexpr double kStoreLoadLatencyS = 50e-6;

// The tiers of `request` on `system`: DRAM from host.dram_per_chip (x kHostShareForKv) over
// the host link (host.pcie_bandwidth_per_chip, and host.dram_bandwidth_per_chip when lower);
// SSD from host.ssd_capacity_per_node and ssd_bandwidth_per_node shared by the node's chips
// (x kHostShareForKv; the host link bounds it too); `store`, a KV store shared by every replica
// across nodes (last), its size per chip from --kv-store-gb (a deployment choice: no default),
// read over the scale-out link per chip. DiagnosticError naming the missing figure and the flag
// that gives it, or an unknown, repeated or misplaced tier.
std::vector<OffloadTierSpec> offload_tiers(const hardware::SystemSpec& system, const OffloadRequest& request);

// The smallest size of one offload tier that reaches a prefix-cache hit rate: `run` simulates
// the service with the tier at a size (bytes per chip); the hit rate counts every tier (the
// device's hits and the loads). LRU is a stack algorithm (a larger cache holds what a smaller
// one holds), so the hit rate rises with the size and the search bisects [0, upper] to
// `tolerance` of upper. found = false when `upper` does not reach the target.
struct TierSizeProbe {
  double bytes = 0, hit_rate = 0, mean_ttft_s = 0, output_tok_s = 0;
};
struct TierSize {
  bool found = false;
  double bytes = 0;  // the smallest probed size that reaches the target (upper when not found)
  std::vector<TierSizeProbe> probes;  // in the order simulated
  Result at_size;
};
TierSize find_tier_size(const std::function<Result(double bytes)>& run, double target_hit_rate, double upper,
                        double tolerance = 0.01);

}  // namespace tf::serving
