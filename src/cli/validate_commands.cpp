// `tokenfactory validate` (predict measured public results and report the errors) and
// `tokenfactory calibrate` (fit per-family efficiencies to them, with cross-validation).
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/table.hpp"
#include "core/diagnostic.hpp"
#include "io/text.hpp"
#include "validate/validate.hpp"

namespace tf::cli {
namespace {

using nlohmann::ordered_json;
using validate::ErrorStats;
using validate::RowResult;
using validate::Summary;

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

ordered_json stats_json(const ErrorStats& s) {
  ordered_json j;
  j["n"] = s.n;
  j["supported"] = s.supported;
  j["median_ape"] = s.median_ape;
  j["p90_ape"] = s.p90_ape;
  j["within_10"] = s.within_10;
  j["within_25"] = s.within_25;
  j["within_50"] = s.within_50;
  return j;
}

ordered_json summary_json(const Summary& s) {
  auto j = stats_json(s.overall);
  j["n_outside_poisson"] = s.n_outside_poisson;
  j["supported_outside_poisson"] = s.supported_outside_poisson;
  j["coverage"] = s.coverage;
  j["throughput"] = stats_json(s.throughput);
  j["latency"] = stats_json(s.latency);
  auto m = [](const std::map<std::string, ErrorStats>& x) {
    ordered_json o = ordered_json::object();
    for (const auto& [k, v] : x) o[k] = stats_json(v);
    return o;
  };
  j["by_hardware"] = m(s.by_hardware);
  j["by_model"] = m(s.by_model);
  j["by_metric"] = m(s.by_metric);
  j["by_scenario"] = m(s.by_scenario);
  j["by_source_group"] = m(s.by_group);
  j["by_source_group_and_kind"] = m(s.by_group_kind);
  return j;
}

ordered_json rows_json(const std::vector<RowResult>& results) {
  ordered_json rows = ordered_json::array();
  for (const auto& r : results) {
    ordered_json j;
    j["id"] = r.row->id;
    j["line"] = r.row->line;
    j["hardware"] = r.row->hardware;
    j["model"] = r.row->model;
    j["scenario"] = validate::to_string(r.row->scenario);
    j["metric"] = validate::to_string(r.row->metric);
    j["measured"] = r.row->value;
    j["supported"] = r.prediction.supported;
    if (r.prediction.supported) {
      j["predicted"] = r.prediction.predicted;
      j["ape"] = r.ape;
      j["batch_per_replica"] = r.prediction.batch;
      j["reason"] = nullptr;
    } else {
      j["predicted"] = nullptr;
      j["ape"] = nullptr;
      j["reason"] = r.prediction.reason;
    }
    j["notes"] = r.prediction.notes;
    j["efficiency"] = r.prediction.efficiency_file;
    rows.push_back(std::move(j));
  }
  return rows;
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
          ordered_json j;
          j["input"] = {{"file", l->set.file_name}, {"fnv1a64", l->set.fnv1a64}};
          j["efficiency"] = *uncalibrated ? "data/efficiency" : "data/efficiency + data/calibration";
          j["rows"] = rows_json(results);
          j["summary"] = summary_json(s);
          *ctx.out << j.dump(2) << "\n";
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
        "Fit the per-family efficiency parameters (bandwidth, compute, attention and network fractions, step, layer "
        "and collective overheads) to a measured-results CSV by minimising squared log error; write "
        "<out>/<family>.yaml and report in-sample and leave-one-source-group-out cross-validated errors");
    auto file = std::make_shared<std::string>();
    auto out_dir = std::make_shared<std::string>();
    auto date = std::make_shared<std::string>();
    auto markdown = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    auto no_cv = std::make_shared<bool>(false);
    auto threads = std::make_shared<int>(2);
    auto min_rows = std::make_shared<size_t>(20);
    auto prior = std::make_shared<double>(validate::FitOptions{}.prior_weight);
    cmd->add_option("--measured", *file, "Measured-results CSV")->required()->check(CLI::ExistingFile);
    cmd->add_option("--out", *out_dir, "Folder for <family>.yaml (default: <data>/calibration)");
    cmd->add_option("--date", *date, "Date recorded in the provenance (none by default: outputs are reproducible)");
    cmd->add_option("--markdown", *markdown, "Also write the cross-validated error tables as Markdown to this file");
    cmd->add_option("--threads", *threads, "Threads for cross-validation folds")->check(CLI::PositiveNumber);
    cmd->add_option("--min-rows", *min_rows, "Supported rows a family needs for its own fit (else pooled)");
    cmd->add_option("--prior-weight", *prior, "Weight of the pull towards the published anchors (transformed space)");
    cmd->add_flag("--no-cross-validation", *no_cv, "Skip the leave-one-source-group-out cross-validation");
    cmd->add_flag("--json", *as_json, "Print the fits and errors as JSON");
    cmd->callback([&ctx, file, out_dir, date, markdown, as_json, no_cv, threads, min_rows, prior] {
      ctx.action = [&ctx, file, out_dir, date, markdown, as_json, no_cv, threads, min_rows, prior] {
        const auto base = cost::EfficiencyTable::load_uncalibrated(ctx.data_dir() / "efficiency");
        const auto l = load(ctx, *file, base);
        validate::FitOptions o;
        o.min_rows = *min_rows;
        o.prior_weight = *prior;
        const auto cal = validate::calibrate(l->rows, base, o);
        const std::filesystem::path dir =
            out_dir->empty() ? ctx.data_dir() / "calibration" : std::filesystem::path(*out_dir);
        std::vector<RowResult> cv_rows;
        Summary cv;
        if (!*no_cv) {
          cv_rows = validate::cross_validate(l->rows, base, o, *threads);
          cv = validate::summarise(cv_rows);
        }
        for (const auto& f : cal.families) {
          // The family's own rows under cross-validation (rows and cv_rows share their order).
          std::vector<RowResult> mine;
          for (size_t i = 0; i < cv_rows.size(); ++i)
            if (l->rows[i].family == f.family) mine.push_back(cv_rows[i]);
          const auto fam_cv = validate::summarise(mine).overall;
          io::write_text_file(dir / (f.family + ".yaml"),
                              validate::calibration_yaml(f, l->set, *date, *no_cv ? nullptr : &fam_cv));
        }
        // In-sample: every family with its fitted parameters.
        auto fitted = base;
        fitted.apply_overrides(dir);
        const auto in_rows = validate::evaluate(l->rows, fitted);
        const auto in_sample = validate::summarise(in_rows);
        if (!markdown->empty()) {
          std::string md = "### In-sample (fitted on all rows)\n\n" + summary_markdown(in_sample);
          if (!*no_cv) md += "### Cross-validated (leave one source group out)\n\n" + summary_markdown(cv);
          md +=
              "### Fitted parameters\n\n| family | fit | rows | mem bw | compute | attention | network | step overhead "
              "us | layer overhead us | collective latency us | flags "
              "|\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
          for (const auto& f : cal.families) {
            const auto& e = f.efficiency;
            md += fmt::format("| {} | {} | {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} | {:.0f} | {:.1f} | {:.1f} | {} |\n",
                              f.family, f.kind, f.rows, e.memory_bandwidth_fraction, e.compute_fraction,
                              e.attention_compute_fraction, e.network_fraction, e.step_overhead_s * 1e6,
                              e.layer_overhead_s * 1e6, e.collective_latency_s * 1e6, join(f.flags, "; "));
          }
          io::write_text_file(*markdown, md + "\n");
        }
        if (*as_json) {
          ordered_json j;
          j["input"] = {{"file", l->set.file_name}, {"fnv1a64", l->set.fnv1a64}};
          ordered_json fams = ordered_json::array();
          for (const auto& f : cal.families) {
            const auto& e = f.efficiency;
            fams.push_back({{"family", f.family},
                            {"fit", f.kind},
                            {"rows", f.rows},
                            {"file", (dir / (f.family + ".yaml")).string()},
                            {"memory_bandwidth_fraction", e.memory_bandwidth_fraction},
                            {"compute_fraction", e.compute_fraction},
                            {"attention_compute_fraction", e.attention_compute_fraction},
                            {"network_fraction", e.network_fraction},
                            {"step_overhead_s", e.step_overhead_s},
                            {"layer_overhead_s", e.layer_overhead_s},
                            {"collective_latency_s", e.collective_latency_s},
                            {"loss_start", f.start_loss},
                            {"loss_fit", f.loss},
                            {"flags", f.flags},
                            {"in_sample", stats_json(f.in_sample)}});
          }
          j["families"] = fams;
          j["in_sample"] = summary_json(in_sample);
          if (!*no_cv) {
            j["cross_validated"] = summary_json(cv);
            j["cross_validated_rows"] = rows_json(cv_rows);
          }
          *ctx.out << j.dump(2) << "\n";
        } else {
          Table t({"family", "fit", "rows", "mem bw", "compute", "attention", "network", "step us", "layer us",
                   "coll us", "in-sample median APE %", "flags"});
          t.right_align({2, 3, 4, 5, 6, 7, 8, 9, 10});
          for (const auto& f : cal.families) {
            const auto& e = f.efficiency;
            t.add_row({f.family, f.kind, std::to_string(f.rows), fixed(e.memory_bandwidth_fraction, 3),
                       fixed(e.compute_fraction, 3), fixed(e.attention_compute_fraction, 3),
                       fixed(e.network_fraction, 3), fixed(e.step_overhead_s * 1e6, 0),
                       fixed(e.layer_overhead_s * 1e6, 1), fixed(e.collective_latency_s * 1e6, 1),
                       fixed(f.in_sample.median_ape, 1), join(f.flags, "; ")});
          }
          t.print(*ctx.out);
          *ctx.out << fmt::format("\nwrote {} file(s) to {}\n\nin-sample:\n", cal.families.size(), dir.string());
          print_summary(in_sample, *ctx.out);
          if (!*no_cv) {
            *ctx.out << "\ncross-validated (leave one source group out):\n";
            print_summary(cv, *ctx.out);
          }
        }
        return 0;
      };
    });
  }
}

}  // namespace tf::cli
