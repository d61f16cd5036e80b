// Frontier sweeps: Pareto sets, ceilings, cross-system dominance, and robustness over the catalogs.
#include <gtest/gtest.h>

#include <cmath>

#include "core/diagnostic.hpp"
#include "frontier/sweep.hpp"
#include "support/fixtures.hpp"

namespace tf::frontier {
namespace {

using test::efficiency_table;
using test::hardware_catalog;
using test::model_catalog;

SystemFrontier run(const model::ModelSpec& m, const std::string& hw, SweepOptions o = {}) {
  const auto& s = hardware_catalog().get(hw);
  return sweep_system(m, s, efficiency_table().for_family(s.family), o);
}

// Best ceiling throughput among ceiling points at least as fast per user.
double ceiling_at(const SystemFrontier& f, double user) {
  double best = -1;
  for (const auto& c : f.ceiling)
    if (c.output_tok_s_per_user >= user) best = std::max(best, c.output_tok_s_per_chip);
  return best;
}

TEST(Pareto, KeepsOnlyNonDominatedPoints) {
  std::vector<Point> pts(5);
  const double xy[5][2] = {{10, 100}, {20, 90}, {15, 80}, {30, 10}, {20, 95}};
  for (int i = 0; i < 5; ++i) {
    pts[static_cast<size_t>(i)].output_tok_s_per_user = xy[i][0];
    pts[static_cast<size_t>(i)].output_tok_s_per_chip = xy[i][1];
  }
  const auto p = pareto(pts);
  ASSERT_EQ(p.size(), 3u);  // (10,100), (20,95), (30,10)
  EXPECT_EQ(p[0].output_tok_s_per_user, 10);
  EXPECT_EQ(p[1].output_tok_s_per_chip, 95);
  EXPECT_EQ(p[2].output_tok_s_per_user, 30);
}

TEST(Frontier, PointsAreMutuallyNonDominatedAndBelowTheCeiling) {
  for (const char* id : {"meta-llama/Llama-3.1-70B-Instruct", "deepseek-ai/DeepSeek-R1", "openai/gpt-oss-120b"}) {
    const auto m = model_catalog().resolve(id);
    for (const char* hw : {"h100-sxm", "b200", "gb200-nvl72", "mi355x", "tpu-v7-ironwood"}) {
      const auto f = run(m, hw);
      SCOPED_TRACE(std::string(id) + " on " + hw);
      ASSERT_FALSE(f.points.empty()) << f.note;
      for (size_t i = 0; i < f.points.size(); ++i) {
        const auto& a = f.points[i];
        for (size_t j = 0; j < f.points.size(); ++j) {
          if (i == j) continue;
          const auto& b = f.points[j];
          const bool dominates = b.output_tok_s_per_user >= a.output_tok_s_per_user &&
                                 b.output_tok_s_per_chip >= a.output_tok_s_per_chip;
          EXPECT_FALSE(dominates) << "point " << i << " dominated by " << j;
        }
        EXPECT_LE(a.output_tok_s_per_user, f.ceiling_max_tok_s_per_user);
        EXPECT_LE(a.output_tok_s_per_chip, ceiling_at(f, a.output_tok_s_per_user));
      }
    }
  }
}

TEST(Frontier, B200DominatesH100ForLlama70B) {
  const auto m = model_catalog().resolve("meta-llama/Llama-3.1-70B-Instruct");
  const auto h100 = run(m, "h100-sxm");
  const auto b200 = run(m, "b200");
  ASSERT_FALSE(h100.points.empty());
  for (const auto& p : h100.points) {
    // Some B200 point is at least as interactive and delivers more per chip.
    bool beaten = false;
    for (const auto& q : b200.points)
      beaten = beaten || (q.output_tok_s_per_user >= p.output_tok_s_per_user &&
                          q.output_tok_s_per_chip > p.output_tok_s_per_chip);
    EXPECT_TRUE(beaten) << "H100 point at " << p.output_tok_s_per_user << " tok/s/user";
  }
}

TEST(Frontier, ParallelSweepIsDeterministic) {
  const auto m = model_catalog().resolve("Qwen/Qwen3-235B-A22B");
  std::vector<const hardware::SystemSpec*> systems;
  for (const char* hw : {"h100-sxm", "b200", "mi300x", "tpu-v6e"}) systems.push_back(&hardware_catalog().get(hw));
  const auto a = sweep(m, systems, efficiency_table(), {}, 1);
  const auto b = sweep(m, systems, efficiency_table(), {}, 2);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].points.size(), b[i].points.size());
    for (size_t j = 0; j < a[i].points.size(); ++j) {
      EXPECT_EQ(a[i].points[j].output_tok_s_per_chip, b[i].points[j].output_tok_s_per_chip);
      EXPECT_EQ(a[i].points[j].config.describe(), b[i].points[j].config.describe());
    }
  }
}

TEST(Frontier, CandidateLayoutsRespectTheDomainAndHeads) {
  const auto m = model_catalog().resolve("meta-llama/Llama-3.1-70B-Instruct");
  for (const auto& l : candidate_layouts(m, hardware_catalog().get("h100-sxm"), {})) {
    EXPECT_LE(l.tp, 8);
    EXPECT_EQ(64 % l.tp, 0);
  }
}

// Expert-parallel layouts are swept with EPLB placement (none and one redundant expert per rank);
// balancing the busiest rank never loses to the static placement at any interactivity, and a
// wide-EP system gains most (DeepSeek-R1 on GB200 NVL72).
TEST(Frontier, EplbPlacementsAreSweptAndNeverLoseToTheStaticOne) {
  const auto m = model_catalog().resolve("deepseek-ai/DeepSeek-R1");
  const auto& s = hardware_catalog().get("gb200-nvl72");
  SweepOptions fixed;
  fixed.eplb = false;
  size_t ep = 0, balanced = 0;
  for (const auto& l : candidate_layouts(m, s, {})) {
    if (l.ep > 1) ++ep;
    if (l.eplb_redundant_experts) {
      ++balanced;
      EXPECT_TRUE(*l.eplb_redundant_experts == 0 || *l.eplb_redundant_experts == l.ep);
    }
  }
  EXPECT_EQ(balanced, ep);  // every EP layout, twice over (0 and EP redundant experts)
  for (const auto& l : candidate_layouts(m, s, fixed)) EXPECT_FALSE(l.eplb_redundant_experts);
  SweepOptions o;
  o.isl = 8000;
  o.osl = 1000;
  fixed.isl = o.isl;
  fixed.osl = o.osl;
  const auto with = run(m, "gb200-nvl72", o);
  const auto without = run(m, "gb200-nvl72", fixed);
  ASSERT_FALSE(without.points.empty());
  bool gained = false;
  for (const auto& p : without.points) {
    double best = 0;
    for (const auto& q : with.points)
      if (q.output_tok_s_per_user >= p.output_tok_s_per_user) best = std::max(best, q.output_tok_s_per_chip);
    EXPECT_GE(best, p.output_tok_s_per_chip * (1 - 1e-9)) << p.config.describe();
    gained = gained || best > 1.2 * p.output_tok_s_per_chip;
  }
  EXPECT_TRUE(gained);
}

TEST(Frontier, EveryModelOnEverySystemRunsWithoutCrashing) {
  // Infeasible is a fine answer; an exception or a NaN is not.
  SweepOptions o;
  o.points_per_decade = 2;
  for (const auto& e : model_catalog().entries()) {
    const auto m = model_catalog().resolve(e.id);
    for (const auto& s : hardware_catalog().systems()) {
      SCOPED_TRACE(e.id + " on " + s.id);
      SystemFrontier f;
      ASSERT_NO_THROW(f = sweep_system(m, s, efficiency_table().for_family(s.family), o));
      EXPECT_TRUE(!f.points.empty() || !f.note.empty());
      for (const auto& p : f.points) {
        EXPECT_TRUE(std::isfinite(p.output_tok_s_per_chip) && p.output_tok_s_per_chip > 0);
        EXPECT_TRUE(std::isfinite(p.ttft_s) && p.ttft_s > 0);
      }
      // The default single-chip estimate also runs (feasible or not).
      cost::Deployment d;
      ASSERT_NO_THROW(d = cost::resolve_deployment({}, m, s, efficiency_table().for_family(s.family)));
      const cost::StepCostModel model(d);
      cost::Estimate est;
      ASSERT_NO_THROW(est = cost::estimate(model, cost::Workload{1024, 256, 1}));
      EXPECT_TRUE(est.feasible || !est.reason.empty());
      EXPECT_TRUE(std::isfinite(est.tpot_s));
    }
  }
}

}  // namespace
}  // namespace tf::frontier

namespace tf::frontier {
namespace {

TEST(Frontier, FourBitSweepUsesTheChipsOwnFormat) {
  const auto m = model_catalog().resolve("meta-llama/Llama-3.1-8B-Instruct");
  SweepOptions o;
  o.precisions = {Precision::nvfp4};
  const auto f = run(m, "mi355x", o);
  ASSERT_FALSE(f.points.empty()) << f.note;
  for (const auto& p : f.points) EXPECT_EQ(p.config.weights, Precision::mxfp4);
}

}  // namespace
}  // namespace tf::frontier

namespace tf::frontier {
namespace {

// Layouts the weights fit in but the system cannot run (a link they need states no bandwidth)
// are counted and their reason kept, so a frontier without them says why rather than "does not
// fit": the SN40L states no figure for its peer links, so every layout over more than one socket
// is left out; a wafer without a scale-out figure cannot pipeline a model larger than its SRAM.
TEST(Frontier, LayoutsLeftOutForAMissingLinkAreCountedWithTheirReason) {
  const auto m = model_catalog().resolve("llama-3.1-70b-instruct");
  const auto sn = run(m, "sambanova-sn40l");
  EXPECT_FALSE(sn.points.empty());
  EXPECT_GT(sn.left_out_layouts, 0);
  EXPECT_NE(sn.left_out_reason.find("scale-up link"), std::string::npos) << sn.left_out_reason;
  EXPECT_NE(sn.left_out_reason.find("states no bandwidth"), std::string::npos) << sn.left_out_reason;
  for (const auto& p : sn.points) EXPECT_EQ(p.config.chips_per_replica(), 1);

  auto wafer = hardware_catalog().get("cerebras-wse3");
  ASSERT_TRUE(wafer.scale_out.bandwidth_bytes_per_s.has_value());
  const auto with_link = sweep_system(m, wafer, efficiency_table().for_family(wafer.family), {});
  EXPECT_FALSE(with_link.points.empty());
  wafer.scale_out.bandwidth_bytes_per_s.reset();
  const auto without = sweep_system(m, wafer, efficiency_table().for_family(wafer.family), {});
  EXPECT_TRUE(without.points.empty());
  EXPECT_GT(without.left_out_layouts, 0);
  EXPECT_NE(without.note.find("no layout the weights fit in can run: pipeline parallelism over 2 chips needs the "
                              "scale-out link"),
            std::string::npos)
      << without.note;
  // With the link stated, nothing is left out.
  EXPECT_EQ(with_link.left_out_layouts, 0);
}

}  // namespace
}  // namespace tf::frontier
