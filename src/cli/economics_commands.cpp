// Economics commands: tco, capex, plan, generations.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/deployment_options.hpp"
#include "report/documents.hpp"
#include "report/generations.hpp"
#include "report/economics.hpp"
#include "cli/economics_options.hpp"
#include "cli/table.hpp"
#include "core/diagnostic.hpp"
#include "economics/generations.hpp"
#include "economics/plan.hpp"
#include "economics/verify.hpp"
#include "io/text.hpp"
#include "io/trace.hpp"

namespace tf::cli {
using namespace report;  // result documents (src/report)
namespace {

int default_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

std::vector<Precision> parse_precisions(const std::vector<std::string>& names) {
  std::vector<Precision> out;
  for (const auto& p : names) out.push_back(parse_precision(p));
  return out;
}

std::vector<const hardware::SystemSpec*> resolve_systems(Context& ctx, const std::vector<std::string>& ids) {
  std::vector<const hardware::SystemSpec*> out;
  for (const auto& id : ids) {
    if (id == "all") {
      for (const auto& s : ctx.hardware().systems()) out.push_back(&s);
    } else {
      out.push_back(&ctx.hardware().get(id));
    }
  }
  if (out.empty()) fail("no hardware given", "pass --hardware ID[,ID...] or all");
  return out;
}

void print_tco(const economics::Tco& t, const economics::EconomicsParams& p, std::ostream& out) {
  out << fmt::format("{}: {} ({} economics preset)\n", t.system_id, t.mode, p.name);
  if (t.mode == "owned") {
    out << fmt::format("  chip price {:.0f} USD -> capex {:.0f} USD per chip with server and network overheads\n",
                       t.chip_price_usd, t.capex_usd_per_chip);
    out << fmt::format("  capital recovery factor {:.4f} ({:.0f} years at {:.1f}%)\n", t.capital_recovery_factor,
                       p.life_years, p.cost_of_capital * 100);
  }
  out << fmt::format("  power: {:.0f} W IT, {:.0f} W all-in per chip ({})\n", t.it_power_w, t.all_in_power_w,
                     t.power_source);
  Table tb({"component", "USD per chip-hour", "share"});
  tb.right_align({1, 2});
  auto row = [&](const char* name, double v) {
    tb.add_row({name, fixed(v, 4), t.usd_per_chip_hour > 0 ? fmt::format("{:.0f}%", 100 * v / t.usd_per_chip_hour) : "-"});
  };
  if (t.mode == "owned") {
    row("capital (CRF)", t.capex_usd_per_hour);
    row("energy", t.energy_usd_per_hour);
    row("colocation", t.colocation_usd_per_hour);
    row("other opex", t.opex_usd_per_hour);
  } else {
    row("rental", t.usd_per_chip_hour);
  }
  tb.add_row({"total", fixed(t.usd_per_chip_hour, 4), "100%"});
  tb.print(out);
  out << fmt::format("  per busy chip-hour at {:.0f}% utilisation: {:.4f} USD\n  price source: {}\n",
                     p.utilization * 100, t.usd_per_busy_chip_hour, t.price_source);
}


}  // namespace

void register_economics_commands(CLI::App& app, Context& ctx) {
  // ---- tco ----
  {
    auto* cmd = app.add_subcommand("tco", "Total cost of ownership per chip-hour: capital (CRF), energy, colocation, "
                                          "other opex, all-in power; or a rental price");
    auto ids = std::make_shared<std::vector<std::string>>();
    auto eo = std::make_shared<EconomicsOptions>();
    auto as_json = std::make_shared<bool>(false);
    cmd->add_option("--hardware", *ids, "System ids (comma-separated), or all")->delimiter(',')->required();
    eo->add(cmd, true);
    cmd->add_flag("--json", *as_json, "Print JSON (USD, W, fractions)");
    cmd->callback([&ctx, ids, eo, as_json] {
      ctx.action = [&ctx, ids, eo, as_json] {
        const auto p = eo->params(ctx);
        const auto systems = resolve_systems(ctx, *ids);
        Json arr = Json::array();
        for (const auto* s : systems) {
          std::optional<economics::Tco> t;
          if (ids->size() == 1 && (*ids)[0] != "all") t = economics::compute_tco(*s, p, eo->overrides());
          else t = economics::try_compute_tco(*s, p, eo->overrides());
          if (!t) {
            if (*as_json) arr.push_back({{"hardware", s->id}, {"usd_per_chip_hour", nullptr}, {"reason", "no price or power data"}});
            else *ctx.out << s->id << ": no price or power data in the catalog\n\n";
            continue;
          }
          if (*as_json) {
            arr.push_back(tco_json(*t, p));
          } else {
            print_tco(*t, p, *ctx.out);
            *ctx.out << "\n";
          }
        }
        if (*as_json) *ctx.out << json_text(arr.size() == 1 ? arr[0] : arr) << "\n";
        return 0;
      };
    });
  }

  // ---- capex ----
  {
    auto* cmd = app.add_subcommand(
        "capex", "The capex test: infrastructure an ARR supports (--arr --gross-margin --depreciation-years), or what "
                 "a capex spent on a system earns (--capex-usd --hardware --model with token prices)");
    struct Opt {
      std::optional<double> arr, gross_margin, depreciation_years, capex_usd, price_in, price_out;
      std::string hardware, model = "deepseek-ai/DeepSeek-R1";
      double isl = 1024, osl = 1024, min_user = 50;
      std::vector<std::string> precisions{"bf16", "fp8", "int8", "nvfp4", "mxfp4"};
      bool json = false;
      EconomicsOptions eo;
    };
    auto o = std::make_shared<Opt>();
    cmd->add_option("--arr", o->arr, "Annual recurring revenue (USD)");
    cmd->add_option("--gross-margin", o->gross_margin, "Gross margin of that revenue (fraction in [0, 1))");
    cmd->add_option("--depreciation-years", o->depreciation_years, "Years over which infrastructure is depreciated");
    cmd->add_option("--capex-usd", o->capex_usd, "Capex to spend on --hardware (USD)");
    cmd->add_option("--hardware", o->hardware, "System the capex buys");
    cmd->add_option("--model", o->model, "Model served")->capture_default_str();
    cmd->add_option("--isl", o->isl, "Input tokens per request")->capture_default_str();
    cmd->add_option("--osl", o->osl, "Output tokens per request")->capture_default_str();
    cmd->add_option("--min-tok-s-per-user", o->min_user, "Interactivity the fleet serves at (tokens/s per user)")
        ->capture_default_str();
    cmd->add_option("--price-input-usd-per-mtok", o->price_in, "Price charged per million input tokens (USD)");
    cmd->add_option("--price-output-usd-per-mtok", o->price_out, "Price charged per million output tokens (USD)");
    cmd->add_option("--precisions", o->precisions, "Formats to consider")->delimiter(',')->capture_default_str();
    o->eo.add(cmd, true);
    cmd->add_flag("--json", o->json, "Print JSON (USD, tokens, years)");
    cmd->callback([&ctx, o] {
      ctx.action = [&ctx, o] {
        Json j{{"schema", "tokenfactory.capex/1"}};
        std::ostringstream text;
        const bool arr_mode = o->arr || o->gross_margin || o->depreciation_years;
        const bool spend_mode = o->capex_usd || !o->hardware.empty();
        if (!arr_mode && !spend_mode) {
          fail("nothing to compute", "pass --arr --gross-margin --depreciation-years, or --capex-usd --hardware "
                                     "--price-input-usd-per-mtok --price-output-usd-per-mtok");
        }
        if (arr_mode) {
          if (!o->arr || !o->gross_margin || !o->depreciation_years)
            fail("the ARR test needs --arr, --gross-margin and --depreciation-years");
          const double infra = economics::supportable_infrastructure_usd(*o->arr, *o->gross_margin, *o->depreciation_years);
          const double cogs = *o->arr * (1 - *o->gross_margin);
          capex_arr_json(j, *o->arr, *o->gross_margin, *o->depreciation_years);
          text << fmt::format("ARR {:.4g} USD at {:.0f}% gross margin: cost of goods {:.4g} USD/year; over {:.4g} years "
                              "that supports {:.4g} USD of infrastructure\n",
                              *o->arr, *o->gross_margin * 100, cogs, *o->depreciation_years, infra);
        }
        if (spend_mode) {
          if (!o->capex_usd || o->hardware.empty() || !o->price_in || !o->price_out)
            fail("the spend test needs --capex-usd, --hardware, --price-input-usd-per-mtok and --price-output-usd-per-mtok");
          if (!(*o->capex_usd > 0)) fail("--capex-usd must be > 0");
          if (!(*o->price_in >= 0) || !(*o->price_out >= 0)) fail("token prices must be >= 0 USD per million tokens");
          const auto& s = ctx.hardware().get(o->hardware);
          const auto p = o->eo.params(ctx);
          const auto model = ctx.models().resolve(o->model);
          economics::CapexSpendSpec spec;
          spec.capex_usd = *o->capex_usd;
          spec.price_input_usd_per_mtok = *o->price_in;
          spec.price_output_usd_per_mtok = *o->price_out;
          spec.sweep.isl = o->isl;
          spec.sweep.osl = o->osl;
          spec.sweep.min_tok_s_per_user = o->min_user;
          spec.sweep.precisions = parse_precisions(o->precisions);
          const auto c = economics::capex_spend(model, s, ctx.efficiency().for_family(s.family), p, o->eo.overrides(), spec);
          capex_spend_json(j, c, spec, s, model, p);
          const auto& t = c.tco;
          const auto* best = &c.best;
          const double chips = c.chips, out_tokens = c.output_tokens_per_year, in_tokens = c.input_tokens_per_year;
          const double revenue = c.revenue_usd_per_year, running = c.running_cost_usd_per_year,
                       depreciation = c.depreciation_usd_per_year, payback = c.payback_years;
          const double gross_profit = revenue - running - depreciation;
          text << fmt::format(
              "{:.4g} USD buys {:.0f} x {} (capex {:.0f} USD each incl. overheads), serving {} at {:.0f} output tok/s "
              "per chip ({}, >= {:.0f} tok/s/user)\n"
              "power: {:.4g} GW facility ({:.4g} GW IT x PUE {:.2f})\n"
              "tokens per year: {:.4g} output + {:.4g} input at {:.0f}% utilisation (the '{}' preset's assumption; "
              "--utilization to change it)\n"
              "revenue {:.4g} USD/year; running cost {:.4g} USD/year; depreciation {:.4g} USD/year over {:.0f} years\n"
              "gross margin {:.1f}%; payback {} years\n",
              *o->capex_usd, chips, s.id, t.capex_usd_per_chip, model.id, best->output_tok_s_per_chip,
              best->config.describe(), o->min_user, chips * t.all_in_power_w / 1e9, chips * t.it_power_w / 1e9, p.pue,
              out_tokens, in_tokens, p.utilization * 100, p.name, revenue, running,
              depreciation, p.life_years, revenue > 0 ? 100 * gross_profit / revenue : 0.0,
              std::isfinite(payback) ? fmt::format("{:.2f}", payback) : "never");
        }
        *ctx.out << (o->json ? json_text(j) + "\n" : text.str());
        return 0;
      };
    });
  }

  // ---- plan ----
  {
    auto* cmd = app.add_subcommand(
        "plan", "Cheapest fleet per system and overall that serves a token demand at a latency SLO (or the most tokens "
                "under a power cap or capex budget): replicas, chips, racks, MW, HBM, capex, opex, $/Mtok");
    struct Opt {
      std::string model = "meta-llama/Llama-3.1-70B-Instruct";
      std::vector<std::string> hardware;
      std::optional<double> demand_tok_s, demand_req_s, power_cap_mw, capex_budget;
      std::string trace;
      double isl = 1024, osl = 1024, min_user = 0, max_ttft_ms = 0, max_tpot_ms = 0;
      std::vector<std::string> precisions{"bf16", "fp8", "int8", "nvfp4"};
      int max_chips = 0;
      bool json = false;
      double attainment = 0.99;
      bool no_check = false;
      bool static_experts = false;
      EconomicsOptions eo;
    };
    auto o = std::make_shared<Opt>();
    cmd->add_option("--model", o->model, "Model id, short name or config.json path")->capture_default_str();
    cmd->add_option("--hardware", o->hardware, "Candidate systems (comma-separated), or all")->delimiter(',')->required();
    cmd->add_option("--slo-attainment", o->attainment,
                    "Share of requests that must meet the TTFT / TPOT limits when the plan is checked under load "
                    "(with --trace or a TTFT / TPOT limit: each system's fleet is replayed through the serving "
                    "simulator and grown until it holds)")
        ->capture_default_str();
    cmd->add_flag("--no-serving-check", o->no_check,
                  "Skip the check under load: size from steady-state estimates only");
    cmd->add_option("--demand-output-tok-s", o->demand_tok_s, "Output tokens per second to serve");
    cmd->add_option("--demand-requests-s", o->demand_req_s, "Requests per second to serve (each --osl output tokens)");
    cmd->add_option("--trace", o->trace,
                    "Demand from a request trace (Azure or BurstGPT or vidur CSV, Mooncake JSONL): its request rate and "
                    "mean input/output tokens replace --demand-* and --isl/--osl");
    auto* isl_opt = cmd->add_option("--isl", o->isl, "Input tokens per request")->capture_default_str();
    auto* osl_opt = cmd->add_option("--osl", o->osl, "Output tokens per request")->capture_default_str();
    cmd->add_option("--min-tok-s-per-user", o->min_user, "SLO: minimum output tokens/s per user (1 / TPOT)")->capture_default_str();
    cmd->add_option("--max-ttft-ms", o->max_ttft_ms, "SLO: maximum time to first token (ms, 0 = none)")->capture_default_str();
    cmd->add_option("--max-tpot-ms", o->max_tpot_ms, "SLO: maximum time per output token (ms, 0 = none)")->capture_default_str();
    cmd->add_option("--power-cap-mw", o->power_cap_mw, "Maximise tokens under this all-in power (MW) instead of meeting a demand");
    cmd->add_option("--capex-budget-usd", o->capex_budget, "Maximise tokens under this capex (USD) instead of meeting a demand");
    cmd->add_option("--precisions", o->precisions, "Formats to consider")->delimiter(',')->capture_default_str();
    cmd->add_option("--max-chips", o->max_chips, "Largest replica (TP x PP chips); 0 = max(domain, 64)")->capture_default_str();
    o->eo.add(cmd, false, true);
    add_static_experts_flag(cmd, o->static_experts);
    cmd->add_flag("--json", o->json, "Print JSON");
    cmd->callback([&ctx, o, isl_opt, osl_opt] {
      const bool lengths_given = isl_opt->count() > 0 || osl_opt->count() > 0;
      ctx.action = [&ctx, o, lengths_given] {
        std::optional<io::Trace> trace;
        if (!o->trace.empty()) {
          if (o->demand_tok_s || o->demand_req_s || lengths_given)
            fail("--trace sets the demand and the lengths", "drop --demand-output-tok-s, --demand-requests-s, --isl and --osl");
          trace = io::load_trace(o->trace);
          o->isl = std::max(1.0, trace->mean_input_tokens());
          o->osl = std::max(1.0, trace->mean_output_tokens());
          o->demand_req_s = trace->request_rate();
        }
        if (!(o->isl >= 1) || !(o->osl >= 1)) fail("--isl and --osl must be >= 1 token");
        if (o->demand_tok_s && o->demand_req_s) fail("give --demand-output-tok-s or --demand-requests-s, not both");
        if ((o->demand_tok_s || o->demand_req_s || trace) && (o->power_cap_mw || o->capex_budget))
          fail("a demand (--demand-output-tok-s, --demand-requests-s or --trace) cannot be combined with "
               "--power-cap-mw or --capex-budget-usd",
               "give a demand to size a fleet that meets it, or a budget to maximise tokens under it");
        economics::PlanRequest r;
        r.isl = o->isl;
        r.osl = o->osl;
        if (o->demand_tok_s) r.demand_output_tok_s = *o->demand_tok_s;
        if (o->demand_req_s) r.demand_output_tok_s = *o->demand_req_s * o->osl;
        if (o->power_cap_mw) r.power_cap_w = *o->power_cap_mw * 1e6;
        r.capex_budget_usd = o->capex_budget;
        if ((o->demand_tok_s || o->demand_req_s) && !(r.demand_output_tok_s > 0)) fail("the demand must be > 0");
        if (o->min_user < 0 || o->max_ttft_ms < 0 || o->max_tpot_ms < 0) fail("SLO values must be >= 0");
        r.slo = {o->min_user, o->max_ttft_ms / 1e3, o->max_tpot_ms / 1e3};
        r.precisions = parse_precisions(o->precisions);
        r.max_chips_per_replica = o->max_chips;
        r.eplb = !o->static_experts;
        const auto p = o->eo.params(ctx);
        const auto model = ctx.models().resolve(o->model);
        auto res = economics::plan(model, resolve_systems(ctx, o->hardware), ctx.efficiency(), p, r,
                                   o->eo.overrides(), default_threads());
        // Plans that hold under load: with a trace, or TTFT / TPOT limits, each system's fleet is
        // replayed request by request (the trace, else Poisson arrivals at the demand) and grown
        // until the share of requests meeting the limits reaches --slo-attainment.
        if (!(o->attainment > 0 && o->attainment <= 1))
          fail(fmt::format("--slo-attainment must be in (0, 1], got {}", o->attainment));
        std::map<std::string, economics::ServingCheck> checks;
        const bool budget = r.power_cap_w || r.capex_budget_usd;
        economics::ServingCheckSpec spec;
        if (o->max_ttft_ms > 0) spec.slo.ttft_s = o->max_ttft_ms / 1e3;
        if (o->max_tpot_ms > 0 || o->min_user > 0)
          spec.slo.tpot_s = std::min(o->max_tpot_ms > 0 ? o->max_tpot_ms / 1e3 : 1e300,
                                     o->min_user > 0 ? 1.0 / o->min_user : 1e300);
        spec.target_attainment = o->attainment;
        const bool check = !o->no_check && !budget && spec.slo.any() && (trace || o->max_ttft_ms > 0 || o->max_tpot_ms > 0);
        if (check) {
          if (trace) {
            spec.requests = serving::requests_from_trace(*trace);
          } else {
            const double rate = r.demand_output_tok_s / r.osl;
            spec.requests = serving::make_requests(serving::open_loop_requests(rate, std::nullopt, std::nullopt, 20000),
                                                   {r.isl, 0}, {r.osl, 0}, rate, 1);
          }
          checks = economics::check_plan_under_load(res, spec, p, r);
        }
        auto check_text = [&](const std::string& id) -> std::string {
          const auto it = checks.find(id);
          if (it == checks.end()) return "-";
          const auto& c = it->second;
          if (c.units == c.planned_units) return fmt::format("{:.1f}% meet SLO", 100 * c.attainment);
          return fmt::format("{:.1f}% at {:.0f} -> {:.1f}% at {:.0f} replicas{}", 100 * c.planned_attainment,
                             c.planned_units, 100 * c.attainment, c.units, c.holds ? "" : " (does not hold)");
        };
        if (o->json) {
          PlanDocument doc;
          doc.model = model.id;
          doc.request = r;
          doc.min_tok_s_per_user = o->min_user;
          doc.max_ttft_ms = o->max_ttft_ms;
          doc.max_tpot_ms = o->max_tpot_ms;
          doc.preset = p.name;
          doc.price_basis = o->eo.price_basis;
          doc.power_cap_mw = o->power_cap_mw;
          doc.trace = trace ? &*trace : nullptr;
          doc.plan = &res;
          doc.check = check ? &spec : nullptr;
          doc.checks = checks;
          doc.efficiency = &ctx.efficiency();
          const auto j = plan_document(doc);
          *ctx.out << json_text(j) << "\n";
          return 0;
        }
        if (trace) {
          *ctx.out << fmt::format("trace {} ({}): {} requests over {:.0f} s = {:.2f} requests/s, mean {:.0f} in / {:.0f} out tokens\n",
                                  trace->file, trace->format, trace->requests.size(), trace->duration_s(),
                                  trace->request_rate(), trace->mean_input_tokens(), trace->mean_output_tokens());
        }
        *ctx.out << fmt::format("Plan: {} at {} ({:.0f} in / {:.0f} out tokens), SLO >= {:.0f} tok/s/user{}{}; "
                                "price basis {}\n\n",
                                model.id,
                                r.power_cap_w ? fmt::format("max tokens under {:.3g} MW", *o->power_cap_mw)
                                : r.capex_budget_usd ? fmt::format("max tokens under {:.4g} USD capex", *r.capex_budget_usd)
                                                     : fmt::format("{:.4g} output tok/s", r.demand_output_tok_s),
                                r.isl, r.osl, o->min_user,
                                o->max_ttft_ms > 0 ? fmt::format(", TTFT <= {:.0f} ms", o->max_ttft_ms) : "",
                                o->max_tpot_ms > 0 ? fmt::format(", TPOT <= {:.1f} ms", o->max_tpot_ms) : "",
                                o->eo.price_basis);
        std::vector<std::string> cols{"hardware", "$/Mtok", "chips", "racks", "MW", "HBM TB", "capex $M", "opex $M/yr",
                                      "out tok/s", "tok/s/user", "provenance", "config / reason"};
        if (check) cols.insert(cols.end() - 1, "under load");
        Table t(cols);
        t.right_align({1, 2, 3, 4, 5, 6, 7, 8, 9});
        ProvenanceColumn provenance(ctx.efficiency());
        for (const auto& sp : res.systems) {
          const std::string prov = provenance.cell(*sp.system);
          std::vector<std::string> row;
          if (!sp.best) {
            row = {sp.system->id, "-", "-", "-", "-", "-", "-", "-", "-", "-", prov, sp.reason};
          } else {
            const auto& f = *sp.best;
            row = {f.system->id, fixed(f.usd_per_mtok, 3), thousands(f.chips), thousands(f.racks), fixed(f.power_w / 1e6, 3),
                   fixed(f.hbm_bytes / 1e12, 1), fixed(f.capex_usd / 1e6, 1), fixed(f.opex_usd_per_year / 1e6, 2),
                   thousands(f.output_tok_s), fixed(f.point.output_tok_s_per_user, 1), prov,
                   f.point.config.describe() + (f.tco.mode == "rental" ? " (rented)" : "")};
          }
          if (check) row.insert(row.end() - 1, sp.best ? check_text(sp.system->id) : "-");
          t.add_row(row);
        }
        t.print(*ctx.out);
        *ctx.out << provenance.footnote();
        if (check)
          *ctx.out << fmt::format("\nunder load: each fleet replayed through the serving simulator ({} requests, {}) and "
                                  "grown by 10% until {:.1f}% of requests meet{}{}\n",
                                  spec.requests.size(), trace ? "the trace's arrivals" : "Poisson arrivals at the demand",
                                  100 * spec.target_attainment,
                                  spec.slo.ttft_s ? fmt::format(" TTFT <= {:g} ms", *spec.slo.ttft_s * 1e3) : "",
                                  spec.slo.tpot_s ? fmt::format(" TPOT <= {:.4g} ms", *spec.slo.tpot_s * 1e3) : "");
        *ctx.out << fmt::format("\nbest: {} with {} chips at {:.3f} USD per million output tokens\n",
                                res.best->system->id, thousands(res.best->chips), res.best->usd_per_mtok);
        return 0;
      };
    });
  }

  // ---- generations ----
  {
    auto* cmd = app.add_subcommand(
        "generations", "Output tokens/s per chip at a fixed interactivity for each generation of a vendor line, against "
                       "HBM capacity x bandwidth per chip, with the log-log fit");
    struct Opt {
      std::string model = "deepseek-ai/DeepSeek-R1";
      double user = 50, isl = 1024, osl = 1024;
      std::vector<std::string> precisions{"bf16", "fp8", "int8", "nvfp4", "mxfp4"};
      std::string lines_file, csv;
      bool json = false;
      bool static_experts = false;
      EconomicsOptions eo;
    };
    auto o = std::make_shared<Opt>();
    cmd->add_option("--model", o->model, "Reference model")->capture_default_str();
    o->eo.add(cmd, false, true);
    cmd->add_option("--tok-s-per-user", o->user, "Interactivity at which chips are compared (tokens/s per user)")->capture_default_str();
    cmd->add_option("--isl", o->isl, "Input tokens per request")->capture_default_str();
    cmd->add_option("--osl", o->osl, "Output tokens per request")->capture_default_str();
    cmd->add_option("--precisions", o->precisions, "Formats to consider (each chip uses the best it supports)")
        ->delimiter(',')->capture_default_str();
    cmd->add_option("--lines", o->lines_file, "Vendor lines YAML (default data/generations/vendor-lines.yaml)");
    cmd->add_option("--csv", o->csv, "Also write the rows to this CSV file");
    add_static_experts_flag(cmd, o->static_experts);
    cmd->add_flag("--json", o->json, "Print JSON");
    cmd->callback([&ctx, o] {
      ctx.action = [&ctx, o] {
        if (!(o->user > 0)) fail("--tok-s-per-user must be > 0");
        const auto model = ctx.models().resolve(o->model);
        const auto lines = economics::load_generations(
            o->lines_file.empty() ? ctx.data_dir() / "generations" / "vendor-lines.yaml" : std::filesystem::path(o->lines_file),
            ctx.hardware());
        GenerationsQuery q;
        q.tok_s_per_user = o->user;
        q.sweep.isl = o->isl;
        q.sweep.osl = o->osl;
        q.sweep.precisions = parse_precisions(o->precisions);
        q.sweep.eplb = !o->static_experts;
        q.economics = o->eo.params(ctx);
        q.overrides = o->eo.overrides();
        q.threads = default_threads();
        const auto report = compute_generations(model, lines, ctx.hardware(), ctx.efficiency(), std::move(q));
        const auto& g = report.result;
        const auto& params = report.query.economics;
        const auto& overrides = report.query.overrides;
        auto per_mw = [&](size_t i) { return report.tok_s_per_mw(i); };
        auto usd = [&](size_t i) { return report.usd_per_mtok(i); };
        if (!o->csv.empty()) {
          std::ostringstream c;
          c << "line,hardware,hbm_capacity_bytes,hbm_bandwidth_bytes_per_s,capacity_x_bandwidth,output_tok_s_per_chip,"
               "output_tok_s_per_mw,usd_per_mtok_total,price_basis,config\n";
          for (size_t i = 0; i < g.rows.size(); ++i) {
            const auto& r = g.rows[i];
            auto opt = [](const std::optional<double>& v) { return v ? fmt::format("{:.6g}", *v) : std::string(); };
            c << fmt::format("{},{},{:.6g},{:.6g},{:.6g},{:.6g},{},{},{},{}\n", r.line, r.system->id,
                             r.hbm_capacity_bytes, r.hbm_bandwidth_bytes_per_s, r.capacity_x_bandwidth,
                             r.output_tok_s_per_chip, opt(per_mw(i)), opt(usd(i)), overrides.price_basis, r.config);
          }
          io::write_text_file(o->csv, c.str());
        }
        if (o->json) {
          *ctx.out << json_text(generations_document(report, ctx.efficiency())) << "\n";
          return 0;
        }
        *ctx.out << fmt::format("Generations: {} at >= {:.0f} tok/s per user ({:.0f} in / {:.0f} out)\n", model.id,
                                o->user, o->isl, o->osl);
        *ctx.out << fmt::format("cost: {} preset, price basis {} (systems without a price on it show -); per MW of "
                                "facility power (IT power x PUE {:.2f})\n\n",
                                params.name, overrides.price_basis, params.pue);
        Table t({"line", "hardware", "HBM GB", "HBM TB/s", "GB x TB/s", "out tok/s per chip", "out tok/s per MW",
                 "USD per Mtok", "provenance", "config / note"});
        t.right_align({2, 3, 4, 5, 6, 7});
        ProvenanceColumn provenance(ctx.efficiency());
        for (size_t i = 0; i < g.rows.size(); ++i) {
          const auto& r = g.rows[i];
          const auto mw = per_mw(i), cost = usd(i);
          t.add_row({r.line, r.system->id, fixed(r.hbm_capacity_bytes / 1e9, 0), fixed(r.hbm_bandwidth_bytes_per_s / 1e12, 2),
                     fixed(r.capacity_x_bandwidth / 1e21, 0), r.output_tok_s_per_chip > 0 ? fixed(r.output_tok_s_per_chip, 0) : "-",
                     mw ? fixed(*mw, 0) : "-", cost ? fixed(*cost, 3) : "-", provenance.cell(*r.system),
                     r.output_tok_s_per_chip > 0 ? r.config : r.note});
        }
        t.print(*ctx.out);
        *ctx.out << provenance.footnote();
        *ctx.out << fmt::format("\nlog-log fit (all, n={}): tok/s per chip ~ (capacity x bandwidth)^{:.2f}, R^2 = {:.2f}\n",
                                g.fit.n, g.fit.slope, g.fit.r2);
        for (const auto& [name, f] : g.per_line)
          *ctx.out << fmt::format("  {} (n={}): slope {:.2f}, R^2 {:.2f}\n", name, f.n, f.slope, f.r2);
        return 0;
      };
    });
  }
}

}  // namespace tf::cli
