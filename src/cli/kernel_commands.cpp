// `tokenfactory calibrate-kernels`: the hardware efficiency terms fitted bottom-up from measured
// kernel timings (aiconfigurator perf database), written as priors for `tokenfactory calibrate`.
#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "cli/commands.hpp"
#include "cli/table.hpp"
#include "core/diagnostic.hpp"
#include "core/units.hpp"
#include "io/text.hpp"
#include "io/yaml_reader.hpp"
#include "report/kernels.hpp"
#include "validate/kernels.hpp"

namespace tf::cli {
namespace {

namespace k = validate::kernels;

// The end-to-end calibration's values (data/calibration/<family>.yaml) for the comparison
// columns; read loosely, since that file's schema belongs to `tokenfactory calibrate`.
k::Comparison end_to_end(const std::filesystem::path& dir, const std::vector<k::FamilyFits>& families) {
  k::Comparison out;
  for (const auto& f : families) {
    const auto file = dir / (f.family + ".yaml");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) continue;
    try {
      const auto root = io::load_yaml_file(file);
      auto& m = out[f.family];
      for (const char* key : {"memory_bandwidth_fraction", "compute_fraction", "attention_compute_fraction",
                              "network_fraction"})
        if (auto n = root.optional(key))
          if (auto v = n->optional("value")) m[key] = v->as_double();
      if (auto n = root.optional("collective_latency"))
        if (auto v = n->optional("value")) m["collective_latency_s"] = v->as_quantity(Dimension::seconds);
    } catch (const DiagnosticError&) {
      out.erase(f.family);  // a comparison only: an unreadable file leaves the column out
    }
  }
  return out;
}

}  // namespace

void register_kernel_commands(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "calibrate-kernels",
      "Fit the hardware efficiency terms (GEMM compute and bandwidth fractions, attention, MoE, all-reduce bandwidth "
      "and latency) bottom-up from measured kernel timings (aiconfigurator perf database) with the cost model's "
      "roofline formulas; write <out>/<family>.yaml, which `tokenfactory calibrate` compares with its end-to-end "
      "fit (and holds as priors with --kernel-prior-params)");
  auto kernels = std::make_shared<std::string>();
  auto out_dir = std::make_shared<std::string>();
  auto markdown = std::make_shared<std::string>();
  auto config = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto primary_only = std::make_shared<bool>(false);
  cmd->add_option("--kernels", *kernels,
                  "Folder of kernel tables: <system>/<backend>-<version>/<table>.csv (e.g. "
                  "../shared/calibration/kernels)")
      ->required();
  cmd->add_option("--out", *out_dir, "Folder for <family>.yaml (default: <data>/calibration/kernels)");
  cmd->add_option("--markdown", *markdown, "Also write the report (fit quality, shape tables) as Markdown to this file");
  cmd->add_option("--config", *config,
                  "System and dtype mapping (default: <data>/kernels/systems.yaml): kernel folders -> catalog ids");
  cmd->add_flag("--primary-only", *primary_only, "Read only the TensorRT-LLM and NCCL tables (skip vLLM and SGLang)");
  cmd->add_flag("--json", *as_json, "Print the fits, fit quality and shape tables as JSON (SI units)");
  cmd->callback([&ctx, kernels, out_dir, markdown, config, as_json, primary_only] {
    ctx.action = [&ctx, kernels, out_dir, markdown, config, as_json, primary_only] {
      using clock = std::chrono::steady_clock;
      const auto t0 = clock::now();
      const std::filesystem::path cfg_file =
          config->empty() ? ctx.data_dir() / "kernels" / "systems.yaml" : std::filesystem::path(*config);
      const auto cfg = k::load_kernel_config(cfg_file, ctx.hardware());
      k::Options o;
      o.other_backends = !*primary_only;
      const auto cal = k::calibrate_kernels(*kernels, cfg, ctx.hardware(), o);
      const auto t1 = clock::now();
      const std::filesystem::path dir =
          out_dir->empty() ? ctx.data_dir() / "calibration" / "kernels" : std::filesystem::path(*out_dir);
      std::vector<std::string> written;
      for (const auto& f : cal.families) {
        const auto file = dir / (f.family + ".yaml");
        io::write_text_file(file, k::family_yaml(f, cal));
        written.push_back(file.string());
      }
      if (!markdown->empty())
        io::write_text_file(*markdown, k::kernels_markdown(cal, end_to_end(ctx.data_dir() / "calibration", cal.families)));
      const double secs = std::chrono::duration<double>(t1 - t0).count();
      // Wall time goes to stderr only: stdout and the files stay reproducible.
      *ctx.err << fmt::format("calibrate-kernels: read and fitted {} files, {} rows, {:.1f} MB in {:.2f} s\n",
                              cal.read.files, cal.read.rows, static_cast<double>(cal.read.bytes) / 1e6, secs);
      if (*as_json) {
        *ctx.out << report::json_text(report::kernels_document(cal, written)) << "\n";
        return 0;
      }
      auto f3 = [](const k::RoofFit& r, bool compute) {
        if (!r.fitted || !(compute ? r.compute_identified : r.memory_identified)) return std::string("-");
        return fixed(compute ? r.compute_fraction : r.memory_fraction, 3);
      };
      Table t({"family", "systems", "mem bw", "attn bw", "compute", "attn compute", "moe compute", "network",
               "allreduce us", "coll. latency us", "gemm APE %", "attn APE % (pre/dec)", "moe APE %"});
      t.right_align({2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
      for (const auto& f : cal.families) {
        const auto& x = f.fits;
        const auto& ar = x.allreduce_pooled;
        auto ape = [](const k::RoofFit& r) { return r.fitted ? fixed(r.all.median_ape_pct, 1) : std::string("-"); };
        t.add_row({f.family, join(f.systems, ","), f3(x.gemm, false), f3(x.generation_attention, false),
                   f3(x.gemm, true), f3(x.context_attention, true), f3(x.moe, true),
                   ar.fitted ? fixed(ar.network_fraction, 3) : "-", ar.fitted ? fixed(ar.latency_s * 1e6, 2) : "-",
                   ar.fitted ? fixed((ar.latency_s - f.wire_latency_s) * 1e6, 2) : "-", ape(x.gemm),
                   ape(x.context_attention) + " / " + ape(x.generation_attention), ape(x.moe)});
      }
      t.print(*ctx.out);
      for (const auto& [p, why] : cal.skipped) *ctx.out << fmt::format("skipped {}: {}\n", p, why);
      for (const auto& w : written) *ctx.out << "wrote " << w << "\n";
      if (!markdown->empty()) *ctx.out << "wrote " << *markdown << "\n";
      return 0;
    };
  });
}

}  // namespace tf::cli
