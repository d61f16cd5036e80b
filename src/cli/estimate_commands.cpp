// `tokenfactory estimate`: one operating point with its breakdown and ceilings.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/deployment_options.hpp"
#include "report/documents.hpp"
#include "cli/economics_options.hpp"
#include "cost/attribution.hpp"
#include "cli/table.hpp"
#include "core/units.hpp"

namespace tf::cli {
using namespace report;  // result documents (src/report)
namespace {

void print_estimate(const cost::StepCostModel& m, const cost::Workload& w, const cost::Estimate& e, std::ostream& out) {
  const auto& d = m.deployment();
  out << fmt::format("{} on {} x {}  [{}]\n", d.model->id, d.chips, d.system->id, d.describe());
  out << fmt::format("workload: {:.0f} in / {:.0f} out tokens, {:.0f} requests in flight\n", w.isl, w.osl,
                     w.concurrency);
  const auto& mem = m.memory();
  out << fmt::format("memory per chip ({} {:.1f} GB usable): weights {:.1f} GB, KV {:.1f} GB, activations {:.1f} GB, "
                     "reserve {:.1f} GB, free {:.1f} GB\n",
                     to_string(mem.weight_tier), mem.usable_bytes / 1e9, mem.weights_bytes / 1e9,
                     e.kv_bytes_per_chip / 1e9, mem.activation_bytes / 1e9, mem.reserve_bytes / 1e9,
                     (mem.kv_free_bytes - e.kv_bytes_per_chip) / 1e9);
  if (!e.feasible) out << "INFEASIBLE: " << e.reason << "\n";
  out << fmt::format("TTFT {:.1f} ms   TPOT {:.2f} ms   {:.1f} tok/s per user\n", e.ttft_s * 1e3, e.tpot_s * 1e3,
                     e.output_tok_s_per_user);
  out << fmt::format("throughput: {:.0f} output tok/s per chip, {:.0f} total tok/s per chip, {:.0f} output tok/s "
                     "overall; bound by {}\n",
                     e.output_tok_s_per_chip, e.total_tok_s_per_chip, e.output_tok_s, to_string(e.step.bound_by));
  out << "\nsteady-state step breakdown (per chip):\n";
  Table t({"group", "time ms", "share", "bound", "GFLOP", "MB moved", "MB sent"});
  t.right_align({1, 2, 4, 5, 6});
  for (size_t i = 0; i < cost::kOpGroups; ++i) {
    const auto& g = e.step.groups[i];
    if (g.time_s <= 0) continue;
    t.add_row({std::string(to_string(static_cast<cost::OpGroup>(i))), fixed(g.time_s * 1e3, 3),
               fmt::format("{:.0f}%", 100 * g.time_s / e.step.time_s), std::string(to_string(g.bound)),
               fixed(g.flops / 1e9, 1), fixed(g.bytes / 1e6, 1), fixed(g.net_bytes / 1e6, 2)});
  }
  t.print(out);
  const auto& c = e.ceiling;
  out << fmt::format(
      "\nfirst-principles ceiling: at most {:.0f} requests fit ({:.0f} in + {:.0f} out tokens each); "
      "at most {:.1f} tok/s per user (batch 1); at most {:.0f} tok/s per chip at full memory\n",
      c.max_concurrency, w.isl, w.osl, c.max_output_tok_s_per_user, c.max_output_tok_s_per_chip);
  out << fmt::format("efficiency: {} ({})\n", d.efficiency->family, d.efficiency->file);
  out << fmt::format("provenance: {}; software terms: {}\n", provenance_text(*d.system, *d.efficiency),
                     d.efficiency->provenance.software_summary());
}

}  // namespace

void register_estimate_commands(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "estimate",
      "One operating point: TTFT, TPOT, tokens/s per user and per chip, memory budget, per-operator breakdown "
      "and the first-principles ceilings, for a model on a system at a fixed number of requests in flight");
  auto dep = std::make_shared<DeploymentOptions>();
  auto wl = std::make_shared<WorkloadOptions>();
  auto as_json = std::make_shared<bool>(false);
  auto eo = std::make_shared<EconomicsOptions>();
  cmd->add_option("--model", dep->model, "Model id, short name or path to a Hugging Face config.json")->required();
  cmd->add_option("--hardware", dep->hardware, "Hardware system id (see 'tokenfactory catalog hardware')")->required();
  dep->add_layout(cmd);
  auto engine = std::make_shared<std::string>();
  cmd->add_option("--engine", *engine,
                  "Serving-engine profile: its memory policy sizes the KV cache and its calibrated software terms "
                  "(step and layer overheads) apply (see 'tokenfactory list engines'; default: the typical engine's "
                  "terms and the efficiency file's memory_utilization of total memory)");
  wl->add(cmd, true);
  eo->add(cmd, true);
  cmd->add_flag("--json", *as_json, "Print the result document as JSON (times in ms, throughput in tokens/s, bytes)");
  cmd->callback([&ctx, dep, wl, as_json, eo, engine] {
    ctx.action = [&ctx, dep, wl, as_json, eo, engine] {
      const auto& system = ctx.hardware().get(dep->hardware);
      const auto model = ctx.models().resolve(dep->model);
      auto spec = dep->spec();
      if (!engine->empty()) serving::apply_engine(ctx.engines().get(*engine), spec);
      const auto& eff = engine->empty() ? ctx.efficiency().for_family(system.family)
                                        : ctx.efficiency().for_family(system.family, ctx.engines().get(*engine).id);
      const auto d = cost::resolve_deployment(spec, model, system, eff);
      const cost::StepCostModel m(d);
      const cost::Workload w{wl->isl, wl->osl, wl->concurrency};
      const auto e = cost::estimate(m, w);
      const auto params = eo->params(ctx);
      const auto tco = economics::try_compute_tco(system, params, eo->overrides());
      std::optional<economics::TokenCost> tc;
      if (tco) {
        tc = economics::token_cost(*tco, e.output_tok_s_per_chip, e.total_tok_s_per_chip - e.output_tok_s_per_chip,
                                   cost::prefill_time_share(m, w, e.step.time_s));
      }
      if (*as_json) {
        auto j = estimate_json(m, w, e);
        j["economics"] = tc ? token_cost_json(*tc, *tco) : Json(nullptr);
        if (!tc) j["economics_note"] = "no price or power data for " + system.id + "; pass --capex-usd-per-chip or --usd-per-chip-hour";
        *ctx.out << json_text(j) << "\n";
      } else {
        print_estimate(m, w, e, *ctx.out);
        if (tc) {
          *ctx.out << fmt::format("cost ({} at {:.3f} USD/chip-hour, {} preset): {:.4f} USD per Mtok overall, {:.4f} input, "
                                  "{:.4f} output; {:.0f} output tok/s per MW; {:.2f} J per output token\n",
                                  tco->mode, tco->usd_per_chip_hour, params.name, tc->usd_per_mtok_total,
                                  tc->usd_per_mtok_input, tc->usd_per_mtok_output, tc->output_tok_s_per_mw,
                                  tc->joules_per_output_token);
        } else {
          *ctx.out << "cost: no price or power data for " << system.id << " (pass --capex-usd-per-chip or --usd-per-chip-hour)\n";
        }
      }
      return 0;
    };
  });
}

}  // namespace tf::cli
