#include "support/test_support.hpp"

#include <atomic>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "cli/app.hpp"

namespace tf::test {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("tokenfactory-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::write(const std::string& relative, const std::string& text) const {
  const auto p = path_ / relative;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

CliResult run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> full{"--data", data_dir().string()};
  full.insert(full.end(), args.begin(), args.end());
  std::ostringstream out, err;
  CliResult r;
  r.exit_code = tf::cli::run(full, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::filesystem::path data_dir() { return TF_TEST_DATA_DIR; }
std::filesystem::path shared_dir() { return TF_SHARED_DIR; }

}  // namespace tf::test
