// `tokenfactory calibrate-kernels`: the bottom-up fits recover known efficiencies from synthetic
// kernel tables generated with the cost model's formulas, malformed tables are diagnostics naming
// file, line and column, and the real aiconfigurator tables give sane values.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/diagnostic.hpp"
#include "cost/efficiency.hpp"
#include "hardware/catalog.hpp"
#include "io/yaml_reader.hpp"
#include "support/test_support.hpp"
#include "validate/calibrate.hpp"
#include "validate/kernels.hpp"

namespace tf::validate::kernels {
namespace {

const hardware::Catalog& catalog() {
  static const auto c = hardware::Catalog::load(test::data_dir() / "hardware");
  return c;
}

const KernelConfig& config() {
  static const auto c = load_kernel_config(test::data_dir() / "kernels" / "systems.yaml", catalog());
  return c;
}

// H100 SXM peaks as the catalog states them (data/hardware/nvidia/h100-sxm.yaml).
struct H100 {
  double bf16 = 0, fp8 = 0, hbm = 0, link = 0;
  H100() {
    const auto& s = catalog().get("h100-sxm");
    bf16 = *s.peak_flop_per_s(ComputeClass::bf16);
    fp8 = *s.peak_flop_per_s(ComputeClass::fp8);
    hbm = s.main_memory().bandwidth_bytes_per_s.value;
    link = s.scale_up.bandwidth_bytes_per_s->value;
  }
};

std::string ms(double seconds) { return fmt::format("{:.9g}", seconds * 1e3); }

// GEMM rows from the roofline: max(2mnk / (peak c), (mk a + nk w + mn 2) / (hbm m)) + floor.
std::string gemm_table(double c, double m, double floor_bf16, double floor_fp8) {
  const H100 h;
  std::string csv = "gemm_dtype,m,n,k,latency\n";
  for (const char* dt : {"bfloat16", "fp8"}) {
    const bool fp8 = std::string(dt) == "fp8";
    const double peak = fp8 ? h.fp8 : h.bf16, b = fp8 ? 1 : 2, fl = fp8 ? floor_fp8 : floor_bf16;
    for (double M = 1; M <= 16384; M *= 4)
      for (double N = 512; N <= 32768; N *= 2)
        for (double K = 512; K <= 16384; K *= 2) {
          const double t = std::max(2 * M * N * K / (peak * c), (M * K * b + N * K * b + M * N * 2) / (h.hbm * m)) + fl;
          csv += fmt::format("{},{:.0f},{:.0f},{:.0f},{}\n", dt, M, N, K, ms(t));
        }
  }
  return csv;
}

// Prefill attention: causal 4 h d b isl^2/2 FLOPs at c_attn, KV writes at the GEMM bandwidth m.
std::string context_table(double c, double m, double fl) {
  const H100 h;
  std::string csv = "batch_size,isl,num_heads,num_key_value_heads,head_dim,window_size,attn_dtype,kv_cache_dtype,latency\n";
  for (double b = 1; b <= 64; b *= 4)
    for (double isl = 128; isl <= 16384; isl *= 2)
      for (double heads : {8.0, 32.0, 64.0}) {
        const double kv = heads / 8, d = 128;
        const double t = std::max(4 * heads * d * b * isl * (isl / 2) / (h.bf16 * c), b * isl * 2 * kv * d * 2 / (h.hbm * m)) + fl;
        csv += fmt::format("{:.0f},{:.0f},{:.0f},{:.0f},128,0,bfloat16,bfloat16,{}\n", b, isl, heads, kv, ms(t));
      }
  return csv;
}

// Decode attention: step+1 keys, KV read at m_attn, FLOPs at the prefill fit's c_attn.
std::string generation_table(double c, double m, double fl) {
  const H100 h;
  std::string csv = "batch_size,num_heads,num_key_value_heads,head_dim,window_size,kv_cache_dtype,step,latency\n";
  for (double b = 1; b <= 1024; b *= 4)
    for (double step : {127.0, 511.0, 2047.0, 8191.0, 32767.0})
      for (double kv : {1.0, 8.0}) {
        const double heads = 8 * kv, d = 128, keys = step + 1;
        const double t = std::max(4 * heads * d * b * keys / (h.bf16 * c), b * keys * 2 * kv * d * 2 / (h.hbm * m)) + fl;
        csv += fmt::format("{:.0f},{:.0f},{:.0f},128,0,bfloat16,{:.0f},{}\n", b, heads, kv, step, ms(t));
      }
  return csv;
}

// MoE, one rank of pure EP: E/ep experts, T k / ep copies on min(E, T k) / ep touched experts,
// plus 4 hidden-state passes per copy (the cost model's permutation traffic).
std::string moe_table(double c, double m, double fl) {
  const H100 h;
  std::string csv =
      "kernel_source,moe_dtype,num_tokens,hidden_size,inter_size,topk,num_experts,moe_tp_size,moe_ep_size,"
      "distribution,latency\n";
  struct Shape {
    double hidden, inter, topk, experts;
  };
  for (const Shape& x : {Shape{7168, 2048, 8, 256}, Shape{4096, 1536, 8, 128}, Shape{2880, 2880, 4, 32}})
    for (double T = 1; T <= 65536; T *= 2)
      for (const auto& [tp, ep] : {std::pair{1.0, 1.0}, std::pair{1.0, 8.0}, std::pair{4.0, 1.0}}) {
        const double slice = 3 * x.hidden * x.inter / tp, copies = T * x.topk / ep;
        const double touched = std::min(x.experts, T * x.topk) / ep;
        const double t = std::max(2 * slice * copies / (h.bf16 * c), touched * slice * 2 / (h.hbm * m)) +
                         copies * 4 * x.hidden * 2 / (h.hbm * m) + fl;
        csv += fmt::format("moe_torch_flow_cutlass,bfloat16,{:.0f},{:.0f},{:.0f},{:.0f},{:.0f},{:.0f},{:.0f},balanced,{}\n", T,
                           x.hidden, x.inter, x.topk, x.experts, tp, ep, ms(t));
      }
  return csv;
}

// All-reduce: alpha + 2(n-1)/n x 2 x elements / (link x f).
std::string allreduce_table(double f, double alpha) {
  const H100 h;
  std::string csv = "allreduce_dtype,num_gpus,message_size,latency\n";
  for (double n : {2.0, 4.0, 8.0})
    for (double e = 128; e <= 536870912; e *= 2)
      csv += fmt::format("bfloat16,{:.0f},{:.0f},{}\n", n, e, ms(alpha + 2 * (n - 1) / n * 2 * e / (h.link * f)));
  return csv;
}

const SystemBackend* find(const KernelCalibration& cal, const std::string& id, const std::string& backend) {
  for (const auto& s : cal.systems)
    if (s.system_id == id && s.backend == backend) return &s;
  return nullptr;
}

double floor_of(const RoofFit& f, const std::string& group) {
  for (const auto& [g, s] : f.floors_s)
    if (g == group) return s;
  return -1;
}

TEST(KernelFits, RecoversKnownFractionsFromSyntheticTables) {
  test::TempDir dir;
  dir.write("h100_sxm/trtllm-9.9/gemm_perf.csv", gemm_table(0.7, 0.8, 3e-6, 12e-6));
  dir.write("h100_sxm/trtllm-9.9/context_attention_perf.csv", context_table(0.45, 0.8, 20e-6));
  dir.write("h100_sxm/trtllm-9.9/generation_attention_perf.csv", generation_table(0.45, 0.9, 8e-6));
  dir.write("h100_sxm/trtllm-9.9/moe_perf.csv", moe_table(0.5, 0.75, 30e-6));
  const auto cal = calibrate_kernels(dir.path(), config(), catalog());
  const auto* s = find(cal, "h100-sxm", "trtllm");
  ASSERT_NE(s, nullptr);
  const auto& f = s->fits;
  // Within 1% (the data are the model itself; the fit is exact up to convergence).
  ASSERT_TRUE(f.gemm.fitted);
  EXPECT_TRUE(f.gemm.compute_identified && f.gemm.memory_identified);
  EXPECT_NEAR(f.gemm.compute_fraction, 0.7, 0.007);
  EXPECT_NEAR(f.gemm.memory_fraction, 0.8, 0.008);
  EXPECT_NEAR(floor_of(f.gemm, "bfloat16"), 3e-6, 3e-8);
  EXPECT_NEAR(floor_of(f.gemm, "fp8"), 12e-6, 12e-8);
  EXPECT_LT(f.gemm.all.median_ape_pct, 0.1);
  for (const auto& [d, g] : f.gemm_by_dtype) {
    EXPECT_NEAR(g.compute_fraction, 0.7, 0.007) << d;
    EXPECT_NEAR(g.memory_fraction, 0.8, 0.008) << d;
  }
  ASSERT_TRUE(f.context_attention.fitted);
  EXPECT_NEAR(f.context_attention.compute_fraction, 0.45, 0.0045);
  EXPECT_NEAR(f.context_attention.memory_fraction, 0.8, 0.008);  // held at the GEMM fit's
  ASSERT_TRUE(f.generation_attention.fitted);
  EXPECT_NEAR(f.generation_attention.memory_fraction, 0.9, 0.009);
  ASSERT_TRUE(f.moe.fitted);
  EXPECT_NEAR(f.moe.compute_fraction, 0.5, 0.005);
  EXPECT_NEAR(f.moe.memory_fraction, 0.75, 0.0075);
  EXPECT_NEAR(floor_of(f.moe, "bfloat16"), 30e-6, 3e-7);

  // The family file: the same values, 6 significant digits, the documented schema.
  ASSERT_EQ(cal.families.size(), 1u);
  const auto text = family_yaml(cal.families[0], cal);
  EXPECT_EQ(text, family_yaml(cal.families[0], cal));  // deterministic
  const auto y = io::load_yaml_string(text, "hopper.yaml");
  EXPECT_EQ(y.required("family").as_string(), "hopper");
  EXPECT_NEAR(y.required("compute_fraction").required("value").as_double(), 0.7, 0.007);
  EXPECT_NEAR(y.required("memory_bandwidth_fraction").required("value").as_double(), 0.8, 0.008);
  EXPECT_NEAR(y.required("attention_compute_fraction").required("value").as_double(), 0.45, 0.0045);
  EXPECT_NEAR(y.required("attention_memory_fraction").required("value").as_double(), 0.9, 0.009);
  EXPECT_NEAR(y.required("moe_compute_fraction").required("value").as_double(), 0.5, 0.005);
  EXPECT_NEAR(y.required("moe_floor").required("value").as_quantity(Dimension::seconds), 30e-6, 3e-7);
  EXPECT_FALSE(y.required("compute_fraction").required("source").as_string().empty());
  EXPECT_EQ(y.required("input").required("manifest_fnv1a64").as_string(), "absent");
  EXPECT_TRUE(y.required("fit_quality").has("gemm"));
}

TEST(KernelFits, RecoversAllReduceBandwidthAndLatency) {
  test::TempDir dir;
  // Latency 4 us (below the catalog's 10 us wire latency: collective_latency clamps at 0).
  dir.write("h100_sxm/trtllm-9.9/custom_allreduce_perf.csv", allreduce_table(0.7, 4e-6));
  const auto cal = calibrate_kernels(dir.path(), config(), catalog());
  const auto* s = find(cal, "h100-sxm", "trtllm");
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->fits.allreduce.size(), 3u);
  for (const auto& l : s->fits.allreduce) {
    ASSERT_TRUE(l.fitted) << l.num_gpus;
    EXPECT_NEAR(l.network_fraction, 0.7, 0.007) << l.num_gpus;
    EXPECT_NEAR(l.latency_s, 4e-6, 4e-8) << l.num_gpus;
    EXPECT_NEAR(l.network_fraction_all, 0.7, 0.007) << l.num_gpus;  // every size fits the same model
    EXPECT_NEAR(l.latency_all_s, 4e-6, 4e-8) << l.num_gpus;
  }
  const auto& pooled = cal.families.at(0).fits.allreduce_pooled;
  EXPECT_NEAR(pooled.network_fraction, 0.7, 0.007);
  EXPECT_NEAR(pooled.latency_s, 4e-6, 4e-8);
  const auto y = io::load_yaml_string(family_yaml(cal.families[0], cal), "hopper.yaml");
  EXPECT_NEAR(y.required("network_fraction").required("value").as_double(), 0.7, 0.007);
  EXPECT_NEAR(y.required("collective_latency").required("value").as_quantity(Dimension::seconds), 0, 1e-12);
  EXPECT_NEAR(y.required("details").required("allreduce_latency").as_quantity(Dimension::seconds), 4e-6, 4e-8);
}

Diagnostic diagnostic_of(const std::filesystem::path& dir) {
  try {
    calibrate_kernels(dir, config(), catalog());
  } catch (const DiagnosticError& e) {
    return e.diagnostic();
  }
  ADD_FAILURE() << "expected a DiagnosticError";
  return {};
}

TEST(KernelFits, MalformedTablesNameFileLineAndColumn) {
  {
    test::TempDir dir;
    dir.write("h100_sxm/trtllm-9.9/gemm_perf.csv", "gemm_dtype,m,n,k,latency\nbfloat16,1,1024,1024,0.01\n"
                                                   "bfloat16,2,1024,1024,fast\n");
    const auto d = diagnostic_of(dir.path());
    EXPECT_NE(d.file.find("gemm_perf.csv"), std::string::npos) << d.to_string();
    EXPECT_EQ(d.line, 3);
    EXPECT_EQ(d.column, 5);
    EXPECT_EQ(d.key, "latency");
  }
  {
    test::TempDir dir;
    dir.write("h100_sxm/trtllm-9.9/gemm_perf.csv", "gemm_dtype,m,n,k,latency\nbfloat16,1.5,1024,1024,0.01\n");
    const auto d = diagnostic_of(dir.path());
    EXPECT_EQ(d.line, 2);
    EXPECT_EQ(d.column, 2);
    EXPECT_EQ(d.key, "m");
  }
  {
    test::TempDir dir;  // a zero latency is not a measurement
    dir.write("h100_sxm/trtllm-9.9/gemm_perf.csv", "gemm_dtype,m,n,k,latency\nbfloat16,1,1024,1024,0\n");
    const auto d = diagnostic_of(dir.path());
    EXPECT_EQ(d.line, 2);
    EXPECT_EQ(d.column, 5);
  }
  {
    test::TempDir dir;
    dir.write("h100_sxm/trtllm-9.9/gemm_perf.csv", "gemm_dtype,m,n,latency\nbfloat16,1,1024,0.01\n");
    const auto d = diagnostic_of(dir.path());
    EXPECT_NE(d.file.find("gemm_perf.csv"), std::string::npos);
    EXPECT_EQ(d.line, 1);
    EXPECT_EQ(d.key, "k");
    EXPECT_NE(d.message.find("missing column"), std::string::npos);
  }
  {
    test::TempDir dir;
    dir.write("h100_sxm/trtllm-9.9/nccl_perf.csv", "op_name,nccl_dtype,num_gpus,message_size,latency\n"
                                                   "all_reduce,half,8,256\n");
    const auto d = diagnostic_of(dir.path());
    EXPECT_EQ(d.line, 2);
    EXPECT_NE(d.message.find("fields"), std::string::npos);
  }
  {
    const auto d = diagnostic_of("/nonexistent/kernel/tables");
    EXPECT_NE(d.message.find("not found"), std::string::npos);
  }
}

TEST(KernelFits, UnknownSystemFoldersAreReportedNotGuessed) {
  test::TempDir dir;
  dir.write("h100_pcie/trtllm-9.9/gemm_perf.csv", "gemm_dtype,m,n,k,latency\nbfloat16,1,1024,1024,0.01\n");
  dir.write("h100_sxm/trtllm-9.9/custom_allreduce_perf.csv", allreduce_table(0.7, 4e-6));
  dir.write("h100_sxm/mystery-1.0/gemm_perf.csv", "not,read\n");
  const auto cal = calibrate_kernels(dir.path(), config(), catalog());
  ASSERT_EQ(cal.skipped.size(), 2u);
  EXPECT_EQ(cal.skipped[0].first, "h100_pcie/");
  EXPECT_EQ(cal.skipped[1].first, "h100_sxm/mystery-1.0/");
  ASSERT_EQ(cal.systems.size(), 1u);
  EXPECT_EQ(cal.systems[0].system_id, "h100-sxm");
}

TEST(KernelConfigFile, MapsEverySystemToItsCatalogFamily) {
  const auto& c = config();
  EXPECT_EQ(c.systems.size(), 9u);
  for (const auto& s : c.systems) EXPECT_EQ(catalog().get(s.system_id).family, s.family) << s.folder;
  ASSERT_NE(c.system_for_folder("gb300"), nullptr);
  EXPECT_EQ(c.system_for_folder("gb300")->system_id, "gb300-nvl72");
  ASSERT_NE(c.dtype("w4a8_mxfp4_mxfp8"), nullptr);
  EXPECT_EQ(c.dtype("w4a8_mxfp4_mxfp8")->activations, Precision::fp8);
}

// The real aiconfigurator tables (../shared/calibration/kernels): sane ranges, not exact values.
// Bounds measured on the tables at aiconfigurator@095f58a (MANIFEST fnv1a64 444a30378198f020):
// family median APE over all rows at most gemm 23.5%, moe 22.8%, decode attention 42.0%, prefill
// attention 64.8% (the cost model's prefill formula lacks a per-token term); all-reduce (NVLink
// families, fit rows) at most 10.9%.
TEST(KernelFits, RealTablesGiveSaneFractions) {
  const auto dir = test::shared_dir() / "calibration" / "kernels";
  if (!std::filesystem::exists(dir))
    GTEST_SKIP() << "../shared/calibration/kernels not present (aiconfigurator kernel tables)";
  Options o;
  o.other_backends = false;
  const auto cal = calibrate_kernels(dir, config(), catalog(), o);
  EXPECT_TRUE(cal.skipped.empty());
  ASSERT_EQ(cal.families.size(), 5u);
  for (const auto& ff : cal.families) {
    SCOPED_TRACE(ff.family);
    const auto& f = ff.fits;
    auto in_unit = [](double x) { return x > 0 && x <= 1; };
    ASSERT_TRUE(f.gemm.fitted);
    EXPECT_TRUE(in_unit(f.gemm.compute_fraction)) << f.gemm.compute_fraction;
    EXPECT_TRUE(in_unit(f.gemm.memory_fraction)) << f.gemm.memory_fraction;
    EXPECT_LT(f.gemm.all.median_ape_pct, 30);
    ASSERT_TRUE(f.context_attention.fitted);
    EXPECT_TRUE(in_unit(f.context_attention.compute_fraction));
    EXPECT_LT(f.context_attention.all.median_ape_pct, 75);
    ASSERT_TRUE(f.generation_attention.fitted);
    EXPECT_TRUE(in_unit(f.generation_attention.memory_fraction));
    EXPECT_LT(f.generation_attention.all.median_ape_pct, 50);
    if (ff.family != "ampere") {  // A100 has power-law MoE rows only
      ASSERT_TRUE(f.moe.fitted);
      EXPECT_TRUE(in_unit(f.moe.compute_fraction));
      EXPECT_LT(f.moe.all.median_ape_pct, 30);
    }
    ASSERT_TRUE(f.allreduce_pooled.fitted);
    EXPECT_TRUE(in_unit(f.allreduce_pooled.network_fraction));
    EXPECT_GT(f.allreduce_pooled.latency_s, 1e-6);
    EXPECT_LT(f.allreduce_pooled.latency_s, 30e-6);
    if (ff.family != "ada") {  // L40S: one badly connected host
      EXPECT_LT(f.allreduce_pooled.ends.median_ape_pct, 15);
    }
    const auto y = io::load_yaml_string(family_yaml(ff, cal), ff.family + ".yaml");
    EXPECT_EQ(y.required("input").required("manifest_fnv1a64").as_string().size(), 16u);
  }
}

// The efficiency loader reads data/calibration/*.yaml as family files, never the kernels/
// subfolder's: from those it takes only the kernel-measured MoE floor (as the family file's value
// for families whose values are not calibrated; a calibration file writes the same value).
TEST(KernelFits, EfficiencyLoaderTakesOnlyTheMoeFloorFromTheKernelsFolder) {
  const auto t = cost::EfficiencyTable::load(test::data_dir() / "efficiency");
  EXPECT_EQ(t.families().count("kernels"), 0u);
  for (const auto& [family, e] : t.families())
    EXPECT_EQ(e.file.find("calibration/kernels"), std::string::npos) << e.file;
  const auto priors = load_kernel_priors(test::data_dir() / "calibration" / "kernels");
  ASSERT_TRUE(priors.count("hopper"));
  const auto y = io::load_yaml_file(test::data_dir() / "calibration" / "kernels" / "hopper.yaml");
  const double kernel = y.required("moe_floor").required("value").as_quantity(Dimension::seconds);
  EXPECT_NEAR(t.for_family("hopper").moe_floor_s, kernel, 1e-6 * kernel);
  const auto u = cost::EfficiencyTable::load_uncalibrated(test::data_dir() / "efficiency");
  EXPECT_DOUBLE_EQ(u.for_family("hopper").moe_floor_s, kernel);
  EXPECT_NE(u.for_family("hopper").moe_floor_file.find("hopper.yaml"), std::string::npos);
}

}  // namespace
}  // namespace tf::validate::kernels
