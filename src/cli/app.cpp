#include "cli/app.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <new>
#include <iostream>
#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/flag_checks.hpp"
#include "core/diagnostic.hpp"

namespace tf::cli {

std::filesystem::path data_dir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("TOKENFACTORY_DATA"); env && *env) return env;
  return TF_DATA_DIR;
}

namespace {
std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> w;
  std::string cur;
  for (char c : s) {
    if (c == ' ') {
      if (!cur.empty()) w.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) w.push_back(cur);
  return w;
}
}  // namespace

std::filesystem::path Context::data_dir() const { return cli::data_dir(data_flag); }

const hardware::Catalog& Context::hardware() {
  if (!hardware_) hardware_ = std::make_shared<const hardware::Catalog>(hardware::Catalog::load(data_dir() / "hardware"));
  return *hardware_;
}

const model::ModelCatalog& Context::models() {
  if (!models_) models_ = std::make_shared<const model::ModelCatalog>(model::ModelCatalog::load(data_dir() / "models"));
  return *models_;
}

const cost::EfficiencyTable& Context::efficiency() {
  if (!efficiency_)
    efficiency_ = std::make_shared<const cost::EfficiencyTable>(cost::EfficiencyTable::load(data_dir() / "efficiency"));
  return *efficiency_;
}

const serving::EngineProfiles& Context::engines() {
  if (!engines_)
    engines_ = std::make_shared<const serving::EngineProfiles>(serving::EngineProfiles::load(data_dir() / "engines"));
  return *engines_;
}

void Context::progress(const std::string& line) const {
  if (err != &std::cerr || !::isatty(2)) return;
  std::cerr << "\r\033[K" << line << std::flush;
}

void Context::adopt(const SharedData& shared) {
  data_flag = shared.data_flag;
  hardware_ = shared.hardware;
  models_ = shared.models;
  efficiency_ = shared.efficiency;
  engines_ = shared.engines;
}

SharedData load_shared_data(const std::string& data_flag) {
  Context ctx;
  ctx.data_flag = data_flag;
  (void)ctx.hardware();
  (void)ctx.models();
  (void)ctx.efficiency();
  (void)ctx.engines();
  return SharedData{data_flag, ctx.hardware_, ctx.models_, ctx.efficiency_, ctx.engines_};
}

namespace {

// The whole command tree, bound to `ctx`.
void build_app(CLI::App& app, Context& ctx) {
  app.require_subcommand(1);
  app.fallthrough();  // global options such as --data may follow the subcommand
  app.add_option("--data", ctx.data_flag,
                 "Folder holding hardware/ and models/ catalogs (default: $TOKENFACTORY_DATA, else the built-in data)")
      ->check(CLI::ExistingDirectory);
  app.set_version_flag("--version", "tokenfactory 0.1.0");
  register_catalog_commands(app, ctx);
  register_estimate_commands(app, ctx);
  register_frontier_commands(app, ctx);
  register_validate_commands(app, ctx);
  register_economics_commands(app, ctx);
  register_serving_commands(app, ctx);
  register_kernel_commands(app, ctx);
  register_report_commands(app, ctx);
  register_serve_command(app, ctx);
  check_every_flag(app);  // after every command: no flag escapes the numeric and text checks
}

const char* const kDescription =
    "tokenfactory: simulator and planner for AI inference token factories.\n"
    "Throughput vs interactivity frontiers, step costs, $/Mtok and tokens/MW for LLMs on accelerators.";

}  // namespace

std::vector<CommandFlag> command_flags(const std::string& command) {
  Context ctx;
  CLI::App app{kDescription, "tokenfactory"};
  build_app(app, ctx);
  std::vector<CommandFlag> flags;
  const CLI::App* sub = &app;
  for (const auto& word : split_words(command)) {
    const CLI::App* next = nullptr;
    for (const auto* c : sub->get_subcommands([](const CLI::App*) { return true; }))
      if (c->get_name() == word) next = c;
    if (!next) return {};
    sub = next;
  }
  for (const auto* o : sub->get_options()) {
    if (o->get_lnames().empty()) continue;  // positional arguments have no long name
    flags.push_back({o->get_lnames().front(), o->get_type_size() != 0, o->get_type_name()});
  }
  return flags;
}

std::vector<std::string> command_names() {
  Context ctx;
  CLI::App app{kDescription, "tokenfactory"};
  build_app(app, ctx);
  std::vector<std::string> names;
  auto walk = [&](auto&& self, const CLI::App& a, const std::string& prefix) -> void {
    for (const auto* c : a.get_subcommands([](const CLI::App*) { return true; })) {
      if (c->get_name().empty()) continue;  // option groups
      const std::string name = prefix.empty() ? c->get_name() : prefix + " " + c->get_name();
      names.push_back(name);
      self(self, *c, name);
    }
  };
  walk(walk, app, "");
  return names;
}

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const SharedData* shared) {
  Context ctx;
  ctx.out = &out;
  ctx.err = &err;
  if (shared) ctx.adopt(*shared);
  CLI::App app{kDescription, "tokenfactory"};
  build_app(app, ctx);

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion&) {
    out << "tokenfactory 0.1.0\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    // CLI11 checks required options before it reports arguments it does not know: a mistyped
    // flag would read as "--x is required". Name the unknown flag first.
    std::string what = e.what();
    if (dynamic_cast<const CLI::RequiredError*>(&e)) {
      const CLI::App* sub = nullptr;
      for (const auto* c : app.get_subcommands([](const CLI::App*) { return true; }))
        if (std::find(args.begin(), args.end(), c->get_name()) != args.end()) sub = c;
      for (const auto& a : args) {
        // Flags only: not "--", not a negative number given as a value.
        if (a.size() < 2 || a[0] != '-' || a == "--" || std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.')
          continue;
        const auto name = a.substr(0, a.find('='));
        const bool known = (sub && sub->get_option_no_throw(name)) || app.get_option_no_throw(name);
        if (!known && !(sub && sub->get_name() == a)) {
          what = fmt::format("unknown flag {}{}", name, sub ? " for " + sub->get_name() : std::string());
          break;
        }
      }
    }
    err << "error: " << what << "\n";
    err << "run 'tokenfactory --help' (or 'tokenfactory <command> --help') for usage\n";
    return 2;
  } catch (...) {
    return report_exception(std::current_exception(), err);
  }
  if (!ctx.action) {
    out << app.help();
    return 2;
  }
  try {
    return ctx.action();
  } catch (...) {
    return report_exception(std::current_exception(), err);
  }
}

std::string error_message(std::string err) {
  while (!err.empty() && err.back() == '\n') err.pop_back();
  if (err.rfind("error: ", 0) == 0) err = err.substr(7);
  return err;
}

int report_exception(std::exception_ptr e, std::ostream& err) {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const DiagnosticError& d) {
    err << "error: " << d.diagnostic().to_string() << "\n";
    return kExitUserError;
  } catch (const std::bad_alloc&) {
    err << "internal error: out of memory (an input limit is missing: please report the command line)\n";
    return kExitInternalError;
  } catch (const std::exception& x) {
    err << "internal error: " << x.what() << "\n"
        << "this is a bug in tokenfactory, not in your input: please report it with the command line\n";
    return kExitInternalError;
  } catch (...) {
    err << "internal error: unknown exception\n"
        << "this is a bug in tokenfactory, not in your input: please report it with the command line\n";
    return kExitInternalError;
  }
}

}  // namespace tf::cli
