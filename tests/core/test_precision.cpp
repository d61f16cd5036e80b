#include <gtest/gtest.h>

#include "core/diagnostic.hpp"
#include "core/precision.hpp"

namespace tf {
namespace {

TEST(Precision, StorageIncludesBlockScales) {
  EXPECT_DOUBLE_EQ(info(Precision::bf16).bytes_per_element, 2.0);
  EXPECT_DOUBLE_EQ(info(Precision::fp8).bytes_per_element, 1.0);
  // NVFP4: 16 x 4 bits + 8-bit scale = 72 bits per 16 values.
  EXPECT_DOUBLE_EQ(info(Precision::nvfp4).bytes_per_element, 72.0 / 8 / 16);
  // MXFP4: 32 x 4 bits + 8-bit scale = 136 bits per 32 values.
  EXPECT_DOUBLE_EQ(info(Precision::mxfp4).bytes_per_element, 136.0 / 8 / 32);
}

TEST(Precision, FourBitFloatsRunOnFp4Units) {
  EXPECT_EQ(info(Precision::nvfp4).compute_class, ComputeClass::fp4);
  EXPECT_EQ(info(Precision::mxfp4).compute_class, ComputeClass::fp4);
  EXPECT_EQ(info(Precision::fp8).compute_class, ComputeClass::fp8);
}

TEST(Precision, ParsesNamesAndRejectsUnknown) {
  EXPECT_EQ(parse_precision("nvfp4"), Precision::nvfp4);
  try {
    parse_precision("fp6");
    FAIL();
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().hint.find("bf16"), std::string::npos);
  }
}

}  // namespace
}  // namespace tf
