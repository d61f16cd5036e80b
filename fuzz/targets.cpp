// libFuzzer targets for every reader (the `fuzz` preset; scripts/fuzz.sh runs them). One source,
// one target per TF_FUZZ_<NAME> definition (fuzz/CMakeLists.txt). A reader must return or throw
// tf::DiagnosticError; any other exception escapes and libFuzzer reports it as a crash, as it
// does every memory error and undefined behaviour the sanitizers see.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/diagnostic.hpp"
#include "core/units.hpp"
#include "io/yaml_reader.hpp"

#if defined(TF_FUZZ_HARDWARE) || defined(TF_FUZZ_MEASURED)
#include "hardware/catalog.hpp"
#endif
#if defined(TF_FUZZ_MEASURED)
#include "model/catalog.hpp"
#include "validate/validate.hpp"
#include "validate/notes.hpp"
#endif
#if defined(TF_FUZZ_ECONOMICS)
#include "economics/tco.hpp"
#endif
#if defined(TF_FUZZ_EFFICIENCY)
#include "cost/efficiency.hpp"
#endif
#if defined(TF_FUZZ_ENGINE)
#include "serving/engine/engine_profile.hpp"
#endif
#if defined(TF_FUZZ_HF_CONFIG)
#include "model/hf_config.hpp"
#endif
#if defined(TF_FUZZ_TRACE)
#include "io/session_trace.hpp"
#include "io/trace.hpp"
#include "serving/serving.hpp"
#endif
#if defined(TF_FUZZ_SCENARIO)
#include "cli/scenario.hpp"
#endif
#if defined(TF_FUZZ_API_BODY)
#include "cli/commands.hpp"
#include "report/server.hpp"
#endif

namespace {

// Path-based loaders read the input from one file of this process (libFuzzer runs one input at
// a time per process).
struct ScratchDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("tf-fuzz-" + std::to_string(getpid()));
  ScratchDir() { std::filesystem::create_directories(path); }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

[[maybe_unused]] std::filesystem::path as_file(const std::string& text, const char* name) {
  static const ScratchDir dir;
  const auto path = dir.path / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

[[maybe_unused]] void walk(const tf::io::YamlNode& n) {
  if (n.is_map()) {
    for (const auto& k : n.keys()) walk(*n.optional(k));
  } else if (n.is_sequence()) {
    for (const auto& item : n.items()) walk(item);
  } else if (n.is_scalar()) {
    try {
      (void)n.as_double();
    } catch (const tf::DiagnosticError&) {
    }
    try {
      (void)n.as_quantity(tf::Dimension::bytes);
    } catch (const tf::DiagnosticError&) {
    }
  }
}

void read(const std::string& text) {
#if defined(TF_FUZZ_QUANTITY)
  for (auto d : {tf::Dimension::bytes, tf::Dimension::bytes_per_s, tf::Dimension::seconds, tf::Dimension::flop_per_s,
                 tf::Dimension::watts, tf::Dimension::usd_per_hour})
    try {
      (void)tf::parse_quantity(text, d);
    } catch (const tf::DiagnosticError&) {
    }
#elif defined(TF_FUZZ_YAML)
  walk(tf::io::load_yaml_string(text, "fuzz.yaml"));
#elif defined(TF_FUZZ_HARDWARE)
  (void)tf::hardware::load_system_file(as_file(text, "system.yaml"));
#elif defined(TF_FUZZ_ECONOMICS)
  (void)tf::economics::load_economics(as_file(text, "economics.yaml"));
#elif defined(TF_FUZZ_EFFICIENCY)
  (void)tf::cost::load_efficiency_file(as_file(text, "default.yaml"));
#elif defined(TF_FUZZ_ENGINE)
  (void)tf::serving::load_engine_profile(as_file(text, "default.yaml"));
#elif defined(TF_FUZZ_HF_CONFIG)
  const auto m = tf::model::read_hf_config_string(text, "config.json");
  (void)m.num_layers();
#elif defined(TF_FUZZ_MEASURED)
  static const auto hw = tf::hardware::Catalog::load(std::filesystem::path(TF_DATA_DIR) / "hardware");
  static const auto models = tf::model::ModelCatalog::load(std::filesystem::path(TF_DATA_DIR) / "models");
  const auto set = tf::validate::parse_measured(text, "m.csv", hw, models);
  for (const auto& r : set.rows) (void)tf::validate::parse_notes(r.notes);
#elif defined(TF_FUZZ_TRACE)
  // The first byte picks the format the rest is read as.
  static const char* const names[] = {"azure.csv", "burstgpt.csv", "vidur.csv", "mooncake.jsonl", "sessions.jsonl"};
  if (text.empty()) return;
  const unsigned pick = static_cast<unsigned char>(text[0]) % 5;
  if (pick == 4) {  // a session trace, and the workload its sessions make
    (void)tf::serving::sessions_from_trace(tf::io::parse_session_trace(text.substr(1), names[4]));
    return;
  }
  (void)tf::io::parse_trace(text.substr(1), names[pick]);
#elif defined(TF_FUZZ_SCENARIO)
  (void)tf::cli::load_scenario(as_file(text, "scenario.yaml"));
#elif defined(TF_FUZZ_API_BODY)
  // The web API's body reader, against each POST endpoint's keys: it returns a command line or a
  // status and message, and never throws.
  static const auto endpoints = tf::cli::api_endpoints();
  for (const auto& e : endpoints)
    if (e.method == "POST") {
      const auto call = tf::report::api_call(e, text);
      if ((call.status == 200) == call.args.empty()) __builtin_trap();  // exactly one of the two
    }
#else
#error "define one TF_FUZZ_<target>"
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    read(text);
  } catch (const tf::DiagnosticError&) {
    // A refusal with a message: the expected outcome for bad input.
  }
  return 0;
}
