// `tokenfactory simulate`: the request-level serving simulator on one deployment, with the
// steady-state estimate printed beside it.
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <optional>
#include <utility>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "report/simulate.hpp"
#include "cli/deployment_options.hpp"
#include "cli/economics_options.hpp"
#include "cli/scenario.hpp"
#include "cli/table.hpp"
#include "core/diagnostic.hpp"
#include "cost/estimate.hpp"
#include "io/text.hpp"
#include "io/trace.hpp"
#include "io/session_trace.hpp"
#include "serving/cluster/disaggregated.hpp"
#include "serving/kv/offload.hpp"
#include "serving/serving.hpp"

namespace tf::cli {
using namespace report;  // result documents (src/report)
namespace {

using nlohmann::ordered_json;

struct SimulateOptions {
  std::string engine;  // engine profile id (data/engines); empty: none
  unsigned streams = 1;  // parallel streams per request (Request::streams)
  bool cascade_attention = false;
  double isl = 1024, osl = 256, spread = 0;
  double concurrency = 0, rate = 0;
  double burstiness = 1;                        // Gamma shape of the arrival gaps (1: Poisson)
  double think_time_s = 0;                      // closed loop: mean pause between a client's requests
  int turns = 0;                                // closed loop: turns per session (0: no sessions)
  double tool_time_s = 0;                       // closed loop: mean core-seconds of a tool call before a request
  std::string tool_time_dist = "exponential";
  double cpu_cores = 0;                         // host cores for tool calls (0: the system's)
  std::string think_time_dist = "exponential";  // fixed or exponential
  std::string trace;
  std::string session_trace;  // JSONL sessions (io/session_trace.hpp)
  bool batch = false;
  long long requests = 0;
  std::string scheduler = "mixed";
  std::string kv_admission;  // empty: the --engine profile's (paged when it preempts), else whole-context
  double step_tokens = 0, max_running = 0;
  double request_overhead_ms = 0;
  std::string preemption;  // recompute | swap; empty: the engine profile's, else recompute
  double swap_space_gb = 0, swap_gbps = 0;
  unsigned long long seed = 1;
  bool json = false;
  std::string requests_csv;
  bool find_max_rate = false;
  double find_split = 0;  // chips to split between a prefill and a decode pool (0: no split search)
  double max_p99_ttft_ms = 0, max_p99_tpot_ms = 0;
  double slo_ttft_ms = 0, slo_tpot_ms = 0;  // goodput SLO (0: not given)
  bool prefix_caching = false;
  std::vector<std::string> kv_offload;  // offload tiers, fastest first ("dram", "dram,ssd"); empty: none
  double kv_dram_gb = 0, kv_ssd_gb = 0, kv_dram_gbps = 0, kv_ssd_gbps = 0, kv_store_gb = 0, kv_store_gbps = 0;
  std::string kv_reload = "when-faster";
  std::string kv_prefetch = "none";
  std::string kv_eviction = "lru";
  std::vector<std::string> kv_tier_eviction;  // per offload tier, or one for all; empty: lru
  double prefix_zipf = 0;
  double find_dram_size = 0;  // target prefix-cache hit rate for the DRAM tier size search (0: none)
  double shared_prefix_tokens = 0;
  int prefix_groups = 1;
  std::string router = "round-robin";
  std::string scenario;
  std::string chrome_trace;
  // Prefill/decode disaggregation: a prefill pool beside the deployment the other flags describe
  // (which becomes the decode pool).
  long long prefill_replicas = 0;
  std::string prefill_hardware;
  int prefill_tp = 0, prefill_pp = 0, prefill_ep = 0;
  std::string prefill_attention_dp;  // true / false; empty: the decode pool's
  double prefill_step_tokens = 0;
  double kv_transfer_gbps = 0, kv_transfer_latency_us = 0;
  std::string kv_transfer_link = "scale-out";
  std::string decode_router;  // empty: --router
};

std::string describe_closed_loop(const SimulateOptions& o);

std::string describe_arrivals(const SimulateOptions& o, const serving::Workload& w) {
  if (!o.trace.empty()) return fmt::format("trace {} ({} requests)", o.trace, w.requests.size());
  if (!o.session_trace.empty())
    return fmt::format("session trace {} ({} turns{})", o.session_trace, w.requests.size(),
                       w.session_start_s.empty() ? fmt::format(", {:.0f} clients", o.concurrency)
                                                 : std::string(", sessions arriving as traced"));
  if (o.concurrency > 0) return describe_closed_loop(o);
  if (o.rate > 0)
    return o.burstiness != 1 ? fmt::format("Gamma arrivals (burstiness {:g}), {:g} requests/s", o.burstiness, o.rate)
                             : fmt::format("Poisson, {:g} requests/s", o.rate);
  return "all requests queued at t = 0";
}

// The arrivals, and the parallel streams per request when there are several.
std::string describe_workload(const SimulateOptions& o, const serving::Workload& w) {
  std::string d = describe_arrivals(o, w);
  if (o.streams > 1) d += fmt::format("; {} parallel streams per request over its shared prompt", o.streams);
  return d;
}

std::string describe_closed_loop(const SimulateOptions& o) {
  std::string d = fmt::format("closed loop, {:.0f} clients", o.concurrency);
  if (o.turns > 0) d += fmt::format(" in sessions of {} turns", o.turns);
  if (o.think_time_s > 0) d += fmt::format(", {} think time of mean {:g} s", o.think_time_dist, o.think_time_s);
  if (o.tool_time_s > 0) d += fmt::format(", {} tool calls of mean {:g} core-s", o.tool_time_dist, o.tool_time_s);
  return d;
}

void add_distribution_rows(Table& t, const char* over, const serving::Phase& p) {
  auto row = [&](const char* name, const serving::Distribution& dd, double scale, int digits) {
    t.add_row({name, over, fixed(dd.mean * scale, digits), fixed(dd.median * scale, digits),
               fixed(dd.p90 * scale, digits), fixed(dd.p99 * scale, digits), fixed(dd.max * scale, digits)});
  };
  row("TTFT ms", p.ttft_s, 1e3, 1);
  row("TPOT ms", p.tpot_s, 1e3, 2);
  row("E2E s", p.e2e_s, 1, 2);
}

std::string requests_csv_text(const serving::Result& r) {
  std::string csv = "request,arrival_s,input_tokens,output_tokens,first_token_s,finish_s,ttft_s,tpot_s,e2e_s,replica\n";
  for (size_t i = 0; i < r.requests.size(); ++i) {
    const auto& q = r.requests[i];
    csv += fmt::format("{},{:.9g},{:.0f},{:.0f},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{}\n", i, q.arrival_s,
                       q.input_tokens, q.output_tokens, q.first_token_s, q.finish_s, q.ttft_s(), q.tpot_s(), q.e2e_s(),
                       q.replica);
  }
  return csv;
}

// The run in Chrome's trace event format (chrome://tracing, ui.perfetto.dev): per replica a
// process with its engine iterations as slices (a decode stretch is one slice of many steps),
// KV in use and sequences in flight as counters, and each request as two async slices (arrival
// to first token, first token to finish). Times in microseconds.
std::string chrome_trace_text(const serving::Result& r, const serving::Timeline& tl, const std::string& title) {
  std::string s = "{\"displayTimeUnit\": \"ms\", \"otherData\": {";
  s += fmt::format("\"title\": {}, \"iterations_recorded\": {}, \"iterations_dropped\": {}, \"max_iterations\": {}",
                   json_text(ordered_json(title)), tl.recorded, tl.dropped, tl.max_events);
  s += "},\n\"traceEvents\": [\n";
  bool first = true;
  auto event = [&](const std::string& e) {
    if (!first) s += ",\n";
    first = false;
    s += e;
  };
  const size_t replicas = std::max<size_t>(tl.replicas.size(), r.per_replica.size());
  for (size_t p = 0; p < replicas; ++p) {
    event(fmt::format(R"j({{"ph": "M", "name": "process_name", "pid": {}, "args": {{"name": "replica {}"}}}})j", p, p));
    event(fmt::format(R"j({{"ph": "M", "name": "thread_name", "pid": {}, "tid": 0, "args": {{"name": "engine iterations"}}}})j", p));
    event(fmt::format(R"j({{"ph": "M", "name": "thread_name", "pid": {}, "tid": 1, "args": {{"name": "requests"}}}})j", p));
  }
  for (size_t p = 0; p < tl.replicas.size(); ++p)
    for (const auto& it : tl.replicas[p]) {
      const char* name = it.prefill_tokens > 0 ? (it.decode_seqs > 0 ? "mixed" : "prefill")
                         : it.steps > 1        ? "decode stretch"
                                               : "decode";
      event(fmt::format(
          R"j({{"ph": "X", "cat": "step", "name": "{}", "pid": {}, "tid": 0, "ts": {:.3f}, "dur": {:.3f}, "args": {{"steps": {:g}, "decode_seqs": {:g}, "prefill_tokens": {:g}}}}})j",
          name, p, it.start_s * 1e6, it.duration_s * 1e6, it.steps, it.decode_seqs, it.prefill_tokens));
      event(fmt::format(R"j({{"ph": "C", "name": "KV in use (GB per chip)", "pid": {}, "ts": {:.3f}, "args": {{"kv": {:.6g}}}}})j",
                        p, it.start_s * 1e6, it.kv_bytes / 1e9));
      event(fmt::format(R"j({{"ph": "C", "name": "sequences in flight", "pid": {}, "ts": {:.3f}, "args": {{"running": {:g}}}}})j",
                        p, it.start_s * 1e6, it.running));
    }
  // Requests, within the same bound as the iterations.
  const size_t shown = std::min(r.requests.size(), tl.max_events);
  for (size_t i = 0; i < shown; ++i) {
    const auto& q = r.requests[i];
    auto span = [&](const char* name, double a, double b) {
      event(fmt::format(R"j({{"ph": "b", "cat": "request", "name": "{}", "id": {}, "pid": {}, "tid": 1, "ts": {:.3f}, "args": {{"input_tokens": {:g}, "output_tokens": {:g}}}}})j",
                        name, i, q.replica, a * 1e6, q.input_tokens, q.output_tokens));
      event(fmt::format(R"j({{"ph": "e", "cat": "request", "name": "{}", "id": {}, "pid": {}, "tid": 1, "ts": {:.3f}}})j", name,
                        i, q.replica, b * 1e6));
    };
    span("waiting + prefill", q.arrival_s, q.first_token_s);
    if (q.finish_s > q.first_token_s) span("decode", q.first_token_s, q.finish_s);
  }
  s += "\n]}\n";
  return s;
}

}  // namespace

void register_serving_commands(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "simulate",
      "Request-level serving simulation: continuous batching with chunked prefill under a token budget, KV "
      "admission, DP replicas behind a router (--router); closed loop (--concurrency), Poisson (--rate), a trace "
      "(--trace) or a queued batch (--batch). Prints TTFT / TPOT / E2E distributions and throughput over the steady "
      "window and the whole run beside the steady-state estimate; --find-max-rate bisects the largest Poisson rate "
      "meeting p99 latency limits; --scenario FILE runs a scenario file and its variants side by side");
  auto dep = std::make_shared<DeploymentOptions>();
  auto o = std::make_shared<SimulateOptions>();
  auto econ = std::make_shared<EconomicsOptions>();
  auto* model_opt = cmd->add_option("--model", dep->model, "Model id, short name or path to a Hugging Face config.json");
  auto* hw_opt = cmd->add_option("--hardware", dep->hardware, "Hardware system id (see 'tokenfactory catalog hardware')");
  auto* scenario = cmd->add_option("--scenario", o->scenario,
                                   "Run a scenario file (model, deployment, engine, router, workload, SLO and "
                                   "variants side by side; docs/scenarios.md) instead of the other flags");
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
  auto* burst = cmd->add_option("--burstiness", o->burstiness,
                                "With --rate or --find-max-rate: Gamma-distributed arrival gaps of this shape (vLLM "
                                "bench --burstiness): 1 is Poisson, below 1 burstier (gap CV 1/sqrt(b)), above 1 more "
                                "regular")
                    ->capture_default_str();
  auto* think = cmd->add_option("--think-time-s", o->think_time_s,
                                "With --concurrency: each client pauses this long on average between a response and "
                                "its next request (agents, chat users; 0: at once, as a benchmark client)");
  auto* turns = cmd->add_option("--turns", o->turns,
                                "With --concurrency: each client runs multi-turn sessions of this many turns; a "
                                "turn's prompt is the session so far (--shared-prefix-tokens as the system prompt, "
                                "then every earlier turn's input and output) plus --isl new tokens");
  auto* tool = cmd->add_option("--tool-time-s", o->tool_time_s,
                               "With --concurrency: before each request but a client's (or session's) first, an "
                               "agent tool call of this many core-seconds on average runs on a host CPU core, "
                               "waiting for a free one");
  auto* tool_dist = cmd->add_option("--tool-time-dist", o->tool_time_dist,
                                    "With --tool-time-s: fixed or exponential tool calls")
                        ->capture_default_str();
  auto* cores = cmd->add_option("--cpu-cores", o->cpu_cores,
                                "With --tool-time-s: host cores for tool calls (default: the system's cores per chip "
                                "x the service's chips)");
  auto* think_dist = cmd->add_option("--think-time-dist", o->think_time_dist,
                                     "With --think-time-s: fixed or exponential pauses")
                         ->capture_default_str();
  auto* trace = cmd->add_option("--trace", o->trace, "Open loop: arrivals and lengths from a trace (Azure, BurstGPT, "
                                                     "vidur CSV or Mooncake JSONL)")
                    ->check(CLI::ExistingFile);
  auto* batch = cmd->add_flag("--batch", o->batch, "All requests queued at t = 0 (offline throughput run)");
  auto* sessions = cmd->add_option("--session-trace", o->session_trace,
                                   "Multi-turn sessions from a JSONL session trace (session, turn, input_tokens or "
                                   "prompt_tokens, output_tokens, think_s, tool_s, arrival_s; docs/serving.md): "
                                   "sessions arrive as traced, or run on --concurrency N clients")
                       ->check(CLI::ExistingFile);
  conc->excludes(rate)->excludes(trace)->excludes(batch);
  rate->excludes(trace)->excludes(batch);
  trace->excludes(batch);
  auto* find = cmd->add_flag("--find-max-rate", o->find_max_rate,
                             "Bisect the largest Poisson rate (req/s) whose steady-window p99 TTFT / TPOT meet "
                             "--max-p99-ttft-ms / --max-p99-tpot-ms and that the deployment keeps up with");
  auto* split = cmd->add_option(
      "--find-split", o->find_split,
      "With --find-max-rate: split this many chips between a prefill pool (--prefill-* flags) and a decode pool "
      "(the deployment flags, one replica each) every way that leaves less than a replica idle, search each split's "
      "largest rate, and compare them with the colocated deployment on the same chips");
  auto* max_ttft = cmd->add_option("--max-p99-ttft-ms", o->max_p99_ttft_ms,
                                   "With --find-max-rate: limit on the steady window's p99 time to first token (ms)");
  auto* max_tpot = cmd->add_option("--max-p99-tpot-ms", o->max_p99_tpot_ms,
                                   "With --find-max-rate: limit on the steady window's p99 time per output token (ms)");
  auto* slo_ttft = cmd->add_option("--slo-ttft-ms", o->slo_ttft_ms,
                                   "Goodput SLO: a request meets it when its time to first token is at most this (ms)");
  auto* slo_tpot = cmd->add_option(
      "--slo-tpot-ms", o->slo_tpot_ms,
      "Goodput SLO: a request meets it when its time per output token (first excluded) is at most this (ms)");
  auto* requests = cmd->add_option(
      "--requests", o->requests,
      fmt::format("Requests to simulate (default: 10 per client; for --rate and each --find-max-rate probe, {:.0f} s "
                  "of arrivals, at most {} requests; 1000 for --batch; the whole trace)",
                  serving::kSettleSeconds, serving::kMaxSimulatedRequests));
  std::vector<std::string> names;
  for (const auto& s : serving::schedulers()) names.emplace_back(s.name);
  auto* sched = cmd->add_option("--scheduler", o->scheduler,
                                "Step policy: " + join(names) + " (see 'tokenfactory list schedulers'; default: the "
                                "--engine profile's, else mixed)")
                    ->capture_default_str();
  cmd->add_option("--engine", o->engine,
                  "Serving-engine profile (tokenfactory list engines): its step policy, memory policy, token budget "
                  "and sequence cap are the defaults the other flags override");
  auto* step_tokens = cmd->add_option("--step-tokens", o->step_tokens,
                  "Token budget per step (max_num_batched_tokens; default: the efficiency file's activation_tokens)");
  auto* max_running = cmd->add_option("--max-running", o->max_running, "Most sequences in flight per replica (default: KV memory decides)");
  auto* preemption = cmd->add_option(
      "--preemption", o->preemption,
      "With paged KV: what preempting a decoding request does with its KV, recompute (freed, prefilled again: vLLM "
      "V1, SGLang) or swap (copied to host swap space and back when readmitted, each copy blocking its step: vLLM V0 "
      "preemption_mode=swap); default: the --engine profile's, else recompute")
      ->check(CLI::IsMember({"recompute", "swap"}));
  auto* swap_gb = cmd->add_option("--swap-space-gb", o->swap_space_gb,
                                  "With --preemption swap: host swap space per chip, GB (default 4.295, vLLM's "
                                  "--swap-space 4 GiB per GPU); a request whose KV does not fit is recomputed");
  auto* swap_bw = cmd->add_option("--swap-gbps", o->swap_gbps,
                                  "With --preemption swap: GB/s per chip each way between device and host (default: "
                                  "the system's host link)");
  auto* request_overhead = cmd->add_option(
      "--request-overhead-ms", o->request_overhead_ms,
      "Time each request spends outside the engine's steps (HTTP receive, tokenisation, hand-off, streaming the "
      "first token back), once in every TTFT and E2E, in [0, 1000] ms (default: the engine's fitted "
      "request_overhead, data/calibration/engines)");
  cmd->add_option("--kv-admission", o->kv_admission,
                  "How requests get KV memory: 'whole-context' (reserved at admission, never evicted: TensorRT-LLM "
                  "guaranteed-no-evict) or 'paged' (prompt blocks at admission, grown per token, the latest request "
                  "preempted and recomputed when memory runs out: vLLM, SGLang); default: the --engine profile's "
                  "(paged when it preempts), else whole-context")
      ->check(CLI::IsMember({"whole-context", "paged"}));
  auto* seed = cmd->add_option("--seed", o->seed, "Seed of the lengths and arrival times (not with --trace)")
                   ->capture_default_str();
  auto* chrome = cmd->add_option("--chrome-trace", o->chrome_trace,
                  "Also write the run as a Chrome trace (open in ui.perfetto.dev or chrome://tracing): engine "
                  "iterations per replica, KV in use, sequences in flight, each request's wait and decode (at most "
                  "500,000 iterations; the file says how many were left out)");
  auto* csv = cmd->add_option("--requests-csv", o->requests_csv,
                  "Also write every request's arrival, first token and finish (--find-max-rate: the run at the rate "
                  "found)");
  cmd->add_flag("--prefix-caching", o->prefix_caching,
                "Reuse cached KV of prompt prefixes (vLLM automatic prefix caching, SGLang RadixAttention): prompts "
                "whose leading blocks are cached skip their prefill; uses a trace's block hashes (Mooncake hash_ids, "
                "512-token blocks) or --shared-prefix-tokens; the run is compared with caching off");
  auto* offload = cmd->add_option("--kv-offload", o->kv_offload,
                                  "With --prefix-caching: KV offload tiers below the device, fastest first (dram, or "
                                  "dram,ssd), then store, a KV store shared by every replica across nodes: evicted "
                                  "prefix blocks move down, and a prompt loads its prefix back over the host link (the "
                                  "store: over the scale-out link; sizes and bandwidths from the system's host data)")
                      ->delimiter(',');
  auto* dram_gb = cmd->add_option("--kv-dram-gb", o->kv_dram_gb,
                                  "With --kv-offload: GB of host DRAM per chip for KV (default: half the host's)");
  auto* ssd_gb = cmd->add_option("--kv-ssd-gb", o->kv_ssd_gb,
                                 "With --kv-offload ...,ssd: GB of local SSD per chip for KV (default: half the node's "
                                 "share)");
  auto* dram_bw = cmd->add_option("--kv-dram-gbps", o->kv_dram_gbps,
                                  "With --kv-offload: GB/s per chip from DRAM to the device (default: the host link)");
  auto* ssd_bw = cmd->add_option("--kv-ssd-gbps", o->kv_ssd_gbps,
                                 "With --kv-offload ...,ssd: GB/s per chip from SSD to the device (default: the node's "
                                 "SSD read bandwidth over its chips, at most the host link)");
  auto* store_gb = cmd->add_option("--kv-store-gb", o->kv_store_gb,
                                   "With --kv-offload ...,store: GB per chip of the service that the shared KV store "
                                   "holds (pooled across nodes: the store holds this x every chip)");
  auto* store_bw = cmd->add_option("--kv-store-gbps", o->kv_store_gbps,
                                   "With --kv-offload ...,store: GB/s per chip from the store to the device (default: "
                                   "the system's scale-out link)");
  auto* reload = cmd->add_option("--kv-reload", o->kv_reload,
                                 "With --kv-offload: when-faster (load a prefix only when that beats recomputing it) "
                                 "or always")
                     ->capture_default_str();
  auto* prefetch = cmd->add_option("--kv-prefetch", o->kv_prefetch,
                                   "With --kv-offload over two tiers or more: none, or on-arrival (a queued request's "
                                   "prefix blocks below the first tier are staged into it while it waits)")
                       ->capture_default_str();
  auto* tier_eviction =
      cmd->add_option("--kv-tier-eviction", o->kv_tier_eviction,
                      "With --kv-offload: which block each offload tier gives up first when full, lru or lfu (the "
                      "count of requests that used a block travels with it between the device and the tiers); one "
                      "value for every tier, or one per tier in --kv-offload's order (default: lru)")
          ->delimiter(',');
  cmd->add_option("--kv-eviction", o->kv_eviction,
                  "With --prefix-caching: which unpinned cached block the device evicts first, lru (least recently "
                  "used) or lfu (least frequently used, ties least recently)")
      ->capture_default_str();
  auto* find_dram = cmd->add_option(
      "--find-dram-size", o->find_dram_size,
      "With --kv-offload dram[,ssd]: bisect the smallest DRAM tier per chip (up to its default or --kv-dram-gb) whose "
      "prefix-cache hit rate reaches this share (0-1)");
  cmd->add_option(
      "--streams", o->streams,
      "Parallel streams per request (reasoning samples, best-of-N, vLLM's n): the prompt is computed once and N "
      "sequences decode over its shared KV, each --osl tokens (a trace's output length); the answer completes with "
      "its last stream")
      ->capture_default_str();
  cmd->add_flag("--cascade-attention", o->cascade_attention,
                "With --streams N: a decode step reads the prompt's KV the streams share once, not once per stream "
                "(cascade / shared-prefix attention kernels: FlashInfer cascade, vLLM V1 cascade attention)");
  auto* shared = cmd->add_option("--shared-prefix-tokens", o->shared_prefix_tokens,
                                 "Synthetic workloads: every prompt starts with a shared system prompt of this many "
                                 "tokens (hashed in 16-token blocks; not with --trace)");
  auto* groups = cmd->add_option("--prefix-groups", o->prefix_groups,
                                 "Distinct shared prefixes, request i using prefix i mod N (with --shared-prefix-tokens)")
                     ->capture_default_str();
  cmd->add_option("--prefix-zipf", o->prefix_zipf,
                               "With --prefix-groups: draw each request's prefix with probability proportional to "
                               "1/(rank)^S (Zipf popularity, seeded) instead of cycling through them; 0: cycle")
                   ->capture_default_str();
  {
    std::vector<std::string> rnames;
    for (const auto& r : serving::routers()) rnames.emplace_back(r.name);
    cmd->add_option("--router", o->router,
                    "How requests are spread over the DP replicas: " + join(rnames) +
                        " (see 'tokenfactory list routers'); the load-aware ones decide at each arrival, every "
                        "replica on one clock; session-sticky needs --concurrency clients")
        ->capture_default_str();
  }
  auto* pre_reps = cmd->add_option(
      "--prefill-replicas", o->prefill_replicas,
      "Prefill/decode disaggregation: this many prefill replicas compute every prompt and its first token and send "
      "its KV to the deployment the other flags describe, which becomes the decode pool (--dp decode replicas; "
      "docs/serving.md)");
  auto* pre_hw = cmd->add_option("--prefill-hardware", o->prefill_hardware,
                                 "With --prefill-replicas: the prefill pool's system (default: --hardware)");
  auto* pre_tp = cmd->add_option("--prefill-tp", o->prefill_tp, "With --prefill-replicas: prefill TP (default: --tp)");
  auto* pre_pp = cmd->add_option("--prefill-pp", o->prefill_pp, "With --prefill-replicas: prefill PP (default: --pp)");
  auto* pre_ep = cmd->add_option("--prefill-ep", o->prefill_ep, "With --prefill-replicas: prefill EP (default: --ep)");
  auto* pre_adp = cmd->add_option("--prefill-attention-dp", o->prefill_attention_dp,
                                  "With --prefill-replicas: true or false (default: as --attention-dp)")
                      ->check(CLI::IsMember({"true", "false"}));
  auto* pre_step = cmd->add_option("--prefill-step-tokens", o->prefill_step_tokens,
                                   "With --prefill-replicas: the prefill engine's token budget per step (default: "
                                   "--step-tokens)");
  auto* kv_gbps = cmd->add_option("--kv-transfer-gbps", o->kv_transfer_gbps,
                                  "With --prefill-replicas: KV transfer bandwidth, GB/s per chip and direction "
                                  "(default: the --kv-transfer-link figure of the two systems, the smaller)");
  auto* kv_lat = cmd->add_option("--kv-transfer-latency-us", o->kv_transfer_latency_us,
                                 "With --prefill-replicas: latency per KV transfer, us (default: the link's stated "
                                 "latency, else 0)");
  auto* kv_link = cmd->add_option("--kv-transfer-link", o->kv_transfer_link,
                                  "With --prefill-replicas: the network the KV crosses: scale-out (default) or "
                                  "scale-up (both pools on one system type, within one scale-up domain)")
                      ->check(CLI::IsMember({"scale-out", "scale-up"}));
  auto* dec_router = cmd->add_option("--decode-router", o->decode_router,
                                     "With --prefill-replicas: the decode pool's router (default: --router, which "
                                     "routes prompts to prefill replicas)");
  const std::vector<CLI::Option*> disagg_opts{pre_hw, pre_tp, pre_pp, pre_ep, pre_adp, pre_step,
                                              kv_gbps, kv_lat, kv_link, dec_router};
  econ->add(cmd, false, true);  // what the run's tokens cost: --price-basis, --economics, --pue, ...
  cmd->add_flag("--json", o->json, "Print the result document as JSON (times in ms, throughput in tokens/s)");
  // Every value a user gives is checked where it was given (a 0 is never read as "default").
  const auto given = [](const CLI::Option* opt) { return opt->count() > 0; };
  cmd->callback([&ctx, cmd, dep, o, given, conc, rate, trace, batch, isl, osl, spread, requests, step_tokens,
                 max_running, slo_ttft, slo_tpot, shared, groups, seed, find, max_ttft, max_tpot, sched, scenario,
                 model_opt, hw_opt, pre_reps, disagg_opts, econ, split, chrome, csv, burst, think, think_dist, offload, dram_gb, ssd_gb, dram_bw, ssd_bw, store_gb, store_bw, reload, prefetch, tier_eviction, find_dram, turns, tool, tool_dist, cores, sessions, request_overhead, preemption, swap_gb, swap_bw] {
    ctx.action = [&ctx, cmd, dep, o, given, conc, rate, trace, batch, isl, osl, spread, requests, step_tokens,
                  slo_ttft, slo_tpot, shared, groups, max_running, seed, find, max_ttft, max_tpot, sched, scenario,
                  model_opt, hw_opt, pre_reps, disagg_opts, econ, split, chrome, csv, burst, think, think_dist, offload, dram_gb, ssd_gb, dram_bw, ssd_bw, store_gb, store_bw, reload, prefetch, tier_eviction, find_dram, turns, tool, tool_dist, cores, sessions, request_overhead, preemption, swap_gb, swap_bw] {
      if (given(scenario)) {
        for (const auto* opt : cmd->get_options())
          if (opt != scenario && opt->get_name() != "--json" && opt->count() > 0)
            fail(fmt::format("{} cannot be combined with --scenario (the file says everything; its variants "
                             "override it)",
                             opt->get_name()));
        return run_scenario(load_scenario(o->scenario), ctx.data_flag, o->json, *ctx.out, *ctx.err);
      }
      for (const auto* opt : {model_opt, hw_opt})
        if (!given(opt)) fail(fmt::format("{} is required", opt->get_name()), "or --scenario FILE");
      if (given(groups) && !given(shared)) fail("--prefix-groups needs --shared-prefix-tokens");
      if (given(shared) && (given(trace) || given(find)))
        fail(fmt::format("--shared-prefix-tokens cannot be combined with {}", given(trace) ? "--trace (it has its own "
                                                                                            "prefixes or none)"
                                                                                          : "--find-max-rate"));
      if (given(find) && o->prefix_caching) fail("--prefix-caching cannot be combined with --find-max-rate");
      if (given(find) && given(chrome))
        fail("--chrome-trace cannot be combined with --find-max-rate",
             "simulate the rate it finds with --rate R --chrome-trace FILE");
      if (given(split) && given(csv))
        fail("--requests-csv cannot be combined with --find-split (which of its runs?)",
             "simulate the split it names with --prefill-replicas P --dp D --rate R --requests-csv FILE");
      if (given(split)) {
        if (!given(find)) fail("--find-split needs --find-max-rate (and its latency limits)");
        for (const char* name : {"--prefill-replicas", "--dp", "--chips"})
          if (given(cmd->get_option(name)))
            fail(fmt::format("--find-split cannot be combined with {} (the search chooses the replica counts)", name));
        if (!(o->find_split >= 2 && o->find_split <= 65536 && o->find_split == std::floor(o->find_split)))
          fail(fmt::format("--find-split must be a whole number of chips in [2, 65536], got {}", o->find_split));
        o->prefill_replicas = 1;  // the pools are set up with one replica each; the search sets the counts
      }
      if (given(find)) {
        for (const auto* opt : {conc, rate, trace, batch, sessions})
          if (given(opt))
            fail(fmt::format("--find-max-rate cannot be combined with {} (it searches the Poisson rate itself)",
                             opt->get_name()));
        if (!given(max_ttft) && !given(max_tpot))
          fail("--find-max-rate needs a latency limit", "--max-p99-ttft-ms MS and / or --max-p99-tpot-ms MS");
      } else {
        for (const auto* opt : {max_ttft, max_tpot})
          if (given(opt)) fail(fmt::format("{} is a limit for --find-max-rate", opt->get_name()));
        // A session trace is a mode of its own (--concurrency only gives it clients).
        const int modes = (given(sessions) ? 1 : given(conc)) + given(rate) + given(trace) + given(batch);
        if (modes != 1)
          fail("simulate needs exactly one arrival mode",
               "--concurrency N, --rate R, --trace FILE, --session-trace FILE, --batch or --find-max-rate");
        if (given(sessions))
          for (const auto* opt : {isl, osl, spread, turns, shared, think, think_dist, tool, tool_dist, requests})
            if (given(opt))
              fail(fmt::format("{} cannot be combined with --session-trace (the trace gives its sessions' turns, "
                               "lengths, pauses and tool calls)",
                               opt->get_name()));
      }
      for (const auto& [opt, v] : {std::pair{max_ttft, o->max_p99_ttft_ms}, std::pair{max_tpot, o->max_p99_tpot_ms},
                                   std::pair{slo_ttft, o->slo_ttft_ms}, std::pair{slo_tpot, o->slo_tpot_ms}})
        if (given(opt) && !(v > 0 && std::isfinite(v)))
          fail(fmt::format("{} must be a finite number of milliseconds > 0, got {}", opt->get_name(), v));
      if (given(conc) && !(o->concurrency >= 1 && o->concurrency == std::floor(o->concurrency)))
        fail(fmt::format("--concurrency must be a whole number of clients >= 1, got {}", o->concurrency));
      if (given(rate) && !(o->rate > 0 && std::isfinite(o->rate)))
        fail(fmt::format("--rate must be > 0 requests/s, got {}", o->rate));
      if (given(burst)) {
        if (!given(rate) && !o->find_max_rate)
          fail("--burstiness shapes Poisson-like arrivals: use it with --rate R or --find-max-rate");
        if (!(o->burstiness > 0 && std::isfinite(o->burstiness)))
          fail(fmt::format("--burstiness must be a finite number > 0 (1: Poisson), got {}", o->burstiness));
      }
      for (const auto* opt : {dram_gb, ssd_gb, dram_bw, ssd_bw, store_gb, store_bw, reload, prefetch, tier_eviction})
        if (given(opt) && !given(offload))
          fail(fmt::format("{} sets a KV offload tier: use it with --kv-offload dram[,ssd][,store]", opt->get_name()));
      if (given(find_dram)) {
        if (o->kv_offload.empty() || o->kv_offload.front() != "dram")
          fail("--find-dram-size sizes the DRAM tier: use it with --kv-offload dram[,ssd] and --prefix-caching");
        if (!(o->find_dram_size > 0 && o->find_dram_size <= 1))
          fail(fmt::format("--find-dram-size must be a hit rate in (0, 1], got {}", o->find_dram_size));
        for (const auto* opt : {chrome, csv})
          if (given(opt))
            fail(fmt::format("{} cannot be combined with --find-dram-size (it runs many simulations)", opt->get_name()),
                 "simulate the size it finds with --kv-dram-gb G");
      }
      if (given(offload) && !o->prefix_caching)
        fail("--kv-offload holds evicted prefix-cache blocks: add --prefix-caching");
      if (o->kv_reload != "when-faster" && o->kv_reload != "always")
        fail(fmt::format("unknown --kv-reload '{}'", o->kv_reload), "valid: when-faster, always");
      if (o->kv_prefetch != "none" && o->kv_prefetch != "on-arrival")
        fail(fmt::format("unknown --kv-prefetch '{}'", o->kv_prefetch), "valid: none, on-arrival");
      if (o->kv_prefetch != "none" && (o->kv_offload.size() < 2 || o->kv_offload.front() == "store"))
        fail("--kv-prefetch stages a prefix from the deeper offload tiers into the first: use it with --kv-offload "
             "over two tiers or more, the first of them a node's own",
             "e.g. --kv-offload dram,ssd or dram,store");
      for (const auto& e : o->kv_tier_eviction)
        if (e != "lru" && e != "lfu") fail(fmt::format("unknown --kv-tier-eviction '{}'", e), "valid: lru, lfu");
      if (o->kv_tier_eviction.size() > 1 && o->kv_tier_eviction.size() != o->kv_offload.size())
        fail(fmt::format("--kv-tier-eviction gives {} policies for {} offload tiers ({})", o->kv_tier_eviction.size(),
                         o->kv_offload.size(), join(o->kv_offload, ",")),
             "give one for every tier, or one per tier in --kv-offload's order");
      if (o->kv_eviction != "lru" && o->kv_eviction != "lfu")
        fail(fmt::format("unknown --kv-eviction '{}'", o->kv_eviction), "valid: lru, lfu");
      if (o->kv_eviction != "lru" && !o->prefix_caching)
        fail("--kv-eviction orders the prefix cache's evictions: add --prefix-caching");
      if (o->prefix_zipf != 0 && !given(shared))
        fail("--prefix-zipf draws the shared prefixes' popularity: use it with --shared-prefix-tokens");
      for (const auto& [opt, v] :
           {std::pair{dram_gb, o->kv_dram_gb}, std::pair{ssd_gb, o->kv_ssd_gb}, std::pair{store_gb, o->kv_store_gb}})
        if (given(opt) && !(v >= 0 && std::isfinite(v)))
          fail(fmt::format("{} must be a finite number of GB >= 0, got {}", opt->get_name(), v));
      for (const auto& [opt, v] : {std::pair{dram_bw, o->kv_dram_gbps}, std::pair{ssd_bw, o->kv_ssd_gbps},
                                   std::pair{store_bw, o->kv_store_gbps}})
        if (given(opt) && !(v > 0 && std::isfinite(v)))
          fail(fmt::format("{} must be a finite number of GB/s > 0, got {}", opt->get_name(), v));
      if (given(turns)) {
        if (!given(conc)) fail("--turns makes each closed-loop client run sessions: use it with --concurrency N");
        if (o->turns < 1 || o->turns > 100000) fail(fmt::format("--turns must be in [1, 100000], got {}", o->turns));
        if (o->prefix_groups != 1)
          fail("--prefix-groups cannot be combined with --turns (every session starts with the one system prompt "
               "--shared-prefix-tokens gives)");
      }
      if (given(tool) || given(tool_dist) || (given(cores) && !given(sessions))) {
        if (!given(conc)) fail("--tool-time-s, --tool-time-dist and --cpu-cores are agent tool calls between a client's "
                               "requests: use --concurrency N (or a --session-trace with tool_s)");
        if (!given(tool)) fail("--tool-time-dist and --cpu-cores shape tool calls: give --tool-time-s");
        if (!(o->tool_time_s >= 0 && std::isfinite(o->tool_time_s)))
          fail(fmt::format("--tool-time-s must be a finite number of seconds >= 0, got {}", o->tool_time_s));
        if (!serving::parse_think_time(o->tool_time_dist))
          fail(fmt::format("unknown --tool-time-dist '{}'", o->tool_time_dist), "valid: fixed, exponential");
      }
      if (given(cores) && !(o->cpu_cores >= 1 && o->cpu_cores <= 1e6 && o->cpu_cores == std::floor(o->cpu_cores)))
        fail(fmt::format("--cpu-cores must be a whole number in [1, 1e6], got {}", o->cpu_cores));
      if (given(think) || given(think_dist)) {
        if (!given(conc)) fail("--think-time-s and --think-time-dist are pauses of closed-loop clients: use --concurrency N");
        if (!(o->think_time_s >= 0 && std::isfinite(o->think_time_s)))
          fail(fmt::format("--think-time-s must be a finite number of seconds >= 0, got {}", o->think_time_s));
        if (!serving::parse_think_time(o->think_time_dist))
          fail(fmt::format("unknown --think-time-dist '{}'", o->think_time_dist), "valid: fixed, exponential");
      }
      if (o->cascade_attention && o->streams <= 1)
        fail("--cascade-attention shares the prompt's KV reads among parallel streams, and there is one per request",
             "add --streams N (N > 1)");
      if (o->streams > 1 && (o->turns > 0 || !o->session_trace.empty()))
        fail("--streams: a session's next turn continues one conversation, and parallel streams diverge",
             "use --streams without --turns and --session-trace");
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
      const serving::EngineProfile* profile = o->engine.empty() ? nullptr : &ctx.engines().get(o->engine);
      auto layout = dep->spec();
      if (profile) serving::apply_engine(*profile, layout);
      const auto& eff = profile ? ctx.efficiency().for_family(system.family, profile->id)
                                : ctx.efficiency().for_family(system.family);
      const auto d = cost::resolve_deployment(layout, model, system, eff);
      const cost::StepCostModel m(d);
      if (!m.memory().weights_fit) fail("does not fit: " + m.memory().reason);
      const auto router = serving::parse_router(o->router);
      if (!router) {
        std::vector<std::string> valid;
        for (const auto& r : serving::routers()) valid.emplace_back(r.name);
        fail(fmt::format("unknown --router '{}'", o->router), "valid: " + join(valid));
      }
      serving::EngineConfig engine;
      engine.cascade_attention = o->cascade_attention;
      engine.scheduler = profile && !given(sched) ? profile->scheduler : *scheduler;
      engine.step_tokens = o->step_tokens > 0 ? o->step_tokens
                           : profile          ? profile->token_budget
                                              : d.efficiency->activation_tokens;
      engine.max_running = o->max_running > 0 ? o->max_running : profile ? profile->max_sequences : 0;
      if (given(request_overhead)) {
        if (!(o->request_overhead_ms >= 0 && o->request_overhead_ms <= 1000))
          fail(fmt::format("--request-overhead-ms must be in [0, 1000], got {}", o->request_overhead_ms));
        engine.request_overhead_s = o->request_overhead_ms / 1e3;
      }
      engine.kv_admission = !o->kv_admission.empty()
                                ? (o->kv_admission == "paged" ? serving::KvAdmission::paged
                                                              : serving::KvAdmission::whole_context)
                            : profile ? serving::kv_admission_for(*profile)
                                      : serving::KvAdmission::whole_context;
      {
        const std::string mode = given(preemption) ? o->preemption
                                 : profile && profile->preemption == "swap" ? std::string("swap")
                                                                            : std::string("recompute");
        if (mode != "swap")
          for (const auto* opt : {swap_gb, swap_bw})
            if (given(opt)) fail(fmt::format("{} needs --preemption swap", opt->get_name()));
        if (mode == "swap") {
          if (engine.kv_admission != serving::KvAdmission::paged)
            fail("--preemption swap needs paged KV (--kv-admission paged, or an --engine that preempts): whole-context "
                 "admission never preempts");
          engine.preemption = serving::EngineConfig::Preemption::swap;
          engine.swap_bytes = given(swap_gb) ? o->swap_space_gb * 1e9 : 4.0 * (1ull << 30);
          if (given(swap_gb) && !(o->swap_space_gb >= 0 && std::isfinite(o->swap_space_gb)))
            fail(fmt::format("--swap-space-gb must be >= 0, got {}", o->swap_space_gb));
          if (given(swap_bw)) {
            if (!(o->swap_gbps > 0 && std::isfinite(o->swap_gbps)))
              fail(fmt::format("--swap-gbps must be > 0, got {}", o->swap_gbps));
            engine.swap_bytes_per_s = o->swap_gbps * 1e9;
          } else {
            const auto& link = system.host.pcie_bandwidth_bytes_per_s_per_chip;
            if (!link)
              fail(fmt::format("{} states no host link bandwidth per chip (host.pcie_bandwidth_per_chip): swap copies "
                               "cannot be priced",
                               system.id),
                   "give --swap-gbps");
            engine.swap_bytes_per_s = link->value;
          }
          engine.swap_latency_s = serving::kDramLoadLatencyS;
        }
      }
      // Prefill/decode disaggregation: a prefill pool beside this deployment, the decode pool.
      const bool disaggregated = given(pre_reps) || given(split);
      if (!disaggregated)
        for (const auto* opt : disagg_opts)
          if (given(opt)) fail(fmt::format("{} needs --prefill-replicas", opt->get_name()));
      std::optional<cost::Deployment> pd;
      std::optional<cost::StepCostModel> pm;
      serving::DisaggregatedService service;
      std::string link_text;
      ordered_json disagg_json;
      if (disaggregated) {
        if (!(o->prefill_replicas >= 1 && o->prefill_replicas <= 65536))
          fail(fmt::format("--prefill-replicas must be a whole number in [1, 65536], got {}", o->prefill_replicas));
        const auto& psys = o->prefill_hardware.empty() ? system : ctx.hardware().get(o->prefill_hardware);
        auto pl = layout;  // precisions and launch as the decode pool
        pl.chips = 0;
        pl.dp = static_cast<int>(o->prefill_replicas);
        for (const auto& [opt, v, to] : {std::tuple{disagg_opts[1], o->prefill_tp, &pl.tp},
                                         std::tuple{disagg_opts[2], o->prefill_pp, &pl.pp},
                                         std::tuple{disagg_opts[3], o->prefill_ep, &pl.ep}}) {
          if (!given(opt)) continue;
          if (!(v >= 1 && v <= 65536)) fail(fmt::format("{} must be in [1, 65536], got {}", opt->get_name(), v));
          *to = v;
        }
        if (!o->prefill_attention_dp.empty()) pl.attention_dp = o->prefill_attention_dp == "true";
        const auto& peff = profile ? ctx.efficiency().for_family(psys.family, profile->id)
                                   : ctx.efficiency().for_family(psys.family);
        try {
          pd = cost::resolve_deployment(pl, model, psys, peff);
        } catch (const DiagnosticError& e) {
          auto dg = e.diagnostic();
          dg.message = "prefill pool: " + dg.message;
          throw DiagnosticError(dg);
        }
        pm.emplace(*pd);
        if (!pm->memory().weights_fit) fail("prefill pool does not fit: " + pm->memory().reason);
        service.prefill = &*pm;
        service.decode = &m;
        service.prefill_engine = engine;
        // The prefill pool's default token budget is its own system's (its engine profile's when
        // one is named), not the decode pool's: an SRAM decode pool's tiny activation buffer
        // must not chunk the prompts of an HBM prefill pool.
        if (o->step_tokens <= 0 && !profile) service.prefill_engine.step_tokens = pd->efficiency->activation_tokens;
        if (given(disagg_opts[5])) {
          if (!(o->prefill_step_tokens >= 1 && std::isfinite(o->prefill_step_tokens)))
            fail(fmt::format("--prefill-step-tokens must be >= 1, got {}", o->prefill_step_tokens));
          service.prefill_engine.step_tokens = o->prefill_step_tokens;
        }
        service.decode_engine = engine;
        service.prefill_router = *router;
        const std::string decode_router_name = o->decode_router.empty() ? o->router : o->decode_router;
        const auto dr = serving::parse_router(decode_router_name);
        if (!dr) {
          std::vector<std::string> valid;
          for (const auto& r : serving::routers()) valid.emplace_back(r.name);
          fail(fmt::format("unknown --decode-router '{}'", decode_router_name), "valid: " + join(valid));
        }
        service.decode_router = *dr;
        // The link the KV crosses: the scale-out network (or the scale-up domain both pools share).
        const bool up = o->kv_transfer_link == "scale-up";
        if (up && psys.id != system.id)
          fail(fmt::format("--kv-transfer-link scale-up needs both pools on one system type (prefill {}, decode {})",
                           psys.id, system.id),
               "use scale-out, or --kv-transfer-gbps for the network between them");
        if (up && given(split) && o->find_split > system.scale_up_domain_chips.value)
          fail(fmt::format("--kv-transfer-link scale-up: --find-split {} chips exceed the {}-chip scale-up domain of {}",
                           o->find_split, system.scale_up_domain_chips.value, system.id),
               "use scale-out, or fewer chips");
        if (up && pd->chips + d.chips > system.scale_up_domain_chips.value)
          fail(fmt::format("--kv-transfer-link scale-up: {} prefill + {} decode chips exceed the {}-chip scale-up "
                           "domain of {}",
                           pd->chips, d.chips, system.scale_up_domain_chips.value, system.id),
               "use scale-out, or fewer replicas");
        const char* link_name = up ? "scale-up" : "scale-out";
        double bw = 0, latency = 0;
        std::string bw_source, latency_source;
        if (given(disagg_opts[6])) {
          if (!(o->kv_transfer_gbps > 0 && std::isfinite(o->kv_transfer_gbps)))
            fail(fmt::format("--kv-transfer-gbps must be a finite number of GB/s > 0, got {}", o->kv_transfer_gbps));
          bw = o->kv_transfer_gbps * 1e9;
          bw_source = "--kv-transfer-gbps";
        } else {
          bw = std::numeric_limits<double>::infinity();
          for (const auto* sys : {&psys, &system}) {
            const auto& l = up ? sys->scale_up : sys->scale_out;
            if (!l.bandwidth_bytes_per_s)
              fail(fmt::format("{} states no {} bandwidth: the KV transfer between the pools cannot be priced",
                               sys->id, link_name),
                   "give --kv-transfer-gbps GB/s per chip");
            bw = std::min(bw, l.bandwidth_bytes_per_s->value);
          }
          bw_source = fmt::format("{} link of {}", link_name,
                                  psys.id == system.id ? system.id : psys.id + " and " + system.id + ", the slower");
        }
        if (given(disagg_opts[7])) {
          if (!(o->kv_transfer_latency_us >= 0 && std::isfinite(o->kv_transfer_latency_us)))
            fail(fmt::format("--kv-transfer-latency-us must be a finite number >= 0, got {}", o->kv_transfer_latency_us));
          latency = o->kv_transfer_latency_us * 1e-6;
          latency_source = "--kv-transfer-latency-us";
        } else {
          std::vector<std::string> stated;
          for (const auto* sys : {&psys, &system}) {
            const auto& l = up ? sys->scale_up : sys->scale_out;
            if (l.latency_s) latency = std::max(latency, l.latency_s->value), stated.push_back(sys->id);
          }
          latency_source = stated.empty() ? fmt::format("no {} latency stated: 0", link_name)
                                          : fmt::format("{} link of {}", link_name, join(stated, ", "));
        }
        service.link = {bw, latency};
        link_text = fmt::format("KV transfer: {:.3g} GB/s per chip ({}), {:.3g} us per transfer ({})", bw / 1e9,
                                bw_source, latency * 1e6, latency_source);
        disagg_json = {{"prefill",
                        {{"hardware", psys.id},
                         {"layout", pd->describe()},
                         {"replicas", pd->dp},
                         {"chips", pd->chips},
                         {"step_tokens", service.prefill_engine.step_tokens},
                         {"router", o->router},
                         {"provenance", provenance_text(psys, *pd->efficiency)}}},
                       {"decode",
                        {{"hardware", system.id},
                         {"layout", d.describe()},
                         {"replicas", d.dp},
                         {"chips", d.chips},
                         {"router", decode_router_name}}},
                       {"link",
                        {{"network", link_name},
                         {"bandwidth_bytes_per_s_per_chip", bw},
                         {"bandwidth_source", bw_source},
                         {"latency_s", latency},
                         {"latency_source", latency_source}}}};
      }
      const double chips = d.chips + (pd ? pd->chips : 0);
      // A disaggregated service's name, its document block after a run, and its text header.
      auto service_name = [&] {
        return fmt::format("prefill {} on {} + decode {} on {}", pd->describe(), pd->system->id, d.describe(),
                           d.system->id);
      };
      auto service_header = [&](const serving::Result& r) {
        const auto& dis = r.disaggregation;
        std::string h = fmt::format("{} disaggregated: prefill {} x {} [{}], decode {} x {} [{}]\n", d.model->id,
                                    pd->chips, pd->system->id, pd->describe(), d.chips, d.system->id, d.describe());
        h += link_text + "\n";
        std::vector<std::string> pc, dc;
        for (size_t k : dis.per_prefill) pc.push_back(std::to_string(k));
        for (size_t k : r.per_replica) dc.push_back(std::to_string(k));
        h += fmt::format("prefill pool: {} replicas (router {}), requests {}, busy {:.1f} replica-s, peak KV {:.1f} of "
                         "{:.1f} GB per chip; decode pool: {} replicas (router {}), requests {}, busy {:.1f} "
                         "replica-s\n",
                         dis.prefill_replicas, o->router, join(pc, ", "), dis.prefill_busy_s,
                         dis.prefill_peak_kv_bytes / 1e9, dis.prefill_kv_capacity_bytes / 1e9, dis.decode_replicas,
                         o->decode_router.empty() ? o->router : o->decode_router, join(dc, ", "), dis.decode_busy_s);
        h += fmt::format("KV moved: {} transfers, {:.3g} GB, links busy {:.2f} s; prefill end to KV arrival mean {:.2f} "
                         "ms (p99 {:.2f}); KV arrival to decode admission mean {:.2f} ms (p99 {:.2f})\n",
                         dis.transfers, dis.transferred_bytes / 1e9, dis.link_busy_s, dis.transfer_s.mean * 1e3,
                         dis.transfer_s.p99 * 1e3, dis.decode_wait_s.mean * 1e3, dis.decode_wait_s.p99 * 1e3);
        return h;
      };
      // What the service's tokens cost and what it draws, on one price basis for every pool.
      const auto params = econ->params(ctx);
      const auto overrides = econ->overrides();
      auto pools_of = [&](double prefill_chips, double decode_chips) {  // prefill_chips 0: one colocated pool
        std::vector<economics::PoolCost> ps;
        auto add_pool = [&](const char* role, const hardware::SystemSpec& sys, double n) {
          ps.push_back({role, sys.id, n, economics::try_compute_tco(sys, params, overrides),
                        economics::facility_power(sys, params, overrides)});
        };
        if (prefill_chips > 0) {
          add_pool("prefill", *pd->system, prefill_chips);
          add_pool("decode", system, decode_chips);
        } else {
          add_pool("service", system, decode_chips);
        }
        return ps;
      };
      const auto pools = pools_of(pd ? pd->chips : 0, d.chips);
      auto cost_of = [&](double out_tok_s, double in_tok_s, const char* over) {
        const auto c = economics::service_cost(pools, out_tok_s, in_tok_s);
        std::string text = fmt::format("economics ({} basis, {} preset; {} tokens): ", econ->price_basis,
                                       params.name, over);
        if (c.usd_per_mtok_output)
          text += fmt::format("{:.3g} USD per Mtok output ({:.3g} per Mtok input + output)", *c.usd_per_mtok_output,
                              *c.usd_per_mtok_total);
        else
          text += "no USD per Mtok";
        if (c.usd_per_mtok_output_by_pool)
          text += fmt::format("; by pool {:.3g} USD per Mtok input (prefill), {:.3g} per Mtok output (decode)",
                              c.usd_per_mtok_input_by_pool.value_or(0), *c.usd_per_mtok_output_by_pool);
        if (c.output_tok_s_per_mw)
          text += fmt::format("; {:.4g} output tok/s per MW ({:.0f} chips, {:.3g} kW facility)", *c.output_tok_s_per_mw,
                              c.chips, *c.facility_power_w / 1e3);
        if (!c.missing.empty()) text += " (" + join(c.missing, "; ") + ")";
        return std::pair{service_cost_json(c, pools, econ->price_basis, params.name, over), text};
      };
      const serving::WindowSpec window;  // the documented default: 10% warm-up, 10% drain
      auto& out = *ctx.out;
      const double overhead_s = engine.request_overhead_s.value_or(d.efficiency->request_overhead_s);
      const ordered_json engine_json =
          report::engine_json(engine, overhead_s,
                              given(request_overhead) ? std::string("--request-overhead-ms")
                                                      : d.efficiency->provenance.software_summary(),
                              profile);
      const std::string engine_line = fmt::format(
          "provenance: {}; software terms: {}\nengine{}: {} steps, {} KV, token budget {:.0f}, {}, request overhead "
          "{:.3g} ms{}{}",
          provenance_text(system, *d.efficiency), d.efficiency->provenance.software_summary(),
          profile ? " " + profile->id : std::string(), serving::to_string(engine.scheduler),
          serving::to_string(engine.kv_admission), engine.step_tokens,
          engine.max_running > 0 ? fmt::format("at most {:.0f} running", engine.max_running)
                                 : std::string("KV memory decides the batch"),
          overhead_s * 1e3, given(request_overhead) ? " (--request-overhead-ms)" : "",
          engine.cascade_attention ? ", cascade attention over the streams' shared prompt" : "");

      if (o->find_max_rate) {
        serving::RateSearchSpec spec;
        spec.router = *router;
        spec.input = {o->isl, o->spread};
        spec.output = {o->osl, o->spread};
        spec.seed = o->seed;
        spec.burstiness = o->burstiness;
        spec.streams = o->streams;
        if (o->requests > 0) spec.requests = static_cast<double>(o->requests);
        if (given(max_ttft)) spec.limits.p99_ttft_s = o->max_p99_ttft_ms / 1e3;
        if (given(max_tpot)) spec.limits.p99_tpot_s = o->max_p99_tpot_ms / 1e3;
        spec.window = window;
        std::vector<std::string> limit_text;
        if (spec.limits.p99_ttft_s) limit_text.push_back(fmt::format("p99 TTFT <= {:g} ms", o->max_p99_ttft_ms));
        if (spec.limits.p99_tpot_s) limit_text.push_back(fmt::format("p99 TPOT <= {:g} ms", o->max_p99_tpot_ms));
        ordered_json limits;
        limits["p99_ttft_ms"] = spec.limits.p99_ttft_s ? ordered_json(o->max_p99_ttft_ms) : ordered_json();
        limits["p99_tpot_ms"] = spec.limits.p99_tpot_s ? ordered_json(o->max_p99_tpot_ms) : ordered_json();
        limits["keeps_up"] = "arrivals - completions in the steady window <= 2% of its arrivals + 3 sqrt(2 N + 1)";
        const std::string per_probe =
            spec.requests ? fmt::format("{} requests per probe", *spec.requests)
                          : fmt::format("{:.0f} s of arrivals per probe (at least 200, at most {} requests)",
                                        serving::kSettleSeconds, serving::kMaxSimulatedRequests);
        const std::string arrivals = o->burstiness == 1
                                         ? std::string("Poisson, rate searched")
                                         : fmt::format("Gamma arrivals (burstiness {:g}), rate searched", o->burstiness);
        ordered_json workload_json = {{"arrivals", arrivals},
                                      {"streams", o->streams},
                                      {"per_probe", per_probe},
                                      {"mean_input_tokens", o->isl},
                                      {"mean_output_tokens", o->osl},
                                      {"length_spread", o->spread},
                                      {"seed", o->seed}};
        const std::string workload_text =
            fmt::format("workload: {}; mean {:.0f} in / {:.0f} out tokens (spread {:g}){}, {}, seed {}\n", arrivals,
                        o->isl, o->osl, o->spread,
                        o->streams > 1 ? fmt::format(", {} parallel streams per request", o->streams) : std::string(),
                        per_probe, o->seed);
        const std::string limits_text =
            fmt::format("limits over the steady window ({}): {}, and the service keeps up with its arrivals\n",
                        window_definition(window), join(limit_text, ", "));
        if (given(split)) {
          // Every split of the chips between the pools, and the colocated deployment on them.
          const double pc = pd->chips, dc = d.chips;  // chips per replica (one replica each here)
          const auto options = serving::search_splits(service, o->find_split, spec);
          auto colocated_layout = layout;
          colocated_layout.chips = 0;
          colocated_layout.dp = static_cast<int>(std::floor(o->find_split / dc));
          const auto cd = cost::resolve_deployment(colocated_layout, model, system, eff);
          const cost::StepCostModel cm(cd);
          const auto colocated = serving::find_max_rate(cm, engine, spec);
          std::vector<economics::ServiceOption> rows;
          auto add_row = [&](std::string name, double np, double nd, double n, const serving::MaxRate& a) {
            const auto& win = a.at_rate.steady.window;
            const auto c = economics::service_cost(pools_of(np * pc, nd * dc),
                                                   a.found ? win.output_tok_s : 0,
                                                   a.found ? win.output_tok_s * o->isl / o->osl : 0);
            rows.push_back({std::move(name), np, nd, n, &a, c, a.found ? win.output_tok_s / n : 0});
          };
          add_row("colocated", 0, colocated_layout.dp, cd.chips, colocated);
          for (const auto& so : options)
            add_row("disaggregated", static_cast<double>(so.prefill_replicas), static_cast<double>(so.decode_replicas),
                    so.chips, so.rate);
          const auto ranking = economics::rank_services(rows);
          const size_t best = ranking.best;
          const bool priced = ranking.priced;
          const std::string& ranked_by = ranking.ranked_by;
          if (best == rows.size())
            fail("--find-split: neither the colocated deployment nor any split meets the limits; colocated: " +
                     rows[0].rate->reason,
                 "loosen --max-p99-ttft-ms / --max-p99-tpot-ms or change the deployment");
          if (o->json) {
            SplitRun doc;
            doc.deployment = &d;
            doc.chips = o->find_split;
            doc.service = fmt::format("{} chips split between prefill {} on {} and decode {} on {}", o->find_split,
                                      pd->describe(), pd->system->id, d.describe(), d.system->id);
            doc.workload = workload_json;
            doc.engine = engine_json;
            doc.disaggregation = disagg_json;
            doc.limits = limits;
            doc.spec = &spec;
            doc.prefill_replica_chips = pc;
            doc.decode_replica_chips = dc;
            doc.options = &rows;
            doc.ranking = &ranking;
            doc.price_basis = econ->price_basis;
            doc.preset = params.name;
            const auto j = split_document(doc);
            out << json_text(j) << "\n";
            return 0;
          }
          out << fmt::format("{}: {:g} chips split between prefill {} x {} [{}] per replica and decode {} x {} [{}] "
                             "per replica\n",
                             d.model->id, o->find_split, pc, pd->system->id, pd->describe(), dc, d.system->id,
                             d.describe());
          out << link_text << "\n" << workload_text;
          out << engine_line
              << (service.prefill_engine.step_tokens != engine.step_tokens
                      ? fmt::format("; prefill token budget {:.0f}", service.prefill_engine.step_tokens)
                      : std::string())
              << "\n";
          out << limits_text;
          out << fmt::format("economics: {} basis, {} preset, over the steady window's tokens\n\n", econ->price_basis,
                             params.name);
          Table t({"service", "prefill", "decode", "chips", "max req/s", "out tok/s/chip", "p99 TTFT ms", "p99 TPOT ms",
                   "USD/Mtok out", "out tok/s/MW", "note"});
          t.right_align({1, 2, 3, 4, 5, 6, 7, 8, 9});
          auto num = [](const std::optional<double>& v, int digits) { return v ? fixed(*v, digits) : std::string("-"); };
          for (size_t k = 0; k < rows.size(); ++k) {
            const auto& row = rows[k];
            const auto& win = row.rate->at_rate.steady.window;
            const bool f = row.rate->found;
            t.add_row({row.service + (k == best ? " *" : ""),
                       row.prefill_replicas > 0 ? fmt::format("{:g}", row.prefill_replicas) : std::string("-"),
                       fmt::format("{:g}", row.decode_replicas), fmt::format("{:g}", row.chips),
                       f ? fmt::format("{:.4g}", row.rate->rate) : std::string("-"), f ? fixed(row.output_tok_s_per_chip, 0) : "-",
                       f ? fixed(win.ttft_s.p99 * 1e3, 1) : "-", f ? fixed(win.tpot_s.p99 * 1e3, 2) : "-",
                       num(row.cost.usd_per_mtok_output, 3), num(row.cost.output_tok_s_per_mw, 0),
                       f && row.rate->converged ? std::string() : row.rate->reason});
          }
          t.print(out);
          {
            const auto& b = rows[best];
            out << fmt::format("\nbest: {}", b.service == "colocated"
                                                 ? fmt::format("colocated, {:g} replicas", b.decode_replicas)
                                                 : fmt::format("{:g} prefill + {:g} decode replicas", b.prefill_replicas,
                                                               b.decode_replicas));
            if (best != 0 && rows[0].rate->found && rows[0].output_tok_s_per_chip > 0) {
              out << fmt::format(": {:.2f}x the colocated deployment's output tok/s per chip", b.output_tok_s_per_chip / rows[0].output_tok_s_per_chip);
              if (priced)
                out << fmt::format(", {:.2f}x its USD per Mtok output",
                                   *b.cost.usd_per_mtok_output / *rows[0].cost.usd_per_mtok_output);
            }
            out << " (ranked by " << ranked_by << ")\n";
          }
          return 0;
        }
        const auto a = disaggregated
                           ? serving::find_max_rate([&](const serving::Workload& w) {
                               return serving::simulate_disaggregated(service, w);
                             }, spec)
                           : serving::find_max_rate(m, engine, spec);
        if (!a.found) {
          std::vector<std::string> flags;
          if (spec.limits.p99_ttft_s) flags.emplace_back("--max-p99-ttft-ms");
          if (spec.limits.p99_tpot_s) flags.emplace_back("--max-p99-tpot-ms");
          fail("--find-max-rate: " + a.reason, "loosen " + join(flags, " or ") + " or change the deployment");
        }
        const auto& r = a.at_rate;
        const auto& win = r.steady.window;
        if (!o->requests_csv.empty()) io::write_text_file(o->requests_csv, requests_csv_text(r));
        if (o->json) {
          MaxRateRun doc;
          doc.deployment = &d;
          doc.chips = chips;
          if (disaggregated) {
            doc.service = service_name();
            doc.disaggregation = disaggregation_result_json(disagg_json, a.at_rate);
          }
          doc.workload = workload_json;
          doc.engine = engine_json;
          doc.router = o->router;
          doc.search = &a;
          doc.spec = &spec;
          doc.limits = limits;
          doc.window = window;
          doc.economics = cost_of(win.output_tok_s, win.output_tok_s * o->isl / o->osl, "steady window").first;
          const auto j = max_rate_document(doc);
          out << json_text(j) << "\n";
          return 0;
        }
        if (disaggregated)
          out << service_header(r);
        else
          out << fmt::format("{} on {} x {}  [{}]\n", d.model->id, d.chips, d.system->id, d.describe());
        out << workload_text;
        out << fmt::format("{}; KV {:.1f} GB per chip\n", engine_line, r.kv_capacity_bytes / 1e9);
        out << limits_text << "\n";
        out << fmt::format("largest sustainable rate: {:.4g} req/s ", a.rate);
        if (a.upper > 0)
          out << fmt::format("(bracket {:.4g} - {:.4g} req/s, tolerance {:g}%, {} simulations{})\n", a.rate, a.upper,
                             100 * spec.tolerance, a.probes.size(), a.converged ? "" : ", not converged");
        else
          out << fmt::format("({} simulations)\n", a.probes.size());
        if (!a.reason.empty()) out << "note: " << a.reason << "\n";
        out << fmt::format("at that rate, steady window {:.1f} - {:.1f} s, {} of {} requests: {:.0f} output tok/s ({:.0f} "
                           "per chip), p99 TTFT {:.1f} ms, p99 TPOT {:.2f} ms\n\n",
                           win.start_s, win.end_s, win.requests, r.requests.size(), win.output_tok_s,
                           win.output_tok_s / chips, win.ttft_s.p99 * 1e3, win.tpot_s.p99 * 1e3);
        out << cost_of(win.output_tok_s, win.output_tok_s * o->isl / o->osl, "steady window").second << "\n\n";
        Table t({"rate req/s", "requests", "p99 TTFT ms", "p99 TPOT ms", "output tok/s", "result"});
        t.right_align({0, 1, 2, 3, 4});
        for (const auto& p : a.probes)
          t.add_row({fmt::format("{:.4g}", p.rate), std::to_string(p.requests), fixed(p.p99_ttft_s * 1e3, 1),
                     fixed(p.p99_tpot_s * 1e3, 2), fixed(p.output_tok_s, 0), p.meets ? "meets" : p.violation});
        t.print(out);
        return 0;
      }

      serving::Workload w;
      w.window = window;
      std::string prefix_note;
      std::string tool_cores_source;
      double mean_isl = o->isl, mean_osl = o->osl;
      // The host cores tool calls run on: --cpu-cores, else the system's cores per chip x chips.
      auto host_cores = [&] {
        if (given(cores)) {
          w.tool_cores = o->cpu_cores;
          tool_cores_source = "--cpu-cores";
          return;
        }
        const auto& host = system.host;
        if (!host.cpu_cores_per_chip)
          fail(fmt::format("{} states no host CPU cores per chip: the tool calls' cores are unknown", system.id),
               "give --cpu-cores N");
        w.tool_cores = std::max(1.0, std::floor(host.cpu_cores_per_chip->value * chips));
        tool_cores_source = fmt::format("{:g} cores per chip x {:g} chips ({})", host.cpu_cores_per_chip->value, chips,
                                        host.cpu_cores_per_chip->source);
      };
      if (!o->session_trace.empty()) {
        const auto t = io::load_session_trace(o->session_trace);
        w = serving::sessions_from_trace(t);
        w.window = window;
        if (t.has_arrivals() && given(conc))
          fail(fmt::format("{} gives its sessions' arrivals (each session its own client): drop --concurrency",
                           o->session_trace));
        if (!t.has_arrivals()) {
          if (!given(conc))
            fail(fmt::format("{} gives no arrival_s: say how many clients run its sessions", o->session_trace),
                 "--concurrency N");
          w.clients = static_cast<int>(o->concurrency);
        }
        if (!w.tool_s.empty()) host_cores();
        mean_isl = mean_osl = 0;
        for (const auto& q : w.requests) {
          mean_isl += q.input_tokens / static_cast<double>(w.requests.size());
          mean_osl += q.output_tokens / static_cast<double>(w.requests.size());
        }
      } else if (!o->trace.empty()) {
        const auto t = io::load_trace(o->trace);
        w.requests = serving::requests_from_trace(t, o->requests > 0 ? static_cast<size_t>(o->requests) : 0);
        if (serving::add_trace_prefixes(t, w) && !o->prefix_caching)
          prefix_note = fmt::format("the trace gives prefix-block hashes ({:g}-token blocks) that this run does not use: "
                                    "--prefix-caching reuses them",
                                    w.block_tokens);
        mean_isl = t.mean_input_tokens();
        mean_osl = t.mean_output_tokens();
      } else {
        const std::optional<double> stated =
            o->requests > 0 ? std::optional<double>(static_cast<double>(o->requests)) : std::nullopt;
        size_t n = o->rate > 0            ? serving::open_loop_requests(o->rate, stated)
                   : stated               ? static_cast<size_t>(*stated)
                   : o->concurrency > 0   ? static_cast<size_t>(10 * o->concurrency)
                                          : 1000;
        if (o->turns > 0) {
          // Sessions: whole sessions of the requests asked for; a turn's prompt carries the session so far.
          const size_t session_count = (n + static_cast<size_t>(o->turns) - 1) / static_cast<size_t>(o->turns);
          w = serving::make_sessions(session_count, o->turns, given(shared) ? o->shared_prefix_tokens : 0,
                                     {o->isl, o->spread}, {o->osl, o->spread}, 16, o->seed);
          w.window = window;
          n = w.requests.size();
          mean_isl = 0;
          for (const auto& q : w.requests) mean_isl += q.input_tokens / static_cast<double>(n);
        } else {
          w.requests =
              serving::make_requests(n, {o->isl, o->spread}, {o->osl, o->spread}, o->rate, o->seed, o->burstiness);
          if (given(shared))
            serving::add_shared_prefixes(w, o->shared_prefix_tokens, o->prefix_groups, 16, o->prefix_zipf, o->seed);
        }
        w.clients = static_cast<int>(o->concurrency);
        if (o->think_time_s > 0)
          w.think_s = serving::make_think_times(n, o->think_time_s, *serving::parse_think_time(o->think_time_dist),
                                                o->seed);
        if (o->tool_time_s > 0) {
          // A session's first turn is the user's task: no tool call before it.
          w.tool_s = serving::make_think_times(n, o->tool_time_s, *serving::parse_think_time(o->tool_time_dist),
                                               o->seed + 1);
          if (!w.next_turn.empty()) {
            std::vector<char> follows(n, 0);
            for (const uint32_t nx : w.next_turn)
              if (nx != serving::kLastTurn) follows[nx] = 1;
            for (size_t i = 0; i < n; ++i)
              if (!follows[i]) w.tool_s[i] = 0;
          }
          host_cores();
        }
      }
      if (o->prefix_caching && w.block_hashes.empty())
        prefix_note = "--prefix-caching has nothing to reuse: the workload has no prefix-block hashes (a Mooncake trace "
                      "or --shared-prefix-tokens gives them)";
      engine.prefix_caching = o->prefix_caching;
      engine.eviction = o->kv_eviction == "lfu" ? serving::EngineConfig::Eviction::lfu : serving::EngineConfig::Eviction::lru;
      // KV offload tiers of the replicas that cache prompts (a disaggregated service's prefill pool).
      std::vector<serving::OffloadTierSpec> tiers;
      if (!o->kv_offload.empty()) {
        serving::OffloadRequest req;
        req.tiers = o->kv_offload;
        if (given(dram_gb)) req.dram_bytes = o->kv_dram_gb * 1e9;
        if (given(ssd_gb)) req.ssd_bytes = o->kv_ssd_gb * 1e9;
        if (given(dram_bw)) req.dram_bytes_per_s = o->kv_dram_gbps * 1e9;
        if (given(ssd_bw)) req.ssd_bytes_per_s = o->kv_ssd_gbps * 1e9;
        if (given(store_gb)) req.store_bytes = o->kv_store_gb * 1e9;
        if (given(store_bw)) req.store_bytes_per_s = o->kv_store_gbps * 1e9;
        const auto& cache_system = disaggregated ? *service.prefill->deployment().system : system;
        tiers = serving::offload_tiers(cache_system, req);
        for (size_t k = 0; k < tiers.size(); ++k) {
          if (!o->kv_tier_eviction.empty())
            tiers[k].tier.eviction =
                o->kv_tier_eviction[o->kv_tier_eviction.size() == 1 ? 0 : k] == "lfu" ? serving::Eviction::lfu
                                                                                     : serving::Eviction::lru;
          engine.kv_offload.push_back(tiers[k].tier);
        }
        engine.reload = o->kv_reload == "always" ? serving::EngineConfig::Reload::always
                                                 : serving::EngineConfig::Reload::when_faster;
        engine.prefetch = o->kv_prefetch == "on-arrival" ? serving::EngineConfig::Prefetch::on_arrival
                                                         : serving::EngineConfig::Prefetch::none;
      }
      if (o->streams > 1)
        for (auto& q : w.requests) q.streams = o->streams;
      serving::Timeline timeline;
      const bool record = o->json || !o->chrome_trace.empty();  // the document's time series
      // One service: the deployment's replicas behind the router, or the two pools.
      auto run = [&](const serving::EngineConfig& e, serving::Timeline* tl) {
        if (!disaggregated) return serving::simulate_deployment(m, e, w, *router, tl);
        auto sv = service;
        sv.prefill_engine.prefix_caching = e.prefix_caching;  // prompts are computed (and cached) there
        sv.prefill_engine.kv_offload = e.kv_offload;
        sv.prefill_engine.reload = e.reload;
        sv.prefill_engine.prefetch = e.prefetch;
        sv.prefill_engine.eviction = e.eviction;
        sv.decode_engine.cascade_attention = e.cascade_attention;  // the streams decode there
        return serving::simulate_disaggregated(sv, w, tl);
      };
      if (given(find_dram)) {
        if (w.block_hashes.empty())
          fail("--find-dram-size: the workload has no prefix blocks to reuse, so no DRAM size changes its hit rate",
               "--shared-prefix-tokens, --turns, a Mooncake trace or a --session-trace gives them");
        // The smallest DRAM tier reaching the hit rate, up to the size the data (or --kv-dram-gb) gives.
        const double upper = tiers.front().tier.capacity_bytes;
        const auto found = serving::find_tier_size(
            [&](double bytes) {
              auto e = engine;
              e.kv_offload.front().capacity_bytes = bytes;
              return run(e, nullptr);
            },
            o->find_dram_size, upper);
        if (!found.found)
          fail(fmt::format("a DRAM tier of {:.4g} GB per chip ({}) reaches a {:.1f}% prefix-cache hit rate, below the "
                           "{:.1f}% asked",
                           upper / 1e9, tiers.front().capacity_source, 100 * found.probes.front().hit_rate,
                           100 * o->find_dram_size),
               "give a larger --kv-dram-gb, add the ssd tier, or ask for a lower rate");
        const auto& at = found.at_size;
        const auto* node = system.host.chips_per_node ? &*system.host.chips_per_node : nullptr;
        if (o->json) {
          TierSizeRun doc;
          doc.deployment = &d;
          doc.workload = {{"arrivals", describe_workload(*o, w)},
                          {"requests", w.requests.size()},
                          {"mean_input_tokens", mean_isl},
                          {"mean_output_tokens", mean_osl},
                          {"seed", o->seed}};
          doc.target_hit_rate = o->find_dram_size;
          doc.found = &found;
          if (node) doc.chips_per_node = node->value;
          doc.upper_bytes = upper;
          doc.upper_source = tiers.front().capacity_source;
          doc.tiers = o->kv_offload;
          const auto j = tier_size_document(doc);
          out << json_text(j) << "\n";
          return 0;
        }
        out << fmt::format("{} on {} x {}  [{}]\n", d.model->id, d.chips, d.system->id, d.describe());
        out << fmt::format("workload: {}; {} requests, mean {:.0f} in / {:.0f} out tokens\n", describe_workload(*o, w),
                           w.requests.size(), mean_isl, mean_osl);
        out << fmt::format("DRAM tier for a {:.1f}% prefix-cache hit rate: {:.4g} GB per chip{} (hit rate {:.1f}%, mean "
                           "TTFT {:.1f} ms, p99 {:.1f} ms); searched 0 - {:.4g} GB per chip ({}) to 1%, {} simulations, "
                           "tiers {}\n",
                           100 * o->find_dram_size, found.bytes / 1e9,
                           node ? fmt::format(", {:.4g} GB per {:g}-chip node", found.bytes * node->value / 1e9,
                                              node->value)
                                : std::string(),
                           100 * at.prefix_cache.hit_rate(), at.ttft_s.mean * 1e3, at.ttft_s.p99 * 1e3, upper / 1e9,
                           tiers.front().capacity_source, found.probes.size(), join(o->kv_offload, ","));
        Table t({"GB per chip", "hit rate %", "mean TTFT ms", "output tok/s"});
        for (const auto& p : found.probes)
          t.add_row({fmt::format("{:.4g}", p.bytes / 1e9), fixed(100 * p.hit_rate, 1), fixed(p.mean_ttft_s * 1e3, 1),
                     fixed(p.output_tok_s, 0)});
        t.print(out);
        return 0;
      }
      // What caching bought: the same requests with it off; what the offload tiers bought: with
      // the device cache alone. Both run before the main run and keep only their summary figures
      // (their per-request records are dropped), so a run with caching holds one set of records.
      auto summary_only = [](serving::Result x) {
        std::vector<serving::RequestRecord>().swap(x.requests);
        return x;
      };
      std::optional<serving::Result> uncached;
      if (engine.prefix_caching && !w.block_hashes.empty()) {
        auto off = engine;
        off.prefix_caching = false;
        off.kv_offload.clear();
        uncached = summary_only(run(off, nullptr));
      }
      std::optional<serving::Result> device_only;
      if (!engine.kv_offload.empty() && engine.prefix_caching && !w.block_hashes.empty()) {
        auto dev = engine;
        dev.kv_offload.clear();
        device_only = summary_only(run(dev, nullptr));
      }
      const auto r = run(engine, record ? &timeline : nullptr);
      const auto& st = r.steady;
      serving::Slo slo;
      if (given(slo_ttft)) slo.ttft_s = o->slo_ttft_ms / 1e3;
      if (given(slo_tpot)) slo.tpot_s = o->slo_tpot_ms / 1e3;
      // vllm bench serve's figures: the whole run, and the requests arriving in the steady window
      // (throughput there: tokens emitted in the window over its length).
      const auto bench = serving::bench_metrics(r.requests, r.duration_s, slo);
      std::optional<serving::BenchMetrics> bench_window;
      if (st.measured) {
        const serving::ArrivalWindow in_window{st.window.start_s, st.window.end_s};
        const double len = st.window.end_s - st.window.start_s;
        auto bw = serving::bench_metrics(r.requests, len, slo, in_window);
        double in_tok = 0, out_tok = 0;
        for (const auto& q : r.requests)
          if (q.arrival_s >= in_window.start_s && q.arrival_s < in_window.end_s) {
            in_tok += q.input_tokens;
            out_tok += q.emitted_tokens();
          }
        bw.completed = st.window.completed;
        bw.request_throughput = static_cast<double>(st.window.completed) / len;
        bw.output_throughput = st.window.output_tok_s;
        bw.total_token_throughput = out_tok > 0 ? st.window.output_tok_s * (in_tok + out_tok) / out_tok : 0;
        bench_window = bw;
      }
      const auto [cost_json, cost_text] =
          bench_window ? cost_of(bench_window->output_throughput,
                                 bench_window->total_token_throughput - bench_window->output_throughput, "steady window")
                       : cost_of(r.output_tok_s, r.input_tok_s, "whole run");
      // The agents' tool calls' CPU energy beside the service's (its power does not depend on tokens).
      const auto tool_power = economics::tool_energy(r, params, economics::service_cost(pools, 0, 0).facility_power_w);

      // The steady state at the mean number of requests in the system (over the steady window
      // when there is one), for comparison.
      const double mean_in_system = st.measured ? st.mean_in_system : r.mean_in_system;
      const double steady_c = std::max<double>(d.dp, std::round(mean_in_system));
      auto e = cost::estimate(m, cost::Workload{mean_isl, mean_osl, steady_c}, false);
      e.ttft_s += overhead_s - d.efficiency->request_overhead_s;  // as the run: --request-overhead-ms

      if (!o->requests_csv.empty()) io::write_text_file(o->requests_csv, requests_csv_text(r));
      if (!o->chrome_trace.empty())
        io::write_text_file(o->chrome_trace,
                            chrome_trace_text(r, timeline, fmt::format("{} on {} x {} [{}]", d.model->id, d.chips,
                                                                       d.system->id, d.describe())));

      if (o->json) {
        SimulateRun doc;
        doc.deployment = &d;
        doc.chips = chips;
        if (disaggregated) {
          doc.service = service_name();
          doc.disaggregation = disaggregation_result_json(disagg_json, r);
        }
        doc.workload.arrivals = describe_workload(*o, w);
        doc.workload.streams = o->streams;
        if (o->turns > 0) doc.workload.turns_per_session = o->turns;
        doc.workload.mean_input_tokens = mean_isl;
        doc.workload.mean_output_tokens = mean_osl;
        doc.workload.length_spread = o->trace.empty() ? o->spread : 0.0;
        if (o->rate > 0) doc.workload.burstiness = o->burstiness;
        if (o->concurrency > 0) doc.workload.think_time_s = o->think_time_s;
        if (o->think_time_s > 0) doc.workload.think_time_dist = o->think_time_dist;
        doc.workload.seed = o->seed;
        doc.engine = engine_json;
        doc.router = o->router;
        doc.requests = &w;
        doc.result = &r;
        doc.uncached = uncached ? &*uncached : nullptr;
        doc.device_only = device_only ? &*device_only : nullptr;
        doc.prefix_note = prefix_note;
        doc.tiers = &tiers;
        doc.kv_reload = o->kv_reload;
        doc.kv_prefetch = o->kv_prefetch;
        doc.tool_cores_source = tool_cores_source;
        doc.timeline = &timeline;
        doc.window = window;
        doc.bench = bench;
        doc.bench_window = bench_window;
        doc.economics = cost_json;
        doc.tool_energy = tool_power;
        doc.host_core_power_w = params.host_core_power_w;
        doc.host_core_power_source = params.file + " (host_core_power)";
        if (slo.ttft_s) doc.slo_ttft_ms = o->slo_ttft_ms;
        if (slo.tpot_s) doc.slo_tpot_ms = o->slo_tpot_ms;
        doc.steady_concurrency = steady_c;
        doc.steady = &e;
        const auto j = simulate_document(doc);
        out << json_text(j) << "\n";
        return 0;
      }
      if (disaggregated) {
        out << service_header(r);
      } else {
        out << fmt::format("{} on {} x {}  [{}]\n", d.model->id, d.chips, d.system->id, d.describe());
      }
      out << fmt::format("workload: {}; {} requests, mean {:.0f} in / {:.0f} out tokens\n", describe_workload(*o, w),
                         w.requests.size(), mean_isl, mean_osl);
      out << fmt::format("{}; KV {:.1f} GB per chip\n", engine_line, r.kv_capacity_bytes / 1e9);
      out << fmt::format("whole run, {:.1f} s (first arrival to last completion): {:.0f} output tok/s ({:.0f} per "
                         "chip), {:.1f} requests in the system on average, peak {:.0f} running per replica, peak KV "
                         "{:.1f} GB per chip{}\n",
                         r.duration_s, r.output_tok_s, r.output_tok_s / chips, r.mean_in_system, r.peak_running,
                         r.peak_kv_bytes / 1e9,
                         engine.kv_admission == serving::KvAdmission::paged
                             ? fmt::format(", {} preemptions ({:.0f} tokens recomputed{})", r.preemptions,
                                           r.recomputed_tokens,
                                           r.swaps > 0 ? fmt::format("; {} swapped to host, {:.3g} GB per chip moved, "
                                                                     "{:.3g} s of copies, peak {:.3g} GB swap",
                                                                     r.swaps, r.swapped_bytes / 1e9, r.swap_s,
                                                                     r.peak_swap_bytes / 1e9)
                                                       : std::string())
                             : std::string());
      if (r.per_replica.size() > 1 && !disaggregated) {
        std::vector<std::string> counts;
        for (size_t k : r.per_replica) counts.push_back(std::to_string(k));
        out << fmt::format("router {}: requests per replica {}\n", o->router, join(counts, ", "));
      }
      if (r.prefix_cache.enabled && !w.block_hashes.empty()) {
        const auto& pc = r.prefix_cache;
        out << fmt::format("prefix cache ({:g}-token blocks): {:.1f}% of prompt tokens reused ({:.0f} of {:.0f}), {} "
                           "blocks evicted, at most {} cached per replica",
                           w.block_tokens, 100 * pc.hit_rate(), pc.hit_tokens, pc.lookup_tokens, pc.evicted_blocks,
                           pc.peak_blocks);
        if (uncached)
          out << fmt::format("; without caching mean TTFT {:.1f} ms (now {:.1f}), {:.0f} output tok/s (now {:.0f})",
                             uncached->ttft_s.mean * 1e3, r.ttft_s.mean * 1e3, uncached->output_tok_s, r.output_tok_s);
        out << "\n";
        for (size_t k = 0; k < tiers.size() && k < pc.tiers.size(); ++k) {
          const auto& t = tiers[k];
          const auto& got = pc.tiers[k];
          out << fmt::format("KV offload {}: {:.4g} GB per chip ({}), {:.4g} GB/s ({}), {:g} us per load ({}); "
                             "{:.0f} prompt tokens loaded back ({:.3g} GB per chip), {:.0f} recomputed as faster, "
                             "{} blocks stored, {} dropped ({}), at most {} of {:.0f} held {}{}\n",
                             t.tier.name, t.tier.capacity_bytes / 1e9, t.capacity_source, t.tier.read_bytes_per_s / 1e9,
                             t.bandwidth_source, t.tier.latency_s * 1e6, t.latency_source, got.hit_tokens,
                             got.loaded_bytes / 1e9, got.recomputed_tokens, got.stored_blocks, got.dropped_blocks,
                             t.tier.eviction == serving::Eviction::lfu ? "least frequently used first"
                                                                       : "least recently used first",
                             got.peak_blocks, got.capacity_blocks,
                             t.tier.shared ? "in the store every replica shares (computed blocks written through)"
                                           : "per replica",
                             got.prefetched_blocks > 0
                                 ? fmt::format("; {} blocks ({:.3g} GB per chip) staged into {} on arrival", got.prefetched_blocks,
                                               got.prefetched_bytes / 1e9, tiers.front().tier.name)
                                 : "");
        }
        if (device_only)
          out << fmt::format("with the device cache alone: {:.1f}% reused, mean TTFT {:.1f} ms (now {:.1f}), p99 {:.1f} "
                             "ms (now {:.1f}), {:.0f} output tok/s (now {:.0f}); {} prefix loads, mean wait {:.2f} ms\n",
                             100 * device_only->prefix_cache.hit_rate(), device_only->ttft_s.mean * 1e3,
                             r.ttft_s.mean * 1e3, device_only->ttft_s.p99 * 1e3, r.ttft_s.p99 * 1e3,
                             device_only->output_tok_s, r.output_tok_s, pc.loads,
                             pc.loads ? pc.load_wait_s / static_cast<double>(pc.loads) * 1e3 : 0.0);
      }
      if (r.tools.calls > 0 || !w.tool_s.empty()) {
        const auto& tl = r.tools;
        out << fmt::format("tool calls: {} on {:g} host cores ({}), {:.1f} core-s busy ({:.1f}% of the cores over the "
                           "run), {:.2f} s waiting for a core in all (mean {:.1f} ms a call)\n",
                           tl.calls, tl.cores, tool_cores_source, tl.busy_s,
                           r.duration_s > 0 ? 100 * tl.busy_s / (tl.cores * r.duration_s) : 0.0, tl.wait_s,
                           tl.calls ? tl.wait_s / static_cast<double>(tl.calls) * 1e3 : 0.0);
        out << fmt::format("tool calls' CPU energy: {:.4g} kJ at the facility ({:g} W per busy core, {}){}\n",
                           tool_power.facility_j / 1e3, params.host_core_power_w, params.file,
                           tool_power.share_of_service
                               ? fmt::format(", {:.2f}% of the service's energy over the run",
                                             100 * *tool_power.share_of_service)
                               : std::string(" (the service's power is unknown: no share)"));
      }
      if (!w.next_turn.empty()) {
        const auto ss = serving::session_stats(w, r);
        out << fmt::format("sessions: {} of {:.1f} turns, the last turn's prompt {:.0f} tokens on average; session time "
                           "(first arrival to last answer) mean {:.2f} s, p90 {:.2f} s, p99 {:.2f} s{}\n",
                           ss.sessions, ss.mean_turns, ss.mean_last_prompt_tokens, ss.duration_s.mean,
                           ss.duration_s.p90, ss.duration_s.p99,
                           r.tools.calls > 0 && ss.sessions > 0
                               ? fmt::format("; tool calls and their waits {:.1f}% of it",
                                             100 * (r.tools.busy_s + r.tools.wait_s) /
                                                 (ss.duration_s.mean * static_cast<double>(ss.sessions)))
                               : std::string());
      }
      if (!prefix_note.empty()) out << "note: " << prefix_note << "\n";
      if (st.measured) {
        out << fmt::format("steady window {:.1f} - {:.1f} s ({}): {} requests, {:.0f} output tok/s ({:.0f} per chip), "
                           "{:.1f} requests in the system on average\n",
                           st.window.start_s, st.window.end_s, window_definition(window), st.window.requests,
                           st.window.output_tok_s, st.window.output_tok_s / chips, st.mean_in_system);
        out << fmt::format("excluded: warm-up {:.1f} - {:.1f} s, {} requests, {:.0f} output tok/s; drain {:.1f} - {:.1f} "
                           "s, {} requests, {:.0f} output tok/s\n",
                           st.warmup.start_s, st.warmup.end_s, st.warmup.requests, st.warmup.output_tok_s,
                           st.drain.start_s, st.drain.end_s, st.drain.requests, st.drain.output_tok_s);
      } else {
        out << "no steady window (every request arrives at once): whole-run figures only\n";
      }
      out << "\n";
      Table t({"metric", "over", "mean", "median", "p90", "p99", "max"});
      t.right_align({2, 3, 4, 5, 6});
      if (st.measured) add_distribution_rows(t, "steady window", st.window);
      serving::Phase whole;
      whole.ttft_s = r.ttft_s;
      whole.tpot_s = r.tpot_s;
      whole.e2e_s = r.e2e_s;
      add_distribution_rows(t, "whole run", whole);
      t.print(out);
      if (disaggregated)
        out << "\n(no steady-state estimate for a disaggregated service)\n";
      else
        out << fmt::format("\nsteady state at {:.0f} requests in flight: TTFT {:.1f} ms, TPOT {:.2f} ms, {:.0f} output "
                           "tok/s{}\n",
                           steady_c, e.ttft_s * 1e3, e.tpot_s * 1e3, e.output_tok_s,
                           e.feasible ? "" : " (infeasible: " + e.reason + ")");
      const auto& bm = bench_window ? *bench_window : bench;
      out << fmt::format("vllm bench serve figures ({}): completed {}, request_throughput {:.3g} req/s, "
                         "output_throughput {:.0f} tok/s, total_token_throughput {:.0f} tok/s, mean_itl_ms {:.2f}, "
                         "p99_itl_ms {:.2f} (TPOT excludes the first token; E2E / output tokens: mean {:.2f} ms)\n",
                         bench_window ? "steady window" : "whole run", bm.completed, bm.request_throughput,
                         bm.output_throughput, bm.total_token_throughput, bm.itl_s.mean * 1e3, bm.itl_s.p99 * 1e3,
                         bm.tpot_incl_first_s.mean * 1e3);
      if (slo.any()) {
        std::vector<std::string> limits;
        if (slo.ttft_s) limits.push_back(fmt::format("TTFT <= {:g} ms", o->slo_ttft_ms));
        if (slo.tpot_s) limits.push_back(fmt::format("TPOT <= {:g} ms", o->slo_tpot_ms));
        out << fmt::format("goodput under {}: {:.3g} req/s, SLO attainment {:.1f}% ({} of the {} requests {})\n",
                           join(limits, " and "), bm.goodput, 100 * bm.slo_attainment, bm.slo_met,
                           bench_window ? st.window.requests : r.requests.size(),
                           bench_window ? "arriving in the steady window" : "of the run");
      }
      out << cost_text;
      if (const auto& u = cost_json["usd_per_mtok_output"]; u.is_number())
        out << fmt::format("; {:.3g} USD per request{}", u.get<double>() * mean_osl * o->streams / 1e6,
                           o->streams > 1 ? fmt::format(" ({} streams)", o->streams) : std::string());
      out << "\n";
      out << fmt::format("{} engine steps in {} step-cost evaluations\n", r.steps, r.step_evaluations);
      return 0;
    };
  });

  // tokenfactory config expand FILE: the scenario resolved, variant by variant.
  auto* config = app.add_subcommand("config", "Scenario files: 'config expand FILE' prints every variant resolved "
                                              "(settings and the simulate command line it stands for)");
  config->require_subcommand(1);
  auto* expand = config->add_subcommand("expand", "Print a scenario file resolved: each variant's settings after its "
                                                   "overrides, and its command line");
  auto file = std::make_shared<std::string>();
  expand->add_option("FILE", *file, "Scenario file (YAML; docs/scenarios.md)")->required();
  expand->callback([&ctx, file] {
    ctx.action = [&ctx, file] {
      expand_scenario(load_scenario(*file), *ctx.out);
      return 0;
    };
  });
}

}  // namespace tf::cli
