#pragma once
// Deployments and hand-priced steps the serving tests share.
#include <string>

#include "cost/step_cost.hpp"
#include "support/fixtures.hpp"

namespace tf::serving {

// A resolved deployment that owns its model, system and efficiencies.
struct Fixture {
  model::ModelSpec model;
  hardware::SystemSpec system;
  cost::Efficiency eff;
  cost::Deployment deployment;
  Fixture(const std::string& model_id, const std::string& hw, int tp, int dp = 1) {
    model = test::model_catalog().resolve(model_id);
    system = test::hardware_catalog().get(hw);
    eff = test::efficiency_table().for_family(system.family);
    cost::DeploymentSpec spec;
    spec.tp = tp;
    spec.dp = dp;
    deployment = cost::resolve_deployment(spec, model, system, eff);
    deployment.model = &model;
    deployment.system = &system;
    deployment.efficiency = &eff;
  }
  [[nodiscard]] cost::StepCostModel cost_model() const { return cost::StepCostModel(deployment); }
};

inline const Fixture& llama8b() {
  static const Fixture f("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 1);
  return f;
}

// One prompt of `tokens` (of a `prompt`-token prompt) alone in a step.
inline double prefill_time(const cost::StepCostModel& m, double tokens, double prompt) {
  cost::Batch b;
  b.prefill_tokens = tokens;
  b.prefill_prompt = prompt;
  b.prefill_seqs = 1;
  return m.step(b).time_s;
}

inline double decode_time(const cost::StepCostModel& m, double seqs, double context) {
  cost::Batch b;
  b.decode_seqs = seqs;
  b.decode_context = context;
  return m.step(b).time_s;
}

}  // namespace tf::serving
