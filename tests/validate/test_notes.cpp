// parse_notes (validate/notes.cpp): the hand-written scanner that replaced std::regex finds
// exactly what the regex version found. The expected facts below were recorded from the regex
// version (before the rewrite) on notes of the shared calibration CSV (one per distinct set of
// facts, id noted) and on hand-made edge cases of every pattern; the fingerprint test checks all
// rows of that CSV at once. Hostile notes (huge numbers, `U[.,2]`, 400,000 digits) give a
// DiagnosticError or nothing, in linear time, where the regex version aborted or overflowed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "core/diagnostic.hpp"
#include "io/csv.hpp"
#include "io/text.hpp"
#include "support/fixtures.hpp"
#include "validate/notes.hpp"
#include "validate/validate.hpp"

namespace tf::validate {
namespace {

struct Case {
  const char* note;
  std::optional<double> max_batch, requests, step_tokens;
  double length_spread;
  std::optional<double> memory_fraction;
  std::optional<Precision> attention;
  bool per_rank;
};

const Case kCases[] = {
    // TRT-V021-0002
    {R"N(trtllm-bench v0.21 (PyTorch) offline: 3000 reqs at t=0, fixed ISL/OSL; older doc version; ckpt nvidia/Llama-3.1-8B-Instruct-FP8)N",
     std::nullopt, 3000, std::nullopt, 0, std::nullopt, std::nullopt, false},
    // TRT-ONL014-0016
    {R"N(Triton+TRT-LLM v0.14: all 500 reqs at once (QPS INF); achieved 16 req/s; values rounded to integers; ISL/OSL per doc table)N",
     std::nullopt, 500, std::nullopt, 0, std::nullopt, std::nullopt, false},
    // TRT-V10-0311
    {R"N(trtllm-bench v1.0 offline: 3000 reqs at t=0, fixed ISL/OSL; CUDA graphs to bs8192; KV frac 0.95; ckpt nvidia/Llama-3.1-8B-Instruct-FP8)N",
     std::nullopt, 3000, std::nullopt, 0, 0.94999999999999996, std::nullopt, false},
    // TRT-V021-0001
    {R"N(trtllm-bench v0.21 (PyTorch) offline: 30000 reqs at t=0, fixed ISL/OSL; older doc version; ckpt nvidia/Llama-3.1-8B-Instruct-FP8)N",
     std::nullopt, 30000, std::nullopt, 0, std::nullopt, std::nullopt, false},
    // IMAX-AMD-0414
    {R"N(InferenceMAX nightly (sglang-disagg, sgl-dev:sglang-0.5.6.post1-rocm700-mi35x-mori-1224); PD-disagg 8P+16D GPUs: P 1x(tp1 ep8 dpa=true), D 2x(tp1 ep8 dpa=true); ckpt DeepSeek-R1 FP8 block; random ISL/OSL U[0.8,1]x1024/8192 (mean shown), ignore_eos, prompt count n/a; mean TPOT)N",
     std::nullopt, std::nullopt, std::nullopt, 0.11111111111111108, std::nullopt, std::nullopt, false},
    // IMAX-AMD-0024
    {R"N(InferenceMAX nightly (sglang, sglang:v0.5.5.post3-rocm700-mi30x); single engine tp8 ep1 dpa=false; ckpt DeepSeek-R1-0528 FP8 block; random ISL/OSL U[0.8,1]x1024/8192 (mean shown), ignore_eos, 40 prompts; mean TPOT)N",
     std::nullopt, 40, std::nullopt, 0.11111111111111108, std::nullopt, std::nullopt, false},
    // IMAX-AMD-0003
    {R"N(InferenceMAX nightly (sglang, sglang:v0.5.5.post3-rocm700-mi30x); single engine tp8 ep1 dpa=false; ckpt DeepSeek-R1-0528 FP8 block; random ISL/OSL U[0.8,1]x1024/1024 (mean shown), ignore_eos, 160 prompts; mean TPOT)N",
     std::nullopt, 160, std::nullopt, 0.11111111111111108, std::nullopt, std::nullopt, false},
    // IMAX-AMD-0090
    {R"N(InferenceMAX nightly (sglang, sglang:v0.5.5.post3-rocm700-mi30x); single engine tp8 ep1 dpa=false; ckpt DeepSeek-R1-0528 FP8 block; random ISL/OSL U[0.8,1]x8192/1024 (mean shown), ignore_eos, 80 prompts; mean TPOT)N",
     std::nullopt, 80, std::nullopt, 0.11111111111111108, std::nullopt, std::nullopt, false},
    // VLLM-BLOG-0020
    {R"N(vllm bench serve: 150 reqs at max concurrency 8, ISL ~20000 and OSL ~2000 (+-15%); post Table 4; post: single H100 (form factor not stated; catalog h100-sxm); post serves Llama-3.1-8B base (same arch))N",
     std::nullopt, 150, std::nullopt, 0.14999999999999999, std::nullopt, std::nullopt, false},
    // VLLM-BLOG-0008
    {R"N(DERIVED from post's linear fit ITL = 4.37e-05 ms/tok x ISL + 6.44 ms (fit to measured sweep, ISL 256-125k); not a raw point; vllm bench serve, concurrency 1, 128 output tokens; mean ITL -> tpot_ms; post: single H100 (form factor not stated; catalog h100-sxm))N",
     std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    // SGLJAX-TPU-0061
    {R"N(SGLang-JAX main-10f32e4, TPU v6e-4 (TP4), Sept 2025; random fixed lengths (range_ratio 1), 384 prompts (3x conc), no warmup; page 128, chunked prefill 2048, radix off)N",
     std::nullopt, 384, std::nullopt, 0, std::nullopt, std::nullopt, false},
    // DSTACK-0043
    {R"N(vLLM ~0.6.3 benchmark_serving: 1000 ShareGPT prompts, Poisson 1000 req/s (near-burst), no ignore_eos; achieved 10.21 req/s; p99 TTFT 67563 / TPOT 168 ms; engine: chunked prefill on, max-num-batched-tokens 512, max-num-seqs 512; Meta FP8: FFN-only row-wise FP8, attn BF16)N",
     512, 1000, 512, 0, std::nullopt, Precision::bf16, false},
    // DSTACK-0046
    {R"N(vLLM ~0.6.3 benchmark_serving: 1000 ShareGPT prompts, Poisson 16 req/s, no ignore_eos; achieved 8.60 req/s; p99 TTFT 3984 / TPOT 1022 ms; engine: chunked prefill off, num-scheduler-steps 15, max-num-seqs 1024; act=fp8 assumed (follows FP8 W); ckpt amd/Llama-3.1-405B-Instruct-FP8-KV)N",
     1024, 1000, std::nullopt, 0, std::nullopt, std::nullopt, false},
    // SGLJAX-TPU-0175
    {R"N(SGLang-JAX main-10f32e4, TPU v6e-4 (TP4), Sept 2025; random fixed lengths (range_ratio 1), 768 prompts (3x conc), no warmup; page 128, chunked prefill 2048, radix off)N",
     std::nullopt, 768, std::nullopt, 0, std::nullopt, std::nullopt, false},
    // DSTACK-0003
    {R"N(vLLM ~0.6.3 benchmark_throughput: 16 prompts at t=0 = one batch; e2e of whole batch; same-run total 642.8 tok/s; if KV can't hold the batch vLLM runs it in waves; Meta FP8: FFN-only row-wise FP8, attn BF16; ckpt meta-llama/Llama-3.1-405B-FP8 (base))N",
     std::nullopt, 16, std::nullopt, 0, std::nullopt, Precision::bf16, false},
    // SGLJAX-TPU-0229
    {R"N(SGLang-JAX 0.1.0 on TPU v6e-4 TP4; bench_serving random 512/512 default range ratio -> measured means 265 in/258 out (26497/25820 tok over 100 prompts); mean E2E)N",
     std::nullopt, 100, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(max_batch_size 128/rank)N", 128, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, true},
    {R"N(256 per rank max_num_seqs)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(engine cap: max batch 64; MAX_NUM_SEQS=32)N", 64, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt,
     false},
    {R"N(max batch sizes 12)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(maxbatchsize:8)N", 8, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(max  batch 8)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(max-running-requests = 1024)N", 1024, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(1,000 reqs)N", std::nullopt, 0, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(5000 sharegpt  prompts)N", std::nullopt, 5000, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(5000 sharegptprompts)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(300 requestsx)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(300 reqs_)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(12reqs)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(max_num_batched_tokens=8192 max_num_tokens 4096)N", std::nullopt, std::nullopt, 8192, 0, std::nullopt,
     std::nullopt, false},
    {R"N(max num tokens: 2048)N", std::nullopt, std::nullopt, 2048, 0, std::nullopt, std::nullopt, false},
    {R"N(chunked-prefill-size 4096)N", std::nullopt, std::nullopt, 4096, 0, std::nullopt, std::nullopt, false},
    {R"N(U[0.8,1]x1024)N", std::nullopt, std::nullopt, std::nullopt, 0.11111111111111108, std::nullopt, std::nullopt,
     false},
    {R"N(u[ 1.2.3 , 4 ])N", std::nullopt, std::nullopt, std::nullopt, 0.53846153846153844, std::nullopt, std::nullopt,
     false},
    {R"N(U[1,0.8] and +-10%)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(+- 15.5 %)N", std::nullopt, std::nullopt, std::nullopt, 0.155, std::nullopt, std::nullopt, false},
    {R"N(+-15.%)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(+-200%)N", std::nullopt, std::nullopt, std::nullopt, 0.90000000000000002, std::nullopt, std::nullopt, false},
    {R"N(attn BF16)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, Precision::bf16, false},
    {R"N(attention bf16)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(attnention fp8)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, Precision::fp8, false},
    {R"N(xattn fp8)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(attn fp8x)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(attn  fp16;)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, Precision::fp16, false},
    {R"N(gpu_memory_utilization=0.9)N", std::nullopt, std::nullopt, std::nullopt, 0, 0.90000000000000002, std::nullopt,
     false},
    {R"N(mem-fraction-static 0.85)N", std::nullopt, std::nullopt, std::nullopt, 0, 0.84999999999999998, std::nullopt,
     false},
    {R"N(kv_cache_free_gpu_mem_fraction: .123456)N", std::nullopt, std::nullopt, std::nullopt, 0, 0.1234, std::nullopt,
     false},
    {R"N(KV frac 1.00001)N", std::nullopt, std::nullopt, std::nullopt, 0, 1, std::nullopt, false},
    {R"N(kv frac 00.5)N", std::nullopt, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, false},
    {R"N(gpu memory utilization 1.5)N", std::nullopt, std::nullopt, std::nullopt, 0, 1, std::nullopt, false},
    {R"N(max_num_seqs 256 per rank)N", 256, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, true},
    {R"N(max_batch 5; max_batch 128 / rank)N", 5, std::nullopt, std::nullopt, 0, std::nullopt, std::nullopt, true},
};

TEST(Notes, SameFactsAsTheRegexVersion) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.note);
    const auto f = parse_notes(c.note);
    EXPECT_EQ(f.max_batch, c.max_batch);
    EXPECT_EQ(f.requests, c.requests);
    EXPECT_EQ(f.step_tokens, c.step_tokens);
    EXPECT_EQ(f.length_spread, c.length_spread);
    EXPECT_EQ(f.memory_fraction, c.memory_fraction);
    EXPECT_EQ(f.attention_weights, c.attention);
    EXPECT_EQ(f.max_batch_per_rank, c.per_rank);
  }
}

std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string show(const std::optional<double>& v) {
  if (!v) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.17g", *v);
  return b;
}

// Every row of the shared calibration CSV: "id<TAB>facts" lines hashed, as recorded from the
// regex version on this exact file (fnv1a64 0x364558c58dd260f0, 1,234 rows).
TEST(Notes, EveryRowOfTheSharedCsvAsTheRegexVersion) {
  const auto path = test::shared_dir() / "calibration" / "measured-calibration.csv";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "shared calibration CSV not present";
  const auto text = io::read_text_file(path);
  if (fnv1a64(text) != 0x364558c58dd260f0ULL) GTEST_SKIP() << "the shared CSV changed since the facts were recorded";
  const auto rows = io::parse_csv(text, path.string());
  ASSERT_EQ(rows.size(), 1235u);
  size_t notes_col = 0;
  while (rows[0].fields[notes_col] != "notes") ++notes_col;
  std::string facts;
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto f = parse_notes(rows[r].fields[notes_col]);
    char spread[64];
    std::snprintf(spread, sizeof spread, "%.17g", f.length_spread);
    facts += rows[r].fields[0] + "\tmax_batch=" + show(f.max_batch) + " requests=" + show(f.requests) +
             " step_tokens=" + show(f.step_tokens) + " spread=" + spread + " mem=" + show(f.memory_fraction) +
             " attn=" + (f.attention_weights ? std::string(to_string(*f.attention_weights)) : "-") +
             " per_rank=" + (f.max_batch_per_rank ? "1" : "0") + "\n";
  }
  EXPECT_EQ(fnv1a64(facts), 0x6669ecaf1cf2d4daULL);
}

// A run that says it issued its kernels from the host is eager, whatever its engine's default;
// one that mentions graphs, or says nothing, is left to the engine profile.
TEST(Notes, EagerRunsAreRecognisedByTheirFlags) {
  for (const char* n : {"vLLM 0.6.3; MI300X --enforce-eager (no HIP graphs)", "enforce_eager=True",
                        "sglang --disable-cuda-graph", "PyTorch eager mode", "No CUDA graphs"}) {
    const auto f = parse_notes(n);
    ASSERT_TRUE(f.launch) << n;
    EXPECT_EQ(*f.launch, cost::Launch::eager) << n;
  }
  for (const char* n : {"trtllm-bench: CUDA graphs to bs8192", "vLLM 0.6.3 benchmark_throughput", ""})
    EXPECT_FALSE(parse_notes(n).launch) << n;
}

// Experts sliced over the TP ranks (TensorRT-LLM's default moe_tp_size = tp) are not expert
// parallelism, whatever the ep column says; other notes leave the column alone.
TEST(Notes, TpShardedExpertsAreRecognised) {
  for (const char* n : {"experts TP-sharded (moe_tp=tp, no real EP); ep=tp per brief", "MoE moe_tp=tp",
                        "no real EP: ep column = sharding degree"})
    EXPECT_TRUE(parse_notes(n).experts_tp_sharded) << n;
  for (const char* n : {"EP8 with attention DP", "experts over 8 ranks (ep=8)", ""})
    EXPECT_FALSE(parse_notes(n).experts_tp_sharded) << n;
}

// The pools of a disaggregated run: chips per pool, instances and each instance's layout; a
// phrase that does not state both pools in full gives none.
TEST(Notes, DisaggregatedPoolsAreReadWhenBothAreStated) {
  auto f = parse_notes(
      "InferenceMAX (sglang-disagg); PD-disagg 8P+16D GPUs: P 1x(tp1 ep8 dpa=true), D 2x(tp8 ep8 dpa=false); ckpt");
  ASSERT_TRUE(f.disaggregation);
  const auto& p = f.disaggregation->prefill;
  const auto& d = f.disaggregation->decode;
  EXPECT_EQ(p.chips, 8);
  EXPECT_EQ(p.instances, 1);
  EXPECT_EQ(p.tp, 1);
  EXPECT_EQ(p.pp, 1);
  EXPECT_EQ(p.ep, 8);
  EXPECT_TRUE(p.attention_dp);
  EXPECT_EQ(d.chips, 16);
  EXPECT_EQ(d.instances, 2);
  EXPECT_EQ(d.tp, 8);
  EXPECT_EQ(d.ep, 8);
  EXPECT_FALSE(d.attention_dp);
  f = parse_notes("pd-disagg 4p + 12d chips: p 2x( tp2 pp2 ), d 3 x (tp4 ep4)");
  ASSERT_TRUE(f.disaggregation);
  EXPECT_EQ(f.disaggregation->prefill.chips, 4);
  EXPECT_EQ(f.disaggregation->prefill.instances, 2);
  EXPECT_EQ(f.disaggregation->prefill.pp, 2);
  EXPECT_EQ(f.disaggregation->prefill.ep, 1);
  EXPECT_EQ(f.disaggregation->decode.instances, 3);
  EXPECT_EQ(f.disaggregation->decode.ep, 4);
  for (const char* n : {"PD-disagg 8P+16D GPUs", "PD-disagg 8P+16D GPUs: P 1x(tp1 ep8), D",
                        "PD-disagg 8P+16D GPUs: P 1x(tp1 dpa=maybe), D 1x(tp1)",
                        "PD-disagg 8P+16D GPUs over two racks of servers: P 1x(tp8), D 2x(tp8)",
                        "PD-disagg 8P+16Dx GPUs: P 1x(tp8), D 2x(tp8)", "P 1x(tp8), D 2x(tp8)"})
    EXPECT_FALSE(parse_notes(n).disaggregation) << n;
  EXPECT_THROW((void)parse_notes("PD-disagg 99999999999P+1D: P 1x(tp1), D 1x(tp1)"), DiagnosticError);
}

Diagnostic refusal(const std::string& note) {
  try {
    (void)parse_notes(note);
  } catch (const DiagnosticError& e) {
    return e.diagnostic();
  }
  ADD_FAILURE() << "no error for: " << note.substr(0, 80);
  return {};
}

TEST(Notes, NumbersThatCannotBeUsedAreRefusedNamingThePhrase) {
  // The regex version: std::stod threw out_of_range / invalid_argument and the process aborted.
  const auto huge = refusal("engine cap: max_num_seqs " + std::string(400, '9'));
  EXPECT_EQ(huge.key, "notes");
  EXPECT_NE(huge.message.find("max_num_seqs 999"), std::string::npos) << huge.message;
  EXPECT_NE(huge.message.find("400-digit number"), std::string::npos) << huge.message;
  const auto dot = refusal("random lengths U[.,2]");
  EXPECT_NE(dot.message.find("'.' is not a number"), std::string::npos) << dot.message;
  const auto wide = refusal("U[0.8," + std::string(400, '1') + "]x");
  EXPECT_NE(wide.message.find("outside the range of a double"), std::string::npos) << wide.message;
  const auto tiny = refusal("U[0." + std::string(400, '0') + "1,1]x");
  EXPECT_NE(tiny.message.find("outside the range of a double"), std::string::npos) << tiny.message;
  const auto many = refusal("20000000 reqs");
  EXPECT_NE(many.message.find("more than 10000000"), std::string::npos) << many.message;
  EXPECT_NO_THROW((void)parse_notes("10000000 reqs"));
}

TEST(Notes, LongNotesParseInLinearTime) {
  // The regex version took 9 s on 10,000 digits, 75 s on 20,000 and overflowed the stack on
  // 40,000; here 400,000 digits (in every pattern's position) take milliseconds.
  const std::string digits(400000, '7');
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(parse_notes(digits).requests);
  EXPECT_FALSE(parse_notes("u[" + digits).length_spread);
  EXPECT_FALSE(parse_notes("+-" + digits + "x").length_spread);
  EXPECT_FALSE(parse_notes(std::string(400000, ' ') + "reqs").requests);
  std::string keywords;
  while (keywords.size() < 400000) keywords += "max_batch max num kv frac u[ attn +- ";
  EXPECT_FALSE(parse_notes(keywords).max_batch);
  EXPECT_THROW((void)parse_notes("max_num_seqs " + digits), DiagnosticError);
  EXPECT_THROW((void)parse_notes(digits + " prompts"), DiagnosticError);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 5.0) << "seven 400,000-character notes took " << s << " s";
}

TEST(Notes, TheCsvReaderNamesFileLineAndColumnOfABadNote) {
  const std::string csv =
      "id,hardware,num_chips,model,weight_dtype,act_dtype,kv_dtype,tp,pp,ep,dp,attention_dp,scenario,isl,osl,"
      "concurrency,request_rate,spec_decode,metric,value,unit,trust,source,notes\n"
      "X-1,h100-sxm,1,meta-llama/Llama-3.1-8B-Instruct,fp8,fp8,fp8,1,1,1,1,false,offline,128,128,,,none,"
      "output_tok_s,1000,tok/s,B,test,\"vllm: 1" +
      std::string(30, '0') + " reqs\"\n";
  try {
    (void)parse_measured(csv, "bad-notes.csv", test::hardware_catalog(), test::model_catalog());
    FAIL() << "no error";
  } catch (const DiagnosticError& e) {
    EXPECT_EQ(e.diagnostic().file, "bad-notes.csv");
    EXPECT_EQ(e.diagnostic().line, 2);
    EXPECT_EQ(e.diagnostic().column, 24);
    EXPECT_EQ(e.diagnostic().key, "notes");
    EXPECT_NE(e.diagnostic().message.find("31-digit number"), std::string::npos) << e.diagnostic().message;
  }
}

}  // namespace
}  // namespace tf::validate
