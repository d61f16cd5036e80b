// `tokenfactory simulate`: the request-level serving simulator on one deployment, with the
// steady-state estimate printed beside it.
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/deployment_options.hpp"
#include "cli/table.hpp"
#include "core/diagnostic.hpp"
#include "cost/estimate.hpp"
#include "io/text.hpp"
#include "io/trace.hpp"
#include "serving/serving.hpp"

namespace tf::cli {
namespace {

using nlohmann::ordered_json;

struct SimulateOptions {
  double isl = 1024, osl = 256, spread = 0;
  double concurrency = 0, rate = 0;
  std::string trace;
  bool batch = false;
  long long requests = 0;
  std::string scheduler = "mixed";
  double step_tokens = 0, max_running = 0;
  unsigned long long seed = 1;
  bool json = false;
  std::string requests_csv;
};

ordered_json dist_json(const serving::Distribution& d, double scale) {
  return {{"mean", d.mean * scale}, {"median", d.median * scale}, {"p90", d.p90 * scale},
          {"p99", d.p99 * scale},   {"max", d.max * scale}};
}

std::string describe_arrivals(const SimulateOptions& o, const serving::Workload& w) {
  if (!o.trace.empty()) return fmt::format("trace {} ({} requests)", o.trace, w.requests.size());
  if (o.concurrency > 0) return fmt::format("closed loop, {:.0f} clients", o.concurrency);
  if (o.rate > 0) return fmt::format("Poisson, {:g} requests/s", o.rate);
  return "all requests queued at t = 0";
}

}  // namespace

void register_serving_commands(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "simulate",
      "Request-level serving simulation: continuous batching with chunked prefill under a token budget, KV "
      "admission, DP replicas behind a round-robin router; closed loop (--concurrency), Poisson (--rate), a trace "
      "(--trace) or a queued batch (--batch). Prints TTFT / TPOT / E2E distributions and throughput beside the "
      "steady-state estimate");
  auto dep = std::make_shared<DeploymentOptions>();
  auto o = std::make_shared<SimulateOptions>();
  cmd->add_option("--model", dep->model, "Model id, short name or path to a Hugging Face config.json")->required();
  cmd->add_option("--hardware", dep->hardware, "Hardware system id (see 'tokenfactory catalog hardware')")->required();
  dep->add_layout(cmd);
  auto* isl = cmd->add_option("--isl", o->isl, "Mean input (prompt) tokens per request (not with --trace)")
      ->capture_default_str();
  auto* osl =
      cmd->add_option("--osl", o->osl, "Mean output tokens per request (not with --trace)")->capture_default_str();
  auto* spread = cmd->add_option("--length-spread", o->spread,
                  "Request lengths uniform in mean x [1 - s, 1 + s] (0: every request has the mean)")
      ->capture_default_str();
  auto* conc = cmd->add_option("--concurrency", o->concurrency, "Closed loop: clients each keeping one request in flight");
  auto* rate = cmd->add_option("--rate", o->rate, "Open loop: Poisson arrivals at this many requests/s");
  auto* trace = cmd->add_option("--trace", o->trace, "Open loop: arrivals and lengths from a trace (Azure, BurstGPT, "
                                                     "vidur CSV or Mooncake JSONL)")
                    ->check(CLI::ExistingFile);
  auto* batch = cmd->add_flag("--batch", o->batch, "All requests queued at t = 0 (offline throughput run)");
  conc->excludes(rate)->excludes(trace)->excludes(batch);
  rate->excludes(trace)->excludes(batch);
  trace->excludes(batch);
  auto* requests = cmd->add_option("--requests", o->requests,
                  "Requests to simulate (default: 10 per client, 1000 for --rate and --batch, the whole trace)");
  std::vector<std::string> names;
  for (const auto& s : serving::schedulers()) names.emplace_back(s.name);
  cmd->add_option("--scheduler", o->scheduler, "Step policy: " + join(names) + " (see 'tokenfactory list schedulers')")
      ->capture_default_str();
  auto* step_tokens = cmd->add_option("--step-tokens", o->step_tokens,
                  "Token budget per step (max_num_batched_tokens; default: the efficiency file's activation_tokens)");
  auto* max_running = cmd->add_option("--max-running", o->max_running, "Most sequences in flight per replica (default: KV memory decides)");
  auto* seed = cmd->add_option("--seed", o->seed, "Seed of the lengths and arrival times (not with --trace)")
                   ->capture_default_str();
  cmd->add_option("--requests-csv", o->requests_csv, "Also write every request's arrival, first token and finish");
  cmd->add_flag("--json", o->json, "Print the result document as JSON (times in ms, throughput in tokens/s)");
  // Every value a user gives is checked where it was given (a 0 is never read as "default").
  const auto given = [](const CLI::Option* opt) { return opt->count() > 0; };
  cmd->callback([&ctx, dep, o, given, conc, rate, trace, batch, isl, osl, spread, requests, step_tokens, max_running,
                 seed] {
    ctx.action = [&ctx, dep, o, given, conc, rate, trace, batch, isl, osl, spread, requests, step_tokens,
                  max_running, seed] {
      const int modes = given(conc) + given(rate) + given(trace) + given(batch);
      if (modes != 1)
        fail("simulate needs exactly one arrival mode", "--concurrency N, --rate R, --trace FILE or --batch");
      if (given(conc) && !(o->concurrency >= 1 && o->concurrency == std::floor(o->concurrency)))
        fail(fmt::format("--concurrency must be a whole number of clients >= 1, got {}", o->concurrency));
      if (given(rate) && !(o->rate > 0 && std::isfinite(o->rate)))
        fail(fmt::format("--rate must be > 0 requests/s, got {}", o->rate));
      if (given(trace))
        for (const auto* opt : {isl, osl, spread, seed})
          if (given(opt)) fail(fmt::format("{} cannot be combined with --trace (the trace gives lengths and arrivals)",
                                           opt->get_name()));
      if (!(o->isl >= 1)) fail(fmt::format("--isl must be >= 1 token, got {}", o->isl));
      if (!(o->osl >= 1)) fail(fmt::format("--osl must be >= 1 token, got {}", o->osl));
      if (!(o->spread >= 0 && o->spread < 1)) fail(fmt::format("--length-spread must be in [0, 1), got {}", o->spread));
      if (given(requests) && o->requests < 1) fail(fmt::format("--requests must be >= 1, got {}", o->requests));
      if (given(step_tokens) && !(o->step_tokens >= 1))
        fail(fmt::format("--step-tokens must be >= 1, got {}", o->step_tokens));
      if (given(max_running) && !(o->max_running >= 1))
        fail(fmt::format("--max-running must be >= 1, got {}", o->max_running));
      const auto scheduler = serving::parse_scheduler(o->scheduler);
      if (!scheduler) {
        std::vector<std::string> valid;
        for (const auto& s : serving::schedulers()) valid.emplace_back(s.name);
        fail(fmt::format("unknown --scheduler '{}'", o->scheduler), "valid: " + join(valid));
      }

      const auto& system = ctx.hardware().get(dep->hardware);
      const auto model = ctx.models().resolve(dep->model);
      const auto d = cost::resolve_deployment(dep->spec(), model, system, ctx.efficiency().for_family(system.family));
      const cost::StepCostModel m(d);
      if (!m.memory().weights_fit) fail("does not fit: " + m.memory().reason);

      serving::Workload w;
      double mean_isl = o->isl, mean_osl = o->osl;
      if (!o->trace.empty()) {
        const auto t = io::load_trace(o->trace);
        size_t n = t.requests.size();
        if (o->requests > 0) n = std::min<size_t>(n, static_cast<size_t>(o->requests));
        for (size_t i = 0; i < n; ++i) {
          const auto& r = t.requests[i];
          w.requests.push_back({r.arrival_s, static_cast<double>(std::max(1LL, r.input_tokens)),
                                static_cast<double>(std::max(1LL, r.output_tokens))});
        }
        mean_isl = t.mean_input_tokens();
        mean_osl = t.mean_output_tokens();
      } else {
        size_t n = o->requests > 0 ? static_cast<size_t>(o->requests)
                   : o->concurrency > 0 ? static_cast<size_t>(10 * o->concurrency)
                                        : 1000;
        w.requests = serving::make_requests(n, {o->isl, o->spread}, {o->osl, o->spread}, o->rate, o->seed);
        w.clients = static_cast<int>(o->concurrency);
      }
      serving::EngineConfig engine;
      engine.scheduler = *scheduler;
      engine.step_tokens = o->step_tokens > 0 ? o->step_tokens : d.efficiency->activation_tokens;
      engine.max_running = o->max_running;
      const auto r = serving::simulate_deployment(m, engine, w);

      // The steady state at the mean number of requests in the system, for comparison.
      const double mean_in_system = r.mean_in_system;
      const double steady_c = std::max<double>(d.dp, std::round(mean_in_system));
      const auto e = cost::estimate(m, cost::Workload{mean_isl, mean_osl, steady_c}, false);
      const double chips = d.chips;

      if (!o->requests_csv.empty()) {
        std::string csv = "request,arrival_s,input_tokens,output_tokens,first_token_s,finish_s,ttft_s,tpot_s,e2e_s\n";
        for (size_t i = 0; i < r.requests.size(); ++i) {
          const auto& q = r.requests[i];
          csv += fmt::format("{},{:.9g},{:.0f},{:.0f},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g}\n", i, q.arrival_s,
                             q.input_tokens, q.output_tokens, q.first_token_s, q.finish_s, q.ttft_s(), q.tpot_s(),
                             q.e2e_s());
        }
        io::write_text_file(o->requests_csv, csv);
      }

      if (o->json) {
        ordered_json j;
        j["model"] = d.model->id;
        j["hardware"] = d.system->id;
        j["chips"] = d.chips;
        j["deployment"] = d.describe();
        j["efficiency"] = d.efficiency->file;
        j["workload"] = {{"arrivals", describe_arrivals(*o, w)},
                         {"requests", w.requests.size()},
                         {"mean_input_tokens", mean_isl},
                         {"mean_output_tokens", mean_osl},
                         {"length_spread", o->trace.empty() ? o->spread : 0.0},
                         {"seed", o->seed}};
        j["engine"] = {{"scheduler", serving::to_string(engine.scheduler)},
                       {"step_tokens", engine.step_tokens},
                       {"max_running", engine.max_running > 0 ? ordered_json(engine.max_running) : ordered_json()},
                       {"kv_capacity_bytes_per_chip", r.kv_capacity_bytes}};
        j["result"] = {{"duration_s", r.duration_s},
                       {"output_tok_s", r.output_tok_s},
                       {"input_tok_s", r.input_tok_s},
                       {"output_tok_s_per_chip", r.output_tok_s / chips},
                       {"ttft_ms", dist_json(r.ttft_s, 1e3)},
                       {"tpot_ms", dist_json(r.tpot_s, 1e3)},
                       {"e2e_s", dist_json(r.e2e_s, 1)},
                       {"mean_requests_in_system", mean_in_system},
                       {"peak_running_per_replica", r.peak_running},
                       {"peak_kv_bytes_per_chip", r.peak_kv_bytes},
                       {"steps", r.steps},
                       {"step_evaluations", r.step_evaluations}};
        j["steady_state"] = {{"concurrency", steady_c},
                             {"feasible", e.feasible},
                             {"ttft_ms", e.ttft_s * 1e3},
                             {"tpot_ms", e.tpot_s * 1e3},
                             {"output_tok_s", e.output_tok_s}};
        *ctx.out << j.dump(2) << "\n";
        return 0;
      }
      auto& out = *ctx.out;
      out << fmt::format("{} on {} x {}  [{}]\n", d.model->id, d.chips, d.system->id, d.describe());
      out << fmt::format("workload: {}; {} requests, mean {:.0f} in / {:.0f} out tokens\n", describe_arrivals(*o, w),
                         w.requests.size(), mean_isl, mean_osl);
      out << fmt::format("engine: {} steps, token budget {:.0f}, {}; KV {:.1f} GB per chip\n",
                         serving::to_string(engine.scheduler), engine.step_tokens,
                         engine.max_running > 0 ? fmt::format("at most {:.0f} running", engine.max_running)
                                                : std::string("KV memory decides the batch"),
                         r.kv_capacity_bytes / 1e9);
      out << fmt::format("simulated {:.1f} s: {:.0f} output tok/s ({:.0f} per chip), {:.1f} requests in the system "
                         "on average, peak {:.0f} running per replica, peak KV {:.1f} GB per chip\n\n",
                         r.duration_s, r.output_tok_s, r.output_tok_s / chips, mean_in_system, r.peak_running,
                         r.peak_kv_bytes / 1e9);
      Table t({"metric", "mean", "median", "p90", "p99", "max"});
      t.right_align({1, 2, 3, 4, 5});
      auto row = [&](const char* name, const serving::Distribution& dd, double scale, int digits) {
        t.add_row({name, fixed(dd.mean * scale, digits), fixed(dd.median * scale, digits), fixed(dd.p90 * scale, digits),
                   fixed(dd.p99 * scale, digits), fixed(dd.max * scale, digits)});
      };
      row("TTFT ms", r.ttft_s, 1e3, 1);
      row("TPOT ms", r.tpot_s, 1e3, 2);
      row("E2E s", r.e2e_s, 1, 2);
      t.print(out);
      out << fmt::format("\nsteady state at {:.0f} requests in flight: TTFT {:.1f} ms, TPOT {:.2f} ms, {:.0f} output "
                         "tok/s{}\n",
                         steady_c, e.ttft_s * 1e3, e.tpot_s * 1e3, e.output_tok_s,
                         e.feasible ? "" : " (infeasible: " + e.reason + ")");
      out << fmt::format("{} engine steps in {} step-cost evaluations\n", r.steps, r.step_evaluations);
      return 0;
    };
  });
}

}  // namespace tf::cli
