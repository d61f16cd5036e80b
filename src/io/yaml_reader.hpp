#pragma once
// Strict YAML access: every lookup knows its file, line and dotted key path, so any user error
// (missing key, unknown key, wrong type, bad quantity) is a Diagnostic pointing at the spot.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/units.hpp"

namespace tf::io {

class YamlNode {
 public:
  YamlNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path);

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const std::string& file() const { return *file_; }
  [[nodiscard]] int line() const;
  [[nodiscard]] bool is_map() const { return node_.IsMap(); }
  [[nodiscard]] bool is_sequence() const { return node_.IsSequence(); }
  [[nodiscard]] bool is_scalar() const { return node_.IsScalar(); }
  [[nodiscard]] bool is_null() const { return node_.IsNull(); }

  // Map access. `required` fails naming the missing key; `optional` returns nullopt if absent.
  [[nodiscard]] YamlNode required(std::string_view key) const;
  [[nodiscard]] std::optional<YamlNode> optional(std::string_view key) const;
  [[nodiscard]] bool has(std::string_view key) const;
  [[nodiscard]] std::vector<std::string> keys() const;
  // Fails on the first key not in `allowed`, naming it, its line and the allowed keys.
  void expect_keys(const std::vector<std::string>& allowed) const;
  void expect_map() const;

  [[nodiscard]] std::vector<YamlNode> items() const;  // sequence elements

  [[nodiscard]] std::string as_string() const;
  [[nodiscard]] long long as_int() const;
  [[nodiscard]] double as_double() const;
  [[nodiscard]] bool as_bool() const;
  // A data-file figure {value: ..., source: ..., note: ...}: checks the keys and that the source is
  // not empty, and returns the value node. `extra_keys` are further keys the caller reads.
  [[nodiscard]] YamlNode sourced_value(const std::vector<std::string>& extra_keys = {}) const;
  // A unit string of the given dimension, converted to SI.
  [[nodiscard]] double as_quantity(Dimension d) const;

  [[noreturn]] void fail(const std::string& message, const std::string& hint = {}) const;

 private:
  [[nodiscard]] std::string key_text(const YAML::Node& key) const;
  YAML::Node node_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
};

// Parses a YAML file; syntax errors become a Diagnostic with the file, line and column.
YamlNode load_yaml_file(const std::filesystem::path& path);
YamlNode load_yaml_string(const std::string& text, const std::string& name);

}  // namespace tf::io
