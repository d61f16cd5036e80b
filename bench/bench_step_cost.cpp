// Speed of the engine's hot paths: one step-cost evaluation, one steady-state estimate, and a
// whole-catalog frontier sweep for a large MoE model, and a 10,000-request serving simulation.
//   ./build/release/tf_bench                      (all)
//   ./build/release/tf_bench --benchmark_filter=Step
#include <benchmark/benchmark.h>

#include "cost/estimate.hpp"
#include "frontier/sweep.hpp"
#include "hardware/catalog.hpp"
#include "model/catalog.hpp"
#include "serving/serving.hpp"

namespace {

struct Data {
  tf::hardware::Catalog hw = tf::hardware::Catalog::load(std::string(TF_DATA_DIR) + "/hardware");
  tf::model::ModelCatalog models = tf::model::ModelCatalog::load(std::string(TF_DATA_DIR) + "/models");
  tf::cost::EfficiencyTable eff = tf::cost::EfficiencyTable::load(std::string(TF_DATA_DIR) + "/efficiency");
};

const Data& data() {
  static const Data d;
  return d;
}

tf::cost::StepCostModel make_model(const tf::model::ModelSpec& m, const std::string& hw, tf::cost::DeploymentSpec spec) {
  const auto& s = data().hw.get(hw);
  return tf::cost::StepCostModel(tf::cost::resolve_deployment(spec, m, s, data().eff.for_family(s.family)));
}

// Steps with batch sizes cycling over 1..512 (decode plus a chunk of prefill).
void run_steps(benchmark::State& state, const tf::cost::StepCostModel& model) {
  double seqs = 1;
  for (auto _ : state) {
    tf::cost::Batch b{seqs, 2048, seqs * 0.5, 1024, 0.01};
    benchmark::DoNotOptimize(model.step(b).time_s);
    seqs = seqs < 512 ? seqs + 1 : 1;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_StepCostDense(benchmark::State& state) {
  static const auto m = data().models.resolve("meta-llama/Llama-3.1-70B-Instruct");
  tf::cost::DeploymentSpec spec;
  spec.tp = 4;
  spec.weights = tf::Precision::fp8;
  run_steps(state, make_model(m, "h100-sxm", spec));
}
BENCHMARK(BM_StepCostDense);

void BM_StepCostMoeAttentionDp(benchmark::State& state) {
  static const auto m = data().models.resolve("deepseek-ai/DeepSeek-R1");
  tf::cost::DeploymentSpec spec;
  spec.tp = 8;
  spec.ep = 8;
  spec.attention_dp = true;
  run_steps(state, make_model(m, "b200", spec));
}
BENCHMARK(BM_StepCostMoeAttentionDp);

void BM_EstimateSteadyState(benchmark::State& state) {
  static const auto m = data().models.resolve("deepseek-ai/DeepSeek-R1");
  tf::cost::DeploymentSpec spec;
  spec.tp = 8;
  spec.ep = 8;
  const auto model = make_model(m, "h200-sxm", spec);
  double c = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(tf::cost::estimate(model, tf::cost::Workload{1024, 1024, c}, false).tpot_s);
    c = c < 256 ? c + 1 : 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EstimateSteadyState);

void BM_FrontierWholeCatalogDeepSeekR1(benchmark::State& state) {
  static const auto m = data().models.resolve("deepseek-ai/DeepSeek-R1");
  std::vector<const tf::hardware::SystemSpec*> systems;
  for (const auto& s : data().hw.systems()) systems.push_back(&s);
  long long evaluations = 0;
  for (auto _ : state) {
    const auto fs = tf::frontier::sweep(m, systems, data().eff, {}, static_cast<int>(state.range(0)));
    for (const auto& f : fs) evaluations += f.evaluations;
    benchmark::DoNotOptimize(fs.data());
  }
  state.counters["operating_points"] = benchmark::Counter(static_cast<double>(evaluations), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_FrontierWholeCatalogDeepSeekR1)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The serving simulator: 10,000 requests (1000 in / 250 out tokens, +-20%) on Llama-3.1-70B
// FP8 TP4 H100, closed loop at range(0) clients or Poisson at 4 requests/s (range(0) = 0).
void BM_ServingSimulation(benchmark::State& state) {
  static const auto m = data().models.resolve("meta-llama/Llama-3.1-70B-Instruct");
  tf::cost::DeploymentSpec spec;
  spec.tp = 4;
  spec.weights = tf::Precision::fp8;
  const auto model = make_model(m, "h100-sxm", spec);
  tf::serving::Workload w;
  w.clients = static_cast<int>(state.range(0));
  w.requests = tf::serving::make_requests(10000, {1000, 0.2}, {250, 0.2}, w.clients > 0 ? 0.0 : 4.0, 1);
  tf::serving::EngineConfig engine;
  double steps = 0, evaluations = 0;
  for (auto _ : state) {
    const auto r = tf::serving::simulate(model, engine, w);
    steps += r.steps;
    evaluations += static_cast<double>(r.step_evaluations);
    benchmark::DoNotOptimize(r.output_tok_s);
  }
  state.SetItemsProcessed(state.iterations() * 10000);  // requests
  state.counters["engine_steps"] = benchmark::Counter(steps, benchmark::Counter::kAvgIterations);
  state.counters["step_evaluations"] = benchmark::Counter(evaluations, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_ServingSimulation)->Arg(0)->Arg(64)->Arg(512)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
