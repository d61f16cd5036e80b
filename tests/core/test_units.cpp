#include <gtest/gtest.h>

#include "core/diagnostic.hpp"
#include "core/units.hpp"

namespace tf {
namespace {

TEST(Units, ParsesDecimalAndBinaryPrefixes) {
  EXPECT_DOUBLE_EQ(parse_quantity("80 GB", Dimension::bytes), 80e9);
  EXPECT_DOUBLE_EQ(parse_quantity("95 GiB", Dimension::bytes), 95.0 * 1073741824.0);
  EXPECT_DOUBLE_EQ(parse_quantity("230 MB", Dimension::bytes), 230e6);
  EXPECT_DOUBLE_EQ(parse_quantity("3.35 TB/s", Dimension::bytes_per_s), 3.35e12);
  EXPECT_DOUBLE_EQ(parse_quantity("21 PB/s", Dimension::bytes_per_s), 21e15);
}

TEST(Units, BitRatesBecomeBytes) {
  // 400 Gb/s NDR = 50 GB/s (NVIDIA aiconfigurator inter_node_bw for H100).
  EXPECT_DOUBLE_EQ(parse_quantity("400 Gb/s", Dimension::bytes_per_s), 50e9);
}

TEST(Units, ComputePowerTimeMoney) {
  EXPECT_DOUBLE_EQ(parse_quantity("989 TFLOP/s", Dimension::flop_per_s), 989e12);
  EXPECT_DOUBLE_EQ(parse_quantity("4.5 PFLOP/s", Dimension::flop_per_s), 4.5e15);
  EXPECT_DOUBLE_EQ(parse_quantity("1979 TOP/s", Dimension::op_per_s), 1979e12);
  EXPECT_DOUBLE_EQ(parse_quantity("1.73 kW", Dimension::watts), 1730.0);
  EXPECT_DOUBLE_EQ(parse_quantity("10 us", Dimension::seconds), 10e-6);
  EXPECT_DOUBLE_EQ(parse_quantity("27500 USD", Dimension::usd), 27500.0);
  EXPECT_DOUBLE_EQ(parse_quantity("2.5 USD/h", Dimension::usd_per_hour), 2.5);
  EXPECT_DOUBLE_EQ(parse_quantity("3e6 USD", Dimension::usd), 3e6);
}

TEST(Units, SpaceIsOptional) { EXPECT_DOUBLE_EQ(parse_quantity("700W", Dimension::watts), 700.0); }

void expect_error(const char* text, Dimension d, const char* fragment) {
  try {
    parse_quantity(text, d);
    FAIL() << "no error for '" << text << "'";
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().to_string().find(fragment), std::string::npos) << e.diagnostic().to_string();
  }
}

TEST(Units, RejectsUnitlessNegativeAndWrongDimension) {
  expect_error("80", Dimension::bytes, "has no unit");
  expect_error("-3 TB/s", Dimension::bytes_per_s, "negative");
  expect_error("80 GB", Dimension::bytes_per_s, "expected bytes per second");
  expect_error("80 furlongs", Dimension::bytes, "unknown unit");
  expect_error("fast", Dimension::bytes_per_s, "not a quantity");
  // The hint lists what would be valid.
  expect_error("80 gb", Dimension::bytes, "valid units for bytes");
}

TEST(Units, FormatsForPeople) {
  EXPECT_EQ(format_quantity(80e9, Dimension::bytes), "80 GB");
  EXPECT_EQ(format_quantity(3.35e12, Dimension::bytes_per_s), "3.35 TB/s");
  EXPECT_EQ(format_quantity(700, Dimension::watts), "700 W");
}

TEST(Diagnostic, FormatsLocationKeyAndHint) {
  Diagnostic d{"a.yaml", 3, 5, "chip.power", "has no unit", "valid: W, kW"};
  EXPECT_EQ(d.to_string(), "a.yaml:3:5: 'chip.power': has no unit (valid: W, kW)");
}

TEST(Diagnostic, ClosestMatchSuggestsNearNames) {
  EXPECT_EQ(closest_match("h100-sxn", {"h100-sxm", "h200-sxm", "b200"}), "h100-sxm");
  EXPECT_EQ(closest_match("zzzzzzzz", {"h100-sxm", "b200"}), "");
}

}  // namespace
}  // namespace tf
