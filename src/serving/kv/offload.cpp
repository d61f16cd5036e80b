#include "serving/kv/offload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/diagnostic.hpp"

namespace tf::serving {

std::vector<OffloadTierSpec> offload_tiers(const hardware::SystemSpec& system, const OffloadRequest& request) {
  const auto& h = system.host;
  std::vector<OffloadTierSpec> out;
  auto gb = [](double b) { return fmt::format("{:.4g} GB", b / 1e9); };
  auto gbps = [](double b) { return fmt::format("{:.4g} GB/s", b / 1e9); };
  for (size_t i = 0; i < request.tiers.size(); ++i) {
    const auto& name = request.tiers[i];
    if (name != "dram" && name != "ssd" && name != "store")
      fail(fmt::format("unknown KV offload tier '{}'", name),
           "tiers, fastest first: dram, ssd, then store (shared across nodes), e.g. dram,ssd or dram,store");
    for (size_t j = 0; j < i; ++j)
      if (request.tiers[j] == name) fail(fmt::format("KV offload tier '{}' named twice", name), "tiers: dram, ssd, store");
    if (name == "dram" && i > 0) fail("KV offload tiers go fastest first: dram before ssd", "e.g. dram,ssd");
    if (name == "store" && i + 1 < request.tiers.size())
      fail("KV offload: the shared store is the last tier (what a replica's own tiers evict goes there)",
           "e.g. dram,store or dram,ssd,store");
  }
  if (request.tiers.empty()) fail("KV offload: no tier named", "tiers, fastest first: dram, ssd, store (e.g. dram,ssd)");
  const bool has_store = std::find(request.tiers.begin(), request.tiers.end(), "store") != request.tiers.end();
  if (!has_store && (request.store_bytes || request.store_bytes_per_s))
    fail("--kv-store-gb / --kv-store-gbps size the shared KV store: add store to --kv-offload", "e.g. --kv-offload dram,store");
  for (const auto& name : request.tiers) {
    if (name == "store") {
      OffloadTierSpec s;
      s.tier.name = name;
      s.tier.shared = true;
      if (!request.store_bytes)
        fail("the shared KV store's size is a deployment choice: give --kv-store-gb (GB per chip of the service)",
             "e.g. --kv-store-gb 256 (the store holds that x every chip's worth, pooled across nodes)");
      s.tier.capacity_bytes = *request.store_bytes;
      s.capacity_source = "--kv-store-gb (per chip of the service, pooled across nodes)";
      if (request.store_bytes_per_s) {
        s.tier.read_bytes_per_s = *request.store_bytes_per_s;
        s.bandwidth_source = "--kv-store-gbps";
      } else {
        if (!system.scale_out.bandwidth_bytes_per_s)
          fail(fmt::format("{} states no scale-out bandwidth: loads from a KV store across nodes cannot be priced",
                           system.id),
               "give --kv-store-gbps GB/s per chip");
        s.tier.read_bytes_per_s = system.scale_out.bandwidth_bytes_per_s->value;
        s.bandwidth_source = fmt::format("scale-out link {} per chip ({})", gbps(s.tier.read_bytes_per_s),
                                         system.scale_out.bandwidth_bytes_per_s->source);
      }
      if (!(s.tier.capacity_bytes >= 0) || !std::isfinite(s.tier.capacity_bytes))
        fail(fmt::format("--kv-store-gb must be a finite size >= 0, got {} bytes", s.tier.capacity_bytes));
      if (!(s.tier.read_bytes_per_s > 0) || !std::isfinite(s.tier.read_bytes_per_s))
        fail(fmt::format("--kv-store-gbps must be a finite bandwidth > 0, got {} bytes/s", s.tier.read_bytes_per_s));
      if (system.scale_out.latency_s) {
        s.tier.latency_s = system.scale_out.latency_s->value;
        s.latency_source = fmt::format("scale-out link latency ({})", system.scale_out.latency_s->source);
      } else {
        s.tier.latency_s = kStoreLoadLatencyS;
        s.latency_source = "estimate: an RDMA read of a remote node's memory after the store's lookup, tens of us";
      }
      out.push_back(std::move(s));
      continue;
    }
    const bool dram = name == "dram";
    const char* size_flag = dram ? "--kv-dram-gb" : "--kv-ssd-gb";
    const char* bw_flag = dram ? "--kv-dram-gbps" : "--kv-ssd-gbps";
    OffloadTierSpec s;
    s.tier.name = name;
    // Capacity per chip.
    const auto& given_size = dram ? request.dram_bytes : request.ssd_bytes;
    if (given_size) {
      s.tier.capacity_bytes = *given_size;
      s.capacity_source = size_flag;
    } else if (dram) {
      if (!h.dram_bytes_per_chip)
        fail(fmt::format("{} states no host DRAM per chip: the DRAM tier's size is unknown", system.id),
             fmt::format("give {} GB per chip", size_flag));
      s.tier.capacity_bytes = kHostShareForKv * h.dram_bytes_per_chip->value;
      s.capacity_source = fmt::format("half the host's {} DRAM per chip ({}; estimate: the rest is the OS's, the "
                                      "engine's and its staging buffers')",
                                      gb(h.dram_bytes_per_chip->value), h.dram_bytes_per_chip->source);
    } else {
      if (!h.ssd_bytes_per_node || !h.chips_per_node)
        fail(fmt::format("{} states no local SSD capacity (and chips) per node: the SSD tier's size is unknown",
                         system.id),
             fmt::format("give {} GB per chip", size_flag));
      s.tier.capacity_bytes = kHostShareForKv * h.ssd_bytes_per_node->value / h.chips_per_node->value;
      s.capacity_source = fmt::format("half of {} SSD per node over {:g} chips ({})", gb(h.ssd_bytes_per_node->value),
                                      h.chips_per_node->value, h.ssd_bytes_per_node->source);
    }
    // Read bandwidth per chip: the tier's own, bounded by the host link.
    const auto& given_bw = dram ? request.dram_bytes_per_s : request.ssd_bytes_per_s;
    if (given_bw) {
      s.tier.read_bytes_per_s = *given_bw;
      s.bandwidth_source = bw_flag;
    } else {
      if (!h.pcie_bandwidth_bytes_per_s_per_chip)
        fail(fmt::format("{} states no host link bandwidth per chip (host.pcie_bandwidth_per_chip): loads from {} "
                         "cannot be priced",
                         system.id, name),
             fmt::format("give {} GB/s per chip", bw_flag));
      double bw = h.pcie_bandwidth_bytes_per_s_per_chip->value;
      s.bandwidth_source = fmt::format("host link {} per chip ({})", gbps(bw), h.pcie_bandwidth_bytes_per_s_per_chip->source);
      if (dram && h.dram_bandwidth_bytes_per_s_per_chip && h.dram_bandwidth_bytes_per_s_per_chip->value < bw) {
        bw = h.dram_bandwidth_bytes_per_s_per_chip->value;
        s.bandwidth_source = fmt::format("host DRAM {} per chip ({})", gbps(bw), h.dram_bandwidth_bytes_per_s_per_chip->source);
      }
      if (!dram) {
        if (!h.ssd_bandwidth_bytes_per_s_per_node || !h.chips_per_node)
          fail(fmt::format("{} states no local SSD bandwidth per node (host.ssd_bandwidth_per_node): loads from ssd "
                           "cannot be priced",
                           system.id),
               fmt::format("give {} GB/s per chip", bw_flag));
        const double ssd = h.ssd_bandwidth_bytes_per_s_per_node->value / h.chips_per_node->value;
        if (ssd < bw) {
          bw = ssd;
          s.bandwidth_source = fmt::format("{} SSD read per node over {:g} chips ({})",
                                           gbps(h.ssd_bandwidth_bytes_per_s_per_node->value), h.chips_per_node->value,
                                           h.ssd_bandwidth_bytes_per_s_per_node->source);
        }
      }
      s.tier.read_bytes_per_s = bw;
    }
    if (!(s.tier.capacity_bytes >= 0) || !std::isfinite(s.tier.capacity_bytes))
      fail(fmt::format("{} must be a finite size >= 0, got {} bytes", size_flag, s.tier.capacity_bytes));
    if (!(s.tier.read_bytes_per_s > 0) || !std::isfinite(s.tier.read_bytes_per_s))
      fail(fmt::format("{} must be a finite bandwidth > 0, got {} bytes/s", bw_flag, s.tier.read_bytes_per_s));
    s.tier.latency_s = dram ? kDramLoadLatencyS : kSsdLoadLatencyS;
    s.latency_source = dram ? "estimate: a DMA from pinned host memory starts in microseconds"
                            : "estimate: an NVMe read takes about 100 us";
    out.push_back(std::move(s));
  }
  return out;
}

TierSize find_tier_size(const std::function<Result(double bytes)>& run, double target_hit_rate, double upper,
                        double tolerance) {
  if (!(target_hit_rate > 0 && target_hit_rate <= 1))
    fail(fmt::format("target prefix-cache hit rate must be in (0, 1], got {}", target_hit_rate));
  if (!(upper > 0) || !std::isfinite(upper))
    fail(fmt::format("tier size search: the largest size must be finite and > 0 bytes, got {}", upper));
  if (!(tolerance > 0 && tolerance < 1)) fail(fmt::format("tier size search: tolerance must be in (0, 1), got {}", tolerance));
  TierSize out;
  auto probe = [&](double bytes) {
    auto r = run(bytes);
    out.probes.push_back({bytes, r.prefix_cache.hit_rate(), r.ttft_s.mean, r.output_tok_s});
    return r;
  };
  auto top = probe(upper);
  if (top.prefix_cache.hit_rate() < target_hit_rate) {
    out.bytes = upper;
    out.at_size = std::move(top);
    return out;
  }
  out.found = true;
  double lo = 0, hi = upper;  // hit rate below the target at lo (or lo = 0), reached at hi
  out.at_size = std::move(top);
  auto zero = probe(0);
  if (zero.prefix_cache.hit_rate() >= target_hit_rate) {
    out.bytes = 0;
    out.at_size = std::move(zero);
    return out;
  }
  while (hi - lo > tolerance * upper) {
    const double mid = 0.5 * (lo + hi);
    auto r = probe(mid);
    if (r.prefix_cache.hit_rate() >= target_hit_rate) {
      hi = mid;
      out.at_size = std::move(r);
    } else {
      lo = mid;
    }
  }
  out.bytes = hi;
  return out;
}

}  // namespace tf::serving
