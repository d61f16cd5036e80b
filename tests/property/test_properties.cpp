// Property tests: seeded random valid models (dense and MoE configs derived from catalog
// config.json files), systems (catalog systems with scaled memory and compute), layouts and
// workloads. Each property must hold for every draw: no estimate above its ceiling, more
// bandwidth or compute never slows a step, more work never speeds one, the simulator conserves
// requests and tokens and respects KV capacity, the same seed gives the same run, and cost is
// homogeneous in prices. A failure prints the draw (seed and case) that broke it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/diagnostic.hpp"
#include "cost/estimate.hpp"
#include "economics/tco.hpp"
#include "frontier/sweep.hpp"
#include "io/text.hpp"
#include "model/hf_config.hpp"
#include "serving/serving.hpp"
#include "support/fixtures.hpp"

namespace tf {
namespace {

constexpr uint64_t kSeed = 20261202;

struct Draw {
  std::mt19937_64 rng;
  explicit Draw(uint64_t seed) : rng(seed) {}
  int integer(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
  double real(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(integer(0, static_cast<int>(v.size()) - 1))];
  }
};

// A random model: a catalog architecture with its sizes redrawn (heads x head_dim = hidden,
// KV heads dividing the heads, layers, FFN width, vocabulary; MoE: experts and experts per
// token), read through the same Hugging Face config reader as any user's config.json.
model::ModelSpec random_model(Draw& d, std::string* description) {
  const bool moe = d.integer(0, 2) == 0;
  const auto base = test::data_dir() / "models" /
                    (moe ? "mistralai/Mixtral-8x7B-v0.1/config.json" : "meta-llama/Llama-3.1-8B-Instruct/config.json");
  auto j = nlohmann::json::parse(io::read_text_file(base));
  const int head_dim = d.pick(std::vector<int>{64, 128});
  const int heads = d.pick(std::vector<int>{8, 16, 32, 48, 64});
  const int kv_heads = d.pick(std::vector<int>{1, 2, 4, 8});
  const int hidden = heads * head_dim;
  j["hidden_size"] = hidden;
  j["num_attention_heads"] = heads;
  j["num_key_value_heads"] = std::min(kv_heads, heads);
  j["head_dim"] = head_dim;
  j["num_hidden_layers"] = d.integer(2, 96);
  j["intermediate_size"] = static_cast<int>(hidden * d.real(1.5, 4.0) / 128) * 128;
  j["vocab_size"] = d.pick(std::vector<int>{32000, 128256, 152064});
  if (moe) {
    const int experts = d.pick(std::vector<int>{4, 8, 16, 64, 128});
    j["num_local_experts"] = experts;
    j["num_experts_per_tok"] = std::min(experts, d.pick(std::vector<int>{1, 2, 4, 8}));
  }
  *description = j.dump();
  return model::read_hf_config_string(j.dump(), "random-config.json");
}

// A catalog system with its memory capacity and bandwidth and its compute scaled.
hardware::SystemSpec random_system(Draw& d) {
  auto s = d.pick(test::hardware_catalog().systems());
  const double mem = d.real(0.5, 2.0), bw = d.real(0.5, 2.0), flops = d.real(0.5, 2.0);
  for (auto& t : s.memory) {
    t.capacity_bytes.value *= mem;
    t.bandwidth_bytes_per_s.value *= bw;
  }
  for (auto& [c, v] : s.compute) v.value *= flops;
  return s;
}

// A feasible deployment of `model` on `system` from the sweep's own candidate layouts (nullopt
// when none fits), holding pointers to the caller's copies.
std::optional<cost::Deployment> random_deployment(Draw& d, const model::ModelSpec& model,
                                                  const hardware::SystemSpec& system, const cost::Efficiency& eff) {
  frontier::SweepOptions o;
  auto layouts = frontier::candidate_layouts(model, system, o);
  std::shuffle(layouts.begin(), layouts.end(), d.rng);
  const Precision precision = system.computes(Precision::fp8) ? Precision::fp8 : Precision::bf16;
  for (auto spec : layouts) {
    spec.weights = spec.activations = spec.kv = precision;
    try {
      auto dep = cost::resolve_deployment(spec, model, system, eff);
      dep.model = &model;
      dep.system = &system;
      dep.efficiency = &eff;
      if (cost::StepCostModel(dep).memory().weights_fit && cost::StepCostModel(dep).memory().kv_free_bytes > 0) return dep;
    } catch (const DiagnosticError&) {
    }
  }
  return std::nullopt;
}

struct Case {
  model::ModelSpec model;
  hardware::SystemSpec system;
  cost::Efficiency eff;
  cost::Deployment deployment;
  std::string what;
};

// Draws until a case deploys (a drawn model may fit no layout of a drawn system). The case's
// deployment points at the case's own model, system and efficiency: re-point it (point_at) after
// a copy.
std::optional<Case> random_case(Draw& d, int i) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    Case c;
    std::string config;
    c.model = random_model(d, &config);
    c.system = random_system(d);
    c.eff = test::efficiency_table().for_family(c.system.family);
    const auto dep = random_deployment(d, c.model, c.system, c.eff);
    if (!dep) continue;
    c.deployment = *dep;
    c.what = fmt::format("case {} (seed {}): {} on {} [{}] config {}", i, kSeed, c.model.id, c.system.id,
                         c.deployment.describe(), config);
    return c;
  }
  return std::nullopt;
}

void point_at(Case& c) {
  c.deployment.model = &c.model;
  c.deployment.system = &c.system;
  c.deployment.efficiency = &c.eff;
}

TEST(Property, NoEstimateAboveItsCeiling) {
  Draw d(kSeed);
  int checked = 0;
  for (int i = 0; i < 60; ++i) {
    auto c = random_case(d, i);
    if (!c) continue;
    point_at(*c);
    const cost::StepCostModel m(c->deployment);
    const double isl = d.integer(16, 8192), osl = d.integer(16, 4096);
    const auto ceiling = cost::compute_ceiling(m, isl, osl, 3);
    for (double per_replica : cost::concurrency_grid(std::max(1.0, m.max_sequences(isl + osl)), 2)) {
      const auto e = cost::estimate(m, cost::Workload{isl, osl, per_replica * c->deployment.dp}, false);
      if (!e.feasible) continue;
      const double bound = 1.0 / m.ceiling_step_time(per_replica, isl + osl / 2);
      ASSERT_LE(e.output_tok_s_per_user, bound * (1 + 1e-9))
          << c->what << " at " << per_replica << " sequences per replica, isl " << isl << ", osl " << osl;
      ASSERT_LE(e.output_tok_s_per_user, ceiling.max_output_tok_s_per_user * (1 + 1e-9)) << c->what;
      ASSERT_LE(e.output_tok_s_per_chip, per_replica * bound / c->deployment.chips_per_replica() * (1 + 1e-9))
          << c->what << " at " << per_replica;
      ++checked;
    }
  }
  EXPECT_GT(checked, 100) << "too few feasible draws to mean anything";
}

TEST(Property, MoreBandwidthOrComputeNeverSlowsAStepAndMoreWorkNeverSpeedsOne) {
  Draw d(kSeed + 1);
  int checked = 0;
  for (int i = 0; i < 60; ++i) {
    auto c = random_case(d, i);
    if (!c) continue;
    point_at(*c);
    const cost::StepCostModel m(c->deployment);
    cost::Batch b;
    b.decode_seqs = std::max(1.0, std::floor(d.real(0.05, 1.0) * m.max_sequences(4096)));
    b.decode_context = d.integer(1, 4096);
    if (d.integer(0, 1)) {
      b.prefill_tokens = d.integer(1, 4096);
      b.prefill_prompt = b.prefill_tokens;
      b.prefill_seqs = 1;
    }
    const double t = m.step(b).time_s;
    ASSERT_TRUE(std::isfinite(t) && t > 0) << c->what;
    // More work: one more decoding sequence, a longer context. (Not for a pipelined step that
    // also holds prompt tokens: its micro-batches share the step's prompt tokens evenly, standing
    // for the prompt chunk each micro-batch of a real engine schedules with its own token budget,
    // so one more sequence there means one more micro-batch to share them, and can be faster.)
    auto more = b;
    more.decode_seqs += 1;
    if (c->deployment.pp == 1 || b.prefill_tokens == 0) {
      EXPECT_GE(m.step(more).time_s, t * (1 - 1e-12))
          << c->what << ": one more sequence (" << b.decode_seqs << " at context " << b.decode_context << ", prefill "
          << b.prefill_tokens << ")";
    }
    more = b;
    more.decode_context *= 2;
    EXPECT_GE(m.step(more).time_s, t * (1 - 1e-12)) << c->what << ": longer context";
    // Faster parts: every tier's bandwidth, then every compute class, scaled up.
    for (int which = 0; which < 2; ++which) {
      Case faster = *c;
      if (which == 0) {
        for (auto& tier : faster.system.memory) tier.bandwidth_bytes_per_s.value *= 1.5;
      } else {
        for (auto& [k, v] : faster.system.compute) v.value *= 1.5;
      }
      point_at(faster);
      const cost::StepCostModel fm(faster.deployment);
      EXPECT_LE(fm.step(b).time_s, t * (1 + 1e-12)) << c->what << (which == 0 ? ": 1.5x bandwidth" : ": 1.5x compute");
    }
    ++checked;
  }
  EXPECT_GT(checked, 30);
}

TEST(Property, SimulationConservesRequestsAndTokensRespectsCapacityAndRepeats) {
  Draw d(kSeed + 2);
  int checked = 0;
  for (int i = 0; i < 25; ++i) {
    auto c = random_case(d, i);
    if (!c) continue;
    point_at(*c);
    const cost::StepCostModel m(c->deployment);
    const double isl = d.integer(16, 2048), osl = d.integer(2, 512);
    const auto streams = static_cast<uint32_t>(d.pick(std::vector<double>{1, 1, 2, 4}));  // parallel streams
    // The longest request must fit the KV memory on its own (its prompt once, every stream's output).
    if (m.kv_bytes_per_chip(1, isl * 1.5) + streams * m.kv_bytes_per_chip(1, osl * 1.5) > m.memory().kv_free_bytes)
      continue;
    serving::Workload w;
    const size_t n = static_cast<size_t>(d.integer(20, 200));
    const double rate = d.integer(0, 1) ? d.real(0.5, 50) : 0;
    const uint64_t seed = static_cast<uint64_t>(d.integer(1, 1 << 30));
    w.requests = serving::make_requests(n, {isl, 0.5}, {osl, 0.5}, rate, seed);
    for (auto& q : w.requests) q.streams = streams;
    if (rate == 0) w.clients = d.integer(1, 64);
    serving::EngineConfig e;
    e.kv_admission = d.integer(0, 1) ? serving::KvAdmission::paged : serving::KvAdmission::whole_context;
    e.step_tokens = d.pick(std::vector<double>{512, 2048, 8192});
    if (e.kv_admission == serving::KvAdmission::paged && d.integer(0, 1)) {  // swap preemption, any swap space
      e.preemption = serving::EngineConfig::Preemption::swap;
      e.swap_bytes = d.pick(std::vector<double>{0, 1e8, 4e9, 1e12});
      e.swap_bytes_per_s = d.pick(std::vector<double>{1e9, 64e9});
      e.swap_latency_s = 10e-6;
    }
    const auto r = serving::simulate(m, e, w);
    EXPECT_LE(r.swaps, r.preemptions) << c->what;
    EXPECT_LE(r.peak_swap_bytes, e.swap_bytes * (1 + 1e-9)) << c->what;
    ASSERT_EQ(r.requests.size(), n) << c->what;
    double in = 0, out = 0, in_done = 0, out_done = 0;
    for (size_t k = 0; k < n; ++k) {
      in += w.requests[k].input_tokens;
      out += w.requests[k].output_tokens;
      const auto& q = r.requests[k];
      in_done += q.input_tokens;
      out_done += q.output_tokens;
      ASSERT_GE(q.first_token_s, q.arrival_s) << c->what << " request " << k;
      ASSERT_GE(q.finish_s, q.first_token_s) << c->what << " request " << k;
    }
    EXPECT_EQ(in_done, in) << c->what;
    EXPECT_EQ(out_done, out) << c->what;
    EXPECT_NEAR(r.output_tok_s * r.duration_s, out * streams, 1e-6 * out * streams) << c->what;
    EXPECT_LE(r.peak_kv_bytes, r.kv_capacity_bytes * (1 + 1e-9)) << c->what;
    // Same inputs and seed: the same run, to the bit.
    const auto again = serving::simulate(m, e, w);
    for (size_t k = 0; k < n; ++k) ASSERT_EQ(again.requests[k].finish_s, r.requests[k].finish_s) << c->what;
    ++checked;
  }
  EXPECT_GT(checked, 8);
}

// The cost of a chip-hour is homogeneous of degree one in prices: scaling the catalog capex, the
// electricity price and colocation by k scales it by k; power does not depend on prices.
TEST(Property, ChipHourCostScalesWithEveryPrice) {
  Draw d(kSeed + 3);
  const auto base = economics::resolve_economics(test::data_dir() / "economics", "default");
  int checked = 0;
  for (const auto& s : test::hardware_catalog().systems()) {
    economics::TcoOverrides o;
    o.price_basis = "owned";
    const auto t = economics::try_compute_tco(s, base, o);
    if (!t) continue;
    const double k = d.real(0.1, 10);
    auto p = base;
    p.electricity_usd_per_kwh *= k;
    p.colocation_usd_per_kw_month *= k;
    auto sk = s;  // the catalog's own price scaled (an override would be read as a chip price)
    sk.capex_usd_per_chip->value *= k;
    const auto& ok = o;
    const auto tk = economics::try_compute_tco(sk, p, ok);
    ASSERT_TRUE(tk) << s.id;
    EXPECT_NEAR(tk->usd_per_chip_hour, k * t->usd_per_chip_hour, 1e-9 * k * t->usd_per_chip_hour) << s.id << " k=" << k;
    const auto w = economics::facility_power(s, base, o), wk = economics::facility_power(sk, p, ok);
    ASSERT_TRUE(w && wk);
    EXPECT_EQ(w->facility_w, wk->facility_w) << s.id;
    ++checked;
  }
  EXPECT_GT(checked, 5);
}

}  // namespace
}  // namespace tf
