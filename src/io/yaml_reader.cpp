#include "io/yaml_reader.hpp"

#include <charconv>
#include <cmath>
#include <fmt/format.h>

#include "core/diagnostic.hpp"
#include "io/text.hpp"

namespace tf::io {

YamlNode::YamlNode(YAML::Node node, std::shared_ptr<const std::string> file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}

int YamlNode::line() const {
  const auto m = node_.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

void YamlNode::fail(const std::string& message, const std::string& hint) const {
  Diagnostic d;
  d.file = *file_;
  d.line = line();
  d.key = path_;
  d.message = message;
  d.hint = hint;
  throw DiagnosticError(d);
}

void YamlNode::expect_map() const {
  if (!node_.IsMap()) fail("expected a mapping of keys");
}

static std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

bool YamlNode::has(std::string_view key) const {
  return node_.IsMap() && node_[std::string(key)].IsDefined();
}

std::optional<YamlNode> YamlNode::optional(std::string_view key) const {
  expect_map();
  const YAML::Node child = node_[std::string(key)];
  if (!child.IsDefined()) return std::nullopt;
  return YamlNode(child, file_, child_path(path_, key));
}

YamlNode YamlNode::required(std::string_view key) const {
  if (auto c = optional(key)) {
    if (c->is_null()) c->fail("has no value");
    return *c;
  }
  fail(fmt::format("missing required key '{}'", key));
}

// A mapping key as text; a key that is a list or a mapping (`[a, b]: 1`) is an error at its line.
std::string YamlNode::key_text(const YAML::Node& key) const {
  if (key.IsScalar()) return key.Scalar();
  Diagnostic d;
  d.file = *file_;
  d.line = key.Mark().line >= 0 ? key.Mark().line + 1 : line();
  d.column = key.Mark().column >= 0 ? key.Mark().column + 1 : 0;
  d.key = path_;
  d.message = key.IsNull() ? "a key is empty" : key.IsSequence() ? "a key is a list" : "a key is a mapping";
  d.hint = "keys are plain names";
  throw DiagnosticError(d);
}

std::vector<std::string> YamlNode::keys() const {
  expect_map();
  std::vector<std::string> out;
  for (const auto& kv : node_) out.push_back(key_text(kv.first));
  return out;
}

void YamlNode::expect_keys(const std::vector<std::string>& allowed) const {
  expect_map();
  for (const auto& kv : node_) {
    const auto key = key_text(kv.first);
    bool ok = false;
    for (const auto& a : allowed) ok = ok || a == key;
    if (!ok) {
      Diagnostic d;
      d.file = *file_;
      d.line = kv.first.Mark().line + 1;
      d.key = child_path(path_, key);
      d.message = "unknown key";
      const auto near = closest_match(key, allowed);
      d.hint = (near.empty() ? "" : "did you mean '" + near + "'? ") + "valid keys: " + join(allowed);
      throw DiagnosticError(d);
    }
  }
}

std::vector<YamlNode> YamlNode::items() const {
  if (!node_.IsSequence()) fail("expected a list");
  std::vector<YamlNode> out;
  size_t i = 0;
  for (const auto& n : node_) out.emplace_back(n, file_, fmt::format("{}[{}]", path_, i++));
  return out;
}

std::string YamlNode::as_string() const {
  if (!node_.IsScalar()) fail("expected a single value");
  return node_.Scalar();
}

long long YamlNode::as_int() const {
  const auto s = as_string();
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) fail(fmt::format("'{}' is not an integer", s));
  return v;
}

double YamlNode::as_double() const {
  const auto s = as_string();
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) fail(fmt::format("'{}' is not a number", s));
  if (!std::isfinite(v)) fail(fmt::format("'{}' is not a finite number", s));
  return v;
}

bool YamlNode::as_bool() const {
  const auto s = as_string();
  if (s == "true") return true;
  if (s == "false") return false;
  fail(fmt::format("'{}' is not a boolean", s), "use true or false");
}

YamlNode YamlNode::sourced_value(const std::vector<std::string>& extra_keys) const {
  if (!is_map()) {
    fail("expected {value: ..., source: ...}",
         "every number needs a unit and a source, e.g. {value: \"80 GB\", source: datasheet}");
  }
  std::vector<std::string> keys{"value", "source", "note"};
  keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
  expect_keys(keys);
  const auto src = required("source");
  if (src.as_string().empty()) src.fail("source must not be empty");
  return required("value");
}

double YamlNode::as_quantity(Dimension d) const {
  const auto s = as_string();
  try {
    return parse_quantity(s, d);
  } catch (const DiagnosticError& e) {
    fail(e.diagnostic().message, e.diagnostic().hint);
  }
}

YamlNode load_yaml_string(const std::string& text, const std::string& name) {
  auto file = std::make_shared<const std::string>(name);
  try {
    YAML::Node root = YAML::Load(text);
    return YamlNode(root, file, "");
  } catch (const YAML::Exception& e) {  // syntax errors, and nesting deeper than yaml-cpp's guard (2000)
    Diagnostic d;
    d.file = name;
    d.line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    d.column = e.mark.column >= 0 ? e.mark.column + 1 : 0;
    d.message = "malformed YAML: " + e.msg;
    throw DiagnosticError(d);
  }
}

YamlNode load_yaml_file(const std::filesystem::path& path) {
  return load_yaml_string(read_text_file(path), path.string());
}

}  // namespace tf::io
