// The request-level serving simulator against hand-computed step sums and invariants
// (requests conserved, KV never above capacity, concurrency never above the clients).
#include "serving/serving.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/diagnostic.hpp"
#include "cost/estimate.hpp"
#include "support/fixtures.hpp"

namespace tf::serving {
namespace {

struct Fixture {
  model::ModelSpec model;
  hardware::SystemSpec system;
  cost::Efficiency eff;
  cost::Deployment deployment;
  Fixture(const std::string& model_id, const std::string& hw, int tp) {
    model = test::model_catalog().resolve(model_id);
    system = test::hardware_catalog().get(hw);
    eff = test::efficiency_table().for_family(system.family);
    cost::DeploymentSpec spec;
    spec.tp = tp;
    deployment = cost::resolve_deployment(spec, model, system, eff);
    deployment.model = &model;
    deployment.system = &system;
    deployment.efficiency = &eff;
  }
  [[nodiscard]] cost::StepCostModel cost_model() const { return cost::StepCostModel(deployment); }
};

const Fixture& llama8b() {
  static const Fixture f("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 1);
  return f;
}

EngineConfig engine_for(const cost::StepCostModel&, double) {
  EngineConfig e;  // KV capacity: the deployment's free KV memory
  e.step_tokens = 8192;
  return e;
}

double prefill_time(const cost::StepCostModel& m, double tokens, double prompt) {
  cost::Batch b;
  b.prefill_tokens = tokens;
  b.prefill_prompt = prompt;
  b.prefill_seqs = 1;
  return m.step(b).time_s;
}

double decode_time(const cost::StepCostModel& m, double seqs, double context) {
  cost::Batch b;
  b.decode_seqs = seqs;
  b.decode_context = context;
  return m.step(b).time_s;
}

TEST(Serving, OneRequestIsItsPrefillThenOneDecodeStepPerToken) {
  const auto m = llama8b().cost_model();
  Workload w;
  w.requests = {{0.0, 1000, 101}};
  const auto r = simulate(m, engine_for(m, 1101), w);
  ASSERT_EQ(r.requests.size(), 1u);
  const double ttft = prefill_time(m, 1000, 1000);
  EXPECT_NEAR(r.requests[0].ttft_s(), ttft, 1e-12);
  // Hand sum of the 100 decode steps, context 1001 .. 1100 tokens.
  double decode = 0;
  for (int k = 1; k <= 100; ++k) decode += decode_time(m, 1, 1000 + k);
  EXPECT_NEAR(r.requests[0].e2e_s(), ttft + decode, 1e-4 * decode);  // mid-point pricing of the jump
  EXPECT_NEAR(r.tpot_s.mean, decode / 100, 1e-4 * decode / 100);
  EXPECT_DOUBLE_EQ(r.steps, 101);
  EXPECT_LE(r.step_evaluations, 3u);  // one prefill step, one jump over the decode stretch
}

TEST(Serving, LongPromptIsChunkedByTheTokenBudget) {
  const auto m = llama8b().cost_model();
  auto e = engine_for(m, 20001);
  e.step_tokens = 8192;
  Workload w;
  w.requests = {{0.0, 20000, 1}};
  const auto r = simulate(m, e, w);
  // Chunks of 8192, 8192 and 3616 tokens; each chunk priced with the prompt's causal attention.
  cost::Batch b;
  b.prefill_prompt = 20000;
  b.prefill_tokens = 8192;
  const double full = m.step(b).time_s;
  b.prefill_tokens = 3616;
  b.prefill_seqs = 1;
  const double last = m.step(b).time_s;
  EXPECT_NEAR(r.requests[0].ttft_s(), 2 * full + last, 1e-12);
  EXPECT_DOUBLE_EQ(r.steps, 3);
  EXPECT_DOUBLE_EQ(r.requests[0].finish_s, r.requests[0].first_token_s);  // one output token
}

TEST(Serving, RequestsConservedAndKvNeverAboveCapacity) {
  const auto m = llama8b().cost_model();
  auto e = engine_for(m, 3000);
  e.kv_capacity_bytes = 10 * m.kv_bytes_per_chip(1, 3000);  // ten requests of the largest size at most
  Workload w;
  w.requests = make_requests(300, {2000, 0.2}, {800, 0.2}, 40.0, 7);
  const auto r = simulate(m, e, w);
  ASSERT_EQ(r.requests.size(), 300u);
  for (const auto& q : r.requests) {
    EXPECT_GE(q.first_token_s, q.arrival_s);
    EXPECT_GE(q.finish_s, q.first_token_s);
    EXPECT_GT(q.ttft_s(), 0);
  }
  EXPECT_LE(r.peak_kv_bytes, *e.kv_capacity_bytes);
  EXPECT_GT(r.peak_kv_bytes, 5 * m.kv_bytes_per_chip(1, 2000));
  EXPECT_LE(r.busy_s, r.requests.back().finish_s + 1e-9);
  double out = 0;
  for (const auto& q : r.requests) out += q.output_tokens;
  EXPECT_NEAR(r.output_tok_s * r.duration_s, out, 1e-6 * out);
}

TEST(Serving, ClosedLoopNeverHasMoreInFlightThanClients) {
  const auto m = llama8b().cost_model();
  Workload w;
  w.clients = 16;
  w.requests = make_requests(200, {1000, 0.1}, {500, 0.1}, 0, 3);
  const auto r = simulate(m, engine_for(m, 1700), w);
  EXPECT_LE(r.peak_running, 16);
  EXPECT_EQ(r.peak_running, 16);
  // A closed-loop client's next request arrives when its previous one finished.
  for (size_t i = 16; i < r.requests.size(); ++i) EXPECT_GT(r.requests[i].arrival_s, 0);
}

TEST(Serving, ClosedLoopDecodeDominatedRunMatchesTheSteadyStateEstimate) {
  const auto m = llama8b().cost_model();
  const double isl = 100, osl = 1000, c = 32;
  Workload w;
  w.clients = static_cast<int>(c);
  w.requests = make_requests(32 * 40, {isl, 0.2}, {osl, 0.2}, 0, 11);  // long run: ramp and drain small
  const auto r = simulate(m, engine_for(m, 2400), w);
  const auto est = cost::estimate(m, cost::Workload{isl, osl, c}, false);
  // Short prompts: the steady state's amortised prefill and the simulated prompt steps agree,
  // and the finite run's ramp-up and drain cost a few percent of throughput.
  EXPECT_NEAR(r.tpot_s.mean / est.tpot_s, 1.0, 0.01) << r.tpot_s.mean << " vs " << est.tpot_s;
  EXPECT_NEAR(r.output_tok_s / est.output_tok_s, 1.0, 0.03) << r.output_tok_s << " vs " << est.output_tok_s;
  EXPECT_LT(r.output_tok_s, est.output_tok_s);
}

TEST(Serving, LongPromptsCostMoreSimulatedThanAmortised) {
  // The steady state spreads each prompt over the decode steps (32 tokens per step here), where
  // its GEMMs hide under the weight reads; an engine with an 8192-token budget runs the whole
  // 1000-token prompt in one compute-bound step. The simulation is the slower, honest one.
  const auto m = llama8b().cost_model();
  Workload w;
  w.clients = 32;
  w.requests = make_requests(32 * 40, {1000, 0.2}, {1000, 0.2}, 0, 11);
  const auto r = simulate(m, engine_for(m, 2400), w);
  const auto est = cost::estimate(m, cost::Workload{1000, 1000, 32}, false);
  EXPECT_GT(r.tpot_s.mean, est.tpot_s);
  EXPECT_LT(r.tpot_s.mean, 1.15 * est.tpot_s);
}

TEST(Serving, ThroughputNeverAboveTheRooflineCeiling) {
  const auto m = llama8b().cost_model();
  const double cap_seqs = m.max_sequences(1100);
  Workload w;
  w.requests = make_requests(2000, {100, 0}, {1000, 0}, 0, 1);  // all queued at t = 0
  const auto r = simulate(m, engine_for(m, 1100), w);
  // Peak-only lower bound on a decode step at the largest batch that fits, shortest context.
  const double ceiling = cap_seqs / m.ceiling_step_time(cap_seqs, 100);
  EXPECT_LT(r.output_tok_s, ceiling);
  EXPECT_LE(r.peak_running, cap_seqs);
}

TEST(Serving, PrefillFirstPausesDecodesMixedDoesNot) {
  const auto m = llama8b().cost_model();
  auto e = engine_for(m, 5000);
  e.step_tokens = 2048;
  // A decodes alone; B's 4000-token prompt arrives at 1 s, in the middle of A's decode.
  Workload alone;
  alone.requests = {{0.0, 10, 1000}};
  Workload w;
  w.requests = {{0.0, 10, 1000}, {1.0, 4000, 1}};
  const auto a = simulate(m, e, alone);
  const auto mixed = simulate(m, e, w);
  e.scheduler = Scheduler::prefill_first;
  const auto first = simulate(m, e, w);
  // Prefill-first: A stops for B's two prompt-only steps (2048 + 1952 tokens), nothing else.
  cost::Batch chunk;
  chunk.prefill_prompt = 4000;
  chunk.prefill_tokens = 2048;
  double prompt = m.step(chunk).time_s;
  chunk.prefill_tokens = 1952;
  chunk.prefill_seqs = 1;
  prompt += m.step(chunk).time_s;
  EXPECT_NEAR(first.requests[0].e2e_s(), a.requests[0].e2e_s() + prompt, 1e-3 * a.requests[0].e2e_s());
  // B waits at most one of A's decode steps for the step boundary, then runs alone.
  EXPECT_GE(first.requests[1].ttft_s(), prompt);
  EXPECT_LE(first.requests[1].ttft_s(), prompt + 2 * decode_time(m, 1, 1000));
  // Mixed: B's chunks share steps with A's decode (A keeps its tokens coming, B is slower).
  EXPECT_LT(first.requests[1].ttft_s(), mixed.requests[1].ttft_s());
  EXPECT_LT(mixed.requests[0].e2e_s(), first.requests[0].e2e_s());
}

TEST(Serving, CapacityQueuesRequestsInOrder) {
  const auto m = llama8b().cost_model();
  auto e = engine_for(m, 600);
  e.kv_capacity_bytes = 2 * m.kv_bytes_per_chip(1, 600);  // two requests at a time
  Workload w;
  w.requests = make_requests(4, {100, 0}, {500, 0}, 0, 1);
  const auto r = simulate(m, e, w);
  EXPECT_EQ(r.peak_running, 2);
  EXPECT_GE(r.requests[2].first_token_s, r.requests[0].finish_s);
  EXPECT_GE(r.requests[3].first_token_s, r.requests[1].finish_s);
  EXPECT_DOUBLE_EQ(r.requests[0].finish_s, r.requests[1].finish_s);
}

TEST(Serving, SameSeedSameResult) {
  const auto m = llama8b().cost_model();
  Workload w;
  w.requests = make_requests(200, {500, 0.5}, {200, 0.5}, 25, 42);
  const auto a = simulate(m, engine_for(m, 1200), w);
  const auto b = simulate(m, engine_for(m, 1200), w);
  ASSERT_EQ(a.requests.size(), b.requests.size());
  for (size_t i = 0; i < a.requests.size(); ++i) EXPECT_EQ(a.requests[i].finish_s, b.requests[i].finish_s);
  const auto again = make_requests(200, {500, 0.5}, {200, 0.5}, 25, 42);
  for (size_t i = 0; i < again.size(); ++i) EXPECT_EQ(again[i].arrival_s, w.requests[i].arrival_s);
}

TEST(Serving, MakeRequestsDrawsWithinTheRangeAtTheRate) {
  const auto r = make_requests(4000, {1000, 0.2}, {100, 0}, 10, 9);
  double lo = 1e9, hi = 0;
  for (const auto& q : r) {
    lo = std::min(lo, q.input_tokens);
    hi = std::max(hi, q.input_tokens);
    EXPECT_EQ(q.output_tokens, 100);
  }
  EXPECT_GE(lo, 800);
  EXPECT_LE(hi, 1200);
  EXPECT_LT(lo, 810);
  EXPECT_GT(hi, 1190);
  // Poisson: 4000 arrivals at 10/s take about 400 s (standard deviation ~6 s).
  EXPECT_NEAR(r.back().arrival_s, 400, 25);
}

TEST(Serving, BadWorkloadsAreClearErrors) {
  const auto m = llama8b().cost_model();
  auto e = engine_for(m, 1000);
  Workload w;
  EXPECT_THROW(simulate(m, e, w), DiagnosticError);  // no requests
  w.requests = {{0.0, 100, 100}, {0.0, 1e9, 1}};
  try {
    simulate(m, e, w);
    FAIL() << "expected a DiagnosticError";
  } catch (const DiagnosticError& err) {
    EXPECT_NE(std::string(err.what()).find("can never run"), std::string::npos) << err.what();
  }
  w.requests = {{5.0, 100, 100}, {1.0, 100, 100}};
  EXPECT_THROW(simulate(m, e, w), DiagnosticError);  // unsorted arrivals
  w.requests = {{0.0, 0, 100}};
  EXPECT_THROW(simulate(m, e, w), DiagnosticError);
  EXPECT_THROW(make_requests(3, {100, 1.5}, {10, 0}, 0, 1), DiagnosticError);
}

}  // namespace
}  // namespace tf::serving
