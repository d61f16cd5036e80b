#pragma once
// Engine-side facts mined from the free-text `notes` column of the measured CSV (caps, request
// counts, token budgets, length spreads, memory fractions, attention precision).
//
// The scanner is hand-written and never backtracks beyond a fixed window: its time is linear in
// the length of the note and its stack use is constant, whatever the note holds (the std::regex
// version it replaces took seconds on a 10,000-digit note and overflowed the stack at 40,000).
// It finds exactly what these ECMAScript patterns find with std::regex_search on the note in
// lower case (leftmost match; alternatives in order), with `[ _-]?` written `·`:
//   cap       (max·num·seqs|max·batch(·size)?|max·running·requests)\s*[=:]?\s*(\d+)
//   requests  (\d+)\s+(sharegpt\s+)?(reqs|requests|prompts)\b
//   budget    (max·num·batched·tokens|max·num·tokens|chunked·prefill·size)\s*[=:]?\s*(\d+)
//   uniform   u\[\s*([0-9.]+)\s*,\s*([0-9.]+)\s*\]         (length_spread (b - a) / (b + a))
//   plusminus \+-\s*(\d+(\.\d+)?)\s*%                       (only without a uniform match)
//   attn      \battn(ention)?\s+(bf16|fp16|fp8)\b
//   memory    (gpu·memory·utilization|mem·fraction·static|kv·cache·free·gpu·mem·fraction|kv frac)
//             \s*[=:]?\s*(0?\.\d{1,4}|1\.0{0,4})
//   per rank  <cap keyword>\s*[=:]?\s*\d+\s*(/\s*rank|per\s+rank)
//   pools     pd-disagg\s+(\d+)p\s*\+\s*(\d+)d\b[^:]{0,16}:\s*p\s+<pool>\s*,\s*d\s+<pool>
//             <pool> = (\d+)\s*x\s*\(\s*tp(\d+)(\s+pp(\d+))?(\s+ep(\d+))?(\s+dpa=(true|false))?\s*\)
//             (chips of each pool, instances, their TP, PP, EP and attention data parallelism)
// and, as plain substrings, the phrases that say a run issued its kernels eagerly, or sliced its
// experts over the TP ranks instead of placing them by expert parallelism (parse_notes).
#include <optional>
#include <string>

#include "core/precision.hpp"
#include "serving/engine/engine_profile.hpp"
#include "serving/serving.hpp"

namespace tf::validate {

// One pool of a prefill/decode-disaggregated deployment as the notes state it: `instances`
// engine instances sharing `chips` chips, each with this layout.
struct PoolLayout {
  int chips = 0, instances = 0, tp = 1, pp = 1, ep = 1;
  bool attention_dp = false;
};
struct DisaggregatedLayout {
  PoolLayout prefill, decode;
};

// Engine-side facts stated in a row's notes.
struct EngineFacts {
  std::optional<double> max_batch;    // "engine cap: max batch N", max-num-seqs / max_num_seqs N
  std::optional<double> requests;     // requests in the run: "N reqs", "N prompts"
  std::optional<double> step_tokens;  // max-num-batched-tokens / max_num_tokens / chunked-prefill-size N
  double length_spread = 0;           // relative half-width of the request lengths around the mean
                                      // ("U[0.8,1]x" nominal: 1/9; "+-15%": 0.15; else 0)
  serving::Scheduler scheduler = serving::Scheduler::mixed;  // the engine profile's step policy
  std::string scheduler_reason;                              // which profile and words decided it
  // The engine profile (data/engines) the notes and source name through the alias table; the
  // default profile, flagged, when none matches.
  const serving::EngineProfile* engine = nullptr;
  bool engine_recognised = false;
  std::optional<std::string> unsupported;      // a run the model cannot represent (disaggregated)
  std::optional<DisaggregatedLayout> disaggregation;  // the prefill and decode pools, when stated
  bool max_batch_per_rank = false;             // the stated cap is per rank ("/rank", "per rank")
  std::optional<double> memory_fraction;       // stated gpu-memory-utilization / KV fraction
  std::optional<Precision> attention_weights;  // "attn BF16": projections kept apart from the weights
  // "--enforce-eager", "eager mode", "no HIP graphs", "--disable-cuda-graph": the run issued its
  // kernels from the host (cost::Launch::eager), whatever its engine profile's default.
  std::optional<cost::Launch> launch;
  // "experts TP-sharded", "moe_tp=tp", "no real EP": every rank holds a slice of every expert
  // (TensorRT-LLM moe_tp_size = tp), so no rank waits for hot experts: EP 1 whatever the column.
  bool experts_tp_sharded = false;
};

// Largest cap, request count or token budget a note may state: the predictor simulates the
// stated requests, so a larger figure is refused rather than allocated (docs/limits.md).
inline constexpr double kMaxNoteCount = 10e6;

// Numbers stated in the notes (caps, request counts, budgets, lengths, precisions); the engine
// itself comes from the alias table (engine_facts). A stated number that cannot be used (more
// than kMaxNoteCount, outside the range of a double, or no number at all as in `U[.,2]`) is a
// DiagnosticError with key "notes" quoting the phrase; the CSV reader adds the file and line.
EngineFacts parse_notes(const std::string& notes);

}  // namespace tf::validate
