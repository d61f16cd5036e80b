#include "serving/workload/workload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

#include "core/diagnostic.hpp"

namespace tf::serving {

std::vector<Request> requests_from_trace(const io::Trace& t, size_t n) {
  if (n == 0 || n > t.requests.size()) n = t.requests.size();
  std::vector<Request> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& r = t.requests[i];
    out.push_back({r.arrival_s, static_cast<double>(std::max(1LL, r.input_tokens)),
                   static_cast<double>(std::max(1LL, r.output_tokens))});
  }
  return out;
}

bool add_trace_prefixes(const io::Trace& t, Workload& w) {
  std::vector<uint64_t> pool;
  const size_t n = std::min(w.requests.size(), t.requests.size());
  for (size_t i = 0; i < n; ++i) {
    const auto& h = t.requests[i].block_hashes;
    if (pool.size() + h.size() > std::numeric_limits<uint32_t>::max())
      fail(fmt::format("{}: more than {} prefix-block hashes", t.file, std::numeric_limits<uint32_t>::max()));
    auto& r = w.requests[i];
    r.hash_begin = static_cast<uint32_t>(pool.size());
    r.prompt_blocks = r.context_blocks = static_cast<uint32_t>(h.size());
    pool.insert(pool.end(), h.begin(), h.end());
  }
  if (pool.empty()) {
    for (size_t i = 0; i < n; ++i) w.requests[i].hash_begin = w.requests[i].prompt_blocks = w.requests[i].context_blocks = 0;
    return false;
  }
  w.block_hashes = std::move(pool);
  w.block_tokens = kMooncakeBlockTokens;
  return true;
}

void add_shared_prefixes(Workload& w, double tokens, int groups, double block_tokens, double zipf_s, uint64_t seed) {
  if (!(tokens >= 1 && std::isfinite(tokens)))
    fail(fmt::format("shared prefix: must be >= 1 token, got {}", tokens));
  if (groups < 1 || groups > (1 << 20)) fail(fmt::format("shared prefix: groups must be in [1, 2^20], got {}", groups));
  if (!(block_tokens >= 1)) fail(fmt::format("shared prefix: block size must be >= 1 token, got {}", block_tokens));
  if (!(zipf_s >= 0 && zipf_s <= 10))
    fail(fmt::format("shared prefix: the Zipf exponent must be in [0, 10] (0: request i uses group i mod N), got {}",
                     zipf_s));
  for (size_t i = 0; i < w.requests.size(); ++i)
    if (w.requests[i].input_tokens <= tokens)
      fail(fmt::format("shared prefix of {} tokens: request {} has a prompt of only {} tokens (the prefix must be "
                       "shorter than every prompt)",
                       tokens, i, w.requests[i].input_tokens));
  const auto blocks = static_cast<uint32_t>(std::floor(tokens / block_tokens));
  if (static_cast<double>(blocks) * groups > 1e8)
    fail(fmt::format("shared prefix: {} groups x {} blocks is more than 1e8 hashes", groups, blocks));
  // Chained hashes: block k of group g stands for that group's first k + 1 blocks.
  w.block_hashes.clear();
  for (int g = 0; g < groups; ++g)
    for (uint32_t k = 0; k < blocks; ++k)
      w.block_hashes.push_back((static_cast<uint64_t>(g) << 32) | k);
  w.block_tokens = block_tokens;
  // Popularity: a cycle (request i uses group i mod N), or group g with probability
  // proportional to 1 / (g + 1)^s (Zipf; popular system prompts, tools, documents), drawn from
  // the seed by inverting the cumulative distribution.
  std::vector<double> cdf;
  if (zipf_s > 0) {
    cdf.resize(static_cast<size_t>(groups));
    double sum = 0;
    for (int g = 0; g < groups; ++g) cdf[static_cast<size_t>(g)] = sum += std::pow(g + 1.0, -zipf_s);
    for (auto& c : cdf) c /= sum;
  }
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  for (size_t i = 0; i < w.requests.size(); ++i) {
    auto& r = w.requests[i];
    size_t g = i % static_cast<size_t>(groups);
    if (!cdf.empty()) {
      const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
      g = std::min(cdf.size() - 1, static_cast<size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin()));
    }
    r.hash_begin = static_cast<uint32_t>(g * blocks);
    r.prompt_blocks = r.context_blocks = blocks;
  }
}

namespace {

// Uniform in [0, 1) from the top 53 bits: the same sequence on every platform.
double u01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Gamma(shape k, scale 1): Marsaglia and Tsang (2000) for k >= 1 (normal deviates by Box-Muller),
// and Gamma(k + 1) x U^(1/k) below 1. Only the portable uniform source is used, so the draws are
// the same on every platform (std::gamma_distribution's are not).
double gamma_draw(double k, std::mt19937_64& rng) {
  if (k < 1) return gamma_draw(k + 1, rng) * std::pow(1 - u01(rng), 1 / k);
  const double d = k - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  while (true) {
    double x = 0, v = 0;
    do {
      const double r = std::sqrt(-2 * std::log(1 - u01(rng)));
      x = r * std::cos(2 * std::numbers::pi * u01(rng));
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = 1 - u01(rng);  // (0, 1]
    if (u < 1 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v))) return d * v;
  }
}

}  // namespace

std::vector<Request> make_requests(size_t n, const LengthSpec& input, const LengthSpec& output, double rate_per_s,
                                   uint64_t seed, double burstiness) {
  if (!(burstiness > 0) || !std::isfinite(burstiness))
    fail(fmt::format("arrival burstiness must be finite and > 0 (1: Poisson), got {}", burstiness));
  for (const auto* l : {&input, &output}) {
    if (!(l->mean >= 1)) fail(fmt::format("request lengths: mean must be >= 1 token, got {}", l->mean));
    if (!(l->spread >= 0 && l->spread < 1))
      fail(fmt::format("request lengths: spread must be in [0, 1), got {}", l->spread));
  }
  if (!(rate_per_s >= 0) || !std::isfinite(rate_per_s))
    fail(fmt::format("request rate must be finite and >= 0, got {}", rate_per_s));
  std::mt19937_64 rng(seed);
  auto draw = [&](const LengthSpec& l) {
    if (l.spread == 0) return std::max(1.0, std::round(l.mean));
    return std::max(1.0, std::round(l.mean * (1 - l.spread + 2 * l.spread * u01(rng))));
  };
  std::vector<Request> out(n);
  double t = 0;
  for (auto& r : out) {
    if (rate_per_s > 0) {
      t += burstiness == 1 ? -std::log(1 - u01(rng)) / rate_per_s : gamma_draw(burstiness, rng) / (burstiness * rate_per_s);
      r.arrival_s = t;
    }
    r.input_tokens = draw(input);
    r.output_tokens = draw(output);
  }
  return out;
}

Workload make_sessions(size_t sessions, int turns, double system_tokens, const LengthSpec& turn_input,
                       const LengthSpec& output, double block_tokens, uint64_t seed) {
  if (sessions < 1) fail("sessions: at least one session is needed");
  if (turns < 1 || turns > 100000) fail(fmt::format("sessions: turns must be in [1, 100000], got {}", turns));
  if (!(system_tokens >= 0) || !std::isfinite(system_tokens))
    fail(fmt::format("sessions: the system prompt must be finite and >= 0 tokens, got {}", system_tokens));
  if (!(block_tokens >= 1) || !std::isfinite(block_tokens))
    fail(fmt::format("sessions: the block size must be >= 1 token, got {}", block_tokens));
  if (static_cast<double>(sessions) * turns > 1e8)
    fail(fmt::format("sessions: {} sessions x {} turns is more than 1e8 requests", sessions, turns));
  Workload w;
  const size_t n = sessions * static_cast<size_t>(turns);
  auto lengths = make_requests(n, turn_input, output, 0, seed);  // the lengths of every turn, in order
  w.requests.resize(n);
  w.next_turn.assign(n, kLastTurn);
  w.block_tokens = block_tokens;
  const auto system_blocks = static_cast<uint32_t>(std::floor(system_tokens / block_tokens));
  for (size_t s = 0; s < sessions; ++s) {
    const size_t first = s * static_cast<size_t>(turns);
    // The session's whole context, then its blocks: the system prompt's (shared), its own.
    double context = system_tokens;
    for (int k = 0; k < turns; ++k) context += lengths[first + k].input_tokens + lengths[first + k].output_tokens;
    const auto blocks = static_cast<uint32_t>(std::floor(context / block_tokens));
    if (static_cast<double>(w.block_hashes.size()) + blocks > 4e9)
      fail("sessions: more than 4e9 prefix-block hashes (fewer sessions, turns or tokens)");
    const auto begin = static_cast<uint32_t>(w.block_hashes.size());
    for (uint32_t b = 0; b < blocks; ++b)
      w.block_hashes.push_back(b < system_blocks ? (0xffffull << 48) | b : ((static_cast<uint64_t>(s) + 1) << 32) | b);
    double before = system_tokens;
    for (int k = 0; k < turns; ++k) {
      auto& r = w.requests[first + k];
      r.input_tokens = before + lengths[first + k].input_tokens;
      r.output_tokens = lengths[first + k].output_tokens;
      r.hash_begin = begin;
      r.prompt_blocks = static_cast<uint32_t>(std::floor(r.input_tokens / block_tokens));
      r.context_blocks = static_cast<uint32_t>(std::floor((r.input_tokens + r.output_tokens) / block_tokens));
      before = r.input_tokens + r.output_tokens;
      if (k + 1 < turns) w.next_turn[first + k] = static_cast<uint32_t>(first + k + 1);
    }
  }
  return w;
}

Workload sessions_from_trace(const io::SessionTrace& t, double block_tokens) {
  if (!(block_tokens >= 1) || !std::isfinite(block_tokens))
    fail(fmt::format("sessions: the block size must be >= 1 token, got {}", block_tokens));
  Workload w;
  w.block_tokens = block_tokens;
  w.requests.reserve(t.turns);
  w.next_turn.reserve(t.turns);
  bool think = false, tool = false;
  for (const auto& s : t.sessions)
    for (size_t k = 1; k < s.turns.size(); ++k) think = think || s.turns[k].think_s > 0, tool = tool || s.turns[k].tool_s > 0;
  for (size_t si = 0; si < t.sessions.size(); ++si) {
    const auto& s = t.sessions[si];
    double context = 0;
    for (const auto& turn : s.turns) context += turn.new_tokens + turn.output_tokens;
    const auto blocks = static_cast<uint32_t>(std::floor(context / block_tokens));
    if (static_cast<double>(w.block_hashes.size()) + blocks > 4e9)
      fail("sessions: more than 4e9 prefix-block hashes (fewer sessions or tokens)");
    const auto begin = static_cast<uint32_t>(w.block_hashes.size());
    for (uint32_t b = 0; b < blocks; ++b) w.block_hashes.push_back((static_cast<uint64_t>(si) + 1) << 32 | b);
    double before = 0;
    for (size_t k = 0; k < s.turns.size(); ++k) {
      const auto& turn = s.turns[k];
      Request r;
      r.input_tokens = before + turn.new_tokens;
      r.output_tokens = turn.output_tokens;
      r.hash_begin = begin;
      r.prompt_blocks = static_cast<uint32_t>(std::floor(r.input_tokens / block_tokens));
      r.context_blocks = static_cast<uint32_t>(std::floor((r.input_tokens + r.output_tokens) / block_tokens));
      before = r.input_tokens + r.output_tokens;
      w.next_turn.push_back(k + 1 < s.turns.size() ? static_cast<uint32_t>(w.requests.size() + 1) : kLastTurn);
      // A session's first turn is sent when it starts: its think and tool times are not used.
      if (think) w.think_s.push_back(k > 0 ? turn.think_s : 0);
      if (tool) w.tool_s.push_back(k > 0 ? turn.tool_s : 0);
      if (t.has_arrivals()) w.session_start_s.push_back(k == 0 ? *s.arrival_s : 0);
      w.requests.push_back(r);
    }
  }
  if (t.has_arrivals()) w.clients = static_cast<int>(std::min<size_t>(t.sessions.size(), 1u << 30));
  return w;
}

SessionStats session_stats(const Workload& w, const Result& r) {
  SessionStats st;
  if (w.next_turn.empty() || r.requests.size() != w.requests.size()) return st;
  std::vector<char> follows(w.requests.size(), 0);
  for (const uint32_t j : w.next_turn)
    if (j != kLastTurn) follows[j] = 1;
  std::vector<double> durations;
  double turns = 0, last_prompt = 0;
  for (size_t i = 0; i < w.requests.size(); ++i) {
    if (follows[i]) continue;
    size_t k = i, count = 1;
    while (w.next_turn[k] != kLastTurn) k = w.next_turn[k], ++count;
    durations.push_back(r.requests[k].finish_s - r.requests[i].arrival_s);
    turns += static_cast<double>(count);
    last_prompt += w.requests[k].input_tokens;
  }
  st.sessions = durations.size();
  if (st.sessions == 0) return st;
  st.mean_turns = turns / static_cast<double>(st.sessions);
  st.mean_last_prompt_tokens = last_prompt / static_cast<double>(st.sessions);
  st.duration_s = distribution(std::move(durations));
  return st;
}

std::optional<ThinkTime> parse_think_time(std::string_view s) {
  if (s == "fixed") return ThinkTime::fixed;
  if (s == "exponential") return ThinkTime::exponential;
  return std::nullopt;
}

std::string_view to_string(ThinkTime t) { return t == ThinkTime::fixed ? "fixed" : "exponential"; }

std::vector<double> make_think_times(size_t n, double mean_s, ThinkTime kind, uint64_t seed) {
  if (!(mean_s >= 0) || !std::isfinite(mean_s))
    fail(fmt::format("think time: the mean must be finite and >= 0 s, got {}", mean_s));
  std::vector<double> out(n, mean_s);
  if (kind == ThinkTime::exponential && mean_s > 0) {
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);  // a stream apart from the lengths'
    for (auto& t : out) t = -std::log(1 - u01(rng)) * mean_s;
  }
  return out;
}

size_t open_loop_requests(double rate_per_s, std::optional<double> stated_requests,
                          std::optional<double> stated_duration_s, size_t cap) {
  if (stated_requests) {
    if (!(*stated_requests >= 1) || !std::isfinite(*stated_requests))
      fail(fmt::format("requests to simulate must be >= 1, got {}", *stated_requests));
    return static_cast<size_t>(std::ceil(*stated_requests));
  }
  if (!(rate_per_s > 0) || !std::isfinite(rate_per_s))
    fail(fmt::format("request rate must be finite and > 0, got {}", rate_per_s));
  if (stated_duration_s && (!(*stated_duration_s > 0) || !std::isfinite(*stated_duration_s)))
    fail(fmt::format("run duration must be finite and > 0 s, got {}", *stated_duration_s));
  const double seconds = std::max(stated_duration_s.value_or(0.0), kSettleSeconds);
  const double n = std::ceil(rate_per_s * seconds);
  return static_cast<size_t>(std::clamp(n, 1.0, static_cast<double>(std::max<size_t>(cap, 1))));
}

}  // namespace tf::serving
