#pragma once
// Catalog documents: each hardware system (a summary row, or in full with the source of every
// figure) and each model (architecture, parameters, KV bytes; in full with layers and FLOPs), in SI
// units. `catalog --json` lists them (`tokenfactory.catalog/1`); the web API wraps the lists.
#include "model/catalog.hpp"
#include "hardware/system.hpp"
#include "report/documents.hpp"

namespace tf::report {

Json hardware_summary(const hardware::SystemSpec& s);
Json hardware_detail(const hardware::SystemSpec& s);
// `entry`: the catalog entry (published parameter counts, config source), nullptr for a path.
Json model_json(const model::ModelSpec& m, const model::ModelEntry* entry, bool detail);
// `tokenfactory.catalog/1`: every system's summary and every model (resolved through `models`).
Json catalog_document(const std::vector<hardware::SystemSpec>& systems, const model::ModelCatalog& models);

}  // namespace tf::report
