#include "io/session_trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/diagnostic.hpp"
#include "io/json_reader.hpp"
#include "io/text.hpp"

namespace tf::io {
namespace {

constexpr double kMaxTokens = 2147483647.0;
constexpr size_t kMaxTurns = size_t{1} << 24;
const std::vector<std::string> kKeys{"session",  "turn",    "input_tokens", "prompt_tokens",
                                     "output_tokens", "think_s", "tool_s",       "arrival_s"};

}  // namespace

SessionTrace parse_session_trace(const std::string& text, const std::string& file) {
  SessionTrace t;
  t.file = file;
  std::map<std::string, size_t> index;   // session id -> position in t.sessions
  std::vector<double> context;            // tokens each session holds so far
  for_each_json_line(text, file, [&](const nlohmann::json& j, int line) {
    for (const auto& [k, v] : j.items())
      if (std::find(kKeys.begin(), kKeys.end(), k) == kKeys.end())
        fail_at(file, line, k, fmt::format("unknown key '{}'", k), "keys: " + join(kKeys));
    auto number = [&](const char* key, double lo, double hi, bool whole) -> std::optional<double> {
      if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
      const auto& v = j.at(key);
      if (!v.is_number()) fail_at(file, line, key, fmt::format("expected a number, got {}", describe_json(v)));
      const double d = v.get<double>();
      if (!std::isfinite(d) || d < lo || d > hi)
        fail_at(file, line, key, fmt::format("{} is outside [{:g}, {:g}]", describe_json(v), lo, hi));
      if (whole && std::floor(d) != d) fail_at(file, line, key, fmt::format("{} is not a whole number", describe_json(v)));
      return d;
    };
    if (!j.contains("session")) fail_at(file, line, "session", "missing key", "each line needs session, turn, output_tokens");
    const auto& sv = j.at("session");
    if (!sv.is_string() && !sv.is_number_integer())
      fail_at(file, line, "session", fmt::format("expected a string or integer id, got {}", describe_json(sv)));
    const std::string id = sv.is_string() ? sv.get<std::string>() : sv.dump();
    const auto turn = number("turn", 0, 1e9, true);
    if (!turn) fail_at(file, line, "turn", "missing key", "each line needs session, turn, output_tokens");
    const auto out = number("output_tokens", 1, kMaxTokens, true);
    if (!out) fail_at(file, line, "output_tokens", "missing key", "each line needs session, turn, output_tokens");
    const auto in = number("input_tokens", 1, kMaxTokens, true);
    const auto prompt = number("prompt_tokens", 1, kMaxTokens, true);
    if (in.has_value() == prompt.has_value())
      fail_at(file, line, in ? "prompt_tokens" : "input_tokens",
              "give exactly one of input_tokens (the turn's new tokens) and prompt_tokens (its whole prompt)");
    auto [it, added] = index.try_emplace(id, t.sessions.size());
    if (added) {
      t.sessions.push_back({id, std::nullopt, {}});
      context.push_back(0);
    }
    auto& s = t.sessions[it->second];
    double& ctx = context[it->second];
    if (*turn != static_cast<double>(s.turns.size()))
      fail_at(file, line, "turn",
              fmt::format("session {} turn {} comes after {} turns (turns are 0, 1, 2, ... in order)", id, *turn,
                          s.turns.size()));
    const auto arrival = number("arrival_s", 0, 1e12, false);
    if (arrival && *turn > 0)
      fail_at(file, line, "arrival_s", "only a session's turn 0 states its arrival (later turns follow its answers)");
    if (*turn == 0) {
      s.arrival_s = arrival;
      if (t.sessions.size() > 1 && arrival.has_value() != t.sessions.front().arrival_s.has_value())
        fail_at(file, line, "arrival_s", "give arrival_s for every session's turn 0 or for none");
    }
    SessionTurn st;
    st.line = line;
    st.output_tokens = *out;
    st.think_s = number("think_s", 0, 1e9, false).value_or(0);
    st.tool_s = number("tool_s", 0, 1e9, false).value_or(0);
    if (in) {
      st.new_tokens = *in;
    } else {
      if (!(*prompt > ctx))
        fail_at(file, line, "prompt_tokens",
                fmt::format("{:g} tokens do not hold the session so far ({:g} tokens) and a new one", *prompt, ctx));
      st.new_tokens = *prompt - ctx;
    }
    ctx += st.new_tokens + st.output_tokens;
    if (ctx > kMaxTokens) fail_at(file, line, "", fmt::format("session {} holds more than {:g} tokens", id, kMaxTokens));
    s.turns.push_back(st);
    if (++t.turns > kMaxTurns) fail_at(file, line, "", fmt::format("more than {} turns", kMaxTurns));
  });
  if (t.sessions.empty()) fail_at(file, 1, "", "empty session trace: expected one JSON object per line");
  if (t.has_arrivals())
    std::stable_sort(t.sessions.begin(), t.sessions.end(),
                     [](const Session& a, const Session& b) { return *a.arrival_s < *b.arrival_s; });
  return t;
}

SessionTrace load_session_trace(const std::filesystem::path& path) {
  return parse_session_trace(read_text_file(path), path.string());
}

}  // namespace tf::io
