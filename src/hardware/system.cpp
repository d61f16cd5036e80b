#include "hardware/system.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace tf::hardware {

std::string_view to_string(MemoryTierKind k) {
  switch (k) {
    case MemoryTierKind::hbm: return "hbm";
    case MemoryTierKind::sram: return "sram";
    case MemoryTierKind::gddr: return "gddr";
    case MemoryTierKind::lpddr: return "lpddr";
    case MemoryTierKind::ddr: return "ddr";
  }
  return "?";
}

std::string_view to_string(Status s) {
  switch (s) {
    case Status::shipping: return "shipping";
    case Status::announced: return "announced";
    case Status::legacy: return "legacy";
  }
  return "?";
}

std::string_view to_string(Topology t) {
  switch (t) {
    case Topology::switched: return "switched";
    case Topology::full_mesh: return "full_mesh";
    case Topology::multi_hop: return "multi_hop";
  }
  return "?";
}

double SystemSpec::memory_capacity_bytes() const {
  double total = 0;
  for (const auto& t : memory) total += t.capacity_bytes.value;
  return total;
}

const MemoryTier& SystemSpec::main_memory() const {
  assert(!memory.empty());
  return *std::max_element(memory.begin(), memory.end(), [](const auto& a, const auto& b) {
    return a.capacity_bytes.value < b.capacity_bytes.value;
  });
}

std::optional<double> SystemSpec::peak_flop_per_s(ComputeClass c) const {
  auto it = compute.find(c);
  if (it == compute.end()) return std::nullopt;
  return it->second.value;
}

bool SystemSpec::computes(Precision p) const {
  const auto c = info(p).compute_class;
  bool has = compute.count(c) > 0;
  if (!has && (c == ComputeClass::bf16 || c == ComputeClass::fp16))
    has = compute.count(ComputeClass::bf16) > 0 || compute.count(ComputeClass::fp16) > 0;
  if (!has) return false;
  if (c != ComputeClass::fp4 || fp4_formats.empty()) return true;
  return std::find(fp4_formats.begin(), fp4_formats.end(), p) != fp4_formats.end();
}

std::vector<ComputeClass> SystemSpec::compute_classes() const {
  std::vector<ComputeClass> out;
  for (const auto& [c, _] : compute) out.push_back(c);
  return out;
}

double collective_hops(Collective c, double n) {
  if (n <= 1) return 0;
  const double rounds = std::ceil(std::log2(n) - 1e-12);
  switch (c) {
    case Collective::all_reduce: return 2 * rounds;
    case Collective::all_to_all: return rounds;
    case Collective::point_to_point: return 1;
  }
  return 1;
}

}  // namespace tf::hardware
