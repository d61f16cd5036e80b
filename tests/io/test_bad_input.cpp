// Hostile inputs for every reader and for the command line (issue 14): each is a DiagnosticError
// naming the file, line and key (exit 2 at the CLI), never a library exception, an abort, a
// stack overflow or a hang. One test per class of crash that a fuzzing campaign found.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cli/app.hpp"
#include "core/diagnostic.hpp"
#include "core/parallel.hpp"
#include "frontier/sweep.hpp"
#include "hardware/catalog.hpp"
#include "io/json_reader.hpp"
#include "io/text.hpp"
#include "io/trace.hpp"
#include "io/yaml_reader.hpp"
#include "model/hf_config.hpp"
#include "support/fixtures.hpp"
#include "support/test_support.hpp"
#include "validate/validate.hpp"

namespace tf {
namespace {

template <typename F>
Diagnostic diagnostic_of(F&& f) {
  try {
    f();
  } catch (const DiagnosticError& e) {
    return e.diagnostic();
  }
  ADD_FAILURE() << "no DiagnosticError";
  return {};
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// ------------------------------------------------------------- class 1: library exceptions
TEST(BadYaml, KeysThatAreNotScalarsAreErrorsAtTheirLine) {
  // yaml-cpp's as<std::string>() threw YAML::TypedBadConversion, which escaped every loader.
  const auto root = io::load_yaml_string("id: x\n[a, b]: 1\n", "k.yaml");
  auto d = diagnostic_of([&] { (void)root.keys(); });
  EXPECT_EQ(d.file, "k.yaml");
  EXPECT_EQ(d.line, 2);
  EXPECT_TRUE(has(d.message, "a key is a list")) << d.message;
  d = diagnostic_of([&] { root.expect_keys({"id"}); });
  EXPECT_EQ(d.line, 2);
  const auto map_key = io::load_yaml_string("a:\n  ? {x: 1}\n  : 2\n", "m.yaml");
  d = diagnostic_of([&] { map_key.required("a").expect_keys({"b"}); });
  EXPECT_TRUE(has(d.message, "a key is a mapping")) << d.message;
  EXPECT_EQ(d.key, "a");
}

TEST(BadYaml, EveryYamlLoaderOfTheCliRefusesANonScalarKeyWithExit2) {
  const struct {
    const char* folder;
    const char* file;
    std::vector<std::string> args;
  } cases[] = {
      {"hardware", "nvidia/h100-sxm.yaml", {"catalog", "hardware"}},
      {"economics", "default.yaml", {"tco", "--hardware", "h100-sxm"}},
      {"engines", "vllm-v1.yaml", {"list", "engines"}},
      {"efficiency",
       "default.yaml",
       {"estimate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.folder);
    test::TempDir dir;
    std::filesystem::copy(test::data_dir(), dir.path() / "data", std::filesystem::copy_options::recursive);
    const auto file = dir.path() / "data" / c.folder / c.file;
    ASSERT_TRUE(std::filesystem::exists(file));
    std::ofstream(file, std::ios::app) << "\n[a, b]: 1\n";
    std::vector<std::string> args{"--data", (dir.path() / "data").string()};
    args.insert(args.end(), c.args.begin(), c.args.end());
    std::ostringstream out, err;
    EXPECT_EQ(cli::run(args, out, err), 2) << err.str();
    EXPECT_TRUE(has(err.str(), "a key is a list")) << err.str();
    EXPECT_TRUE(has(err.str(), c.file)) << err.str();
  }
}

TEST(BadYaml, NonFiniteNumbersAndDeepNestingAreRefused) {
  const auto root = io::load_yaml_string("a: inf\nb: nan\nc: 1e400\n", "n.yaml");
  for (const char* k : {"a", "b", "c"}) {
    const auto d = diagnostic_of([&] { (void)root.required(k).as_double(); });
    EXPECT_EQ(d.key, k);
    EXPECT_EQ(d.file, "n.yaml");
  }
  // yaml-cpp's recursion guard (depth 2000) is a YAML::Exception, reported like a syntax error.
  const auto d = diagnostic_of([] { (void)io::load_yaml_string(std::string(100000, '[') + "1", "deep.yaml"); });
  EXPECT_TRUE(has(d.message, "malformed YAML")) << d.message;
}

TEST(BadYaml, QuantitiesStayNormalDoublesInSiUnits) {
  // 1e-306 ns is 1e-315 s, a denormal; 1e300 PB overflows to inf. Both were accepted.
  for (const auto& [q, dim] : {std::pair{"1e-306 ns", Dimension::seconds}, std::pair{"1e300 PB", Dimension::bytes}}) {
    const auto root = io::load_yaml_string(std::string("v: \"") + q + "\"\n", "q.yaml");
    const Dimension dimension = dim;
    const auto d = diagnostic_of([&] { (void)root.required("v").as_quantity(dimension); });
    EXPECT_EQ(d.key, "v");
    EXPECT_TRUE(has(d.message, "too small") || has(d.message, "too large")) << d.message;
  }
  EXPECT_DOUBLE_EQ(parse_quantity("80 GB", Dimension::bytes), 80e9);
}

const char* kTinyLlama = R"({
  "architectures": ["LlamaForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
  "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
  "vocab_size": 1000, "ignored": 1})";

std::string with(const std::string& key_value) {
  std::string j = kTinyLlama;
  return j.replace(j.find("\"ignored\": 1"), 12, key_value);
}

TEST(BadJson, NumbersOutsideTheDoubleRangeAreErrorsAtTheirLine) {
  // nlohmann threw out_of_range 406 from parse (not a parse_error), even under an ignored key.
  const auto d = diagnostic_of([] { (void)model::read_hf_config_string(with("\n\"ignored\": 1e400"), "c.json"); });
  EXPECT_EQ(d.file, "c.json");
  EXPECT_EQ(d.line, 5);
  EXPECT_TRUE(has(d.message, "number overflow")) << d.message;
}

TEST(BadJson, WrongTypedListElementsNameTheElement) {
  // v.get<long long>() threw type_error 302.
  std::string moe = R"({"architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 256, "moe_intermediate_size": 64,
    "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 1000,
    "num_experts": 8, "num_experts_per_tok": 2, "intermediate_size": 512, "mlp_only_layers": [1, "x"]})";
  auto d = diagnostic_of([&] { (void)model::read_hf_config_string(moe, "q.json"); });
  EXPECT_EQ(d.key, "mlp_only_layers[1]");
  EXPECT_TRUE(has(d.message, "expected an integer, got \"x\"")) << d.message;
  moe.replace(moe.find("[1, \"x\"]"), 8, "[1.5]");
  d = diagnostic_of([&] { (void)model::read_hf_config_string(moe, "q.json"); });
  EXPECT_EQ(d.key, "mlp_only_layers[0]");
}

TEST(BadJson, DeeplyNestedValuesNeitherOverflowTheStackNorFloodTheMessage) {
  // The error message dumped the whole value (recursively); 100,000 levels overflowed the stack.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto d = diagnostic_of([&] { (void)model::read_hf_config_string(with("\"hidden_size\": " + deep), "d.json"); });
  EXPECT_TRUE(has(d.message, "nested deeper than 256 levels")) << d.message;
  EXPECT_EQ(d.line, 4);
  const std::string nested = std::string(200, '[') + std::string(200, ']');
  d = diagnostic_of([&] {
    std::string j = kTinyLlama;
    j.replace(j.find("256"), 3, nested);
    (void)model::read_hf_config_string(j, "d.json");
  });
  EXPECT_EQ(d.key, "hidden_size");
  EXPECT_TRUE(has(d.message, "expected an integer, got a list of 1 item")) << d.message;
  EXPECT_LT(d.message.size(), 200u);
}

TEST(BadJson, SizesAreBoundedAndNegativeDimensionsRefused) {
  // 1e11 layers allocated 1e11 LayerSpecs (std::bad_alloc); 1e300 was cast to long long (UB).
  auto d = diagnostic_of([] {
    std::string j = kTinyLlama;
    (void)model::read_hf_config_string(j.replace(j.find("\"num_hidden_layers\": 2"), 22, "\"num_hidden_layers\": 1e11"),
                                       "l.json");
  });
  EXPECT_EQ(d.key, "num_hidden_layers");
  EXPECT_TRUE(has(d.message, "must be <= 16384")) << d.message;
  d = diagnostic_of([] {
    std::string j = kTinyLlama;
    (void)model::read_hf_config_string(j.replace(j.find("256"), 3, "1e300"), "h.json");
  });
  EXPECT_EQ(d.key, "hidden_size");
  EXPECT_TRUE(has(d.message, "too large")) << d.message;
  for (const char* kv : {"\"head_dim\": -64", "\"max_position_embeddings\": -1"}) {
    d = diagnostic_of([&] { (void)model::read_hf_config_string(with(kv), "n.json"); });
    EXPECT_TRUE(has(d.message, "must be >= 0")) << kv << ": " << d.message;
  }
  d = diagnostic_of([] { (void)model::read_hf_config_string(with("\"torch_dtype\": \"float64\""), "t.json"); });
  EXPECT_EQ(d.key, "torch_dtype");
}

TEST(BadJson, InvalidUtf8InAJsonDocumentIsReplacedNotThrown) {
  // A Latin-1 file name becomes the model id; dump() threw type_error 316 and the process aborted.
  test::TempDir dir;
  const auto config = test::data_dir() / "models" / "meta-llama" / "Llama-3.1-8B-Instruct" / "config.json";
  const auto latin1 = dir.path() / "caf\xe9.json";
  std::filesystem::copy_file(config, latin1);
  const auto r = test::run_cli({"estimate", "--model", latin1.string(), "--hardware", "h100-sxm", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "caf\xef\xbf\xbd.json")) << r.out.substr(0, 300);  // U+FFFD
}

TEST(BadTrace, MooncakeNumbersAndIdsOutOfRangeAreErrorsAtTheirLine) {
  const std::string ok = R"({"timestamp": 0, "input_length": 10, "output_length": 5})";
  const struct {
    std::string line;
    std::string key, text;
  } cases[] = {
      {R"({"timestamp": 1e400, "input_length": 10, "output_length": 5})", "", "number overflow"},
      {R"({"timestamp": 1, "input_length": 1e300, "output_length": 5})", "input_length", "too large"},
      {R"({"timestamp": 1, "input_length": 10.5, "output_length": 5})", "input_length", "whole number"},
      {R"({"timestamp": 1, "input_length": 10, "output_length": 5, "hash_ids": [4294967296]})", "hash_ids", "block id"},
      {R"([1, 2])", "", "expected a JSON object"},
      {std::string(1000, '[') + std::string(1000, ']'), "", "nested deeper"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.line.substr(0, 60));
    const auto d = diagnostic_of([&] { (void)io::parse_trace(ok + "\n" + c.line + "\n", "t.jsonl"); });
    EXPECT_EQ(d.file, "t.jsonl");
    EXPECT_EQ(d.line, 2);
    EXPECT_EQ(d.key, c.key);
    EXPECT_TRUE(has(d.message, c.text)) << d.message;
  }
}

TEST(BadTrace, CsvValuesAndCalendarDatesAreChecked) {
  const struct {
    std::string text, key, message;
  } cases[] = {
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-02-29 00:00:00,1,1\n", "TIMESTAMP", "no such day"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2024-13-01 00:00:00,1,1\n", "TIMESTAMP", "month out of range"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2024-01-01 24:00:00,1,1\n", "TIMESTAMP", "time of day"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n99999999999-01-01 00:00:00,1,1\n", "TIMESTAMP", "too many digits"},
      {"arrived_at,num_prefill_tokens,num_decode_tokens\ninf,1,1\n", "arrived_at", "not a finite number"},
      {"arrived_at,num_prefill_tokens,num_decode_tokens\n1,99999999999999999999,1\n", "num_prefill_tokens",
       "too large"},
      {"arrived_at,num_prefill_tokens,num_decode_tokens\n1,3000000000,1\n", "num_prefill_tokens", "too large"},
      // A request with no prompt or nothing to generate is named at its line (it was reported
      // later as the --isl flag).
      {"arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,0,128\n", "num_prefill_tokens", "at least 1 token"},
      {"TIMESTAMP,ContextTokens,GeneratedTokens\n2024-01-01 00:00:00,10,0\n", "GeneratedTokens", "at least 1 token"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto d = diagnostic_of([&] { (void)io::parse_trace(c.text, "t.csv"); });
    EXPECT_EQ(d.line, 2);
    EXPECT_EQ(d.key, c.key);
    EXPECT_TRUE(has(d.message, c.message)) << d.message;
  }
  {
    const auto d = diagnostic_of(
        [] { (void)io::parse_trace("{\"timestamp\": 0, \"input_length\": 0, \"output_length\": 5}\n", "t.jsonl"); });
    EXPECT_EQ(d.line, 1);
    EXPECT_EQ(d.key, "input_length");
    EXPECT_TRUE(has(d.message, "at least 1 token")) << d.message;
  }
  // Leap days and offsets still read.
  const auto t = io::parse_trace(
      "TIMESTAMP,ContextTokens,GeneratedTokens\n2024-02-29 00:00:01.5+01:00,1,1\n"
      "2024-02-29 00:00:00 -00:30,2,2\n",
      "t.csv");
  ASSERT_EQ(t.requests.size(), 2u);
  // 2024-02-28 23:00:01.5 UTC, then 2024-02-29 00:30:00 UTC.
  EXPECT_EQ(t.requests[1].input_tokens, 2);
  EXPECT_DOUBLE_EQ(t.requests[1].arrival_s, 3600 + 29 * 60 + 58.5);
}

// ------------------------------------------------------------- class 3: unbounded inputs
TEST(BadMeasuredCsv, SizesTheSimulatorWouldAllocateAreBounded) {
  const std::string header =
      "id,hardware,num_chips,model,weight_dtype,act_dtype,kv_dtype,tp,pp,ep,dp,attention_dp,scenario,isl,osl,"
      "concurrency,request_rate,spec_decode,metric,value,unit,trust,source,notes\n";
  auto row = [](const std::string& chips, const std::string& tp, const std::string& dp, const std::string& isl,
                const std::string& conc) {
    return "X-1,h100-sxm," + chips + ",meta-llama/Llama-3.1-8B-Instruct,fp8,fp8,fp8," + tp + ",1,1," + dp +
           ",false,fixed_concurrency," + isl + ",128," + conc + ",,none,output_tok_s,1000,tok/s,B,test,n\n";
  };
  const struct {
    std::string row, key, message;
  } cases[] = {
      // tp x dp overflowed int (undefined behaviour) before it was compared with num_chips.
      {row("1", "1000000", "1000000", "128", "8"), "num_chips", "1000000 x 1 x 1000000"},
      {row("1", "1", "1", "1e300", "8"), "isl", "more than 100000000"},
      {row("1", "1", "1", "128", "1e12"), "concurrency", "more than 1000000"},
  };
  for (const auto& c : cases) {
    const auto d = diagnostic_of([&] {
      (void)validate::parse_measured(header + c.row, "m.csv", test::hardware_catalog(), test::model_catalog());
    });
    EXPECT_EQ(d.file, "m.csv");
    EXPECT_EQ(d.line, 2);
    EXPECT_EQ(d.key, c.key);
    EXPECT_TRUE(has(d.message, c.message)) << d.message;
  }
}

TEST(BadFiles, DevicesAndFifosAreRefusedWithoutReadingThem) {
  // /dev/zero was read until memory ran out; a FIFO blocked until a writer came.
  auto d = diagnostic_of([] { (void)io::read_text_file("/dev/zero"); });
  EXPECT_TRUE(has(d.message, "not a regular file")) << d.message;
  test::TempDir dir;
  const auto fifo = dir.path() / "trace.csv";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  d = diagnostic_of([&] { (void)io::load_trace(fifo); });
  EXPECT_EQ(d.file, fifo.string());
  EXPECT_TRUE(has(d.message, "not a regular file")) << d.message;
  const auto r = test::run_cli(
      {"simulate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm", "--trace", "/dev/zero"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(has(r.err, "/dev/zero: is not a regular file")) << r.err;
}

TEST(BadFiles, WritesAreAtomicAndLeaveNothingBehindOnFailure) {
  test::TempDir dir;
  const auto file = dir.path() / "out.csv";
  io::write_text_file(file, "first\n");
  io::write_text_file(file, "second\n");
  EXPECT_EQ(io::read_text_file(file), "second\n");
  // The target is a folder: the rename fails, the folder is untouched and no temporary remains.
  const auto folder = dir.path() / "taken";
  std::filesystem::create_directories(folder / "inside");
  const auto d = diagnostic_of([&] { io::write_text_file(folder, "x"); });
  EXPECT_EQ(d.file, folder.string());
  EXPECT_TRUE(std::filesystem::is_directory(folder / "inside"));
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    entries += e.is_directory() || e.is_regular_file();
  EXPECT_EQ(entries, 2u);  // out.csv and taken/
}

TEST(BadFlags, SizesThatWouldAllocateWithoutLimitAreRefusedUpFront) {
  const std::vector<std::string> base{"simulate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware",
                                      "h100-sxm"};
  const struct {
    std::vector<std::string> flags;
    std::string message;
  } cases[] = {
      {{"--batch", "--requests", "9223372036854775807"}, "--requests: must be <= 10000000"},
      {{"--batch", "--requests", "1e12"}, "--requests: expected a whole number, got '1e12'"},
      {{"--concurrency", "1e9"}, "--concurrency: must be <= 1000000"},
      {{"--batch", "--tp", "1048576", "--dp", "1048576"}, "--tp x --pp x --dp = 1099511627776 chips"},
  };
  for (const auto& c : cases) {
    auto args = base;
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    const auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << c.flags[0] << ": " << r.err;
    EXPECT_TRUE(has(r.err, c.message)) << r.err;
  }
}

// ------------------------------------------------------------- silent nonsense (numeric flags)
TEST(BadFlags, EveryNumericFlagRefusesNonFiniteNegativeAndWrappedValues) {
  const struct {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"frontier", "--isl", "inf"}, "--isl: must be a finite number, got inf"},
      {{"generations", "--osl", "nan"}, "--osl: must be a finite number, got nan"},
      {{"plan", "--hardware", "h100-sxm", "--demand-output-tok-s", "inf"}, "--demand-output-tok-s: must be a finite"},
      {{"plan", "--hardware", "h100-sxm", "--demand-output-tok-s", "1e6", "--max-ttft-ms", "nan"}, "--max-ttft-ms:"},
      {{"tco", "--hardware", "h100-sxm", "--pue", "-1"}, "--pue: must be >= 0, got -1"},
      {{"tco", "--hardware", "h100-sxm", "--electricity-usd-per-kwh", "1e400"}, "out of the range of a number"},
      {{"estimate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm", "--chips", "0"},
       "--chips: must be >= 1, got 0"},
      {{"estimate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm", "--chips", "-1"},
       "--chips: must be >= 1, got -1"},
      {{"estimate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm", "--tp", "010"},
       "without leading zeros"},
      {{"simulate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm", "--batch", "--seed", "-1"},
       "--seed: must be >= 0, got -1"},
      {{"simulate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm", "--batch", "--seed",
        "36893488147419103232"},
       "--seed: 36893488147419103232 is too large"},
      {{"simulate", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--hardware", "h100-sxm", "--batch", "--isl",
        "1e-320"},
       "denormal"},
      {{"frontier", "--model", ""}, "--model: must not be empty"},
      {{"calibrate", "--measured", (test::data_dir() / "hardware" / "README.md").string(), "--min-rows", "-1"},
       "--min-rows: must be >= 0, got -1"},
      // Conflicting goals were resolved silently (the demand was ignored under a power cap).
      {{"plan", "--hardware", "h100-sxm", "--demand-output-tok-s", "1e6", "--power-cap-mw", "10"},
       "cannot be combined with --power-cap-mw"},
  };
  for (const auto& c : cases) {
    const auto r = test::run_cli(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << " " << c.args[1] << ": " << r.err;
    EXPECT_TRUE(has(r.err, c.message)) << r.err;
  }
}

// ------------------------------------------------------------- class 2: worker threads
TEST(Workers, AnExceptionInAWorkerIsRethrownOnTheCallerAfterJoin) {
  // Before: an exception leaving a std::thread called std::terminate.
  for (int threads : {1, 2, 8}) {
    std::atomic<int> ran{0};
    try {
      parallel_for(64, threads, [&](size_t i) {
        ++ran;
        if (i == 5 || i == 40) fail("index " + std::to_string(i));
      });
      ADD_FAILURE() << "no exception";
    } catch (const DiagnosticError& e) {
      EXPECT_EQ(e.diagnostic().message, "index 5") << threads << " threads";  // the lowest failing index
    }
    EXPECT_GE(ran.load(), 6);
  }
  EXPECT_THROW(parallel_for(3, 4, [](size_t) { throw std::logic_error("bug"); }), std::logic_error);
}

TEST(Workers, AnErrorInsideASweepReachesTheCaller) {
  const auto model = test::model_catalog().resolve("meta-llama/Llama-3.1-8B-Instruct");
  std::vector<const hardware::SystemSpec*> systems;
  for (const char* id : {"h100-sxm", "b200", "h200-sxm", "a100-sxm-80gb"})
    systems.push_back(&test::hardware_catalog().get(id));
  frontier::SweepOptions o;
  o.precisions = {Precision::bf16};
  o.points_per_decade = 1;
  const auto d = diagnostic_of([&] {
    (void)frontier::sweep(model, systems, test::efficiency_table(), o, 4, [](size_t, size_t, const std::string& id) {
      if (id == "b200") fail("stop at " + id);
    });
  });
  EXPECT_EQ(d.message, "stop at b200");
}

// ------------------------------------------------------------- the top level
TEST(TopLevel, UserErrorsExit2AndBugsHaveTheirOwnCodeAndMessage) {
  std::ostringstream err;
  EXPECT_EQ(cli::report_exception(std::make_exception_ptr(DiagnosticError(Diagnostic{"f", 3, 0, "k", "bad", ""})), err),
            2);
  EXPECT_TRUE(has(err.str(), "error: f:3: 'k': bad")) << err.str();
  err.str("");
  EXPECT_EQ(cli::report_exception(std::make_exception_ptr(std::out_of_range("vector::at")), err), 70);
  EXPECT_TRUE(has(err.str(), "internal error: vector::at")) << err.str();
  EXPECT_TRUE(has(err.str(), "this is a bug")) << err.str();
  err.str("");
  EXPECT_EQ(cli::report_exception(std::make_exception_ptr(42), err), 70);
  EXPECT_TRUE(has(err.str(), "internal error: unknown exception")) << err.str();
}

}  // namespace
}  // namespace tf
