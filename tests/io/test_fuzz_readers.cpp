// Deterministic mutation fuzzing of every reader (a short CI run; the libFuzzer targets of issue
// 14 are the long run). Seed inputs come from the project's own data; each is mutated with a
// fixed seed (byte flips, inserted "interesting" tokens such as `[a, b]:`, 1e400, -1, nan, deep
// brackets and stray UTF-8 bytes, deleted and duplicated spans, truncation) and handed to its
// reader, which must either return or throw tf::DiagnosticError: never another exception type,
// never a crash (the ASan/UBSan build in CI catches memory errors and undefined behaviour).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/diagnostic.hpp"
#include "core/units.hpp"
#include "cost/efficiency.hpp"
#include "economics/generations.hpp"
#include "economics/tco.hpp"
#include "hardware/catalog.hpp"
#include "io/csv.hpp"
#include "io/json_reader.hpp"
#include "io/text.hpp"
#include "io/session_trace.hpp"
#include "io/trace.hpp"
#include "io/yaml_reader.hpp"
#include "model/hf_config.hpp"
#include "serving/engine/engine_profile.hpp"
#include "serving/serving.hpp"
#include "support/fixtures.hpp"
#include "support/test_support.hpp"
#include "validate/notes.hpp"
#include "validate/validate.hpp"

namespace tf {
namespace {

// Mutations per seed input: 5,000 in all (20 seeds), a few seconds even in the sanitizer build.
constexpr int kMutations = 250;

const std::vector<std::string>& interesting() {
  static const std::vector<std::string> tokens{"[a, b]: 1\n",
                                               "? {x: 1}\n: 2\n",
                                               "1e400",
                                               "-1e400",
                                               "1e-320",
                                               "-1",
                                               "0",
                                               "nan",
                                               "inf",
                                               "-inf",
                                               ".",
                                               "U[.,2]",
                                               "99999999999999999999",
                                               "9223372036854775808",
                                               "4294967296",
                                               "1.5",
                                               "\"x\"",
                                               "null",
                                               "true",
                                               "[]",
                                               "{}",
                                               "[[[[[[[[[[[[[[[[",
                                               "]]]]",
                                               "{\"a\":",
                                               "\xff",
                                               "\xc3\x28",
                                               "\xe9",
                                               "\"",
                                               "'",
                                               ":",
                                               ",",
                                               "\n",
                                               "\r\n",
                                               "\t",
                                               "- ",
                                               "  ",
                                               "&a",
                                               "*a",
                                               "!!binary",
                                               "%YAML 1.2\n",
                                               "---\n",
                                               "...\n",
                                               "#",
                                               "\\u0000",
                                               "\\ud800",
                                               "0x10",
                                               "010",
                                               "2023-02-30 25:61:61",
                                               "+99:99",
                                               "max_num_seqs ",
                                               std::string(300, '9'),
                                               "+-",
                                               "%"};
  return tokens;
}

std::string mutate(const std::string& seed, std::mt19937_64& g) {
  std::string s = seed;
  const int n = 1 + static_cast<int>(g() % 4);
  for (int k = 0; k < n; ++k) {
    const size_t at = s.empty() ? 0 : g() % (s.size() + 1);
    switch (g() % 8) {
      case 0:  // flip a byte
        if (!s.empty()) s[at % s.size()] = static_cast<char>(g() % 256);
        break;
      case 1:  // insert an interesting token
        s.insert(at, interesting()[g() % interesting().size()]);
        break;
      case 2: {  // delete a span
        const size_t len = g() % 32;
        if (at < s.size()) s.erase(at, len);
        break;
      }
      case 3: {  // duplicate a span
        const size_t len = g() % 64;
        if (at < s.size()) s.insert(at, s.substr(at, len));
        break;
      }
      case 4:  // truncate
        s.resize(at);
        break;
      case 5: {  // replace a number with an interesting token
        size_t b = at;
        while (b < s.size() && !(s[b] >= '0' && s[b] <= '9')) ++b;
        size_t e = b;
        while (e < s.size() && ((s[e] >= '0' && s[e] <= '9') || s[e] == '.')) ++e;
        if (b < s.size()) s.replace(b, e - b, interesting()[g() % interesting().size()]);
        break;
      }
      case 6: {  // insert a line at a line start, keeping the indentation of the line it precedes
        size_t b = s.rfind('\n', at == 0 ? 0 : at - 1);
        b = b == std::string::npos ? 0 : b + 1;
        size_t e = b;
        while (e < s.size() && s[e] == ' ') ++e;
        s.insert(b, s.substr(b, e - b) + interesting()[g() % interesting().size()] + "\n");
        break;
      }
      default: {  // swap two lines
        const size_t a = s.rfind('\n', at == 0 ? 0 : at - 1);
        const size_t b = s.find('\n', at);
        if (a != std::string::npos && b != std::string::npos && a < b) {
          const std::string line = s.substr(a, b - a);
          s.erase(a, b - a);
          s.insert(g() % (s.size() + 1), line);
        }
      }
    }
  }
  return s;
}

std::string escaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 400)) {
    if (c >= 32 && c < 127)
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

struct Stats {
  int returned = 0, refused = 0;
};

// Runs `read` on kMutations mutations of `seed`; anything but a return or a DiagnosticError fails.
Stats fuzz(const std::string& name, const std::string& seed, std::uint64_t rng_seed,
           const std::function<void(const std::string&)>& read) {
  std::mt19937_64 g(rng_seed);
  Stats st;
  for (int i = 0; i < kMutations; ++i) {
    const std::string input = mutate(seed, g);
    try {
      read(input);
      ++st.returned;
    } catch (const DiagnosticError&) {
      ++st.refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << " mutation " << i << ": " << typeid(e).name() << ": " << e.what()
                    << "\ninput: " << escaped(input);
    } catch (...) {
      ADD_FAILURE() << name << " mutation " << i << ": unknown exception\ninput: " << escaped(input);
    }
  }
  return st;
}

std::string data_file(const std::string& relative) {
  return io::read_text_file(test::data_dir() / relative);
}

// Path-based loaders read the mutated text from one file in a temporary folder.
std::function<void(const std::string&)> via_file(const test::TempDir& dir, const std::string& name,
                                                 std::function<void(const std::filesystem::path&)> load) {
  return [&dir, name, load](const std::string& text) { load(dir.write(name, text)); };
}

TEST(FuzzReaders, YamlLoadersReturnOrRefuse) {
  test::TempDir dir;
  const struct {
    const char* name;
    std::string seed;
    std::function<void(const std::filesystem::path&)> load;
  } cases[] = {
      {"hardware", data_file("hardware/nvidia/h100-sxm.yaml"),
       [](const auto& p) { (void)hardware::load_system_file(p); }},
      {"hardware-gb200", data_file("hardware/nvidia/gb200-nvl72.yaml"),
       [](const auto& p) { (void)hardware::load_system_file(p); }},
      {"economics", data_file("economics/default.yaml"), [](const auto& p) { (void)economics::load_economics(p); }},
      {"efficiency", data_file("efficiency/default.yaml"), [](const auto& p) { (void)cost::load_efficiency_file(p); }},
      {"engine", data_file("engines/vllm-v1.yaml"), [](const auto& p) { (void)serving::load_engine_profile(p); }},
      {"generations", data_file("generations/vendor-lines.yaml"),
       [](const auto& p) { (void)economics::load_generations(p, test::hardware_catalog()); }},
  };
  std::uint64_t rng = 1;
  for (const auto& c : cases) {
    const auto st = fuzz(c.name, c.seed, rng++, via_file(dir, std::string(c.name) + ".yaml", c.load));
    EXPECT_GT(st.refused, 0) << c.name << ": no mutation was refused (the seed or the mutator is wrong)";
  }
  // The generic walk every loader does: keys, nested values, numbers and quantities.
  fuzz("yaml-walk", data_file("hardware/nvidia/h100-sxm.yaml"), 99, [](const std::string& text) {
    const auto root = io::load_yaml_string(text, "walk.yaml");
    std::function<void(const io::YamlNode&)> walk = [&](const io::YamlNode& n) {
      if (n.is_map()) {
        for (const auto& k : n.keys()) walk(n.required(k));
      } else if (n.is_sequence()) {
        for (const auto& item : n.items()) walk(item);
      } else if (n.is_scalar()) {
        try {
          (void)n.as_double();
        } catch (const DiagnosticError&) {
        }
        try {
          (void)n.as_quantity(Dimension::bytes);
        } catch (const DiagnosticError&) {
        }
      }
    };
    walk(root);
  });
}

TEST(FuzzReaders, HfConfigReturnsOrRefuses) {
  std::uint64_t rng = 100;
  for (const char* model : {"meta-llama/Llama-3.1-8B-Instruct", "deepseek-ai/DeepSeek-V3", "Qwen/Qwen3-30B-A3B",
                            "meta-llama/Llama-4-Scout-17B-16E-Instruct", "openai/gpt-oss-20b"}) {
    const auto seed = data_file(std::string("models/") + model + "/config.json");
    const auto st = fuzz(model, seed, rng++, [](const std::string& text) {
      const auto m = model::read_hf_config_string(text, "config.json");
      (void)m.num_layers();
    });
    EXPECT_GT(st.refused, 0) << model;
    EXPECT_GT(st.returned, 0) << model;
  }
}

TEST(FuzzReaders, MeasuredCsvAndNotesReturnOrRefuse) {
  const std::string header =
      "id,hardware,num_chips,model,weight_dtype,act_dtype,kv_dtype,tp,pp,ep,dp,attention_dp,scenario,isl,osl,"
      "concurrency,request_rate,spec_decode,metric,value,unit,trust,source,notes\n";
  const std::string seed =
      header +
      "A-1,h100-sxm,1,meta-llama/Llama-3.1-8B-Instruct,fp8,fp8,fp8,1,1,1,1,false,offline,128,128,,,none,output_tok_s,"
      "1000,tok/s,B,test,\"vllm: 500 reqs, max-num-seqs 256, U[0.8,1]x, gpu_memory_utilization 0.9\"\n"
      "A-2,h100-sxm,2,meta-llama/Llama-3.1-8B-Instruct,bf16,bf16,bf16,2,1,1,1,false,fixed_concurrency,1024,256,8,,"
      "none,tpot_ms,12.5,ms,A,test,\"attn BF16; +-15%; max_batch_size 128/rank\"\n";
  const auto st = fuzz("measured", seed, 200, [](const std::string& text) {
    const auto set = validate::parse_measured(text, "m.csv", test::hardware_catalog(), test::model_catalog());
    for (const auto& r : set.rows) (void)validate::parse_notes(r.notes);
  });
  EXPECT_GT(st.refused, 0);
  fuzz("csv", seed, 201, [](const std::string& text) { (void)io::parse_csv(text, "c.csv"); });
  fuzz("notes", "vllm: 1000 ShareGPT prompts; max-num-batched-tokens 512, max-num-seqs 512; KV frac 0.95; U[0.8,1]x",
       202, [](const std::string& text) { (void)validate::parse_notes(text); });
  fuzz("quantity", "3.35 TB/s", 203,
       [](const std::string& text) { (void)parse_quantity(text, Dimension::bytes_per_s); });
}

TEST(FuzzReaders, TracesReturnOrRefuse) {
  const struct {
    const char* name;
    std::string seed;
  } cases[] = {
      {"azure.csv",
       "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 "
       "18:17:04.0319600,3180,8\n"
       "2024-05-10 00:00:00.0090000+00:00,110,27\n"},
      {"burstgpt.csv",
       "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n"
       "45,GPT-4,1087,0,1087,API log\n"},
      {"vidur.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,512,128\n0.25,1024,64\n"},
      {"mooncake.jsonl",
       "{\"timestamp\": 0, \"input_length\": 6758, \"output_length\": 500, \"hash_ids\": [0, 1, 2]}\n"
       "{\"timestamp\": 27, \"input_length\": 7322, \"output_length\": 490, \"hash_ids\": [0, 14, 15]}\n"},
  };
  std::uint64_t rng = 300;
  for (const auto& c : cases) {
    const auto st = fuzz(c.name, c.seed, rng++, [&](const std::string& text) {
      const auto t = io::parse_trace(text, c.name);
      (void)t.request_rate();
    });
    EXPECT_GT(st.refused, 0) << c.name;
  }
  // Session traces, and the workload their sessions make.
  const std::string sessions =
      "{\"session\": \"a\", \"turn\": 0, \"input_tokens\": 900, \"output_tokens\": 80, \"arrival_s\": 0}\n"
      "{\"session\": 2, \"turn\": 0, \"input_tokens\": 40, \"output_tokens\": 8, \"arrival_s\": 1.5}\n"
      "{\"session\": \"a\", \"turn\": 1, \"prompt_tokens\": 1200, \"output_tokens\": 60, \"think_s\": 2, \"tool_s\": 1}\n";
  const auto st = fuzz("sessions.jsonl", sessions, rng++, [](const std::string& text) {
    (void)serving::sessions_from_trace(io::parse_session_trace(text, "sessions.jsonl"));
  });
  EXPECT_GT(st.refused, 0);
  EXPECT_GT(st.returned, 0);
}

}  // namespace
}  // namespace tf
