// The ceiling is a physical bound: no measured run in the shared file beats it. Throughput rows
// against the ceiling throughput at the row's concurrency (or the physical memory limit), per-
// user speed and TPOT rows against the batch's bytes-over-bandwidth step plus wire latency.
// Rows with speculative decoding (several tokens per step) are outside the bound by design.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cost/estimate.hpp"
#include "support/fixtures.hpp"
#include "validate/validate.hpp"

namespace tf::validate {
namespace {

TEST(CeilingShared, NoMeasuredRunBeatsItsCeiling) {
  const auto path = test::shared_dir() / "calibration" / "measured-calibration.csv";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "../shared/calibration/measured-calibration.csv not present";
  const auto set = read_measured(path, test::hardware_catalog(), test::model_catalog());
  Predictor predictor(test::hardware_catalog(), test::model_catalog(), test::engine_profiles());
  const auto rows = predictor.prepare(set, test::efficiency_table());
  size_t checked = 0;
  std::vector<std::string> above;
  for (const auto& p : rows) {
    if (!p.modelable) continue;
    const auto& r = *p.row;
    if (!r.spec_decode.empty() && r.spec_decode != "none") continue;
    const cost::StepCostModel m(p.deployment);
    const double dp = p.deployment.dp;
    const double ctx = r.isl + r.osl / 2;
    const double cap = m.max_sequences(r.isl + r.osl, /*physical=*/true);
    if (cap < 1) {
      above.push_back(r.id + ": measured, but its ceiling holds no request");
      continue;
    }
    // Requests in flight per replica: the stated concurrency, else as many as memory holds.
    double b = r.concurrency ? std::max(1.0, *r.concurrency / dp) : cap;
    if (r.scenario == Scenario::single_stream) b = 1;
    b = std::min(b, cap);
    double bound = 0, measured = r.value;
    bool upper = true;  // measured must be <= bound (else >=)
    switch (r.metric) {
      case Metric::output_tok_s:
      case Metric::total_tok_s:
      case Metric::input_tok_s: {
        // The best throughput over every batch up to b (a run may hold fewer than stated).
        double best = 0;
        for (double x : cost::concurrency_grid(b, 16)) best = std::max(best, x / m.ceiling_step_time(x, ctx));
        bound = dp * best;
        if (r.metric == Metric::total_tok_s) bound *= (r.isl + r.osl) / r.osl;
        if (r.metric == Metric::input_tok_s) bound *= r.isl / r.osl;
        break;
      }
      case Metric::output_tok_s_per_user:
        bound = 1 / m.ceiling_step_time(1, ctx);
        break;
      case Metric::tpot_ms:
      case Metric::tpot_ms_median:
        bound = 1e3 * m.ceiling_step_time(1, ctx);
        upper = false;
        break;
      default:
        continue;
    }
    ++checked;
    if (upper ? measured > bound : measured < bound)
      above.push_back(fmt::format("{} ({} on {}, {}): measured {:.4g} vs ceiling {:.4g}", r.id, r.model, r.hardware,
                                  to_string(r.metric), measured, bound));
  }
  EXPECT_GT(checked, 500u);
  EXPECT_TRUE(above.empty()) << above.size() << " rows beat the ceiling, e.g.:\n"
                             << [&] {
                                  std::string s;
                                  for (size_t i = 0; i < std::min<size_t>(above.size(), 30); ++i) s += above[i] + "\n";
                                  return s;
                                }();
}

}  // namespace
}  // namespace tf::validate
