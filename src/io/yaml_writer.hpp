#pragma once
// Writing the project's YAML data files with yaml-cpp's emitter: the `{value, source}` pair
// every number in a data file carries.
#include <yaml-cpp/yaml.h>

#include <string>

namespace tf::io {

// `key: {value: <value>, source: "<source>"}`; `quoted` writes the value as a double-quoted
// string (quantities with a unit, "14.5 us"), else as it is (a plain number).
void emit_sourced(YAML::Emitter& y, const std::string& key, const std::string& value, bool quoted,
                  const std::string& source);

}  // namespace tf::io
