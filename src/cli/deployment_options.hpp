#pragma once
// Command-line options shared by commands that take a deployment (estimate, frontier, ...).
#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

#include "cost/deployment.hpp"
#include "cost/estimate.hpp"

namespace tf::cli {

struct DeploymentOptions {
  std::string model;
  std::string hardware;
  int chips = 0, tp = 1, pp = 1, ep = 1, dp = 1;
  bool attention_dp = false;
  std::string weights, activations, kv, attention_weights, weight_tier, kv_tier, moe_dispatch, launch;
  std::optional<int> eplb_redundant_experts;
  std::optional<double> expert_load_cv;

  // Adds --chips --tp --pp --ep --dp --attention-dp --weights --activations --kv and the tiers.
  void add_layout(CLI::App* cmd);
  // Parses the precision/tier strings into a spec (DiagnosticError on unknown names).
  [[nodiscard]] cost::DeploymentSpec spec() const;
};

// Adds --static-experts (sweeps that place experts by id only instead of also trying EPLB) to a
// sweeping command (frontier, plan, generations).
void add_static_experts_flag(CLI::App* cmd, bool& static_experts);

struct WorkloadOptions {
  double isl = 1024, osl = 1024, concurrency = 1;
  void add(CLI::App* cmd, bool with_concurrency);
};

}  // namespace tf::cli
