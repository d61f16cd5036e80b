// Where efficiency values come from: calibrated, a family's own anchors, inherited (named in
// data/efficiency/inheritance.yaml) or the default; every catalog family is accounted for.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "core/diagnostic.hpp"
#include "io/text.hpp"
#include "support/fixtures.hpp"
#include "support/test_support.hpp"

namespace tf::cost {
namespace {

using test::efficiency_table;
using test::hardware_catalog;

TEST(Provenance, EveryCatalogFamilyHasAFileOrAStatedInheritance) {
  const auto& t = efficiency_table();
  for (const auto& s : hardware_catalog().systems()) {
    const bool own = t.families().count(s.family) > 0;
    const bool stated = t.inheritance().count(s.family) > 0;
    EXPECT_TRUE(own || stated) << s.id << ": family '" << s.family
                               << "' has no efficiency file and no entry in data/efficiency/inheritance.yaml";
  }
}

// Every entry names a family the catalog has (or default, or the pooled fit): a typo would
// silently mean defaults.
TEST(Provenance, EveryInheritanceNamesACatalogFamily) {
  std::set<std::string> families{"default", "pooled"};
  for (const auto& s : hardware_catalog().systems()) families.insert(s.family);
  for (const auto& [family, inh] : efficiency_table().inheritance()) {
    EXPECT_TRUE(families.count(family)) << family << " is not a catalog family";
    EXPECT_TRUE(families.count(inh.from)) << family << " inherits from unknown family " << inh.from;
  }
}

TEST(Provenance, InheritedFamiliesUseTheirParentsValuesAndSaySo) {
  const auto& t = efficiency_table();
  const auto& parent = t.for_family("blackwell");
  const auto& child = t.for_family("blackwell-ultra");
  ASSERT_EQ(parent.provenance.status, EfficiencyStatus::calibrated);
  EXPECT_EQ(child.provenance.status, EfficiencyStatus::inherited);
  EXPECT_EQ(child.provenance.from_family, "blackwell");
  EXPECT_EQ(child.provenance.from_status, EfficiencyStatus::calibrated);
  EXPECT_DOUBLE_EQ(child.memory_bandwidth_fraction, parent.memory_bandwidth_fraction);
  EXPECT_DOUBLE_EQ(child.step_overhead_s, parent.step_overhead_s);
  EXPECT_EQ(child.provenance.rows, parent.provenance.rows);
  EXPECT_NE(child.provenance.summary().find("inherited from blackwell (calibrated"), std::string::npos)
      << child.provenance.summary();
  // Chains resolve: trainium3 -> trainium2 -> pooled (the fit over every calibrated family),
  // and default.yaml when there is no calibration.
  EXPECT_EQ(t.for_family("trainium3").provenance.status, EfficiencyStatus::inherited);
  EXPECT_EQ(t.for_family("trainium3").provenance.from_status, EfficiencyStatus::pooled);
  EXPECT_EQ(t.for_family("trainium3").family, "pooled");
  const auto u = EfficiencyTable::load_uncalibrated(test::data_dir() / "efficiency");
  EXPECT_EQ(u.for_family("trainium3").provenance.status, EfficiencyStatus::fallback);
  EXPECT_EQ(u.for_family("trainium3").family, "default");
  // Own anchors without a fit, and the calibrated families, say what they are.
  EXPECT_EQ(t.for_family("groq-lpu").provenance.status, EfficiencyStatus::anchors);
  EXPECT_GT(t.for_family("hopper").provenance.rows, 0);
  // A family no file and no entry names is the default, never silently another's.
  EXPECT_EQ(t.for_family("no-such-family").provenance.status, EfficiencyStatus::fallback);
}

// A family with no rows and no close relative takes the pooled hardware terms; a family with too
// few rows for a fit of its own says it is pooled, not calibrated; both are flagged as not
// calibrated in rankings, and the pooled figure's cross-validation says it left families out.
TEST(Provenance, UnmeasuredFamiliesTakeThePooledFitAndSaySo) {
  const auto& t = efficiency_table();
  const auto& pooled = t.for_family("pooled");
  ASSERT_EQ(pooled.provenance.status, EfficiencyStatus::pooled);
  const auto& gaudi = t.for_family("gaudi");
  EXPECT_EQ(gaudi.provenance.status, EfficiencyStatus::inherited);
  EXPECT_EQ(gaudi.provenance.from_family, "pooled");
  EXPECT_FALSE(gaudi.provenance.is_calibrated());
  EXPECT_DOUBLE_EQ(gaudi.memory_bandwidth_fraction, pooled.memory_bandwidth_fraction);
  EXPECT_DOUBLE_EQ(gaudi.compute_fraction, pooled.compute_fraction);
  EXPECT_NE(gaudi.provenance.summary().find("pooled across calibrated families"), std::string::npos)
      << gaudi.provenance.summary();
  EXPECT_NE(gaudi.provenance.summary().find("none of its own"), std::string::npos) << gaudi.provenance.summary();
  EXPECT_EQ(pooled.provenance.cv_hold_out, "hardware family");
  EXPECT_NE(pooled.provenance.summary().find("leaving each family out"), std::string::npos)
      << pooled.provenance.summary();
  // tpu-v7 has rows, but too few for a fit: pooled, and it says so.
  const auto& v7 = t.for_family("tpu-v7");
  EXPECT_EQ(v7.provenance.status, EfficiencyStatus::pooled);
  EXPECT_FALSE(v7.provenance.is_calibrated());
  EXPECT_NE(v7.provenance.summary().find("too few for a fit"), std::string::npos) << v7.provenance.summary();
  // What a cross-validation held out is one of two things, else an error naming the file.
  test::TempDir dir;
  const auto data = dir.path() / "data";
  std::filesystem::create_directories(data / "calibration");
  std::filesystem::copy(test::data_dir() / "efficiency", data / "efficiency");
  auto text = io::read_text_file(test::data_dir() / "calibration" / "pooled.yaml");
  const auto at = text.find("hold_out: \"hardware family\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("hold_out: \"hardware family\"").size(), "hold_out: \"one row\"");
  std::ofstream(data / "calibration" / "pooled.yaml") << text;
  try {
    (void)EfficiencyTable::load(data / "efficiency");
    FAIL() << "expected an error";
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().file.find("pooled.yaml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("hardware family"), std::string::npos) << e.what();
  }
}

// The bundled data with one inheritance file swapped in.
std::filesystem::path with_inheritance(const test::TempDir& dir, const std::string& text) {
  const auto eff = dir.path() / "efficiency";
  std::filesystem::create_directories(eff);
  for (const auto& e : std::filesystem::directory_iterator(test::data_dir() / "efficiency"))
    if (e.path().extension() == ".yaml" && e.path().filename() != "inheritance.yaml")
      std::filesystem::copy_file(e.path(), eff / e.path().filename());
  std::ofstream(eff / "inheritance.yaml") << text;
  return eff;
}

std::string load_error(const std::string& text) {
  test::TempDir dir;
  try {
    (void)EfficiencyTable::load(with_inheritance(dir, text));
  } catch (const DiagnosticError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Provenance, BadInheritanceFilesAreClearErrors) {
  EXPECT_NE(load_error("inherit:\n  x: {from: x, reason: r}\n").find("inherits from itself"), std::string::npos);
  EXPECT_NE(load_error("inherit:\n  a: {from: b, reason: r}\n  b: {from: a, reason: r}\n").find("cycle"),
            std::string::npos);
  EXPECT_NE(load_error("inherit:\n  groq-lpu: {from: default, reason: r}\n").find("has an efficiency file"),
            std::string::npos);
  EXPECT_NE(load_error("inherit:\n  x: {from: default}\n").find("reason"), std::string::npos);
  EXPECT_NE(load_error("inherit:\n  x: {from: default, reason: r, extra: 1}\n").find("extra"), std::string::npos);
  const auto ok = load_error("inherit:\n  x: {from: default, reason: r}\n");
  EXPECT_EQ(ok, "no error");
}

// Software terms belong to the engine: a data folder whose calibration/engines holds fitted
// terms gives every family (but a vendor-stack family with its own anchors) the named engine's
// overheads, the typical engine's when none is named or the engine has no file.
TEST(Provenance, EngineSoftwareTermsOverrideTheFamilysOverheads) {
  test::TempDir dir;
  const auto data = dir.path() / "data";
  std::filesystem::create_directories(data / "efficiency");
  for (const auto& e : std::filesystem::directory_iterator(test::data_dir() / "efficiency"))
    std::filesystem::copy(e.path(), data / "efficiency" / e.path().filename());
  std::filesystem::create_directories(data / "calibration" / "engines");
  auto engine_file = [&](const std::string& id, const char* step, const char* layer, const char* eager,
                         const char* request) {
    std::ofstream(data / "calibration" / "engines" / (id + ".yaml"))
        << "engine: " << id << "\ndescription: test\nstep_overhead: {value: \"" << step
        << "\", source: test}\nlayer_overhead: {value: \"" << layer << "\", source: test}\neager_launch: {value: \""
        << eager << "\", source: test}\nrequest_overhead: {value: \"" << request
        << "\", source: test}\ncalibration: {rows: 40, cross_validated: {median_ape_pct: 11.5}}\n";
  };
  engine_file("default", "2000 us", "12 us", "150 us", "4 ms");
  engine_file("vllm-v1", "1100 us", "9 us", "90 us", "25 ms");
  const auto t = EfficiencyTable::load(data / "efficiency");
  const auto u = EfficiencyTable::load_uncalibrated(data / "efficiency");
  const auto& named = t.for_family("hopper", "vllm-v1");
  EXPECT_DOUBLE_EQ(named.step_overhead_s, 1100e-6);
  EXPECT_DOUBLE_EQ(named.layer_overhead_s, 9e-6);
  EXPECT_DOUBLE_EQ(named.eager_launch_s, 90e-6);
  EXPECT_DOUBLE_EQ(named.request_overhead_s, 25e-3);
  EXPECT_EQ(named.provenance.software_engine, "vllm-v1");
  EXPECT_EQ(named.provenance.software_summary(), "engine vllm-v1 (calibrated, 40 rows, CV 11.5%)");
  // Hardware terms are the family's, whatever the engine.
  EXPECT_DOUBLE_EQ(named.memory_bandwidth_fraction, u.for_family("hopper").memory_bandwidth_fraction);
  // No engine named, or an engine without a file of its own: the typical engine.
  EXPECT_DOUBLE_EQ(t.for_family("hopper").step_overhead_s, 2000e-6);
  EXPECT_DOUBLE_EQ(t.for_family("hopper").request_overhead_s, 4e-3);
  EXPECT_EQ(t.for_family("hopper", "tensorrt-llm").provenance.software_engine, "default");
  EXPECT_DOUBLE_EQ(t.for_family("no-such-family", "vllm-v1").step_overhead_s, 1100e-6);
  // Inherited families take the engine's terms too; a vendor stack keeps its own anchors.
  EXPECT_DOUBLE_EQ(t.for_family("blackwell-ultra", "vllm-v1").step_overhead_s, 1100e-6);
  EXPECT_DOUBLE_EQ(t.for_family("groq-lpu", "vllm-v1").step_overhead_s, u.for_family("groq-lpu").step_overhead_s);
  EXPECT_DOUBLE_EQ(t.for_family("groq-lpu", "vllm-v1").eager_launch_s, u.for_family("groq-lpu").eager_launch_s);
  EXPECT_DOUBLE_EQ(t.for_family("groq-lpu", "vllm-v1").request_overhead_s, u.for_family("groq-lpu").request_overhead_s);
  EXPECT_EQ(t.for_family("groq-lpu", "vllm-v1").provenance.software_summary(), "family file");
  // Without calibrated engine terms the family file's overheads apply and say so.
  EXPECT_EQ(u.for_family("hopper", "vllm-v1").provenance.software_summary(), "family file");
  // A malformed engine file names the file.
  std::ofstream(data / "calibration" / "engines" / "sglang.yaml") << "engine: vllm-v1\n";
  try {
    (void)EfficiencyTable::load(data / "efficiency");
    FAIL() << "expected an error";
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().file.find("sglang.yaml"), std::string::npos) << e.what();
  }
}

// Kernel-measured hardware terms (data/calibration/kernels/<family>.yaml, `moe_floor`): the
// family and the families that inherit from it take them over the anchors; a family with its own
// kernel fit keeps its own; a calibration file states its own; a bad value names the file.
TEST(Provenance, KernelMeasuredMoeFloorsReachTheirFamiliesAndHeirs) {
  test::TempDir dir;
  const auto data = dir.path() / "data";
  std::filesystem::create_directories(data / "efficiency");
  for (const auto& e : std::filesystem::directory_iterator(test::data_dir() / "efficiency"))
    std::filesystem::copy(e.path(), data / "efficiency" / e.path().filename());
  const auto kernels = data / "calibration" / "kernels";
  std::filesystem::create_directories(kernels);
  auto kernel_file = [&](const std::string& family, const std::string& floor) {
    std::ofstream(kernels / (family + ".yaml"))
        << "family: " << family << "\nsystems: [x]\ncompute_fraction: {value: 0.5, source: test}\n"
        << (floor.empty() ? "" : "moe_floor: {value: \"" + floor + "\", source: test}\n");
  };
  kernel_file("blackwell", "40 us");
  kernel_file("blackwell-ultra", "30 us");
  kernel_file("ampere", "");  // no MoE timings: no term
  const auto u = EfficiencyTable::load_uncalibrated(data / "efficiency");
  const double def = u.for_family("default").moe_floor_s;
  EXPECT_DOUBLE_EQ(u.for_family("blackwell").moe_floor_s, 40e-6);
  EXPECT_NE(u.for_family("blackwell").moe_floor_file.find("blackwell.yaml"), std::string::npos);
  EXPECT_DOUBLE_EQ(u.for_family("blackwell-ultra").moe_floor_s, 30e-6);  // its own kernel fit
  EXPECT_DOUBLE_EQ(u.for_family("rubin").moe_floor_s, 40e-6);            // inherits blackwell
  EXPECT_DOUBLE_EQ(u.for_family("ampere").moe_floor_s, def);
  EXPECT_DOUBLE_EQ(u.for_family("hopper").moe_floor_s, def);
  EXPECT_TRUE(u.for_family("hopper").moe_floor_file.empty());
  // Everything else about the family is unchanged (default values, default provenance).
  EXPECT_DOUBLE_EQ(u.for_family("blackwell").compute_fraction, u.for_family("default").compute_fraction);
  EXPECT_EQ(u.for_family("blackwell").provenance.status, EfficiencyStatus::fallback);
  // A calibration file states its own value, and heirs take it from there.
  std::filesystem::create_directories(data / "calibration");
  std::string text = io::read_text_file(test::data_dir() / "efficiency" / "default.yaml");
  const auto at = text.find("family: default");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 15, "family: blackwell");
  const auto mf = text.find("moe_floor:");
  ASSERT_NE(mf, std::string::npos);
  text = text.substr(0, mf) + "moe_floor: {value: \"55 us\", source: test}\ncalibration: {rows: 30}\n";
  std::ofstream(data / "calibration" / "blackwell.yaml") << text;
  const auto t = EfficiencyTable::load(data / "efficiency");
  EXPECT_DOUBLE_EQ(t.for_family("blackwell").moe_floor_s, 55e-6);
  EXPECT_DOUBLE_EQ(t.for_family("rubin").moe_floor_s, 55e-6);
  EXPECT_DOUBLE_EQ(t.for_family("blackwell-ultra").moe_floor_s, 30e-6);
  // Out of range, or not a time: the kernel file and the key are named.
  kernel_file("hopper", "5 ms");
  try {
    (void)EfficiencyTable::load_uncalibrated(data / "efficiency");
    FAIL() << "expected an error";
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().file.find("hopper.yaml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("kernel floor"), std::string::npos) << e.what();
  }
  kernel_file("hopper", "12");
  EXPECT_THROW((void)EfficiencyTable::load_uncalibrated(data / "efficiency"), DiagnosticError);
}

// Every efficiency file states its MoE floor: a file without one is refused, naming the key.
TEST(Provenance, AnEfficiencyFileWithoutAMoeFloorIsRefused) {
  test::TempDir dir;
  std::string text = io::read_text_file(test::data_dir() / "efficiency" / "default.yaml");
  const auto mf = text.find("moe_floor:");
  ASSERT_NE(mf, std::string::npos);
  const auto end = text.find('\n', mf);
  text.erase(mf, end == std::string::npos ? std::string::npos : end - mf + 1);
  const auto path = dir.path() / "default.yaml";
  std::ofstream(path) << text;
  try {
    (void)load_efficiency_file(path);
    FAIL() << "expected an error";
  } catch (const DiagnosticError& e) {
    EXPECT_NE(std::string(e.what()).find("moe_floor"), std::string::npos) << e.what();
  }
}

// Every efficiency file states each software term (software_terms()) as a time within [0, its
// max]: a file without it, with a negative value, one above the max or a bare number is refused
// naming the file and the key.
TEST(Provenance, AnEfficiencyFileStatesEverySoftwareTermWithinRange) {
  test::TempDir dir;
  const std::string text = io::read_text_file(test::data_dir() / "efficiency" / "default.yaml");
  const auto path = dir.path() / "default.yaml";
  ASSERT_GE(software_terms().size(), 4u);
  for (const auto& term : software_terms()) {
    SCOPED_TRACE(term.key);
    const std::string key = term.key;
    const auto at = text.find("\n" + key + ":");
    ASSERT_NE(at, std::string::npos);
    const auto end = text.find('\n', at + 1);
    const std::string too_big = fmt::format("{}: {{value: \"{:g} ms\", source: test}}", key, term.max_s * 1e3 * 1.5);
    for (const std::string& line : {std::string(), too_big, key + ": {value: \"-1 us\", source: test}",
                                    key + ": {value: 12, source: test}"}) {
      std::string t = text;
      t.replace(at + 1, end - at - 1, line);
      std::ofstream(path) << t;
      try {
        (void)load_efficiency_file(path);
        FAIL() << "expected an error for '" << line << "'";
      } catch (const DiagnosticError& e) {
        EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
        EXPECT_NE(e.diagnostic().file.find("default.yaml"), std::string::npos) << e.what();
      }
    }
    std::string ok = text;
    ok.replace(at + 1, end - at - 1, key + ": {value: \"0.5 ms\", source: test}");
    std::ofstream(path) << ok;
    EXPECT_DOUBLE_EQ(load_efficiency_file(path).*term.field, 0.5e-3);
  }
}

}  // namespace
}  // namespace tf::cost
