// The accuracy ratchet: cross-validated (leave one source group out) median error per source
// group and metric kind on the shared measured file may not get worse by more than the stated
// tolerance than the committed bounds in accuracy_ratchet.json. Moving a bound is a reviewed
// commit: TF_RATCHET_UPDATE="reason" rewrites the file from the current results
// (scripts/ratchet.sh). Release builds only (a full calibration with cross-validation).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/text.hpp"
#include "support/test_support.hpp"

namespace tf::validate {
namespace {

using nlohmann::ordered_json;

double round1(double x) { return std::round(x * 10) / 10; }

TEST(Ratchet, CrossValidatedErrorsNeverGetWorse) {
  const auto csv = test::shared_dir() / "calibration" / "measured-calibration.csv";
  if (!std::filesystem::exists(csv)) GTEST_SKIP() << "../shared/calibration/measured-calibration.csv not present";
  test::TempDir dir;
  const auto r = test::run_cli({"calibrate", "--measured", csv.string(), "--out", (dir.path() / "cal").string(),
                                "--threads", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto cv = ordered_json::parse(r.out)["cross_validated"];
  ordered_json now = ordered_json::object();
  now["overall/throughput"] = round1(cv["throughput"]["median_ape"].get<double>());
  now["overall/latency"] = round1(cv["latency"]["median_ape"].get<double>());
  for (const auto& [k, v] : cv["by_source_group_and_kind"].items())
    if (v["supported"].get<int>() > 0) now[k] = round1(v["median_ape"].get<double>());
  const double coverage = round1(cv["coverage"].get<double>() * 100);

  const std::filesystem::path file = TF_RATCHET_FILE;
  if (const char* reason = std::getenv("TF_RATCHET_UPDATE")) {
    ordered_json out{{"description",
                      "Cross-validated (leave one source group out) median APE % per source group and metric kind on "
                      "../shared/calibration/measured-calibration.csv; tests/validate/test_ratchet.cpp fails when a "
                      "change makes any worse by more than tolerance_points, or coverage outside poisson_rate falls "
                      "by more than coverage_points. Moved only by scripts/ratchet.sh \"reason\" in a reviewed commit."},
                     {"reason", reason},
                     {"tolerance_points", 1.0},
                     {"coverage_outside_poisson_pct", coverage},
                     {"coverage_points", 1.0},
                     {"bounds", now}};
    io::write_text_file(file, out.dump(2) + "\n");
    GTEST_SKIP() << "wrote " << file;
  }
  const auto bounds = ordered_json::parse(io::read_text_file(file));
  const double tol = bounds["tolerance_points"].get<double>();
  EXPECT_GE(coverage, bounds["coverage_outside_poisson_pct"].get<double>() - bounds["coverage_points"].get<double>());
  for (const auto& [k, bound] : bounds["bounds"].items()) {
    if (!now.contains(k)) {
      ADD_FAILURE() << k << ": no supported row any more (bound " << bound << "%)";
      continue;
    }
    EXPECT_LE(now[k].get<double>(), bound.get<double>() + tol)
        << k << ": cross-validated median APE " << now[k] << "% vs ratchet " << bound << "%";
  }
}

}  // namespace
}  // namespace tf::validate
