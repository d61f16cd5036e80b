#pragma once
// State shared by subcommands: where the data lives, the loaded catalogs, the output streams.
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "cost/efficiency.hpp"
#include "hardware/catalog.hpp"
#include "model/catalog.hpp"
#include "serving/engine_profile.hpp"

namespace tf::cli {

struct Context {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::string data_flag;        // --data
  std::function<int()> action;  // set by the chosen subcommand, run after parsing

  const hardware::Catalog& hardware();
  const model::ModelCatalog& models();
  const cost::EfficiencyTable& efficiency();
  const serving::EngineProfiles& engines();
  // Writes a progress line to stderr only when it is a terminal.
  void progress(const std::string& line) const;
  std::filesystem::path data_dir() const;

 private:
  std::unique_ptr<hardware::Catalog> hardware_;
  std::unique_ptr<model::ModelCatalog> models_;
  std::unique_ptr<cost::EfficiencyTable> efficiency_;
  std::unique_ptr<serving::EngineProfiles> engines_;
};

}  // namespace tf::cli
