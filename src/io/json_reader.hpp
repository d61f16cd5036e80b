#pragma once
// JSON access with file and key context for user errors (used for Hugging Face config.json).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tf::io {

// Largest integer the accessors return (2^63 - 1; larger values are refused, never wrapped).
inline constexpr long long kMaxJsonInt = 9223372036854775807LL;
// Default upper bound of a count or size read with required_count / optional_count (2^31 - 1).
inline constexpr long long kMaxJsonCount = 2147483647LL;

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
  // A list of integers; an element that is not an integer fails naming `key[i]`.
  [[nodiscard]] std::optional<std::vector<long long>> optional_int_list(std::string_view key) const;

  // Integer in [min_value, max_value]. Counts and sizes in an input are bounded (kMaxJsonCount
  // by default) so that nothing computed from them can overflow or allocate without limit.
  [[nodiscard]] long long required_count(std::string_view key, long long min_value = 1,
                                         long long max_value = kMaxJsonCount) const;
  [[nodiscard]] std::optional<long long> optional_count(std::string_view key, long long min_value = 0,
                                                        long long max_value = kMaxJsonCount) const;

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

// Deepest nesting of arrays and objects a JSON input may have (deeper documents are refused, so
// nothing that walks a value recursively can exhaust the stack).
inline constexpr int kMaxJsonDepth = 256;

// Parses JSON text. Malformed JSON, a number outside the range of a double (1e400) and nesting
// deeper than kMaxJsonDepth are DiagnosticErrors naming `file`, the line (counted from
// `first_line`) and the column; no nlohmann exception escapes.
nlohmann::json parse_json(const std::string& text, const std::string& file, int first_line = 1);

// JSON Lines: calls `row(object, line)` for every non-blank line of `text`, each parsed as above
// and required to be an object (else a DiagnosticError naming `file` and the line).
void for_each_json_line(const std::string& text, const std::string& file,
                        const std::function<void(const nlohmann::json& object, int line)>& row);

// A value for an error message: short scalars as JSON text, longer ones cut, containers by kind
// and size ("a list of 3 items"). Never throws and never recurses into the value.
std::string describe_json(const nlohmann::json& v);

}  // namespace tf::io
