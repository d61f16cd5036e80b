// Catalog lint: every bundled hardware file loads, carries the required fields, units and sources.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "hardware/catalog.hpp"
#include "support/test_support.hpp"

namespace tf::hardware {
namespace {

const Catalog& catalog() {
  static const Catalog c = Catalog::load(test::data_dir() / "hardware");
  return c;
}

TEST(HardwareCatalog, HasEveryRequiredSystem) {
  const std::vector<std::string> required{
      "a100-sxm-80gb", "h100-sxm", "h200-sxm", "h200-nvl", "gh200-96gb", "gh200-144gb", "h20", "l40s",
      "rtx-pro-6000", "dgx-spark", "b200", "b300", "gb200-nvl72", "gb300-nvl72", "vr200-nvl144", "rubin-cpx",
      "rubin-ultra-nvl576", "mi300x", "mi325x", "mi350x", "mi355x", "mi455x-helios", "tpu-v5e", "tpu-v5p",
      "tpu-v6e", "tpu-v7-ironwood", "trainium2", "trainium3", "groq-lpu", "cerebras-wse3", "sambanova-sn40l",
      "qualcomm-ai200", "gaudi2", "gaudi3", "ascend-910c", "cloudmatrix-384"};
  for (const auto& id : required) EXPECT_NE(catalog().find(id), nullptr) << "missing system " << id;
}

void expect_sourced(const Sourced& s, const std::string& what) {
  EXPECT_FALSE(s.source.empty()) << what << " has no source";
  EXPECT_GE(s.value, 0) << what;
}

TEST(HardwareCatalog, EveryFigureHasASourceAndAPlausibleValue) {
  for (const auto& s : catalog().systems()) {
    SCOPED_TRACE(s.id);
    EXPECT_FALSE(s.name.empty());
    EXPECT_FALSE(s.vendor.empty());
    EXPECT_FALSE(s.family.empty());
    ASSERT_FALSE(s.memory.empty());
    for (const auto& t : s.memory) {
      expect_sourced(t.capacity_bytes, "capacity");
      expect_sourced(t.bandwidth_bytes_per_s, "bandwidth");
      // Between 1 MB (SRAM parts) and 2 TB per chip; 10 GB/s to 100 PB/s.
      EXPECT_GT(t.capacity_bytes.value, 1e6);
      EXPECT_LT(t.capacity_bytes.value, 2e12);
      EXPECT_GT(t.bandwidth_bytes_per_s.value, 1e10);
      EXPECT_LT(t.bandwidth_bytes_per_s.value, 1e17);
    }
    ASSERT_FALSE(s.compute.empty());
    for (const auto& [cls, q] : s.compute) {
      expect_sourced(q, std::string(to_string(cls)));
      EXPECT_GT(q.value, 1e12);   // at least a TFLOP/s
      EXPECT_LT(q.value, 1e18);   // below an EFLOP/s per chip
    }
    expect_sourced(s.scale_up_domain_chips, "domain_chips");
    EXPECT_GE(s.scale_up_domain_chips.value, 1);
    for (const auto* q : {s.chip_power_w ? &*s.chip_power_w : nullptr,
                          s.all_in_power_w_per_chip ? &*s.all_in_power_w_per_chip : nullptr,
                          s.usd_per_chip_hour ? &*s.usd_per_chip_hour : nullptr,
                          s.capex_usd_per_chip ? &*s.capex_usd_per_chip : nullptr,
                          s.scale_up.bandwidth_bytes_per_s ? &*s.scale_up.bandwidth_bytes_per_s : nullptr}) {
      if (q) {
        expect_sourced(*q, "figure");
      }
    }
    if (s.chip_power_w && s.all_in_power_w_per_chip) {
      // All-in power per chip includes the chip itself.
      EXPECT_GE(s.all_in_power_w_per_chip->value, s.chip_power_w->value * 0.999);
    }
  }
}

TEST(HardwareCatalog, DensePeaksFollowPrecisionOrder) {
  // Lower precision never has a lower dense tensor rate than a higher one on the same chip.
  for (const auto& s : catalog().systems()) {
    SCOPED_TRACE(s.id);
    const auto bf16 = s.peak_flop_per_s(ComputeClass::bf16);
    const auto fp8 = s.peak_flop_per_s(ComputeClass::fp8);
    const auto fp4 = s.peak_flop_per_s(ComputeClass::fp4);
    if (bf16 && fp8) {
      EXPECT_GE(*fp8, *bf16);
    }
    if (fp8 && fp4) {
      EXPECT_GE(*fp4, *fp8);
    }
  }
}

TEST(HardwareCatalog, VariantsInheritAndOverride) {
  const auto& h200 = catalog().get("h200-sxm");
  const auto& nvl = catalog().get("h200-nvl");
  EXPECT_EQ(nvl.variant_of, "h200-sxm");
  // Same memory as the SXM part, lower power.
  EXPECT_DOUBLE_EQ(nvl.main_memory().capacity_bytes.value, h200.main_memory().capacity_bytes.value);
  ASSERT_TRUE(nvl.chip_power_w && h200.chip_power_w);
  EXPECT_LT(nvl.chip_power_w->value, h200.chip_power_w->value);
}

TEST(HardwareCatalog, KnownFiguresFromPrimarySources) {
  // H100 SXM: 80 GiB HBM3 at 3.35 TB/s, 989 TFLOP/s dense BF16, NVLink 450 GB/s per direction (aiconfigurator).
  const auto& h100 = catalog().get("h100-sxm");
  EXPECT_DOUBLE_EQ(h100.main_memory().capacity_bytes.value, 85899345920.0);  // 80 x 2^30
  EXPECT_DOUBLE_EQ(h100.main_memory().bandwidth_bytes_per_s.value, 3.35e12);
  EXPECT_DOUBLE_EQ(*h100.peak_flop_per_s(ComputeClass::bf16), 989e12);
  EXPECT_DOUBLE_EQ(h100.scale_up.bandwidth_bytes_per_s->value, 450e9);
  EXPECT_FALSE(h100.peak_flop_per_s(ComputeClass::fp4).has_value());  // Hopper has no FP4 math
  // Groq keeps everything in SRAM.
  EXPECT_EQ(catalog().get("groq-lpu").main_memory().kind, MemoryTierKind::sram);
  EXPECT_EQ(catalog().get("rubin-cpx").main_memory().kind, MemoryTierKind::gddr);
  EXPECT_EQ(catalog().get("qualcomm-ai200").main_memory().kind, MemoryTierKind::lpddr);
  EXPECT_EQ(catalog().get("gb200-nvl72").scale_up_domain_chips.value, 72);
}

TEST(HardwareCatalog, EverySystemHasAllInPowerAndAPrice) {
  // The economics layer needs both for every system: IT power per chip (before PUE) and a capex or a
  // rental price. Unknown figures are labelled estimates ("estimate: ..." in the source), never absent.
  for (const auto& s : catalog().systems()) {
    SCOPED_TRACE(s.id);
    ASSERT_TRUE(s.all_in_power_w_per_chip.has_value()) << "no all_in_power_per_chip";
    EXPECT_GT(s.all_in_power_w_per_chip->value, 0);
    EXPECT_TRUE(s.capex_usd_per_chip.has_value() || s.usd_per_chip_hour.has_value()) << "no capex or rental price";
    if (s.capex_usd_per_chip) {
      EXPECT_GT(s.capex_usd_per_chip->value, 0);
    }
    if (s.usd_per_chip_hour) {
      EXPECT_GT(s.usd_per_chip_hour->value, 0);
    }
  }
}

TEST(HardwareCatalog, HbmCapacitiesAreBinaryAsThePartsHaveThem) {
  // Hand-computed: H100 SXM 5 x 16 GiB stacks = 80 x 2^30 B; MI300X 8 x 24 GiB = 192 x 2^30 B;
  // H200 141 GiB enabled of 6 x 24 GiB; GB200 189,471 MiB visible per GPU (aiconfigurator / nvidia-smi).
  EXPECT_DOUBLE_EQ(catalog().get("h100-sxm").main_memory().capacity_bytes.value, 85899345920.0);
  EXPECT_DOUBLE_EQ(catalog().get("mi300x").main_memory().capacity_bytes.value, 206158430208.0);
  EXPECT_DOUBLE_EQ(catalog().get("h200-sxm").main_memory().capacity_bytes.value, 151397597184.0);
  EXPECT_DOUBLE_EQ(catalog().get("gb200-nvl72").main_memory().capacity_bytes.value, 198674743296.0);
}

TEST(HardwareCatalog, DramCapacitiesAreWholeMiBAndWholeGiBUnlessVisiblePerSku) {
  // DRAM (HBM, GDDR, LPDDR, DDR) is built from binary devices, so a capacity is a whole number of MiB;
  // a decimal "80 GB" (74.5 GiB) is the vendor's GiB misread. It is a whole number of GiB unless the
  // file gives the visible bytes of a SKU that hides part of its stacks, which its note must say.
  constexpr double kMiB = 1048576.0;
  constexpr double kGiB = 1073741824.0;
  for (const auto& s : catalog().systems()) {
    SCOPED_TRACE(s.id);
    for (const auto& t : s.memory) {
      if (t.kind == MemoryTierKind::sram) continue;
      const double bytes = t.capacity_bytes.value;
      const double mib = bytes / kMiB;
      const double gib = bytes / kGiB;
      EXPECT_NEAR(mib, std::round(mib), 1e-6) << to_string(t.kind) << " capacity " << bytes << " B is not whole MiB";
      const bool whole_gib = std::abs(gib - std::round(gib)) <= 1e-9 * std::max(1.0, gib);
      if (!whole_gib) {
        EXPECT_NE(t.capacity_bytes.note.find("visible"), std::string::npos)
            << to_string(t.kind) << " capacity " << gib << " GiB is not whole GiB and its note does not say "
            << "it is the visible capacity of the SKU";
      }
    }
  }
}

TEST(HardwareCatalog, IdsAreUniqueAndSorted) {
  std::set<std::string> seen;
  std::string prev;
  for (const auto& s : catalog().systems()) {
    EXPECT_TRUE(seen.insert(s.id).second) << s.id;
    EXPECT_LT(prev, s.id);
    prev = s.id;
  }
}

}  // namespace
}  // namespace tf::hardware
