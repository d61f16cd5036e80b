#pragma once
// A hardware system: one chip type plus the deployment it ships in (scale-up domain, scale-out,
// host, power, price). All quantities are SI doubles (bytes, bytes/s per direction, FLOP/s dense,
// W, s, USD) and keep their source. Built from data/hardware/<vendor>/<id>.yaml by the catalog.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/precision.hpp"

namespace tf::hardware {

enum class MemoryTierKind { hbm, sram, gddr, lpddr, ddr };
enum class Status { shipping, announced, legacy };

std::string_view to_string(MemoryTierKind k);
std::string_view to_string(Status s);

// A number with where it came from.
struct Sourced {
  double value = 0;     // SI units (or a plain count)
  std::string source;   // the citation text (reference keys resolved)
  std::string note;     // judgement calls: dense vs sparse, derived, unverified
};

struct MemoryTier {
  MemoryTierKind kind = MemoryTierKind::hbm;
  std::string technology;
  Sourced capacity_bytes;
  Sourced bandwidth_bytes_per_s;
};

// How a link's per-chip bandwidth reaches the other chips of a group.
enum class Topology {
  switched,   // through switches (NVSwitch, ICI torus treated as switched): a group of any size
              // uses the chip's whole bandwidth
  full_mesh,  // one direct link per peer (AMD xGMI on UBB, Gaudi RoCE): a group of n chips in a
              // domain of D uses n - 1 of the D - 1 peer links
  multi_hop,  // a direct chip-to-chip network without switches whose chips forward for each other
              // (Groq's software-scheduled Dragonfly): the link's `latency` is per hop, and a
              // collective over n chips pays one per dependent round (collective_hops)
};
// Dependent rounds, each at least one hop, of a collective over `n` chips on a multi-hop network,
// with the latency-optimal algorithms (Thakur, Rabenseifner and Gropp, "Optimization of Collective
// Communication Operations in MPICH", IJHPCA 2005): all-reduce by recursive halving and doubling,
// 2 ceil(log2 n); all-to-all by Bruck's algorithm, ceil(log2 n); a point-to-point hand-off, 1.
enum class Collective { all_reduce, all_to_all, point_to_point };
double collective_hops(Collective c, double n);
std::string_view to_string(Topology t);

struct Link {
  std::string technology;
  Topology topology = Topology::switched;
  std::optional<Sourced> bandwidth_bytes_per_s;  // per chip, per direction
  std::optional<Sourced> latency_s;              // per hop
};

struct Host {
  std::optional<Sourced> chips_per_node;
  std::optional<Sourced> cpu_cores_per_chip;
  std::optional<Sourced> dram_bytes_per_chip;
  std::optional<Sourced> dram_bandwidth_bytes_per_s_per_chip;
  std::optional<Sourced> ssd_bytes_per_node;
  std::optional<Sourced> ssd_bandwidth_bytes_per_s_per_node;
  std::optional<Sourced> pcie_bandwidth_bytes_per_s_per_chip;  // per direction
};

struct SystemSpec {
  std::string id;
  std::string name;
  std::string vendor;
  std::string family;
  Status status = Status::shipping;
  std::string released;
  std::string variant_of;   // empty unless inherited
  std::string file;         // the YAML file it was read from

  std::vector<MemoryTier> memory;                 // on-package tiers, fastest first
  std::map<ComputeClass, Sourced> compute;        // dense peak FLOP/s (OP/s for int formats)
  std::vector<Precision> fp4_formats;             // 4-bit float formats the fp4 units take (empty: any)
  std::optional<Sourced> chip_power_w;            // chip TDP
  Sourced scale_up_domain_chips;
  Link scale_up;
  Link scale_out;
  Host host;
  std::optional<Sourced> all_in_power_w_per_chip;
  std::optional<Sourced> capex_usd_per_chip;
  bool capex_includes_system = false;  // price.capex_scope: system (server/rack share included) or chip
  std::optional<Sourced> usd_per_chip_hour;

  // Sum of on-package memory capacity per chip, bytes.
  [[nodiscard]] double memory_capacity_bytes() const;
  // The tier with the largest capacity (where weights and KV normally live).
  [[nodiscard]] const MemoryTier& main_memory() const;
  // Dense peak for a compute class, or nullopt if the chip lacks it.
  [[nodiscard]] std::optional<double> peak_flop_per_s(ComputeClass c) const;
  // Whether the chip's math units take this format (class present; fp4 format listed if restricted).
  [[nodiscard]] bool computes(Precision p) const;
  // Compute classes supported, in enum order.
  [[nodiscard]] std::vector<ComputeClass> compute_classes() const;
};

}  // namespace tf::hardware
