#pragma once
// The model catalog: data/models/<org>/<name>/config.json (verbatim Hugging Face files) with a
// source.yaml beside each saying where the file and the published parameter counts come from.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/model_spec.hpp"

namespace tf::model {

struct Published {
  double value = 0;
  std::string source;
};

// Routing skew of MoE models (data/models/moe-routing.yaml): a default for every MoE model and
// per-model figures where a measurement exists.
struct RoutingSkew {
  double load_cv = 0;
  std::string source;
};

struct ModelEntry {
  std::string id;                      // "org/name"
  std::filesystem::path config_path;
  std::string config_source;
  std::optional<Published> total_params_billion;
  std::optional<Published> active_params_billion;
};

class ModelCatalog {
 public:
  // Indexes every <org>/<name>/config.json under `dir`; source.yaml files are validated too, and
  // moe-routing.yaml when present (absent: MoE routing is taken as uniform).
  static ModelCatalog load(const std::filesystem::path& dir);

  [[nodiscard]] const std::vector<ModelEntry>& entries() const { return entries_; }  // sorted by id
  [[nodiscard]] const ModelEntry* find(const std::string& id) const;
  [[nodiscard]] std::vector<std::string> ids() const;

  // Resolves a user's model argument: a path to a config.json (or a folder holding one), a
  // catalog id ("meta-llama/Llama-3.1-70B-Instruct"), or an unambiguous case-insensitive
  // short name ("llama-3.1-70b-instruct"). Unknown names fail with suggestions.
  [[nodiscard]] ModelSpec resolve(const std::string& name_or_path) const;
  // As resolve, returning the catalog entry when the argument names one (nullptr for paths).
  [[nodiscard]] const ModelEntry* lookup(const std::string& name) const;
  // The routing skew a model resolves with (its own figure, else the default; none without the file).
  [[nodiscard]] std::optional<RoutingSkew> routing_skew(const std::string& id) const;

 private:
  void attach_routing(ModelSpec& m) const;
  std::vector<ModelEntry> entries_;
  std::optional<RoutingSkew> default_skew_;
  std::vector<std::pair<std::string, RoutingSkew>> model_skew_;
};

}  // namespace tf::model
