#pragma once
// Scenario files: a serving simulation written down once (model, deployment, engine, router,
// workload, SLO), with `variants:` that override any of it. `tokenfactory simulate --scenario F`
// runs every variant (side by side when there are several); `tokenfactory config expand F`
// prints each variant resolved, with the command line it stands for. Every key is checked: an
// unknown one names itself, its line and the keys valid there (docs/scenarios.md).
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace tf::cli {

struct ScenarioVariant {
  std::string name;
  std::map<std::string, std::string> settings;  // dotted key -> value as written (resolved paths)
  std::vector<std::string> args;                // the `tokenfactory simulate` arguments it stands for
};

struct Scenario {
  std::string file, name, description;
  std::vector<ScenarioVariant> variants;  // the base alone when the file has no variants
};

// Reads and checks a scenario file; DiagnosticError (file, line, key) on any problem.
Scenario load_scenario(const std::filesystem::path& path);

// Runs every variant through `simulate` (with --data `data_flag` when set) and prints the result:
// one variant as simulate prints it, several side by side (JSON: every variant's document).
// A variant the simulator refuses is a DiagnosticError naming the file, the variant and its
// command line. Returns 0.
int run_scenario(const Scenario& s, const std::string& data_flag, bool json, std::ostream& out, std::ostream& err);

// The resolved scenario as YAML: per variant its name, settings and command line.
void expand_scenario(const Scenario& s, std::ostream& out);

}  // namespace tf::cli
