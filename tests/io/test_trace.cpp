// Trace readers and the CSV parser: formats, normalisation, errors with lines.
#include <gtest/gtest.h>

#include "core/diagnostic.hpp"
#include "io/csv.hpp"
#include "io/trace.hpp"
#include "support/test_support.hpp"

namespace tf::io {
namespace {

Diagnostic error_of(const std::string& name, const std::string& text) {
  test::TempDir dir;
  const auto p = dir.write(name, text);
  try {
    (void)load_trace(p);
  } catch (const DiagnosticError& e) {
    return e.diagnostic();
  }
  ADD_FAILURE() << "no error";
  return {};
}

TEST(Csv, QuotedFieldsEscapesAndNewlines) {
  const auto r = parse_csv("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\n1,2,3", "t.csv");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[1].fields[0], "x, y");
  EXPECT_EQ(r[1].fields[1], "say \"hi\"");
  EXPECT_EQ(r[1].fields[2], "two\nlines");
  EXPECT_EQ(r[2].line, 5);  // header, a record spanning lines 2-3, a blank line 4
  EXPECT_THROW(parse_csv("a\n\"open", "t.csv"), DiagnosticError);
}

TEST(Trace, AzureTimestampsBecomeSecondsFromTheFirst) {
  test::TempDir dir;
  const auto p = dir.write("a.csv",
                           "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                           "2023-11-16 18:17:04.0319600,3180,8\n"
                           "2023-11-16 18:17:03.9799600,4808,10\n"
                           "2023-11-17 00:00:00.0000000,100,1\n");
  const auto t = load_trace(p);
  EXPECT_EQ(t.format, "azure");
  ASSERT_EQ(t.requests.size(), 3u);
  EXPECT_DOUBLE_EQ(t.requests[0].arrival_s, 0.0);  // sorted by arrival
  EXPECT_EQ(t.requests[0].input_tokens, 4808);
  EXPECT_NEAR(t.requests[1].arrival_s, 0.052, 1e-6);
  // 18:17:03.97996 to midnight.
  EXPECT_NEAR(t.requests[2].arrival_s, 5 * 3600 + 42 * 60 + 56.02004, 1e-6);
  EXPECT_NEAR(t.mean_input_tokens(), (3180 + 4808 + 100) / 3.0, 1e-9);
}

TEST(Trace, Azure2024OffsetsAreUtc) {
  test::TempDir dir;
  const auto p = dir.write("a.csv",
                           "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                           "2024-05-12 00:00:00+00:00,10,1\n"
                           "2024-05-12 02:00:00.5+02:00,10,1\n");
  EXPECT_NEAR(load_trace(p).requests[1].arrival_s, 0.5, 1e-9);
}

TEST(Trace, MooncakeJsonlInMilliseconds) {
  test::TempDir dir;
  const auto p = dir.write("m.jsonl",
                           "{\"timestamp\": 0, \"input_length\": 6758, \"output_length\": 500, \"hash_ids\": [0, 1, 2]}\n"
                           "\n"
                           "{\"timestamp\": 1500, \"input_length\": 100, \"output_length\": 5}\n");
  const auto t = load_trace(p);
  EXPECT_EQ(t.format, "mooncake");
  ASSERT_EQ(t.requests.size(), 2u);
  EXPECT_DOUBLE_EQ(t.requests[1].arrival_s, 1.5);
  EXPECT_EQ(t.requests[0].block_hashes.size(), 3u);
  EXPECT_DOUBLE_EQ(t.request_rate(), 2 / 1.5);
}

TEST(Trace, BurstGptSkipsFailedRequestsAndVidurReads) {
  test::TempDir dir;
  auto p = dir.write("b.csv",
                     "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                     "5,GPT-4,100,20,120,Conversation log\n"
                     "6,GPT-4,50,0,50,Conversation log\n"
                     "9,ChatGPT,10,30,40,API log\n");
  auto t = load_trace(p);
  EXPECT_EQ(t.format, "burstgpt");
  EXPECT_EQ(t.requests.size(), 2u);
  EXPECT_EQ(t.skipped, 1);
  EXPECT_DOUBLE_EQ(t.duration_s(), 4.0);
  p = dir.write("v.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0.5,100,10\n1.0,200,20\n");
  t = load_trace(p);
  EXPECT_EQ(t.format, "vidur");
  EXPECT_DOUBLE_EQ(t.mean_output_tokens(), 15.0);
}

TEST(Trace, ErrorsNameFileLineAndColumn) {
  auto d = error_of("a.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04,3180,8\n2023-13-16 18:17:04,1,1\n");
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.key, "TIMESTAMP");
  d = error_of("a.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:04,many,8\n");
  EXPECT_EQ(d.key, "ContextTokens");
  EXPECT_NE(d.message.find("not a number"), std::string::npos);
  d = error_of("a.csv", "when,in,out\n1,2,3\n");
  EXPECT_NE(d.message.find("unrecognised trace header"), std::string::npos);
  d = error_of("m.jsonl", "{\"timestamp\": 0, \"input_length\": 5}\n");
  EXPECT_EQ(d.key, "output_length");
  EXPECT_EQ(d.line, 1);
  d = error_of("m.jsonl", "{\"timestamp\": 0,\n");
  EXPECT_NE(d.message.find("malformed JSON"), std::string::npos);
  d = error_of("e.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n");
  EXPECT_NE(d.message.find("no requests"), std::string::npos);
}

TEST(Trace, SharedPublicTracesLoad) {
  const auto dir = test::shared_dir() / "traces";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "shared/traces not present";
  const auto code = load_trace(dir / "azure-llm-2023" / "AzureLLMInferenceTrace_code.csv");
  EXPECT_GT(code.requests.size(), 8000u);
  EXPECT_NEAR(code.duration_s(), 3600, 300);  // about an hour of traffic
  // Splitwise's published summary of the code trace: mean prompt 2048, mean output 28 tokens.
  EXPECT_NEAR(code.mean_input_tokens(), 2048, 60);
  EXPECT_NEAR(code.mean_output_tokens(), 28, 2);
  const auto conv = load_trace(dir / "mooncake-fast25" / "conversation_trace.jsonl");
  EXPECT_GT(conv.requests.size(), 12000u);
  EXPECT_FALSE(conv.requests.front().block_hashes.empty());
}

}  // namespace
}  // namespace tf::io
