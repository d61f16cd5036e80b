#pragma once
// Request traces: arrival times and token counts (and prefix-block hashes where the format has
// them), normalised to seconds from the first request. Formats, detected from the header or the
// extension:
//   azure     CSV  TIMESTAMP,ContextTokens,GeneratedTokens  (Azure LLM inference 2023/2024;
//                  "2023-11-16 18:17:03.9799600", 2024 adds "+00:00")
//   burstgpt  CSV  Timestamp (s), Request tokens, Response tokens (rows with 0 response tokens
//                  are failed requests and are skipped, as vLLM's BurstGPT loader does)
//   vidur     CSV  arrived_at (s), num_prefill_tokens, num_decode_tokens (vidur / splitwise)
//   mooncake  JSONL {"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tf::io {

struct TraceRequest {
  double arrival_s = 0;
  long long input_tokens = 0;
  long long output_tokens = 0;
  std::vector<std::uint32_t> block_hashes;  // prefix-chained 512-token block ids (mooncake)
};

struct Trace {
  std::string file;
  std::string format;
  std::vector<TraceRequest> requests;  // sorted by arrival, first at 0
  long long skipped = 0;               // failed requests the format marks (burstgpt)

  [[nodiscard]] double duration_s() const;
  [[nodiscard]] double mean_input_tokens() const;
  [[nodiscard]] double mean_output_tokens() const;
  // Requests per second over the trace (count / duration; the count if the duration is 0).
  [[nodiscard]] double request_rate() const;
};

// Malformed files give a Diagnostic naming the file, line and column; an empty trace is an error.
// Limits (docs/limits.md): at most 2^25 requests of at most 2^31 - 1 tokens each, arrival times
// finite, Azure timestamps real calendar dates; the file is read whole (io::kMaxInputBytes) and
// its records one at a time, so memory is the text plus about 48 bytes per request.
Trace load_trace(const std::filesystem::path& path);
// The same from text; `name` stands for the file (its extension picks JSONL or CSV).
Trace parse_trace(const std::string& text, const std::string& name);

}  // namespace tf::io
