// `tokenfactory validate` (predict measured public results and report the errors) and
// `tokenfactory calibrate` (fit per-family efficiencies to them, with cross-validation).
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "cli/commands.hpp"
#include "report/validate.hpp"
#include "cli/table.hpp"
#include "core/diagnostic.hpp"
#include "io/text.hpp"
#include "validate/calibrate.hpp"
#include "validate/validate.hpp"

namespace tf::cli {
using namespace report;  // result documents (src/report)
namespace {

using validate::ErrorStats;
using validate::RowResult;
using validate::Summary;

// A --date value: empty (no date) or a calendar date YYYY-MM-DD.
void check_calendar_date(const std::string& date, const char* flag) {
  if (date.empty() || io::is_calendar_date(date)) return;
  Diagnostic d;
  d.key = flag;
  d.message = fmt::format("'{}' is not a calendar date", date);
  d.hint = "write it YYYY-MM-DD, e.g. 2026-12-03";
  throw DiagnosticError(d);
}

// Writes a calibration (relative path -> text) into `dir`: every file is staged in a folder beside
// it and the staged folder loaded as the efficiency table would load it; only then are the files
// moved in (each an atomic rename) and engine files this fit no longer has removed. A failure
// before the moves leaves `dir` as it was, and the staging folder is always removed.
void install_calibration(const std::filesystem::path& dir, const std::map<std::filesystem::path, std::string>& files,
                         const cost::EfficiencyTable& base) {
  namespace fs = std::filesystem;
  auto norm = dir.lexically_normal();
  if (norm.filename().empty()) norm = norm.parent_path();
  std::error_code ec;
  if (norm.has_parent_path()) fs::create_directories(norm.parent_path(), ec);
  const fs::path stage = norm.parent_path() / fmt::format("{}.staging-{}", norm.filename().string(), ::getpid());
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } cleanup{stage};
  fs::remove_all(stage, ec);
  for (const auto& [rel, text] : files) io::write_text_file(stage / rel, text);
  try {
    auto check = base;
    check.apply_overrides(stage);
  } catch (const DiagnosticError& e) {
    Diagnostic d = e.diagnostic();
    d.message = "calibrate wrote a file it cannot read back (nothing was written to " + dir.string() +
                "): " + d.message;
    throw DiagnosticError(d);
  }
  fs::create_directories(dir / "engines", ec);
  for (const auto& [rel, text] : files) {
    fs::rename(stage / rel, dir / rel, ec);
    if (ec) {
      Diagnostic d;
      d.file = (dir / rel).string();
      d.message = "cannot be written: " + ec.message();
      throw DiagnosticError(d);
    }
  }
  for (const auto& e : fs::directory_iterator(dir / "engines"))
    if (e.is_regular_file() && e.path().extension() == ".yaml" &&
        !files.count(fs::path("engines") / e.path().filename()))
      fs::remove(e.path());
}

std::string pct(double share) {
  return fmt::format("{:.0f}%", 100 * share);
}
std::string ape_text(double ape) {
  return fmt::format("{:.1f}", ape);
}
std::string num(double v) {
  if (v >= 1000) return thousands(v);
  if (v >= 100) return fixed(v, 1);
  return fmt::format("{:.3g}", v);
}

// A software term's column heading ("step overhead us") and an engine fit's values under them,
// "(prior)" marking a term none of the engine's rows identifies.
std::string software_label(size_t i) {
  const auto& spec = validate::fitted_parameters()[i];
  std::string k = spec.key;
  std::replace(k.begin(), k.end(), '_', ' ');
  return k + " " + spec.unit;
}
std::vector<std::string> software_cells(const validate::EngineFit& g) {
  const auto sw = validate::software_indices();
  std::vector<std::string> out;
  for (size_t k = 0; k < sw.size(); ++k) {
    const auto& spec = validate::fitted_parameters()[sw[k]];
    out.push_back(fixed(spec.in_unit(g.values.at(k)), 1) + (g.identifying.at(k) > 0 ? "" : " (prior)"));
  }
  return out;
}

void print_rows(const std::vector<RowResult>& results, std::ostream& out) {
  Table t({"id", "hardware", "model", "scenario", "metric", "measured", "predicted", "error %", "note"});
  t.right_align({5, 6, 7});
  for (const auto& r : results) {
    const auto& p = r.prediction;
    std::string model = r.row->model.substr(r.row->model.find('/') + 1);
    t.add_row({r.row->id, r.row->hardware, model, std::string(validate::to_string(r.row->scenario)),
               std::string(validate::to_string(r.row->metric)), num(r.row->value), p.supported ? num(p.predicted) : "-",
               p.supported ? fmt::format("{:+.1f}", 100 * (p.predicted - r.row->value) / r.row->value) : "-",
               p.supported ? "" : "unsupported: " + p.reason});
  }
  t.print(out);
}

void stats_table(const std::string& title, const std::map<std::string, ErrorStats>& by, std::ostream& out) {
  Table t({title, "rows", "supported", "median APE %", "p90 APE %", "<=10%", "<=25%", "<=50%"});
  t.right_align({1, 2, 3, 4, 5, 6, 7});
  for (const auto& [k, s] : by)
    t.add_row({k, std::to_string(s.n), std::to_string(s.supported), s.supported ? ape_text(s.median_ape) : "-",
               s.supported ? ape_text(s.p90_ape) : "-", s.supported ? pct(s.within_10) : "-",
               s.supported ? pct(s.within_25) : "-", s.supported ? pct(s.within_50) : "-"});
  t.print(out);
}

void print_summary(const Summary& s, std::ostream& out) {
  out << fmt::format("rows {}, supported {}; coverage outside poisson_rate {:.1f}% ({} of {})\n", s.overall.n,
                     s.overall.supported, 100 * s.coverage, s.supported_outside_poisson, s.n_outside_poisson);
  out << fmt::format("median APE {:.1f}%, p90 APE {:.1f}%; within 10% {}, 25% {}, 50% {}\n", s.overall.median_ape,
                     s.overall.p90_ape, pct(s.overall.within_10), pct(s.overall.within_25), pct(s.overall.within_50));
  std::map<std::string, ErrorStats> kind{{"throughput", s.throughput}, {"latency", s.latency}};
  for (const auto& [title, by] :
       std::vector<std::pair<std::string, const std::map<std::string, ErrorStats>*>>{{"kind", &kind},
                                                                                     {"hardware", &s.by_hardware},
                                                                                     {"model", &s.by_model},
                                                                                     {"metric", &s.by_metric},
                                                                                     {"scenario", &s.by_scenario},
                                                                                     {"source group", &s.by_group}}) {
    out << "\n";
    stats_table(title, *by, out);
  }
}

// Markdown tables of a summary (for docs/accuracy.md).
std::string summary_markdown(const Summary& s) {
  std::string md;
  md += fmt::format("Rows: {}; supported: {}; coverage outside `poisson_rate`: {:.1f}% ({} of {}).\n\n", s.overall.n,
                    s.overall.supported, 100 * s.coverage, s.supported_outside_poisson, s.n_outside_poisson);
  auto table = [&](const std::string& title, const std::map<std::string, ErrorStats>& by) {
    md += fmt::format("| {} | rows | supported | median APE % | p90 APE % | <=10% | <=25% | <=50% |\n", title);
    md += "|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& [k, v] : by) {
      if (v.supported)
        md += fmt::format("| {} | {} | {} | {:.1f} | {:.1f} | {} | {} | {} |\n", k, v.n, v.supported, v.median_ape,
                          v.p90_ape, pct(v.within_10), pct(v.within_25), pct(v.within_50));
      else
        md += fmt::format("| {} | {} | 0 | - | - | - | - | - |\n", k, v.n);
    }
    md += "\n";
  };
  table("kind", {{"all", s.overall}, {"latency", s.latency}, {"throughput", s.throughput}});
  table("hardware", s.by_hardware);
  table("model", s.by_model);
  table("metric", s.by_metric);
  table("scenario", s.by_scenario);
  table("source group", s.by_group);
  return md;
}

std::string unsupported_markdown(const std::vector<RowResult>& results) {
  std::map<std::string, size_t> reasons;
  for (const auto& r : results)
    if (!r.prediction.supported) ++reasons[r.prediction.reason];
  std::string md = "| reason | rows |\n|---|---:|\n";
  for (const auto& [k, n] : reasons) md += fmt::format("| {} | {} |\n", k, n);
  return md + "\n";
}

struct Loaded {
  explicit Loaded(Context& ctx) : predictor(ctx.hardware(), ctx.models(), ctx.engines()) {}
  validate::MeasuredSet set;
  validate::Predictor predictor;  // owns the model specs the prepared rows point to
  std::vector<validate::PreparedRow> rows;
};

std::unique_ptr<Loaded> load(Context& ctx, const std::string& file, const cost::EfficiencyTable& table) {
  auto l = std::make_unique<Loaded>(ctx);
  l->set = validate::read_measured(file, ctx.hardware(), ctx.models());
  l->rows = l->predictor.prepare(l->set, table);
  return l;
}

}  // namespace

void register_validate_commands(CLI::App& app, Context& ctx) {
  {
    auto* cmd = app.add_subcommand(
        "validate",
        "Predict every row of a measured-results CSV (shared calibration schema) with the cost model and report "
        "the errors: per row, and median / p90 absolute percentage error by hardware, model, metric and scenario");
    auto file = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    auto uncalibrated = std::make_shared<bool>(false);
    auto summary_only = std::make_shared<bool>(false);
    auto markdown = std::make_shared<std::string>();
    cmd->add_option("--measured", *file, "Measured-results CSV (columns id, hardware, ..., notes)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_flag("--json", *as_json, "Print a JSON document: rows (measured, predicted, ape in %) and summary");
    cmd->add_flag("--uncalibrated", *uncalibrated,
                  "Use data/efficiency only (published anchors), ignoring data/calibration overrides");
    cmd->add_flag("--summary-only", *summary_only, "Print the summary tables without the per-row table");
    cmd->add_option("--markdown", *markdown, "Also write the summary as Markdown tables to this file");
    cmd->callback([&ctx, file, as_json, uncalibrated, summary_only, markdown] {
      ctx.action = [&ctx, file, as_json, uncalibrated, summary_only, markdown] {
        const auto table =
            *uncalibrated ? cost::EfficiencyTable::load_uncalibrated(ctx.data_dir() / "efficiency") : ctx.efficiency();
        const auto l = load(ctx, *file, table);
        const auto results = validate::evaluate(l->rows, table);
        const auto s = validate::summarise(results);
        if (!markdown->empty())
          io::write_text_file(*markdown, summary_markdown(s) + "Unsupported rows:\n\n" + unsupported_markdown(results));
        if (*as_json) {
          const auto j = validate_document(l->set, *uncalibrated, results, s);
          *ctx.out << json_text(j) << "\n";
        } else {
          if (!*summary_only) {
            print_rows(results, *ctx.out);
            *ctx.out << "\n";
          }
          print_summary(s, *ctx.out);
        }
        return 0;
      };
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "calibrate",
        "Fit the hardware terms per family (bandwidth, compute, attention and network fractions, collective "
        "latency; held near the kernel-level fits in <data>/calibration/kernels) and the software terms per serving "
        "engine (step and layer overheads, across families) to a measured-results CSV by minimising squared log "
        "error; write <out>/<family>.yaml and <out>/engines/<engine>.yaml and report in-sample and "
        "leave-one-source-group-out cross-validated errors");
    auto file = std::make_shared<std::string>();
    auto out_dir = std::make_shared<std::string>();
    auto date = std::make_shared<std::string>();
    auto markdown = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    auto no_cv = std::make_shared<bool>(false);
    auto threads = std::make_shared<int>(2);
    auto cv_by = std::make_shared<std::string>("group");
    auto min_rows = std::make_shared<size_t>(20);
    auto prior = std::make_shared<double>(validate::FitOptions{}.prior_weight);
    auto kernel_prior = std::make_shared<double>(validate::FitOptions{}.kernel_prior_weight);
    auto kernels = std::make_shared<std::string>();
    auto kernel_params = std::make_shared<std::vector<std::string>>();
    cmd->add_option("--measured", *file, "Measured-results CSV")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out", *out_dir,
                    "Folder for <family>.yaml and engines/<engine>.yaml (required; --out <data>/calibration replaces "
                    "the bundled calibration)")
        ->required();
    cmd->add_option("--date", *date,
                    "Date recorded in the provenance, YYYY-MM-DD (none by default: outputs are reproducible)");
    cmd->add_option("--markdown", *markdown, "Also write the cross-validated error tables as Markdown to this file");
    cmd->add_option("--threads", *threads, "Threads for cross-validation folds")->check(CLI::PositiveNumber);
    cmd->add_option("--min-rows", *min_rows, "Supported rows a family needs for its own fit (else pooled)");
    cmd->add_option("--prior-weight", *prior, "Weight of the pull towards the published anchors (transformed space)");
    cmd->add_option("--kernel-prior-weight", *kernel_prior,
                    "Weight of the pull towards the kernel-level hardware fits (transformed space)");
    cmd->add_option("--kernel-priors", *kernels,
                    "Folder of kernel-level fits, <family>.yaml (default: <data>/calibration/kernels; 'none' for no "
                    "kernel priors)");
    cmd->add_option("--kernel-prior-params", *kernel_params,
                    "Hardware terms the kernel fits hold as priors, e.g. memory_bandwidth_fraction compute_fraction "
                    "network_fraction (default: none; see docs/kernels.md)");
    cmd->add_flag("--no-cross-validation", *no_cv, "Skip the cross-validation");
    cmd->add_option("--cv-by", *cv_by,
                    "What each cross-validation fold holds out: 'group' (one source group: an engine version, "
                    "benchmark round or publication the fit has not seen) or 'family' (one hardware family, "
                    "predicted with the other families' pooled terms, as an uncalibrated chip is)")
        ->check(CLI::IsMember({"group", "family"}));
    cmd->add_flag("--json", *as_json, "Print the fits and errors as JSON");
    cmd->callback([&ctx, file, out_dir, date, markdown, as_json, no_cv, threads, min_rows, prior, kernel_prior, kernels,
                   kernel_params, cv_by] {
      ctx.action = [&ctx, file, out_dir, date, markdown, as_json, no_cv, threads, min_rows, prior, kernel_prior,
                    kernels, kernel_params, cv_by] {
        check_calendar_date(*date, "--date");
        const auto hold_out = *cv_by == "family" ? validate::HoldOut::family : validate::HoldOut::source_group;
        const std::string cv_title = fmt::format("leave one {} out", validate::to_string(hold_out));
        const auto base = cost::EfficiencyTable::load_uncalibrated(ctx.data_dir() / "efficiency");
        const auto l = load(ctx, *file, base);
        validate::FitOptions o;
        o.min_rows = *min_rows;
        o.prior_weight = *prior;
        o.kernel_prior_weight = *kernel_prior;
        if (!kernel_params->empty()) {
          o.kernel_prior_params.clear();
          for (const auto& k : *kernel_params) {
            const auto& specs = validate::fitted_parameters();
            const bool known = std::any_of(specs.begin(), specs.end(),
                                           [&](const validate::ParamSpec& sp) { return !sp.software && k == sp.key; });
            if (!known) {
              Diagnostic d;
              d.key = "--kernel-prior-params";
              d.message = fmt::format("'{}' is not a fitted hardware term", k);
              d.hint = "valid: memory_bandwidth_fraction, compute_fraction, attention_compute_fraction, "
                       "network_fraction, collective_latency";
              throw DiagnosticError(d);
            }
            o.kernel_prior_params.insert(k);
          }
        }
        if (*kernels != "none")
          o.kernel_priors = validate::load_kernel_priors(
              kernels->empty() ? ctx.data_dir() / "calibration" / "kernels" : std::filesystem::path(*kernels));
        const auto cal = validate::calibrate(l->rows, base, o);
        const std::filesystem::path dir = *out_dir;
        std::vector<RowResult> cv_rows;
        Summary cv;
        if (!*no_cv) {
          cv_rows = validate::cross_validate(l->rows, base, o, *threads, hold_out);
          cv = validate::summarise(cv_rows);
        }
        // Every file is built first (relative path -> text), then staged, checked by loading it
        // as the efficiency table would, and only then moved into --out: a failure leaves the
        // folder as it was.
        std::map<std::filesystem::path, std::string> files;
        for (const auto& f : cal.families) {
          // The family's own rows under cross-validation (rows and cv_rows share their order).
          std::vector<RowResult> mine;
          for (size_t i = 0; i < cv_rows.size(); ++i)
            if (l->rows[i].family == f.family) mine.push_back(cv_rows[i]);
          const auto fam_cv = validate::summarise(mine).overall;
          files[f.family + ".yaml"] =
              validate::calibration_yaml(f, l->set, *date, *no_cv ? nullptr : &fam_cv, hold_out);
        }
        // The pooled hardware terms, which families without measurements inherit
        // (inheritance.yaml `from: pooled`). Its cross-validated error is recorded under
        // `--cv-by family` only: every row then is predicted by the pooled fit of the other
        // families, as an unmeasured family is.
        {
          const auto pooled_cv = cv.overall;
          files["pooled.yaml"] = validate::calibration_yaml(
              cal.pooled, l->set, *date, !*no_cv && hold_out == validate::HoldOut::family ? &pooled_cv : nullptr,
              hold_out);
        }
        // Software terms per engine; files of engines this fit no longer has are removed so the
        // folder always matches the fit.
        const auto eng_dir = dir / "engines";
        std::set<std::string> own;
        for (const auto& x : cal.engines)
          if (x.kind == "engine") own.insert(x.engine);
        for (const auto& g : cal.engines) {
          // The rows predicted with these terms: the engine's own, or (typical engine) every row
          // whose engine has no fit of its own.
          std::vector<RowResult> mine;
          for (size_t i = 0; i < cv_rows.size(); ++i) {
            const auto key = validate::engine_key(l->rows[i]);
            if ((own.count(key) ? key : std::string("default")) == g.engine) mine.push_back(cv_rows[i]);
          }
          const auto eng_cv = validate::summarise(mine).overall;
          files[std::filesystem::path("engines") / (g.engine + ".yaml")] =
              validate::engine_calibration_yaml(g, l->set, *date, *no_cv ? nullptr : &eng_cv, hold_out);
        }
        install_calibration(dir, files, base);
        // In-sample: every family with its fitted parameters.
        auto fitted = base;
        fitted.apply_overrides(dir);
        const auto in_rows = validate::evaluate(l->rows, fitted);
        const auto in_sample = validate::summarise(in_rows);
        if (!markdown->empty()) {
          std::string md = "### In-sample (fitted on all rows)\n\n" + summary_markdown(in_sample);
          if (!*no_cv) md += fmt::format("### Cross-validated ({})\n\n", cv_title) + summary_markdown(cv);
          md +=
              "### Fitted hardware terms per family\n\n| family | fit | rows | mem bw | compute | attention | network | "
              "collective latency us | kernel prior | flags |\n|---|---|---:|---:|---:|---:|---:|---:|---|---|\n";
          for (const auto& f : cal.families) {
            const auto& e = f.efficiency;
            md += fmt::format("| {} | {} | {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.1f} | {} | {} |\n", f.family,
                              f.kind, f.rows, e.memory_bandwidth_fraction, e.compute_fraction,
                              e.attention_compute_fraction, e.network_fraction, e.collective_latency_s * 1e6,
                              f.prior.empty() ? "-" : std::filesystem::path(f.prior).filename().string(),
                              join(f.flags, "; "));
          }
          if (!o.kernel_priors.empty()) {
            md +=
                "\n### Kernel-level vs end-to-end hardware terms\n\nKernel fits: `tokenfactory calibrate-kernels` "
                "(data/calibration/kernels, docs/kernels.md); end to end: this fit. Held as priors: " +
                (o.kernel_prior_params.empty() ? std::string("none") : join(std::vector<std::string>(
                    o.kernel_prior_params.begin(), o.kernel_prior_params.end()), ", ")) +
                ".\n\n| family | term | kernel | end to end |\n|---|---|---:|---:|\n";
            for (const auto& f : cal.families) {
              const auto kp = o.kernel_priors.find(f.family);
              if (kp == o.kernel_priors.end()) continue;
              for (const auto& [i, v] : kp->second.values)
                md += fmt::format("| {} | {} | {:.3g} | {:.3g} |\n", f.family, validate::fitted_parameters()[i].key,
                                  validate::fitted_parameters()[i].in_unit(v),
                                  validate::fitted_parameters()[i].in_unit(validate::parameter_value(f.efficiency, i)));
            }
            md += "\n(collective latency in us)\n";
          }
          const auto sw_idx = validate::software_indices();
          md += "\n### Software terms per engine (fitted across families)\n\n| engine | fit | rows | families |";
          std::string rule = "|---|---|---:|---|";
          for (const size_t i : sw_idx) {
            md += " " + software_label(i) + " |";
            rule += "---:|";
          }
          md += " in-sample median APE % | flags |\n" + rule + "---:|---|\n";
          for (const auto& g : cal.engines) {
            std::vector<std::string> fams;
            for (const auto& [f, n] : g.families) fams.push_back(fmt::format("{} {}", f, n));
            md += fmt::format("| {} | {} | {} | {} |", g.engine, g.kind, g.rows, join(fams, ", "));
            for (const auto& v : software_cells(g)) md += " " + v + " |";
            md += fmt::format(" {:.1f} | {} |\n", g.in_sample.median_ape, join(g.flags, "; "));
          }
          io::write_text_file(*markdown, md + "\n");
        }
        if (*as_json) {
          std::optional<CrossValidation> cross;
          if (!*no_cv) cross = CrossValidation{hold_out, cv, cv_rows};
          const auto j = calibrate_document(l->set, cal, dir, eng_dir, in_sample, cross);
          *ctx.out << json_text(j) << "\n";
        } else {
          *ctx.out << "hardware terms per family:\n";
          Table t({"family", "fit", "rows", "mem bw", "compute", "attention", "network", "coll us",
                   "in-sample median APE %", "flags"});
          t.right_align({2, 3, 4, 5, 6, 7, 8});
          for (const auto& f : cal.families) {
            const auto& e = f.efficiency;
            t.add_row({f.family, f.kind, std::to_string(f.rows), fixed(e.memory_bandwidth_fraction, 3),
                       fixed(e.compute_fraction, 3), fixed(e.attention_compute_fraction, 3),
                       fixed(e.network_fraction, 3), fixed(e.collective_latency_s * 1e6, 1),
                       fixed(f.in_sample.median_ape, 1), join(f.flags, "; ")});
          }
          t.print(*ctx.out);
          *ctx.out << "\nsoftware terms per engine (across families):\n";
          const auto sw_idx = validate::software_indices();
          std::vector<std::string> head{"engine", "fit", "rows", "families"};
          std::vector<size_t> right{2};
          for (const size_t i : sw_idx) {
            right.push_back(head.size());
            head.push_back(software_label(i));
          }
          right.push_back(head.size());
          head.insert(head.end(), {"in-sample median APE %", "flags"});
          Table te(head);
          te.right_align(right);
          for (const auto& g : cal.engines) {
            std::vector<std::string> fams;
            for (const auto& [f, n] : g.families) fams.push_back(fmt::format("{} {}", f, n));
            std::vector<std::string> cells{g.engine, g.kind, std::to_string(g.rows), join(fams, ", ")};
            for (const auto& v : software_cells(g)) cells.push_back(v);
            cells.push_back(fixed(g.in_sample.median_ape, 1));
            cells.push_back(join(g.flags, "; "));
            te.add_row(cells);
          }
          te.print(*ctx.out);
          *ctx.out << fmt::format("\nwrote {} family file(s) to {} and {} engine file(s) to {}\n\nin-sample:\n",
                                  cal.families.size(), dir.string(), cal.engines.size(), eng_dir.string());
          print_summary(in_sample, *ctx.out);
          if (!*no_cv) {
            *ctx.out << fmt::format("\ncross-validated ({}):\n", cv_title);
            print_summary(cv, *ctx.out);
          }
        }
        return 0;
      };
    });
  }
}

}  // namespace tf::cli
