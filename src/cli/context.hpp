#pragma once
// State shared by subcommands: where the data lives, the loaded catalogs, the output streams.
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "hardware/catalog.hpp"
#include "model/catalog.hpp"

namespace tf::cli {

struct Context {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::string data_flag;        // --data
  std::function<int()> action;  // set by the chosen subcommand, run after parsing

  const hardware::Catalog& hardware();
  const model::ModelCatalog& models();
  std::filesystem::path data_dir() const;

 private:
  std::unique_ptr<hardware::Catalog> hardware_;
  std::unique_ptr<model::ModelCatalog> models_;
};

}  // namespace tf::cli
