#pragma once
// The hardware catalog: every data/hardware/**/<id>.yaml, validated and with variant_of resolved.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "hardware/system.hpp"

namespace tf::hardware {

class Catalog {
 public:
  // Loads every *.yaml under `dir` (recursively). Any invalid file is a DiagnosticError.
  static Catalog load(const std::filesystem::path& dir);

  [[nodiscard]] const std::vector<SystemSpec>& systems() const { return systems_; }  // sorted by id
  [[nodiscard]] const SystemSpec* find(const std::string& id) const;
  // Like find, but an unknown id is a DiagnosticError with a "did you mean" and the valid ids.
  [[nodiscard]] const SystemSpec& get(const std::string& id) const;
  [[nodiscard]] std::vector<std::string> ids() const;

 private:
  std::vector<SystemSpec> systems_;
};

// Parses one system file on its own (no variant_of resolution); for tests and `catalog show FILE`.
SystemSpec load_system_file(const std::filesystem::path& path);

}  // namespace tf::hardware
