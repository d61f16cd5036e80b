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
#include "serving/engine/engine_profile.hpp"

namespace tf::cli {

// Catalogs loaded once and shared read-only by many runs (the web server's requests); every
// member is immutable once loaded.
struct SharedData {
  std::string data_flag;
  std::shared_ptr<const hardware::Catalog> hardware;
  std::shared_ptr<const model::ModelCatalog> models;
  std::shared_ptr<const cost::EfficiencyTable> efficiency;
  std::shared_ptr<const serving::EngineProfiles> engines;
};
// Loads (and so validates) every catalog of the data folder.
SharedData load_shared_data(const std::string& data_flag);

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
  // Uses already-loaded catalogs instead of reading the data folder.
  void adopt(const SharedData& shared);

 private:
  friend SharedData load_shared_data(const std::string& data_flag);
  std::shared_ptr<const hardware::Catalog> hardware_;
  std::shared_ptr<const model::ModelCatalog> models_;
  std::shared_ptr<const cost::EfficiencyTable> efficiency_;
  std::shared_ptr<const serving::EngineProfiles> engines_;
};

}  // namespace tf::cli
