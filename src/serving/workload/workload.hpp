#pragma once
// What a simulated service is asked to serve (the workload component): requests with their
// lengths, arrival times or closed-loop clients, sessions, think times, tool calls and prefix
// block hashes, and the generators and trace readers that make them (Poisson and Gamma arrivals,
// shared system prompts, multi-turn sessions, Azure / BurstGPT / vidur / Mooncake traces, session
// traces). Deterministic for a seed.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "io/session_trace.hpp"
#include "io/trace.hpp"
#include "serving/metrics/metrics.hpp"

namespace tf::serving {

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

}  // namespace tf::serving
