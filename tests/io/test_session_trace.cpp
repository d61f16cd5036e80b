// Session traces (io/session_trace.hpp): turns in order, new tokens from prompt_tokens, arrivals,
// and every malformed line named by file, line and key.
#include <gtest/gtest.h>

#include "core/diagnostic.hpp"
#include "io/session_trace.hpp"

namespace tf::io {
namespace {

Diagnostic error_of(const std::string& text) {
  try {
    (void)parse_session_trace(text, "s.jsonl");
  } catch (const DiagnosticError& e) {
    return e.diagnostic();
  }
  ADD_FAILURE() << "no error for: " << text;
  return {};
}

TEST(SessionTrace, TurnsInOrderWithNewTokensFromEitherForm) {
  const auto t = parse_session_trace(
      "{\"session\": \"b\", \"turn\": 0, \"input_tokens\": 100, \"output_tokens\": 10, \"arrival_s\": 5}\n"
      "{\"session\": 7, \"turn\": 0, \"input_tokens\": 50, \"output_tokens\": 5, \"arrival_s\": 1}\n"
      "\n"
      "{\"session\": \"b\", \"turn\": 1, \"prompt_tokens\": 150, \"output_tokens\": 20, \"think_s\": 2, \"tool_s\": "
      "0.5}\n",
      "s.jsonl");
  ASSERT_EQ(t.sessions.size(), 2u);
  EXPECT_EQ(t.turns, 3u);
  ASSERT_TRUE(t.has_arrivals());
  EXPECT_EQ(t.sessions[0].id, "7");  // sorted by arrival
  const auto& b = t.sessions[1];
  EXPECT_EQ(b.id, "b");
  ASSERT_EQ(b.turns.size(), 2u);
  EXPECT_DOUBLE_EQ(b.turns[1].new_tokens, 40);  // 150 - (100 + 10)
  EXPECT_DOUBLE_EQ(b.turns[1].think_s, 2);
  EXPECT_DOUBLE_EQ(b.turns[1].tool_s, 0.5);
  EXPECT_EQ(b.turns[1].line, 4);
}

TEST(SessionTrace, MalformedLinesNameTheLineAndKey) {
  const std::string ok = "{\"session\": 1, \"turn\": 0, \"input_tokens\": 10, \"output_tokens\": 5}\n";
  struct Case {
    std::string text, key, words;
    int line;
  } cases[] = {
      {"", "", "empty", 1},
      {"[1]\n", "", "JSON object", 1},
      {"{\"session\": 1, \"turn\": 0, \"input_tokens\": 10, \"output_tokens\": 5, \"speed\": 1}\n", "speed",
       "unknown key", 1},
      {"{\"turn\": 0, \"input_tokens\": 10, \"output_tokens\": 5}\n", "session", "missing", 1},
      {"{\"session\": [1], \"turn\": 0, \"input_tokens\": 10, \"output_tokens\": 5}\n", "session", "string or integer", 1},
      {"{\"session\": 1, \"turn\": 0, \"input_tokens\": 10, \"prompt_tokens\": 10, \"output_tokens\": 5}\n",
       "prompt_tokens", "exactly one", 1},
      {"{\"session\": 1, \"turn\": 0, \"output_tokens\": 5}\n", "input_tokens", "exactly one", 1},
      {ok + "{\"session\": 1, \"turn\": 2, \"input_tokens\": 10, \"output_tokens\": 5}\n", "turn", "in order", 2},
      {ok + "{\"session\": 1, \"turn\": 1, \"input_tokens\": 10, \"output_tokens\": 5, \"arrival_s\": 3}\n",
       "arrival_s", "turn 0", 2},
      {"{\"session\": 1, \"turn\": 0, \"input_tokens\": 10, \"output_tokens\": 5, \"arrival_s\": 3}\n" +
           std::string("{\"session\": 2, \"turn\": 0, \"input_tokens\": 10, \"output_tokens\": 5}\n"),
       "arrival_s", "every session", 2},
      {ok + "{\"session\": 1, \"turn\": 1, \"prompt_tokens\": 15, \"output_tokens\": 5}\n", "prompt_tokens",
       "session so far", 2},
      {"{\"session\": 1, \"turn\": 0, \"input_tokens\": 1.5, \"output_tokens\": 5}\n", "input_tokens", "whole number", 1},
      {"{\"session\": 1, \"turn\": 0, \"input_tokens\": 10, \"output_tokens\": 0}\n", "output_tokens", "outside", 1},
      {"{\"session\": 1, \"turn\": 0, \"input_tokens\": 10, \"output_tokens\": 5, \"think_s\": -1}\n", "think_s",
       "outside", 1},
      {"{\"session\": 1, \"turn\": 0, \"input_tokens\": 1e400, \"output_tokens\": 5}\n", "", "", 1},
  };
  for (const auto& c : cases) {
    const auto d = error_of(c.text);
    EXPECT_EQ(d.file, "s.jsonl") << c.text;
    EXPECT_EQ(d.line, c.line) << c.text;
    if (!c.key.empty()) {
      EXPECT_EQ(d.key, c.key) << c.text << d.message;
    }
    EXPECT_NE(d.message.find(c.words), std::string::npos) << c.text << ": " << d.message;
  }
}

}  // namespace
}  // namespace tf::io
