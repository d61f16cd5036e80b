#pragma once
// Reads a Hugging Face config.json (plus an optional hf_quant_config.json beside it) into a
// ModelSpec. Dispatches on architectures[0] through a registry of readers; an unknown
// architecture is an error listing the supported ones.
#include <filesystem>
#include <string>
#include <vector>

#include "model/model_spec.hpp"

namespace tf::model {

struct ArchitectureInfo {
  std::string name;         // architectures[0] value, e.g. "LlamaForCausalLM"
  std::string description;  // what the reader understands
  std::string citation;     // where the semantics of the fields come from
};

// Every architecture the reader supports, in registration order.
const std::vector<ArchitectureInfo>& supported_architectures();

// `config_path` is a config.json file; `id` names the model in messages and outputs.
ModelSpec read_hf_config(const std::filesystem::path& config_path, const std::string& id);
ModelSpec read_hf_config_string(const std::string& json_text, const std::string& name);

}  // namespace tf::model
