#pragma once
// The request-level serving simulator (fidelity 3): one engine replica serving a stream of
// requests with continuous batching, chunked prefill under a per-step token budget and a KV
// cache that either reserves a request's whole context (prompt + output) at admission, so nothing
// is ever evicted, or allocates it on demand and preempts (KvAdmission). Each engine step is
// priced by cost::StepCostModel, so the simulator and the steady-state estimate share one cost
// model.
//
// Time advances step by step while prompts are being prefilled; stretches of pure decode in
// which no request arrives, finishes or can be admitted are advanced in one jump (their steps
// are priced at the stretch's mid-point context), so a run costs O(events), not O(tokens).
//
// Arrivals are open loop (each request's arrival time is given: Poisson, a trace) or closed
// loop (`clients` users, each sending its next request when the previous one completes, as
// benchmark clients at a fixed concurrency do).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <limits>
#include <vector>

#include "cost/step_cost.hpp"
#include "io/session_trace.hpp"
#include "io/trace.hpp"

namespace tf::serving {

// How an engine forms its steps.
enum class Scheduler {
  // Prompt chunks ride in the same steps as the running decodes (vLLM V1, TensorRT-LLM
  // in-flight batching): decode tokens first, the rest of the token budget to prompts.
  mixed,
  // A step is either prompts only or decodes only; waiting prompts go first (SGLang's default,
  // vLLM V0 without chunked prefill): decodes pause while prompts are prefilled.
  prefill_first,
};
std::string_view to_string(Scheduler s);
std::optional<Scheduler> parse_scheduler(std::string_view s);

// The registry of step policies: name, what it does, which engines behave so (citation).
struct SchedulerInfo {
  Scheduler scheduler;
  std::string_view name, description, citation;
};
const std::vector<SchedulerInfo>& schedulers();

// How the engine gives KV memory to requests.
enum class KvAdmission {
  // A request reserves the KV of its whole context (input + output) when admitted, so nothing is
  // ever evicted (TensorRT-LLM GUARANTEED_NO_EVICT, fixed-slot engines).
  whole_context,
  // Paged KV on demand (vLLM, SGLang): a request is admitted when its prompt's blocks fit, its
  // KV grows a token per decode step, and when the next step's tokens no longer fit the most
  // recently admitted decoding request is preempted: its KV is freed and it goes back to the
  // front of the queue, to recompute its prompt and the tokens it had generated when readmitted.
  paged,
};
std::string_view to_string(KvAdmission k);

struct EngineConfig {
  Scheduler scheduler = Scheduler::mixed;
  KvAdmission kv_admission = KvAdmission::whole_context;
  // Paged admission leaves this share of the KV capacity free for running requests to grow into
  // (vLLM's block-manager watermark).
  double kv_watermark = 0.01;
  double max_running = 0;       // sequences in flight per replica (engine cap); 0 = no cap
  double step_tokens = 8192;    // token budget per step (max_num_batched_tokens / max_num_tokens)
  // Prefix caching (vLLM automatic prefix caching, SGLang RadixAttention, TensorRT-LLM KV block
  // reuse): a request whose prompt starts with blocks already in the KV cache skips their
  // prefill. Blocks a running request uses are pinned; the others stay cached in the KV memory
  // running requests leave free and are evicted least recently used first. Needs the workload's
  // block hashes (Workload::block_hashes); without them it changes nothing.
  bool prefix_caching = false;
  // KV offload tiers below the device memory (host DRAM, local SSD: LMCache, SGLang HiCache,
  // Dynamo KVBM), fastest first. With prefix caching, a cached block evicted from the device goes
  // to the first tier, one evicted from a tier to the next, and from the last it is dropped (LRU
  // in each tier). A prompt whose leading blocks continue in a tier loads them back before its
  // prefill starts: per tier, latency + bytes per chip / read bandwidth per chip, one load at a
  // time per replica (its host link), unless recomputing them would be faster (`reload`).
  struct OffloadTier {
    std::string name;            // "dram", "ssd"
    double capacity_bytes = 0;   // per chip
    double read_bytes_per_s = 0; // per chip, tier to device
    double latency_s = 0;        // per load
  };
  std::vector<OffloadTier> kv_offload;
  // Whether a prefix found in an offload tier is loaded whatever it costs, or only when the load
  // is faster than recomputing those tokens in a prefill chunk of their own.
  enum class Reload { always, when_faster } reload = Reload::when_faster;
  // Which unpinned cached block the device cache evicts first: the least recently used (vLLM,
  // SGLang's default), or the least frequently used, ties to the least recently used (SGLang
  // --radix-eviction-policy lfu). Offload tiers evict least recently used.
  enum class Eviction { lru, lfu } eviction = Eviction::lru;
  // KV bytes per chip the engine may fill; unset: what the deployment leaves after weights,
  // activations and reserve (StepCostModel::memory().kv_free_bytes). A request reserves the KV
  // of its whole context (input + output, sliding windows included) when it is admitted.
  std::optional<double> kv_capacity_bytes;
  // Time a request spends outside the engine's steps (HTTP receive, tokenisation, hand-off to
  // the scheduler, streaming the first token back): the engine sees a request this long after
  // its client sends it, so TTFT, E2E and a closed-loop client's cycle include it. Unset: the
  // cost model's efficiency (`request_overhead`, a software term fitted per engine).
  std::optional<double> request_overhead_s;
  // Paged KV: what preemption does with a decoding request's KV when the running requests' next
  // tokens do not fit. recompute: it is freed and the request's prompt and generated tokens are
  // prefilled again (vLLM V1, SGLang). swap: it is copied to the host's swap space (vLLM V0
  // preemption_mode=swap, --swap-space per GPU) and copied back when the request is readmitted,
  // which then resumes decoding; each copy blocks the step it happens in (latency + bytes per
  // chip / the host link per chip). A request whose KV does not fit the space left is recomputed.
  enum class Preemption { recompute, swap } preemption = Preemption::recompute;
  double swap_bytes = 0;          // per chip (swap)
  double swap_bytes_per_s = 0;    // per chip, each direction (swap)
  double swap_latency_s = 0;      // per copy (swap)
};

struct Request {
  double arrival_s = 0;  // open loop only (closed loop: the client's previous completion)
  double input_tokens = 1;
  double output_tokens = 1;
  // Prefix blocks: Workload::block_hashes[hash_begin, hash_begin + prompt_blocks) are the hashes
  // of the prompt's consecutive blocks of Workload::block_tokens tokens (a block's hash stands
  // for its content and every block before it, as vLLM's and Mooncake's chained hashes do);
  // [.., hash_begin + context_blocks) also covers blocks its output fills (multi-turn: the next
  // turn's prompt starts with them). Requests of one shared prefix point at the same range.
  uint32_t hash_begin = 0, prompt_blocks = 0, context_blocks = 0;
  // Parallel streams (reasoning samples, best-of-N, vLLM's n): the prompt is computed once and
  // `streams` sequences decode over it, each output_tokens long; they share the prompt's KV
  // (held once) and each holds its own generated tokens' KV. The request (the answer) completes
  // when every stream has. A stream's first token comes from the prompt's last step.
  uint32_t streams = 1;
};

// Where a run's steady window lies (see SteadyWindow): the window holds the requests that
// arrive after the first `warmup_fraction` and before the last `drain_fraction` of the arrival
// span (first to last arrival). 0 <= each, sum < 1.
struct WindowSpec {
  double warmup_fraction = 0.1;
  double drain_fraction = 0.1;
};

struct Workload {
  std::vector<Request> requests;  // served in this order (FCFS)
  std::vector<uint64_t> block_hashes;  // see Request::hash_begin
  double block_tokens = 0;             // tokens per hashed block (> 0 when there are hashes)
  int clients = 0;                // > 0: closed loop with this many concurrent clients
  // Closed loop with think time: request i is sent think_s[i] seconds after its client's previous
  // request completes (a client's first request at t = 0). Empty: at once, as a benchmark client.
  std::vector<double> think_s;
  // Closed-loop sessions (multi-turn chats, agent loops): next_turn[i] is the request its client
  // sends after request i completes (kLastTurn: i ends its session, and the client starts the
  // next session not yet started). A turn's prompt holds the turns before it, so its prefix
  // blocks continue theirs. Empty: no sessions (a client sends the next request not yet sent).
  std::vector<uint32_t> next_turn;
  // Sessions that arrive on their own (a session trace with arrival times): session_start_s[i]
  // is when the session whose first turn is request i starts, each session its own client
  // (clients = sessions). Empty: clients start at t = 0 and run sessions back to back.
  std::vector<double> session_start_s;
  // Agent tool calls on the host's CPU cores: before request i is sent (after its client's
  // previous answer and think time), a tool call of tool_s[i] core-seconds runs on one of
  // `tool_cores` cores, waiting for a free one first come first served. A client's first request
  // has none. Empty: no tool calls.
  std::vector<double> tool_s;
  double tool_cores = 0;
  WindowSpec window;              // how Result::steady is cut out of the run
};
inline constexpr uint32_t kLastTurn = 0xffffffffu;

struct RequestRecord {
  double arrival_s = 0, first_token_s = 0, finish_s = 0;
  double input_tokens = 0, output_tokens = 0;  // output: per stream
  uint32_t replica = 0;  // the DP replica that served it
  uint32_t streams = 1;  // parallel streams over the prompt (Request::streams)
  // Output tokens of every stream: the request's share of the throughput.
  [[nodiscard]] double emitted_tokens() const { return output_tokens * streams; }
  [[nodiscard]] double ttft_s() const { return first_token_s - arrival_s; }
  [[nodiscard]] double e2e_s() const { return finish_s - arrival_s; }
  // Mean time per output token after the first (0 for a single-token output).
  [[nodiscard]] double tpot_s() const {
    return output_tokens > 1 ? (finish_s - first_token_s) / (output_tokens - 1) : 0;
  }
};

struct Distribution {
  double mean = 0, median = 0, p90 = 0, p99 = 0, max = 0;
};

// One stretch of a run: a time span and the requests that arrived in it.
struct Phase {
  double start_s = 0, end_s = 0;        // [start_s, end_s)
  size_t requests = 0;                  // requests that arrived in the span
  size_t completed = 0;                 // requests (any) that completed in the span
  double output_tokens = 0;             // output tokens (any request's) emitted in the span
  double output_tok_s = 0;              // output_tokens / (end_s - start_s)
  Distribution ttft_s, tpot_s, e2e_s;   // over the requests that arrived in the span
};

// The steady window of a run whose arrivals are spread over time (open loop; closed loop, whose
// arrivals are the clients' next requests). With a0 and a1 the first and last arrival and
// S = a1 - a0, the window is [a0 + W S, a1 - D S) (W, D: WindowSpec). Latency distributions are
// over the requests that arrive in the window; throughput is the output tokens emitted in the
// window / its length, a request emitting its first token at first_token_s and the others
// evenly over (first_token_s, finish_s]. Below capacity that is the arrival rate x mean output
// tokens (flow conservation), whatever the run's length. Warm-up is [a0, window start) with the
// requests arriving in it, drain [window end, last completion] with the requests arriving
// after the window: window.requests + warmup.requests + drain.requests = all requests, and the
// three output_tokens add up to all output tokens. A queued batch (every arrival at one time)
// has no window: `measured` is false and only the whole-run figures apply.
struct SteadyWindow {
  bool measured = false;    // a window of positive length holding at least one arrival
  Phase window, warmup, drain;
  double mean_in_system = 0;  // time-average of the requests in the system over the window
};

struct Result {
  std::vector<RequestRecord> requests;  // in workload order
  // Whole-run figures: every request, first arrival to last completion (ramp-up and drain in).
  double duration_s = 0;                // first arrival to last completion
  double output_tok_s = 0, input_tok_s = 0;
  Distribution ttft_s, tpot_s, e2e_s;   // tpot over requests with more than one output token
  SteadyWindow steady;                  // the same figures over the steady window
  double steps = 0;                     // engine steps simulated (jumps count every step)
  size_t step_evaluations = 0;          // step-cost evaluations (the simulator's work)
  double mean_in_system = 0;            // requests in the system on average (Little: sum of E2E / duration)
  double busy_s = 0;                    // time with at least one request in flight
  double peak_running = 0;              // most sequences in flight at once
  double peak_kv_bytes = 0;             // most KV bytes per chip reserved at once (<= capacity)
  double kv_capacity_bytes = 0;         // the capacity the run used
  // Tool calls on the host's cores (Workload::tool_s): how many ran, their core-seconds and how
  // long they waited for a free core.
  struct Tools {
    size_t calls = 0;
    double cores = 0, busy_s = 0, wait_s = 0;
  } tools;
  size_t preemptions = 0;               // paged KV: decoding requests preempted (and recomputed)
  double recomputed_tokens = 0;         // paged KV: prompt + generated tokens prefilled again
  size_t swaps = 0;                     // paged KV, swap: preemptions whose KV went to host memory
  double swapped_bytes = 0;             // per chip, out and back in (each counted once per direction)
  double swap_s = 0;                    // steps' time spent copying KV to and from the host
  double peak_swap_bytes = 0;           // per chip, host swap space in use at most (per replica)
  // Prefix caching (EngineConfig::prefix_caching): over every request's first admission, the
  // prompt tokens looked up and the ones found cached (their prefill skipped); cached blocks
  // evicted to make room; the most blocks cached at once.
  struct PrefixCache {
    bool enabled = false;
    double lookup_tokens = 0, hit_tokens = 0;  // hit_tokens: every tier (the device's and the loads)
    size_t evicted_blocks = 0, peak_blocks = 0;  // evicted from the device tier (to the first offload tier, if any)
    [[nodiscard]] double hit_rate() const { return lookup_tokens > 0 ? hit_tokens / lookup_tokens : 0; }
    // Per offload tier (EngineConfig::kv_offload, same order), summed over replicas (peaks: the
    // largest replica's).
    struct Tier {
      std::string name;
      double capacity_blocks = 0;      // per replica
      double hit_tokens = 0;           // prompt tokens loaded back from this tier
      double loaded_bytes = 0;         // per chip, summed over loads
      double load_s = 0;               // summed load time (latency + bytes / bandwidth)
      double recomputed_tokens = 0;    // found here but recomputed, as that was faster
      size_t stored_blocks = 0;        // blocks that entered the tier
      size_t dropped_blocks = 0;       // blocks evicted from it (to the next tier, or dropped from the last)
      size_t peak_blocks = 0;
    };
    std::vector<Tier> tiers;
    double load_wait_s = 0;            // summed time admitted requests waited for their loads
    size_t loads = 0;                  // requests that loaded a prefix from a tier
  } prefix_cache;
  std::vector<size_t> per_replica;  // requests each replica served (simulate_deployment; disaggregated: decode pool)
  // Prefill/decode disaggregation (simulate_disaggregated): what each pool did and what the KV
  // hand-off between them cost. The figures above cover the whole service (steps, busy time and
  // preemptions summed over both pools); peaks and the KV capacity are the decode pool's.
  struct Disaggregation {
    bool enabled = false;
    size_t prefill_replicas = 0, decode_replicas = 0;
    std::vector<size_t> per_prefill;  // requests each prefill replica served
    size_t transfers = 0;             // requests whose KV moved (every one with more than one output token)
    double transferred_bytes = 0;     // KV bytes moved from the prefill to the decode pool, all chips
    Distribution transfer_s;          // prefill end to KV arrival: waiting for the links, latency, wire time
    Distribution decode_wait_s;       // KV arrival to decode admission (the first token reaches the user then)
    double prefill_busy_s = 0, decode_busy_s = 0;  // summed over each pool's replicas
    double prefill_peak_kv_bytes = 0, prefill_kv_capacity_bytes = 0;  // per prefill chip
    double link_busy_s = 0;           // summed wire time of the transfers
  } disaggregation;
};

// One engine iteration as a timeline records it (Chrome-trace / Perfetto export): when it started,
// how long it ran, the steps it stands for (a decode stretch is one iteration of many steps),
// what it held, and the KV in use and sequences in flight.
struct IterationEvent {
  double start_s = 0, duration_s = 0, steps = 0;
  double decode_seqs = 0, prefill_tokens = 0;
  double kv_bytes = 0, running = 0;
};
// Filled by a simulation given one: iterations per replica, at most max_events in all (the rest
// counted in `dropped`, so a long run's file stays bounded).
struct Timeline {
  size_t max_events = 500000;
  size_t recorded = 0, dropped = 0;
  std::vector<std::vector<IterationEvent>> replicas;
};

// Simulates one replica. DiagnosticError when the workload is invalid (no requests, lengths
// below 1, unsorted open-loop arrivals) or a request cannot fit the KV capacity on its own
// (under paged KV too: a request whose whole context never fits would be preempted forever).
// `timeline`: when given, every iteration is recorded (as replica 0).
Result simulate(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w,
                Timeline* timeline = nullptr);

// How requests are spread over a deployment's DP replicas.
enum class Router {
  round_robin,               // request i to replica i mod DP, whatever their load
  least_outstanding_tokens,  // the replica with the fewest prompt + output tokens still to process
  least_kv,                  // the replica with the smallest share of its KV memory in use
  prefix_affinity,           // the replica that was sent the longest run of this prompt's leading blocks
  session_sticky,            // every request of a client on the replica its first one went to
};
struct RouterInfo {
  Router router;
  std::string_view name, description, citation;
};
const std::vector<RouterInfo>& routers();
std::string_view to_string(Router r);
std::optional<Router> parse_router(std::string_view s);

// Simulates the deployment's DP replicas behind a router. Round-robin: open-loop request i goes
// to replica i mod DP; closed-loop clients are split as evenly as possible (the first
// clients mod DP replicas get one more) and each replica serves its clients' requests; fewer
// clients than replicas leave the remaining replicas idle. The load-aware routers decide when
// each request arrives (closed loop: when its client's previous request completes), from the
// replicas' state at that time: every replica runs on one clock. Session-sticky needs closed-loop
// clients (open-loop requests carry no session). The
// result merges every request (in workload order); steps and peaks are summed / maximised
// over replicas, throughput is the whole deployment's; Result::per_replica says how many
// requests each replica served.
Result simulate_deployment(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w,
                           Router router = Router::round_robin, Timeline* timeline = nullptr);

// ---- benchmark metrics (vllm bench serve's names) ----

// Service-level objectives a request meets when its TTFT and its TPOT (first token excluded)
// are within them; unset: no limit of that kind.
struct Slo {
  std::optional<double> ttft_s, tpot_s;
  [[nodiscard]] bool any() const { return ttft_s || tpot_s; }
  [[nodiscard]] bool met_by(const RequestRecord& r) const;
};

// The figures `vllm bench serve` reports, over a set of requests and the span they were served
// in, plus goodput under an SLO. Throughputs divide by `duration_s`. TPOT follows vLLM: (E2E -
// TTFT) / (output tokens - 1) over requests with more than one output token; `tpot_incl_first`
// is the other convention, E2E / output tokens. ITL pools the gaps between successive tokens of
// every request; the simulator spreads a request's tokens evenly after its first, so each of its
// output - 1 gaps is its TPOT (token-weighted; real ITL also has the spikes of prompt chunks
// sharing a step, which this does not show).
struct BenchMetrics {
  size_t completed = 0;
  double duration_s = 0;
  double request_throughput = 0, output_throughput = 0, total_token_throughput = 0;  // per s
  Distribution ttft_s, tpot_s, tpot_incl_first_s, itl_s, e2el_s;
  bool slo_given = false;
  size_t slo_met = 0;
  double slo_attainment = 0;  // share of requests meeting the SLO, 0..1
  double goodput = 0;         // requests per second meeting the SLO
};
// Requests arriving in [start_s, end_s) (every request by default).
struct ArrivalWindow {
  double start_s = -std::numeric_limits<double>::infinity();
  double end_s = std::numeric_limits<double>::infinity();
};
BenchMetrics bench_metrics(const std::vector<RequestRecord>& requests, double duration_s, const Slo& slo = {},
                           const ArrivalWindow& window = {});

// ---- workload helpers (deterministic for a seed) ----

// Token lengths drawn uniformly from [mean x (1 - spread), mean x (1 + spread)], rounded to
// whole tokens (at least 1). spread = 0 gives every request exactly `mean` tokens.
struct LengthSpec {
  double mean = 1;
  double spread = 0;  // relative half-width, 0 <= spread < 1
};

// The first `n` requests of a trace (all when n is 0) as simulator requests: its arrival times,
// and token counts of at least 1.
std::vector<Request> requests_from_trace(const io::Trace& t, size_t n = 0);

// Mooncake traces hash each 512-token prompt block, chained over the blocks before it.
inline constexpr double kMooncakeBlockTokens = 512;

// Gives w's requests (the trace's first w.requests.size()) the trace's prefix-block hashes, at
// its block size; false (w unchanged) when the trace has none.
bool add_trace_prefixes(const io::Trace& t, Workload& w);

// Synthetic shared system prompts: request i's prompt starts with the `tokens`-token prefix of
// one of `groups` groups (hashed in blocks of `block_tokens`), the rest of it its own: group
// i mod `groups` (zipf_s = 0), or group g drawn with probability proportional to 1 / (g + 1)^zipf_s
// (seeded). DiagnosticError when the prefix is not shorter than every prompt, or a count is not
// positive.
void add_shared_prefixes(Workload& w, double tokens, int groups, double block_tokens = 16, double zipf_s = 0,
                         uint64_t seed = 1);

// `n` requests; arrival times all zero (closed loop or a batch queued at t = 0) when
// `rate_per_s` is 0, else a renewal process of that rate starting at t = 0 whose gaps are
// Gamma-distributed with shape `burstiness` and mean 1 / rate (vLLM bench --burstiness):
// 1 is a Poisson process (exponential gaps), below 1 burstier (coefficient of variation
// 1 / sqrt(burstiness)), above 1 more regular. DiagnosticError on a burstiness that is not
// finite and > 0.
std::vector<Request> make_requests(size_t n, const LengthSpec& input, const LengthSpec& output, double rate_per_s,
                                   uint64_t seed, double burstiness = 1);

// `sessions` multi-turn sessions of `turns` turns each (Workload::next_turn), in session order:
// turn k's prompt is the system prompt (`system_tokens`, shared by every session; 0 for none),
// every earlier turn's input and output, and its own new input; lengths drawn per turn. Block
// hashes (of `block_tokens`) chain over each session's context, so a turn's prompt starts with
// the blocks its previous turn filled (prompt and output), and every session's first blocks are
// the system prompt's. Deterministic for a seed.
Workload make_sessions(size_t sessions, int turns, double system_tokens, const LengthSpec& turn_input,
                       const LengthSpec& output, double block_tokens, uint64_t seed);

// The sessions of a session trace (io::SessionTrace): each session's turns in order, a turn's
// prompt the session so far plus its new tokens, block hashes (of `block_tokens`) chained over
// each session's context, its think and tool times, and (when the trace has them) the sessions'
// arrival times with one client per session; without them, set Workload::clients.
Workload sessions_from_trace(const io::SessionTrace& t, double block_tokens = 16);

// Per-session figures of a run with sessions: a session's time runs from its first turn's
// arrival to its last turn's finish (think times between turns included).
struct SessionStats {
  size_t sessions = 0;
  double mean_turns = 0;
  double mean_last_prompt_tokens = 0;  // the context a session's last turn sends
  Distribution duration_s;
};
SessionStats session_stats(const Workload& w, const Result& r);

// How a closed-loop client's pause between requests is drawn.
enum class ThinkTime { fixed, exponential };
std::optional<ThinkTime> parse_think_time(std::string_view s);  // "fixed", "exponential"
std::string_view to_string(ThinkTime t);
// Think times for `n` requests (Workload::think_s) with mean `mean_s` (>= 0, finite); deterministic
// for a seed, drawn from a stream of their own (the lengths drawn with the same seed are unchanged).
std::vector<double> make_think_times(size_t n, double mean_s, ThinkTime kind, uint64_t seed);

Distribution distribution(std::vector<double> v);

// The steady window of a set of request records (Result::steady is this with the workload's spec).
SteadyWindow steady_window(const std::vector<RequestRecord>& requests, const WindowSpec& spec = {});

// ---- run length ----

// Seconds of arrivals an open-loop run needs for its queue to settle when nothing else is
// stated: audited server benchmarks (MLPerf Inference Server) run at least 600 s.
inline constexpr double kSettleSeconds = 600;
// Most requests an unstated run length simulates (about 0.1-0.3 s of simulation): above
// kMaxSimulatedRequests / kSettleSeconds = 333 req/s the run covers fewer than 600 s.
inline constexpr size_t kMaxSimulatedRequests = 200000;

// Requests to simulate for an open-loop run at `rate_per_s`: the stated count if there is one,
// else enough for max(stated duration, kSettleSeconds) of arrivals (at least 1), at most
// `cap`.
size_t open_loop_requests(double rate_per_s, std::optional<double> stated_requests,
                          std::optional<double> stated_duration_s = std::nullopt,
                          size_t cap = kMaxSimulatedRequests);

// ---- the largest sustainable rate ----

// Latency limits on the steady window's p99 (either or both).
struct RateLimits {
  std::optional<double> p99_ttft_s, p99_tpot_s;
};

struct RateSearchSpec {
  LengthSpec input, output;
  uint64_t seed = 1;
  double burstiness = 1;             // Gamma shape of the arrival gaps (1: Poisson)
  uint32_t streams = 1;              // parallel streams per request (Request::streams)
  std::optional<double> requests;    // per probe; unset: open_loop_requests (>= 600 s of arrivals)
  std::optional<double> duration_s;  // seconds of arrivals per probe (with requests unset)
  RateLimits limits;
  WindowSpec window;
  double tolerance = 0.01;           // stop when (upper - lower) / lower <= tolerance
  int max_probes = 60;               // simulations at most (bracketing + bisection)
  double start_rate = 1;             // the first probe, req/s
  Router router = Router::round_robin;  // how each probe spreads requests over the replicas
};

struct RateProbe {
  double rate = 0;        // req/s offered to the deployment
  size_t requests = 0;
  bool meets = false;
  std::string violation;  // why not (empty when it meets)
  double output_tok_s = 0, p99_ttft_s = 0, p99_tpot_s = 0;  // steady window
};

struct MaxRate {
  bool found = false;     // some probed rate met the limits
  double rate = 0;        // the largest probed rate that met them (the lower bracket)
  double upper = 0;       // the smallest probed rate above it that did not (0: none found)
  bool converged = false; // (upper - rate) / rate <= tolerance
  std::vector<RateProbe> probes;  // in the order simulated
  Result at_rate;         // the run at `rate`
  std::string reason;     // when not found or not converged
};

// Whether a run meets the limits and keeps up with its arrivals: empty when it does, else the
// first violation. It meets them when a steady window exists, its p99 TTFT / TPOT are within the
// limits, and the requests in the system do not grow over the window: arrivals - completions in
// the window (= in system at its end - at its start) stay within 2% of the arrivals plus three
// standard deviations of the difference of two Poisson counts of the number N in the system when
// the window opens, 3 sqrt(2 N + 1). A stable queue passes whatever its length; an overloaded
// one, whose backlog grows by (rate - capacity) x window, fails once the excess passes 2-4%.
std::string rate_violation(const Result& r, const RateLimits& limits);

// Bisects the largest Poisson rate (req/s, the deployment's, same seed at every rate) that
// meets the limits: doubling or halving from start_rate until a bracket [meets, violates] is
// found, then bisecting it (geometric mid-point) to the tolerance; deterministic for a seed.
// DiagnosticError on no limit or a non-positive / non-finite one.
MaxRate find_max_rate(const cost::StepCostModel& model, const EngineConfig& engine, const RateSearchSpec& spec);
// The same search over any service: `run` simulates a workload through it (a disaggregated
// service, say); spec.router is not used.
MaxRate find_max_rate(const std::function<Result(const Workload&)>& run, const RateSearchSpec& spec);

}  // namespace tf::serving
