#pragma once
// Session traces: multi-turn sessions (chats, agent loops) as JSONL, one turn per line:
//   {"session": "s1", "turn": 0, "input_tokens": 1200, "output_tokens": 300,
//    "think_s": 0, "tool_s": 0, "arrival_s": 12.5}
//   session        string or integer id; a session's lines appear in turn order (0, 1, ...),
//                  sessions may interleave
//   input_tokens   the turn's new tokens (the prompt is the session so far plus these), or
//   prompt_tokens  the turn's whole prompt (at least the session so far plus one token);
//                  exactly one of the two
//   output_tokens  the answer's tokens (>= 1)
//   think_s        the user's pause before this turn (>= 0 s; default 0)
//   tool_s         a tool call before this turn, core-seconds on a host core (>= 0; default 0)
//   arrival_s      when the session starts (its turn 0 only); given for every session or none
// Unknown keys, missing or bad values, turns out of order and a session's later turn that
// states an arrival are errors naming the file, line and key.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tf::io {

struct SessionTurn {
  double new_tokens = 0;     // input added by this turn
  double output_tokens = 1;
  double think_s = 0, tool_s = 0;
  int line = 0;
};

struct Session {
  std::string id;
  std::optional<double> arrival_s;
  std::vector<SessionTurn> turns;
};

struct SessionTrace {
  std::string file;
  std::vector<Session> sessions;  // in order of first appearance (by arrival when arrivals are given)
  size_t turns = 0;
  [[nodiscard]] bool has_arrivals() const { return !sessions.empty() && sessions.front().arrival_s.has_value(); }
};

SessionTrace load_session_trace(const std::filesystem::path& path);
SessionTrace parse_session_trace(const std::string& text, const std::string& name);

}  // namespace tf::io
