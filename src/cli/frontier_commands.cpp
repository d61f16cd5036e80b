// `tokenfactory frontier`: throughput vs interactivity Pareto frontiers across systems.
#include <fmt/format.h>

#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/deployment_options.hpp"
#include "report/frontier.hpp"
#include "cli/economics_options.hpp"
#include "cli/table.hpp"
#include "core/diagnostic.hpp"
#include "frontier/sweep.hpp"
#include "io/text.hpp"

namespace tf::cli {
using namespace report;  // result documents (src/report)
namespace {

// The hardware term a point is bound by when its family's calibration left it at a bound.
std::optional<std::string> bound_at_limit(const frontier::Point& p) {
  if (!p.config.efficiency) return std::nullopt;
  auto at = cost::term_at_bound(*p.config.efficiency, p.bound_by);
  if (at.empty()) return std::nullopt;
  return at;
}

struct FrontierOptions {
  std::string model = "meta-llama/Llama-3.1-70B-Instruct";
  std::vector<std::string> hardware{"h100-sxm", "h200-sxm", "b200", "gb200-nvl72", "mi300x", "mi355x"};
  double isl = 1024, osl = 1024;
  std::vector<std::string> precisions{"bf16", "fp8", "int8", "nvfp4"};
  int max_chips = 0;
  double min_tok_s_per_user = 0;
  double at_tok_s_per_user = 50;
  std::string per = "chip";
  std::string price_basis;  // for the table header (from the economics options)
  std::string csv;
  bool json = false;
  bool static_experts = false;
  int rows = 8;
  int threads = 0;
};

using TcoMap = EconomicsMap;

double y_value(const std::string& per, const TcoMap& t, const hardware::SystemSpec& s, double tok_s_per_chip) {
  if (per == "mw") return per_mw(t, s, tok_s_per_chip);
  if (per == "usd") return per_usd(t, s, tok_s_per_chip);
  return tok_s_per_chip;
}
const char* y_label(const std::string& per) {
  return per == "mw" ? "out tok/s per MW" : per == "usd" ? "out tokens per USD" : "out tok/s per chip";
}

void write_csv(const std::string& path, const std::vector<frontier::SystemFrontier>& fs, const TcoMap& tcos) {
  std::ostringstream o;
  o << "hardware,kind,output_tok_s_per_user,output_tok_s_per_chip,output_tok_s_per_mw,output_tokens_per_usd,"
       "total_tok_s_per_chip,concurrency,chips,tp,pp,ep,dp,attention_dp,weights,activations,kv,ttft_ms,tpot_ms,"
       "bound_by\n";
  auto num = [](double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : std::string(); };
  for (const auto& f : fs) {
    const auto& s = *f.system;
    for (const auto& p : f.points) {
      const auto& d = p.config;
      o << fmt::format("{},frontier,{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", s.id,
                       num(p.output_tok_s_per_user), num(p.output_tok_s_per_chip),
                       num(per_mw(tcos, s, p.output_tok_s_per_chip)), num(per_usd(tcos, s, p.output_tok_s_per_chip)),
                       num(p.total_tok_s_per_chip), num(p.concurrency), d.chips, d.tp, d.pp, d.ep, d.dp,
                       d.attention_dp ? "true" : "false", to_string(d.weights), to_string(d.activations),
                       to_string(d.kv), num(p.ttft_s * 1e3), num(p.tpot_s * 1e3), to_string(p.bound_by));
    }
    for (const auto& c : f.ceiling) {
      o << fmt::format("{},ceiling,{},{},{},{},,{},,,,,,,,,,,,\n", s.id, num(c.output_tok_s_per_user),
                       num(c.output_tok_s_per_chip), num(per_mw(tcos, s, c.output_tok_s_per_chip)),
                       num(per_usd(tcos, s, c.output_tok_s_per_chip)), num(c.concurrency));
    }
  }
  io::write_text_file(path, o.str());
}

void print_tables(const FrontierOptions& o, const model::ModelSpec& m, const std::vector<frontier::SystemFrontier>& fs,
                  const TcoMap& tcos, const cost::EfficiencyTable& eff, std::ostream& out) {
  out << fmt::format("Frontier: {}  ({:.0f} in / {:.0f} out tokens per request)\n", m.id, o.isl, o.osl);
  if (o.per == "usd") out << fmt::format("price basis: {} (systems without a price on it show -)\n", o.price_basis);
  if (o.per == "mw") out << "per MW of facility power (all-in IT power x PUE)\n";
  out << "\n";
  Table summary({"hardware", fmt::format("{} @>= {:.0f} tok/s/user", y_label(o.per), o.at_tok_s_per_user),
                 "config there", "max out tok/s per chip", "max tok/s/user", "ceiling tok/s/user", "provenance",
                 "note"});
  summary.right_align({1, 3, 4, 5});
  ProvenanceColumn provenance(eff);
  for (const auto& f : fs) {
    const auto* b = best_at(f, o.at_tok_s_per_user);
    double max_chip = 0, max_user = 0;
    for (const auto& p : f.points) {
      max_chip = std::max(max_chip, p.output_tok_s_per_chip);
      max_user = std::max(max_user, p.output_tok_s_per_user);
    }
    summary.add_row({f.system->id, b ? fixed(y_value(o.per, tcos, *f.system, b->output_tok_s_per_chip), 0) : "-",
                     b ? b->config.describe() : "-", f.points.empty() ? "-" : fixed(max_chip, 0),
                     f.points.empty() ? "-" : fixed(max_user, 1),
                     f.ceiling_max_tok_s_per_user > 0 ? fixed(f.ceiling_max_tok_s_per_user, 1) : "-",
                     provenance.cell(*f.system), f.note});
  }
  summary.print(out);
  out << provenance.footnote();
  for (const auto& f : fs)
    if (f.left_out_layouts > 0 && !f.points.empty())
      out << fmt::format("{}: {} layouts the weights fit in left out: {}\n", f.system->id, f.left_out_layouts,
                         f.left_out_reason);
  for (const auto& f : fs) {
    if (f.points.empty()) continue;
    out << fmt::format("\n{}: {} frontier points from {} layouts, {} operating points evaluated\n", f.system->id,
                       f.points.size(), f.layouts, f.evaluations);
    Table t({"tok/s/user", y_label(o.per), "ceiling at that speed", "concurrency", "TTFT ms", "TPOT ms", "bound",
             "config"});
    t.right_align({0, 1, 2, 3, 4, 5});
    std::set<std::string> flagged;
    // Evenly spaced rows along the frontier, always including both ends.
    const size_t n = f.points.size();
    const size_t rows = std::min<size_t>(n, static_cast<size_t>(std::max(2, o.rows)));
    size_t last = n;
    for (size_t r = 0; r < rows; ++r) {
      const size_t i = rows == 1 ? 0 : (n - 1) * r / (rows - 1);
      if (i == last) continue;
      last = i;
      const auto& p = f.points[i];
      // Ceiling throughput at this per-user speed: best ceiling point at least as fast.
      double ceil_chip = NAN;
      for (const auto& c : f.ceiling)
        if (c.output_tok_s_per_user >= p.output_tok_s_per_user)
          ceil_chip = std::isnan(ceil_chip) ? c.output_tok_s_per_chip : std::max(ceil_chip, c.output_tok_s_per_chip);
      t.add_row({fixed(p.output_tok_s_per_user, 1), fixed(y_value(o.per, tcos, *f.system, p.output_tok_s_per_chip), 0),
                 fixed(y_value(o.per, tcos, *f.system, ceil_chip), 0), fixed(p.concurrency, 0), fixed(p.ttft_s * 1e3, 0),
                 fixed(p.tpot_s * 1e3, 1), std::string(to_string(p.bound_by)) + (bound_at_limit(p) ? "!" : ""),
                 p.config.describe()});
      if (const auto at = bound_at_limit(p)) flagged.insert(*at);
    }
    t.print(out);
    for (const auto& k : flagged)
      out << fmt::format(
          "! bound by {}, which the calibration of {} left within 10% of a bound of its range ({}): the fit "
          "leaned on it, so these points are less certain than the family's error says\n",
          k, f.points.front().config.efficiency->family, f.points.front().config.efficiency->file);
  }
  out << "\nCeiling: first-principles bound (memory capacity x bandwidth, peak FLOP/s, no overheads). "
         "Full frontiers: --csv FILE or --json.\n";
}

}  // namespace

void register_frontier_commands(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<FrontierOptions>();
  auto* cmd = app.add_subcommand(
      "frontier",
      "Throughput vs interactivity Pareto frontier per system: sweeps TP/PP/EP layouts, precisions and "
      "concurrency up to the memory limit, with the first-principles ceiling beside it");
  cmd->add_option("--model", o->model, "Model id, short name or config.json path")->capture_default_str();
  cmd->add_option("--hardware", o->hardware, "System ids (comma-separated or repeated), or 'all'")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--isl", o->isl, "Input tokens per request")->capture_default_str();
  cmd->add_option("--osl", o->osl, "Output tokens per request")->capture_default_str();
  cmd->add_option("--precisions", o->precisions,
                  "Weight/activation formats to sweep (KV in fp8 below 16 bits); formats a chip lacks are skipped")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--max-chips", o->max_chips,
                  "Largest replica (TP x PP chips) to consider; 0 = max(scale-up domain, 64)")
      ->capture_default_str();
  cmd->add_option("--min-tok-s-per-user", o->min_tok_s_per_user, "Drop points slower than this (tokens/s per user)")
      ->capture_default_str();
  cmd->add_option("--at-tok-s-per-user", o->at_tok_s_per_user,
                  "Interactivity (tokens/s per user) at which the summary compares systems")
      ->capture_default_str();
  cmd->add_option("--per", o->per, "Y axis of the tables: chip (output tokens/s per chip), mw (per MW of all-in power), "
                                   "usd (output tokens per USD of chip time)")
      ->check(CLI::IsMember({"chip", "mw", "usd"}))
      ->capture_default_str();
  cmd->add_option("--rows", o->rows, "Rows per system in the table (the CSV/JSON have every point)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Worker threads (0 = all cores)")->capture_default_str();
  cmd->add_option("--csv", o->csv, "Also write every frontier and ceiling point to this CSV file");
  cmd->add_flag("--json", o->json, "Print the result document as JSON instead of tables");
  add_static_experts_flag(cmd, o->static_experts);
  auto eo = std::make_shared<EconomicsOptions>();
  eo->add(cmd, true, true);
  cmd->callback([&ctx, o, eo] {
    ctx.action = [&ctx, o, eo] {
      if (!(o->isl >= 1) || !(o->osl >= 1)) fail("--isl and --osl must be >= 1 token");
      if (o->max_chips < 0) fail("--max-chips must be >= 0");
      const auto model = ctx.models().resolve(o->model);
      std::vector<const hardware::SystemSpec*> systems;
      for (const auto& id : o->hardware) {
        if (id == "all") {
          for (const auto& s : ctx.hardware().systems()) systems.push_back(&s);
        } else {
          systems.push_back(&ctx.hardware().get(id));
        }
      }
      FrontierQuery q;
      q.systems = std::move(systems);
      q.sweep.isl = o->isl;
      q.sweep.osl = o->osl;
      q.sweep.max_chips_per_replica = o->max_chips;
      q.sweep.min_tok_s_per_user = o->min_tok_s_per_user;
      q.sweep.eplb = !o->static_experts;
      q.sweep.precisions.clear();
      for (const auto& p : o->precisions) q.sweep.precisions.push_back(parse_precision(p));
      q.precision_names = o->precisions;
      q.threads = o->threads > 0 ? o->threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      q.economics = eo->params(ctx);
      q.overrides = eo->overrides();
      const auto& eff = ctx.efficiency();
      const auto r = compute_frontier(model, eff, std::move(q), [&ctx](size_t done, size_t total, const std::string& id) {
        ctx.progress(fmt::format("frontier: {}/{} systems ({})", done, total, id));
      });
      ctx.progress("");
      const auto& fs = r.systems;
      const auto& tcos = r.economics;
      if (!o->csv.empty()) write_csv(o->csv, fs, tcos);
      if (o->json) {
        *ctx.out << json_text(frontier_document(r, eff)) << "\n";
      } else {
        o->price_basis = r.query.overrides.price_basis;
        print_tables(*o, model, fs, tcos, eff, *ctx.out);
      }
      return 0;
    };
  });
}

}  // namespace tf::cli
