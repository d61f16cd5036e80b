#include "io/yaml_writer.hpp"

namespace tf::io {

void emit_sourced(YAML::Emitter& y, const std::string& key, const std::string& value, bool quoted,
                  const std::string& source) {
  y << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap;
  y << YAML::Key << "value" << YAML::Value;
  if (quoted)
    y << YAML::DoubleQuoted << value;
  else
    y << value;
  y << YAML::Key << "source" << YAML::Value << YAML::DoubleQuoted << source << YAML::EndMap;
}

}  // namespace tf::io
