#pragma once
// Shared catalogs for tests (loaded once per test binary).
#include "cost/efficiency.hpp"
#include "hardware/catalog.hpp"
#include "model/catalog.hpp"
#include "serving/engine/engine_profile.hpp"
#include "support/test_support.hpp"

namespace tf::test {

inline const hardware::Catalog& hardware_catalog() {
  static const auto c = hardware::Catalog::load(data_dir() / "hardware");
  return c;
}
inline const model::ModelCatalog& model_catalog() {
  static const auto c = model::ModelCatalog::load(data_dir() / "models");
  return c;
}
inline const cost::EfficiencyTable& efficiency_table() {
  static const auto c = cost::EfficiencyTable::load(data_dir() / "efficiency");
  return c;
}

inline const serving::EngineProfiles& engine_profiles() {
  static const auto c = serving::EngineProfiles::load(data_dir() / "engines");
  return c;
}

}  // namespace tf::test
