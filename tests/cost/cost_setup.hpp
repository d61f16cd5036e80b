#pragma once
// A deployment built from the bundled catalogs, holding its own copies of the model, system and
// efficiency so a test can modify them (more bandwidth, a missing link) and rebuild the model.
#include <string>

#include "cost/step_cost.hpp"
#include "support/fixtures.hpp"

namespace tf::cost::test_setup {

struct Setup {
  model::ModelSpec model;
  hardware::SystemSpec system;
  Efficiency eff;
  Deployment deployment;
  // Re-points the deployment at this setup's own (possibly modified) copies.
  StepCostModel build() {
    deployment.model = &model;
    deployment.system = &system;
    deployment.efficiency = &eff;
    return StepCostModel(deployment);
  }
};

inline Setup make(const std::string& model_id, const std::string& hw, const DeploymentSpec& spec) {
  Setup s{test::model_catalog().resolve(model_id), test::hardware_catalog().get(hw), {}, {}};
  s.eff = test::efficiency_table().for_family(s.system.family);
  s.deployment = resolve_deployment(spec, s.model, s.system, s.eff);
  return s;
}

}  // namespace tf::cost::test_setup
