#pragma once
// One registration function per command family; each sets Context::action when chosen.
#include <CLI/CLI.hpp>

#include "cli/context.hpp"
#include "report/server.hpp"

namespace tf::cli {

void register_catalog_commands(CLI::App& app, Context& ctx);
void register_estimate_commands(CLI::App& app, Context& ctx);
void register_frontier_commands(CLI::App& app, Context& ctx);
void register_validate_commands(CLI::App& app, Context& ctx);  // validate, calibrate
void register_economics_commands(CLI::App& app, Context& ctx);  // tco, capex, plan, generations
void register_serving_commands(CLI::App& app, Context& ctx);    // simulate
void register_kernel_commands(CLI::App& app, Context& ctx);     // calibrate-kernels
void register_report_commands(CLI::App& app, Context& ctx);     // report
void register_serve_command(CLI::App& app, Context& ctx);        // serve

// The web API's endpoints: each a command and the flags it takes as body keys.
// The API's endpoints; with `measured` (serve --measured FILE) also POST /api/v1/validate over it.
std::vector<report::ApiEndpoint> api_endpoints(const std::string& measured = "");

}  // namespace tf::cli
