#include "io/json_reader.hpp"

#include <cmath>
#include <fmt/format.h>

#include "core/diagnostic.hpp"
#include "io/text.hpp"

namespace tf::io {

JsonObject::JsonObject(const nlohmann::json* obj, std::shared_ptr<const std::string> file,
                       std::string path)
    : obj_(obj), file_(std::move(file)), path_(std::move(path)) {}

void JsonObject::fail(std::string_view key, const std::string& message, const std::string& hint) const {
  Diagnostic d;
  d.file = *file_;
  d.key = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  d.message = message;
  d.hint = hint;
  throw DiagnosticError(d);
}

bool JsonObject::has(std::string_view key) const {
  auto it = obj_->find(key);
  return it != obj_->end() && !it->is_null();
}

std::optional<long long> JsonObject::optional_int(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = obj_->at(std::string(key));
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::floor(d) == d) return static_cast<long long>(d);
  }
  fail(key, fmt::format("expected an integer, got {}", v.dump()));
}

long long JsonObject::required_int(std::string_view key) const {
  if (auto v = optional_int(key)) return *v;
  fail(key, "missing required key");
}

long long JsonObject::required_count(std::string_view key, long long min_value) const {
  const long long v = required_int(key);
  if (v < min_value) fail(key, fmt::format("must be >= {}, got {}", min_value, v));
  return v;
}

std::optional<double> JsonObject::optional_number(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = obj_->at(std::string(key));
  if (!v.is_number()) fail(key, fmt::format("expected a number, got {}", v.dump()));
  return v.get<double>();
}

double JsonObject::required_number(std::string_view key) const {
  if (auto v = optional_number(key)) return *v;
  fail(key, "missing required key");
}

std::optional<std::string> JsonObject::optional_string(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = obj_->at(std::string(key));
  if (!v.is_string()) fail(key, fmt::format("expected a string, got {}", v.dump()));
  return v.get<std::string>();
}

std::string JsonObject::required_string(std::string_view key) const {
  if (auto v = optional_string(key)) return *v;
  fail(key, "missing required key");
}

std::optional<bool> JsonObject::optional_bool(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = obj_->at(std::string(key));
  if (!v.is_boolean()) fail(key, fmt::format("expected true or false, got {}", v.dump()));
  return v.get<bool>();
}

std::optional<JsonObject> JsonObject::optional_object(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = obj_->at(std::string(key));
  if (!v.is_object()) fail(key, "expected an object");
  return JsonObject(&v, file_, path_.empty() ? std::string(key) : path_ + "." + std::string(key));
}

const nlohmann::json* JsonObject::optional_array(std::string_view key) const {
  if (!has(key)) return nullptr;
  const auto& v = obj_->at(std::string(key));
  if (!v.is_array()) fail(key, "expected a list");
  return &v;
}

JsonObject JsonDocument::object() const {
  if (!root.is_object()) {
    Diagnostic d;
    d.file = *file;
    d.message = "expected a JSON object at the top level";
    throw DiagnosticError(d);
  }
  return JsonObject(&root, file, "");
}

JsonDocument load_json_string(const std::string& text, const std::string& name) {
  JsonDocument doc;
  doc.file = std::make_shared<const std::string>(name);
  try {
    doc.root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    Diagnostic d;
    d.file = name;
    const size_t at = e.byte > 0 ? e.byte - 1 : 0;
    std::tie(d.line, d.column) = line_column_at(text, at);
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    d.message = "malformed JSON: " + what;
    throw DiagnosticError(d);
  }
  return doc;
}

JsonDocument load_json_file(const std::filesystem::path& path) {
  return load_json_string(read_text_file(path), path.string());
}

}  // namespace tf::io
