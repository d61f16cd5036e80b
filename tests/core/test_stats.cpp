// Order statistics by hand.
#include <gtest/gtest.h>
#include "core/stats.hpp"

namespace tf {
namespace {

TEST(Stats, PercentileInterpolatesBetweenClosestRanks) {
  // 5 values: ranks 0..4; p90 sits at rank 3.6 = 40 + 0.6 x (100 - 40).
  const std::vector<double> v{30, 10, 20, 100, 40};
  EXPECT_DOUBLE_EQ(percentile(v, 0.5), 30);
  EXPECT_DOUBLE_EQ(percentile(v, 0.9), 76);
  EXPECT_DOUBLE_EQ(percentile(v, 0.0), 10);
  EXPECT_DOUBLE_EQ(percentile(v, 1.0), 100);
  EXPECT_DOUBLE_EQ(percentile({}, 0.5), 0);
  EXPECT_DOUBLE_EQ(percentile_sorted({7}, 0.99), 7);
}

}  // namespace
}  // namespace tf
