// Golden results: each tests/golden/*.json names a command and the keys of its JSON document to
// compare, with a relative tolerance. After an intended model change, regenerate them with
//   TF_GOLDEN_UPDATE=1 ./build/release/tests/test_golden
// and review the diff: every changed figure is a change users will see.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace tf {
namespace {

using nlohmann::ordered_json;

std::filesystem::path golden_dir() { return std::filesystem::path(TF_GOLDEN_DIR); }

// Looks up "a.b.0.c" in a document.
const ordered_json* lookup(const ordered_json& doc, const std::string& path) {
  const ordered_json* cur = &doc;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur->is_array()) {
      const size_t i = std::stoul(part);
      if (i >= cur->size()) return nullptr;
      cur = &(*cur)[i];
    } else if (cur->is_object() && cur->contains(part)) {
      cur = &(*cur)[part];
    } else {
      return nullptr;
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, MatchesWithinTolerance) {
  const auto file = golden_dir() / GetParam();
  ordered_json g = ordered_json::parse(std::ifstream(file));
  std::vector<std::string> args = g["args"].get<std::vector<std::string>>();
  const auto r = test::run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = ordered_json::parse(r.out);
  const double tol = g.value("rel_tol", 1e-6);
  const bool update = std::getenv("TF_GOLDEN_UPDATE") != nullptr;
  for (auto& [key, expected] : g["expected"].items()) {
    const auto* actual = lookup(doc, key);
    ASSERT_NE(actual, nullptr) << file << ": key '" << key << "' missing from the output";
    if (update) {
      expected = *actual;
      continue;
    }
    if (expected.is_number()) {
      ASSERT_TRUE(actual->is_number()) << key;
      const double e = expected.get<double>(), a = actual->get<double>();
      EXPECT_LE(std::fabs(a - e), tol * std::max(1.0, std::fabs(e))) << file << ": " << key << " = " << a
                                                                     << ", golden " << e;
    } else {
      EXPECT_EQ(*actual, expected) << file << ": " << key;
    }
  }
  if (update) std::ofstream(file) << g.dump(2) << "\n";
}

std::vector<std::string> golden_files() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(golden_dir()))
    if (e.path().extension() == ".json") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Files, Golden, ::testing::ValuesIn(golden_files()), [](const auto& param_info) {
  std::string n = param_info.param.substr(0, param_info.param.size() - 5);
  for (auto& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
});

}  // namespace
}  // namespace tf
