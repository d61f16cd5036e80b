#pragma once
// JSON access with file and key context for user errors (used for Hugging Face config.json).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tf::io {

class JsonObject {
 public:
  JsonObject(const nlohmann::json* obj, std::shared_ptr<const std::string> file, std::string path);

  [[nodiscard]] const std::string& file() const { return *file_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const nlohmann::json& raw() const { return *obj_; }
  [[nodiscard]] bool has(std::string_view key) const;  // present and not null

  [[nodiscard]] long long required_int(std::string_view key) const;
  [[nodiscard]] std::optional<long long> optional_int(std::string_view key) const;
  [[nodiscard]] double required_number(std::string_view key) const;
  [[nodiscard]] std::optional<double> optional_number(std::string_view key) const;
  [[nodiscard]] std::string required_string(std::string_view key) const;
  [[nodiscard]] std::optional<std::string> optional_string(std::string_view key) const;
  [[nodiscard]] std::optional<bool> optional_bool(std::string_view key) const;
  [[nodiscard]] std::optional<JsonObject> optional_object(std::string_view key) const;
  [[nodiscard]] const nlohmann::json* optional_array(std::string_view key) const;

  // Integer that must be >= min_value.
  [[nodiscard]] long long required_count(std::string_view key, long long min_value = 1) const;

  [[noreturn]] void fail(std::string_view key, const std::string& message,
                         const std::string& hint = {}) const;

 private:
  const nlohmann::json* obj_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
};

// A parsed JSON document that owns its data.
struct JsonDocument {
  nlohmann::json root;
  std::shared_ptr<const std::string> file;
  [[nodiscard]] JsonObject object() const;  // fails unless root is an object
};

// Malformed JSON is a Diagnostic with file, line and column.
JsonDocument load_json_file(const std::filesystem::path& path);
JsonDocument load_json_string(const std::string& text, const std::string& name);

}  // namespace tf::io
