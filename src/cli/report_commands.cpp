// `tokenfactory report`: the offline HTML report, from documents it computes (the frontier and
// generational chart of a model, a validation when given measurements) or from saved --json
// results.
#include <fmt/format.h>

#include <filesystem>
#include <sstream>

#include "cli/app.hpp"
#include "cli/commands.hpp"
#include "core/diagnostic.hpp"
#include "io/json_reader.hpp"
#include "io/text.hpp"
#include "report/html.hpp"

namespace tf::cli {
namespace {

struct ReportOptions {
  std::string out;
  std::vector<std::string> from;
  std::string model;
  std::vector<std::string> hardware;
  std::string isl, osl;  // passed through to the commands as given
  std::string measured;
  std::string title = "tokenfactory report";
  bool no_generations = false;
};

// Runs one command in-process with --json and returns its document; its error (and exit code)
// becomes the report's.
report::Json document_of(const std::vector<std::string>& args, const std::string& data_flag) {
  std::vector<std::string> a;
  if (!data_flag.empty()) a = {"--data", data_flag};
  a.insert(a.end(), args.begin(), args.end());
  a.emplace_back("--json");
  std::ostringstream out, err;
  if (run(a, out, err) != 0) {
    fail(fmt::format("report: '{}' failed: {}", args[0], error_message(err.str())));
  }
  return io::parse_json(out.str(), args[0] + " --json");
}

}  // namespace

void register_report_commands(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<ReportOptions>();
  auto* cmd = app.add_subcommand(
      "report",
      "Write a self-contained HTML report (interactive charts, works offline): the frontier per system with its "
      "ceiling (per chip, per MW, per USD), USD per Mtok against interactivity, the generational chart, and "
      "predicted vs measured; or charts of saved --json results (--from)");
  cmd->add_option("--out", o->out, "HTML file to write")->required();
  cmd->add_option("--from", o->from,
                  "Saved result documents (--json output of frontier, generations, validate, simulate, or a "
                  "scenario) to chart instead of computing; repeat or comma-separate")
      ->delimiter(',');
  cmd->add_option("--model", o->model, "Model of the frontier and the generational chart (default: each command's)");
  cmd->add_option("--hardware", o->hardware, "Systems of the frontier (comma-separated, or 'all'; default: frontier's)")
      ->delimiter(',');
  cmd->add_option("--isl", o->isl, "Input tokens per request (default: each command's)");
  cmd->add_option("--osl", o->osl, "Output tokens per request (default: each command's)");
  cmd->add_option("--measured", o->measured, "Also validate against this measured-results CSV and chart the errors");
  cmd->add_flag("--no-generations", o->no_generations, "Leave out the generational chart");
  cmd->add_option("--title", o->title, "Title of the page")->capture_default_str();
  cmd->callback([&ctx, o] {
    ctx.action = [&ctx, o] {
      report::ReportPage page;
      page.title = o->title;
      const bool computing = !o->model.empty() || !o->hardware.empty() || !o->isl.empty() || !o->osl.empty() ||
                             !o->measured.empty() || o->no_generations;
      if (!o->from.empty()) {
        if (computing)
          fail("--from charts saved documents; --model, --hardware, --isl, --osl, --measured and --no-generations "
               "choose what to compute instead",
               "use one or the other");
        for (const auto& f : o->from) {
          auto doc = io::load_json_file(f).root;
          report::check_report_document(doc, f);
          page.documents.push_back(std::move(doc));
        }
        page.subtitle = fmt::format("{} saved result document{}: {}", o->from.size(), o->from.size() == 1 ? "" : "s",
                                    fmt::join(o->from, ", "));
      } else {
        auto with_common = [&](std::vector<std::string> a, bool hardware) {
          if (!o->model.empty()) a.insert(a.end(), {"--model", o->model});
          if (hardware && !o->hardware.empty()) a.insert(a.end(), {"--hardware", fmt::format("{}", fmt::join(o->hardware, ","))});
          if (!o->isl.empty()) a.insert(a.end(), {"--isl", o->isl});
          if (!o->osl.empty()) a.insert(a.end(), {"--osl", o->osl});
          return a;
        };
        ctx.progress("report: frontier");
        page.documents.push_back(document_of(with_common({"frontier"}, true), ctx.data_flag));
        if (!o->no_generations) {
          ctx.progress("report: generations");
          page.documents.push_back(document_of(with_common({"generations"}, false), ctx.data_flag));
        }
        if (!o->measured.empty()) {
          ctx.progress("report: validate");
          page.documents.push_back(document_of({"validate", "--measured", o->measured}, ctx.data_flag));
        }
        ctx.progress("");
        page.subtitle = "computed by tokenfactory from its built-in catalogs and calibration";
      }
      const auto html = report::report_html(page);
      io::write_text_file(o->out, html);
      *ctx.out << fmt::format("report: {} ({:.1f} MB, {} document{}; open it in a browser, it needs no network)\n",
                              std::filesystem::absolute(o->out).string(), static_cast<double>(html.size()) / 1e6,
                              page.documents.size(), page.documents.size() == 1 ? "" : "s");
      return 0;
    };
  });
}

}  // namespace tf::cli
