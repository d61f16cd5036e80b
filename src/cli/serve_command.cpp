// `tokenfactory serve`: the web app and its JSON API on a local port. Every API call runs the
// command of the same name in-process, on catalogs loaded once at start, and answers with the
// command's result document.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <sstream>

#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "core/diagnostic.hpp"
#include "report/server.hpp"
#include "validate/validate.hpp"

namespace tf::cli {
namespace {

// Flags the API does not take: output files and the output format are the server's business,
// and local files are not read on a caller's behalf.
const std::vector<std::string> kNotApiKeys = {"help", "json", "csv", "requests-csv", "chrome-trace", "markdown",
                                              "scenario", "data", "trace", "lines"};

report::ApiEndpoint post(const std::string& command, const std::string& description,
                         const std::vector<std::string>& fixed = {}) {
  report::ApiEndpoint e{"POST", "/api/v1/" + command, {command}, {}, description, "", ""};
  e.command.insert(e.command.end(), fixed.begin(), fixed.end());
  for (const auto& f : command_flags(command)) {
    const bool is_fixed = std::find(fixed.begin(), fixed.end(), "--" + f.name) != fixed.end();
    if (!is_fixed && std::find(kNotApiKeys.begin(), kNotApiKeys.end(), f.name) == kNotApiKeys.end())
      e.keys.push_back({f.name, f.takes_value});
  }
  return e;
}

}  // namespace

std::vector<report::ApiEndpoint> api_endpoints(const std::string& measured) {
  std::vector<report::ApiEndpoint> out{
      {"GET", "/api/v1/catalog/hardware", {"catalog", "hardware"}, {}, "every system of the hardware catalog (SI units)",
       "tokenfactory.catalog.hardware/1", "hardware"},
      {"GET", "/api/v1/catalog/models", {"catalog", "models"}, {}, "every model of the model catalog",
       "tokenfactory.catalog.models/1", "models"},
      post("estimate", "one operating point (tokenfactory estimate)"),
      post("frontier", "throughput vs interactivity frontiers with ceilings (tokenfactory frontier)"),
      post("simulate", "the request-level serving simulator (tokenfactory simulate)"),
      post("generations", "the generational chart (tokenfactory generations)"),
      post("plan", "the cheapest fleet that serves a demand at an SLO (tokenfactory plan)"),
  };
  // Validation reads a measured-results file: the server's own (serve --measured), never a path a
  // caller sends.
  if (!measured.empty())
    out.push_back(post("validate",
                       "predicted vs measured on the server's measured-results file (tokenfactory validate)",
                       {"--measured", measured}));
  return out;
}

void register_serve_command(CLI::App& app, Context& ctx) {
  struct Opt {
    report::ServerOptions server;
    double max_body_kb = 64;
    std::string measured;
  };
  auto o = std::make_shared<Opt>();
  auto* cmd = app.add_subcommand(
      "serve", "Serve the web app (live frontier charts with controls) and its JSON API (GET /api/v1 lists the "
               "endpoints) on a local port");
  cmd->add_option("--host", o->server.host, "Address to listen on (the API has no authentication: keep it local)")
      ->capture_default_str();
  cmd->add_option("--port", o->server.port, "Port (0: any free port, printed at start)")->capture_default_str();
  cmd->add_option("--request-timeout", o->server.request_timeout_s,
                  "Seconds a request may compute before it is answered 504")
      ->capture_default_str();
  cmd->add_option("--max-jobs", o->server.max_jobs, "Commands computing at once (others wait, then get 503)")
      ->capture_default_str();
  cmd->add_option("--max-body-kb", o->max_body_kb, "Largest request body (KiB; larger get 413)")->capture_default_str();
  cmd->add_option("--measured", o->measured,
                  "Measured-results CSV that POST /api/v1/validate predicts (checked at start; without it there is no "
                  "validate endpoint)")
      ->check(CLI::ExistingFile);
  cmd->callback([&ctx, o] {
    ctx.action = [&ctx, o] {
      if (o->server.port < 0 || o->server.port > 65535) fail("--port must be in [0, 65535]");
      if (!(o->server.request_timeout_s > 0) || o->server.request_timeout_s > 86400)
        fail("--request-timeout must be in (0, 86400] seconds");
      if (o->server.max_jobs < 1 || o->server.max_jobs > 256) fail("--max-jobs must be in [1, 256]");
      if (!(o->max_body_kb >= 1) || o->max_body_kb > 1024 * 1024) fail("--max-body-kb must be in [1, 1048576]");
      o->server.max_body_bytes = static_cast<size_t>(o->max_body_kb * 1024);
      // Catalogs load (and so are checked) once; every request reads them.
      auto shared = std::make_shared<const SharedData>(load_shared_data(ctx.data_flag));
      if (!o->measured.empty()) {
        // A file validate cannot read is refused now, not at every request: every row is parsed
        // and checked (ids, numbers, columns, layouts), naming the file and line; predicting them
        // waits for a request.
        try {
          (void)validate::read_measured(o->measured, *shared->hardware, *shared->models);
        } catch (const DiagnosticError& e) {
          auto d = e.diagnostic();
          d.message = "serve --measured: " + d.message;
          throw DiagnosticError(d);
        }
      }
      report::ApiServer server(o->server, api_endpoints(o->measured),
                               [shared](const std::vector<std::string>& args) {
                                 std::ostringstream out, err;
                                 const int code = run(args, out, err, shared.get());
                                 return report::CommandOutput{code, out.str(), err.str()};
                               },
                               report::app_html());
      const int port = server.bind();
      *ctx.out << fmt::format("serving the web app on http://{}:{}/ (API: GET /api/v1; Ctrl-C stops)", o->server.host,
                              port)
               << std::endl;
      if (!server.listen()) fail("serve: the server stopped with an error");
      return 0;
    };
  });
}

}  // namespace tf::cli
