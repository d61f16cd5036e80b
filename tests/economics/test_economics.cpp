// Economics: formulas by hand, the worked examples, plan optimality by brute force, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/diagnostic.hpp"
#include "economics/generations.hpp"
#include "economics/plan.hpp"
#include "economics/service_cost.hpp"
#include "support/fixtures.hpp"

namespace tf::economics {
namespace {

using test::efficiency_table;
using test::hardware_catalog;
using test::model_catalog;

EconomicsParams defaults() { return load_economics(test::data_dir() / "economics" / "default.yaml"); }

TEST(Economics, WorkedExampleTokensPerMegawatt) {
  // 1,920 concurrent users at 100 tokens/s each on a 120 kW rack.
  const double tok_s = 1920.0 * 100.0;
  EXPECT_DOUBLE_EQ(tok_s, 192000.0);
  EXPECT_DOUBLE_EQ(tok_s_per_mw(tok_s, 120e3), 1.6e6);
}

TEST(Economics, WorkedExampleCapexTest) {
  // $100B ARR at 50% gross margin with 5-year depreciation supports $250B of infrastructure.
  EXPECT_DOUBLE_EQ(supportable_infrastructure_usd(100e9, 0.5, 5), 250e9);
}

TEST(Economics, WorkedExampleCostPerMillionTokens) {
  // $/Mtok = ($/chip-hour) / (tokens/s per chip x 3600) x 1e6
  EXPECT_DOUBLE_EQ(usd_per_mtok(2.0, 1000.0), 2.0 / (1000.0 * 3600) * 1e6);
  EXPECT_NEAR(usd_per_mtok(3.6, 1000.0), 1.0, 1e-15);
}

// A simulated service by hand: two pools at $2 and $3 per busy chip-hour, 4 + 8 chips drawing
// 1 kW and 1.5 kW each: $32/h and 16 kW. 1,000 output and 4,000 input tokens/s.
TEST(Economics, ServiceCostOfTwoPoolsByHand) {
  Tco a, b;
  a.usd_per_busy_chip_hour = 2;
  b.usd_per_busy_chip_hour = 3;
  Power pa{1000, 1000, "given"}, pb{1500, 1500, "given"};
  const std::vector<PoolCost> pools{{"prefill", "x", 4, a, pa}, {"decode", "y", 8, b, pb}};
  const auto c = service_cost(pools, 1000, 4000);
  EXPECT_DOUBLE_EQ(c.chips, 12);
  EXPECT_DOUBLE_EQ(*c.usd_per_hour, 32);
  EXPECT_DOUBLE_EQ(*c.facility_power_w, 16000);
  EXPECT_NEAR(*c.usd_per_mtok_output, 32.0 / 3600 / 1000 * 1e6, 1e-9);
  EXPECT_NEAR(*c.usd_per_mtok_total, 32.0 / 3600 / 5000 * 1e6, 1e-9);
  EXPECT_NEAR(*c.usd_per_mtok_input_by_pool, 8.0 / 3600 / 4000 * 1e6, 1e-9);
  EXPECT_NEAR(*c.usd_per_mtok_output_by_pool, 24.0 / 3600 / 1000 * 1e6, 1e-9);
  EXPECT_NEAR(*c.output_tok_s_per_mw, 1000 / 0.016, 1e-6);
  EXPECT_NEAR(*c.joules_per_output_token, 16.0, 1e-12);
  EXPECT_TRUE(c.missing.empty());
  // A pool without a price: no cost, the power figures stay, the reason is named.
  const std::vector<PoolCost> unpriced{{"service", "z", 8, std::nullopt, pb}};
  const auto u = service_cost(unpriced, 1000, 0);
  EXPECT_FALSE(u.usd_per_mtok_output);
  EXPECT_NEAR(*u.output_tok_s_per_mw, 1000 / 0.012, 1e-6);
  ASSERT_EQ(u.missing.size(), 1u);
  EXPECT_NE(u.missing[0].find("service pool (z): no price"), std::string::npos);
  EXPECT_THROW(service_cost(pools, -1, 0), DiagnosticError);
  EXPECT_THROW(service_cost(pools, 1, std::nan("")), DiagnosticError);
}

TEST(Economics, CapitalRecoveryFactorByHand) {
  // r (1+r)^n / ((1+r)^n - 1) with r = 10%, n = 4: 0.1 x 1.4641 / 0.4641
  EXPECT_NEAR(capital_recovery_factor(0.10, 4), 0.1 * 1.4641 / 0.4641, 1e-15);
  EXPECT_DOUBLE_EQ(capital_recovery_factor(0.0, 5), 0.2);
  EXPECT_THROW(capital_recovery_factor(0.1, 0), DiagnosticError);
}

TEST(Economics, OwnedTcoBuildUpByHand) {
  const auto p = defaults();
  const auto& h100 = hardware_catalog().get("h100-sxm");
  const auto t = compute_tco(h100, p);
  EXPECT_EQ(t.mode, "owned");
  const double capex = 27500 * 1.4 * 1.15;  // price x server overhead x network overhead
  EXPECT_DOUBLE_EQ(t.capex_usd_per_chip, capex);
  const double capital = capex * capital_recovery_factor(0.10, 4) / 8760;
  // The catalog's all-in figure is IT power (1.37 kW); the facility draws it x PUE 1.25.
  const double energy = 1.37 * 1.25 * 0.75 * 0.0806;  // facility kW x average power fraction x $/kWh
  EXPECT_NEAR(t.capex_usd_per_hour, capital, 1e-12);
  EXPECT_NEAR(t.energy_usd_per_hour, energy, 1e-12);
  EXPECT_NEAR(t.usd_per_chip_hour, capital + energy, 1e-12);
  EXPECT_DOUBLE_EQ(t.it_power_w, 1370);
  EXPECT_DOUBLE_EQ(t.all_in_power_w, 1370 * 1.25);
}

TEST(Economics, PowerBuildUpFromTdpWhenNoAllInFigure) {
  auto s = hardware_catalog().get("h100-sxm");
  s.all_in_power_w_per_chip.reset();
  const auto t = compute_tco(s, defaults());
  EXPECT_DOUBLE_EQ(t.all_in_power_w, 700 * 1.8 * 1.25);  // TDP x server multiplier x PUE
  EXPECT_DOUBLE_EQ(t.it_power_w, 700 * 1.8);
}

TEST(Economics, SystemScopePricesSkipTheServerOverhead) {
  const auto t = compute_tco(hardware_catalog().get("gb200-nvl72"), defaults());
  EXPECT_DOUBLE_EQ(t.capex_usd_per_chip, 43000 * 1.15);
}

TEST(Economics, ColocationUtilisationAndOpex) {
  auto p = defaults();
  p.colocation_usd_per_kw_month = 200;
  p.utilization = 0.5;
  p.opex_fraction_per_year = 0.05;
  const auto t = compute_tco(hardware_catalog().get("h100-sxm"), p);
  EXPECT_NEAR(t.colocation_usd_per_hour, 1.37 * 1.25 * 200 * 12 / 8760, 1e-12);
  EXPECT_NEAR(t.opex_usd_per_hour, t.capex_usd_per_chip * 0.05 / 8760, 1e-12);
  EXPECT_DOUBLE_EQ(t.usd_per_busy_chip_hour, t.usd_per_chip_hour / 0.5);
}

TEST(Economics, RentalPriceWhenNoCapex) {
  const auto& mi355 = hardware_catalog().get("mi355x");
  ASSERT_FALSE(mi355.capex_usd_per_chip.has_value());
  const auto t = compute_tco(mi355, defaults());
  EXPECT_EQ(t.mode, "rental");
  EXPECT_DOUBLE_EQ(t.usd_per_chip_hour, mi355.usd_per_chip_hour->value);
  TcoOverrides o;
  o.usd_per_chip_hour = 3.0;
  EXPECT_DOUBLE_EQ(compute_tco(hardware_catalog().get("h100-sxm"), defaults(), o).usd_per_chip_hour, 3.0);
}

TEST(Economics, InputAndOutputCostsAddUpToTheTotal) {
  const auto t = compute_tco(hardware_catalog().get("h100-sxm"), defaults());
  const double out = 1000, in = 3000, share = 0.3;
  const auto c = token_cost(t, out, in, share);
  const double cost_per_s = t.usd_per_busy_chip_hour / 3600;
  EXPECT_NEAR(c.usd_per_mtok_input * in / 1e6 + c.usd_per_mtok_output * out / 1e6, cost_per_s, 1e-15);
  EXPECT_NEAR(c.usd_per_mtok_total * (in + out) / 1e6, cost_per_s, 1e-15);
  EXPECT_DOUBLE_EQ(c.joules_per_output_token, 1712.5 / 1000);
  EXPECT_DOUBLE_EQ(c.output_tok_s_per_mw, 1000 / 1712.5e-6);
}

TEST(Economics, ImpossibleParametersAreErrors) {
  auto p = defaults();
  p.life_years = 0;
  EXPECT_THROW(p.validate(), DiagnosticError);
  p = defaults();
  p.utilization = 1.5;
  EXPECT_THROW(p.validate(), DiagnosticError);
  p = defaults();
  p.utilization = 0;
  EXPECT_THROW(p.validate(), DiagnosticError);
  TcoOverrides o;
  o.capex_usd_per_chip = -5;
  EXPECT_THROW(compute_tco(hardware_catalog().get("h100-sxm"), defaults(), o), DiagnosticError);
  EXPECT_THROW(supportable_infrastructure_usd(1e9, 1.2, 5), DiagnosticError);
  EXPECT_THROW(supportable_infrastructure_usd(-1, 0.5, 5), DiagnosticError);
}

TEST(Economics, MissingPriceDataIsAnErrorNamingTheFix) {
  auto s = hardware_catalog().get("tpu-v7-ironwood");
  s.capex_usd_per_chip.reset();
  s.usd_per_chip_hour.reset();
  try {
    compute_tco(s, defaults());
    FAIL();
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().hint.find("--"), std::string::npos) << e.what();
  }
  // Power needs no price: tokens per MW stay available.
  const auto w = facility_power(s, defaults());
  ASSERT_TRUE(w.has_value());
  EXPECT_GT(w->facility_w, 0);
}

// One meaning of power: IT per chip from the catalog, facility = IT x PUE, so --pue always
// moves the facility figure (before, a catalog all-in figure ignored it).
TEST(Economics, PueAlwaysScalesFacilityPower) {
  auto p = defaults();
  const auto& h100 = hardware_catalog().get("h100-sxm");
  p.pue = 1.1;
  const auto a = compute_tco(h100, p);
  p.pue = 1.5;
  const auto b = compute_tco(h100, p);
  EXPECT_DOUBLE_EQ(a.it_power_w, b.it_power_w);
  EXPECT_DOUBLE_EQ(a.all_in_power_w, 1370 * 1.1);
  EXPECT_DOUBLE_EQ(b.all_in_power_w, 1370 * 1.5);
  TcoOverrides o;
  o.all_in_power_w = 1000;  // an override is IT power too
  EXPECT_DOUBLE_EQ(compute_tco(h100, p, o).all_in_power_w, 1500);
}

// One pricing basis per comparison: owned never falls back to a rental price, nor the reverse.
TEST(Economics, PriceBasisIsNeverMixedSilently) {
  const auto p = defaults();
  const auto& h100 = hardware_catalog().get("h100-sxm");  // both a capex and a rental price
  TcoOverrides owned, rental;
  owned.price_basis = "owned";
  rental.price_basis = "rental";
  EXPECT_EQ(compute_tco(h100, p, owned).mode, "owned");
  const auto r = compute_tco(h100, p, rental);
  EXPECT_EQ(r.mode, "rental");
  EXPECT_DOUBLE_EQ(r.usd_per_chip_hour, h100.usd_per_chip_hour->value);
  auto rent_only = h100;
  rent_only.capex_usd_per_chip.reset();
  EXPECT_FALSE(try_compute_tco(rent_only, p, owned).has_value());
  auto own_only = h100;
  own_only.usd_per_chip_hour.reset();
  EXPECT_FALSE(try_compute_tco(own_only, p, rental).has_value());
  try {
    compute_tco(own_only, p, rental);
    FAIL();
  } catch (const DiagnosticError& e) {
    EXPECT_NE(std::string(e.what()).find("rental price"), std::string::npos) << e.what();
  }
  TcoOverrides bad;
  bad.price_basis = "leased";
  EXPECT_THROW(compute_tco(h100, p, bad), DiagnosticError);
}

TEST(Economics, PresetFilesLoadAndBadOnesNameTheKey) {
  EXPECT_EQ(resolve_economics(test::data_dir() / "economics", "fleet").utilization, 0.70);
  EXPECT_EQ(resolve_economics(test::data_dir() / "economics", "hyperscaler").pue, 1.10);
  EXPECT_THROW(resolve_economics(test::data_dir() / "economics", "nope"), DiagnosticError);
  test::TempDir dir;
  auto text = test::data_dir() / "economics" / "default.yaml";
  std::ifstream in(text);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  s.replace(s.find("\"0.0806 USD/kWh\""), 16, "0.0806");
  const auto bad = dir.write("bad.yaml", s);
  try {
    load_economics(bad);
    FAIL();
  } catch (const DiagnosticError& e) {
    EXPECT_EQ(e.diagnostic().key, "electricity_price.value");
    EXPECT_GT(e.diagnostic().line, 0);
    EXPECT_NE(e.diagnostic().message.find("has no unit"), std::string::npos);
  }
}

TEST(Plan, CheapestFleetMatchesBruteForce) {
  const auto m = model_catalog().resolve("meta-llama/Llama-3.1-8B-Instruct");
  const auto p = defaults();
  PlanRequest r;
  r.isl = 2048;
  r.osl = 256;
  r.demand_output_tok_s = 250000;
  r.slo.min_tok_s_per_user = 60;
  r.precisions = {Precision::fp8};
  r.max_chips_per_replica = 8;
  std::vector<const hardware::SystemSpec*> systems{&hardware_catalog().get("h100-sxm"), &hardware_catalog().get("h200-sxm")};
  const auto res = plan(m, systems, efficiency_table(), p, r);
  ASSERT_TRUE(res.best.has_value());

  // Brute force: every layout and concurrency, sized and costed independently.
  double best = INFINITY;
  std::string best_hw;
  for (const auto* s : systems) {
    const auto tco = compute_tco(*s, p);
    frontier::SweepOptions so;
    so.isl = r.isl;
    so.osl = r.osl;
    so.precisions = r.precisions;
    so.max_chips_per_replica = 8;
    for (auto layout : frontier::candidate_layouts(m, *s, so)) {
      layout.weights = layout.activations = Precision::fp8;
      layout.kv = Precision::fp8;
      const auto d = cost::resolve_deployment(layout, m, *s, efficiency_table().for_family(s->family));
      const cost::StepCostModel model(d);
      const auto c = cost::compute_ceiling(model, r.isl, r.osl, so.points_per_decade);
      for (double b : cost::concurrency_grid(c.max_concurrency / d.dp, so.points_per_decade)) {
        const auto e = cost::estimate(model, cost::Workload{r.isl, r.osl, b * d.dp}, false);
        if (!e.feasible || e.output_tok_s_per_user < r.slo.min_tok_s_per_user) continue;
        const double unit = e.output_tok_s_per_chip * d.chips;
        const double chips = std::ceil(r.demand_output_tok_s / unit - 1e-9) * d.chips;
        const double usd = chips * tco.usd_per_busy_chip_hour / (r.demand_output_tok_s * 3600) * 1e6;
        if (usd < best) {
          best = usd;
          best_hw = s->id;
        }
      }
    }
  }
  EXPECT_NEAR(res.best->usd_per_mtok, best, best * 1e-12);
  EXPECT_EQ(res.best->system->id, best_hw);
  EXPECT_GE(res.best->output_tok_s, r.demand_output_tok_s);
  EXPECT_GE(res.best->point.output_tok_s_per_user, r.slo.min_tok_s_per_user);
  EXPECT_DOUBLE_EQ(res.best->power_w, res.best->chips * res.best->tco.all_in_power_w);
}

TEST(Plan, UnreachableSloNamesTheBestEachSystemCanDo) {
  const auto m = model_catalog().resolve("meta-llama/Llama-3.1-70B-Instruct");
  PlanRequest r;
  r.demand_output_tok_s = 1e5;
  r.slo.min_tok_s_per_user = 5000;
  std::vector<const hardware::SystemSpec*> systems{&hardware_catalog().get("h100-sxm")};
  try {
    plan(m, systems, efficiency_table(), defaults(), r);
    FAIL();
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().message.find("no candidate system"), std::string::npos);
    EXPECT_NE(e.diagnostic().hint.find("h100-sxm"), std::string::npos);
    EXPECT_NE(e.diagnostic().hint.find("fastest"), std::string::npos);
  }
}

TEST(Plan, PowerCapMaximisesTokens) {
  const auto m = model_catalog().resolve("meta-llama/Llama-3.1-8B-Instruct");
  PlanRequest r;
  r.power_cap_w = 1e6;  // 1 MW
  r.slo.min_tok_s_per_user = 50;
  r.precisions = {Precision::fp8};
  std::vector<const hardware::SystemSpec*> systems{&hardware_catalog().get("h100-sxm"), &hardware_catalog().get("b200")};
  const auto res = plan(m, systems, efficiency_table(), defaults(), r);
  ASSERT_TRUE(res.best.has_value());
  EXPECT_LE(res.best->power_w, 1e6);
  for (const auto& sp : res.systems) {
    ASSERT_TRUE(sp.best.has_value());
    EXPECT_LE(sp.best->output_tok_s, res.best->output_tok_s);
    // One more replica would break the cap.
    EXPECT_GT(sp.best->power_w + sp.best->point.config.chips * sp.best->tco.all_in_power_w, 1e6);
  }
}

TEST(Generations, LogLogFitRecoversAPowerLaw) {
  std::vector<GenerationRow> rows(4);
  const double xs[4] = {1e20, 5e20, 2e21, 1e22};
  for (int i = 0; i < 4; ++i) {
    rows[static_cast<size_t>(i)].capacity_x_bandwidth = xs[i];
    rows[static_cast<size_t>(i)].output_tok_s_per_chip = 3.0 * std::pow(xs[i] / 1e20, 0.8);
  }
  const auto f = fit_log_log(rows);
  EXPECT_NEAR(f.slope, 0.8, 1e-12);
  EXPECT_NEAR(f.r2, 1.0, 1e-12);
  EXPECT_EQ(f.n, 4);
}

TEST(Generations, LinesLoadAndEveryRowHasMemoryFigures) {
  const auto lines = load_generations(test::data_dir() / "generations" / "vendor-lines.yaml", hardware_catalog());
  ASSERT_EQ(lines.size(), 3u);
  const auto m = model_catalog().resolve("meta-llama/Llama-3.1-70B-Instruct");
  frontier::SweepOptions so;
  so.precisions = {Precision::bf16, Precision::fp8, Precision::nvfp4, Precision::mxfp4};
  const auto g = generations(m, lines, hardware_catalog(), efficiency_table(), 50, so, 2);
  EXPECT_GE(g.rows.size(), 12u);
  for (const auto& r : g.rows) {
    EXPECT_GT(r.hbm_capacity_bytes, 0);
    EXPECT_GT(r.hbm_bandwidth_bytes_per_s, 0);
  }
  EXPECT_GT(g.fit.slope, 0);  // more memory x bandwidth, more tokens
}

}  // namespace
}  // namespace tf::economics

namespace tf::economics {
namespace {

// Tool calls' CPU energy by hand: 100 busy core-seconds x 5 W x PUE 1.25 = 625 J at the
// facility; over a 10 s run of a 1 kW service that is 6.25% of its energy; with the service's
// power unknown there is no share. Every preset states the core power with a source.
TEST(Economics, ToolCallsCpuEnergyAndItsShareByHand) {
  serving::Result r;
  r.tools.busy_s = 100;
  r.duration_s = 10;
  EconomicsParams p;
  p.host_core_power_w = 5;
  p.pue = 1.25;
  const auto e = tool_energy(r, p, 1000.0);
  EXPECT_DOUBLE_EQ(e.facility_j, 625);
  ASSERT_TRUE(e.share_of_service.has_value());
  EXPECT_DOUBLE_EQ(*e.share_of_service, 0.0625);
  EXPECT_FALSE(tool_energy(r, p, std::nullopt).share_of_service.has_value());
  for (const char* preset : {"default", "fleet", "hyperscaler"}) {
    const auto q = resolve_economics(test::data_dir() / "economics", preset);
    EXPECT_GT(q.host_core_power_w, 0) << preset;
  }
  p.host_core_power_w = -1;
  EXPECT_THROW(p.validate(), DiagnosticError);
}

}  // namespace
}  // namespace tf::economics
