#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace tf::test {

// A fresh temporary folder removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Writes `text` to path()/relative, creating folders.
  std::filesystem::path write(const std::string& relative, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

struct CliResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// Runs the CLI in-process with the built-in data folder.
CliResult run_cli(const std::vector<std::string>& args);

std::filesystem::path data_dir();
std::filesystem::path shared_dir();  // ../shared beside the repository (may be absent)

}  // namespace tf::test
