#include "io/json_reader.hpp"

#include <cmath>
#include <cstdint>
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
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxJsonInt))
      fail(key, fmt::format("{} is too large (at most {})", v.get<std::uint64_t>(), kMaxJsonInt));
    return v.get<long long>();
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is exactly representable: anything at or beyond it does not fit a long long.
    if (std::floor(d) == d && std::fabs(d) < 9223372036854775808.0) return static_cast<long long>(d);
    if (std::floor(d) == d) fail(key, fmt::format("{} is too large (at most {})", describe_json(v), kMaxJsonInt));
  }
  fail(key, fmt::format("expected an integer, got {}", describe_json(v)));
}

long long JsonObject::required_int(std::string_view key) const {
  if (auto v = optional_int(key)) return *v;
  fail(key, "missing required key");
}

long long JsonObject::required_count(std::string_view key, long long min_value, long long max_value) const {
  const long long v = required_int(key);
  if (v < min_value) fail(key, fmt::format("must be >= {}, got {}", min_value, v));
  if (v > max_value) fail(key, fmt::format("must be <= {}, got {}", max_value, v));
  return v;
}

std::optional<long long> JsonObject::optional_count(std::string_view key, long long min_value,
                                                    long long max_value) const {
  const auto v = optional_int(key);
  if (!v) return v;
  if (*v < min_value) fail(key, fmt::format("must be >= {}, got {}", min_value, *v));
  if (*v > max_value) fail(key, fmt::format("must be <= {}, got {}", max_value, *v));
  return v;
}

std::optional<double> JsonObject::optional_number(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = obj_->at(std::string(key));
  if (!v.is_number()) fail(key, fmt::format("expected a number, got {}", describe_json(v)));
  return v.get<double>();
}

double JsonObject::required_number(std::string_view key) const {
  if (auto v = optional_number(key)) return *v;
  fail(key, "missing required key");
}

std::optional<std::string> JsonObject::optional_string(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = obj_->at(std::string(key));
  if (!v.is_string()) fail(key, fmt::format("expected a string, got {}", describe_json(v)));
  return v.get<std::string>();
}

std::string JsonObject::required_string(std::string_view key) const {
  if (auto v = optional_string(key)) return *v;
  fail(key, "missing required key");
}

std::optional<bool> JsonObject::optional_bool(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = obj_->at(std::string(key));
  if (!v.is_boolean()) fail(key, fmt::format("expected true or false, got {}", describe_json(v)));
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

std::optional<std::vector<long long>> JsonObject::optional_int_list(std::string_view key) const {
  const auto* a = optional_array(key);
  if (!a) return std::nullopt;
  std::vector<long long> out;
  out.reserve(a->size());
  for (size_t i = 0; i < a->size(); ++i) {
    const auto& v = (*a)[i];
    const std::string at = fmt::format("{}[{}]", key, i);
    if (v.is_number_integer() && !(v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxJsonInt))) {
      out.push_back(v.get<long long>());
    } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
               std::fabs(v.get<double>()) < 9223372036854775808.0) {
      out.push_back(static_cast<long long>(v.get<double>()));
    } else {
      fail(at, fmt::format("expected an integer, got {}", describe_json(v)));
    }
  }
  return out;
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

namespace {

// Builds the DOM through nlohmann's own SAX builder, but keeps the error instead of throwing it
// (a number overflowing a double is reported through parse_error like a syntax error, with its
// position) and refuses nesting deeper than kMaxJsonDepth.
class CheckedSax {
 public:
  using json = nlohmann::json;
  explicit CheckedSax(json& root) : dom_(root, false) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) { return dom_.number_float(v, s); }
  bool string(json::string_t& v) { return dom_.string(v); }
  bool binary(json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return deeper() && dom_.start_object(n); }
  bool key(json::string_t& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return deeper() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/, const nlohmann::detail::exception& e) {
    position_ = position;
    message_ = e.what();
    return false;
  }

  [[nodiscard]] bool too_deep() const { return too_deep_; }
  [[nodiscard]] std::size_t position() const { return position_; }
  [[nodiscard]] const std::string& message() const { return message_; }

 private:
  bool deeper() {
    if (++depth_ <= kMaxJsonDepth) return true;
    too_deep_ = true;
    return false;
  }
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  int depth_ = 0;
  bool too_deep_ = false;
  std::size_t position_ = 0;
  std::string message_;
};

// Byte offset of the bracket that opens nesting level `depth` (strings skipped), or npos.
size_t offset_of_depth(const std::string& text, int depth) {
  int level = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++level == depth) return i;
    } else if (c == ']' || c == '}') {
      --level;
    }
  }
  return std::string::npos;
}

// "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..." ->
// "syntax error ..." (the Diagnostic carries the line and column).
std::string library_message(std::string what) {
  if (what.rfind("[json.exception.", 0) == 0) {
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
  }
  if (what.rfind("parse error at line ", 0) == 0) {
    if (auto p = what.find(": "); p != std::string::npos) what = "parse error: " + what.substr(p + 2);
  }
  return what;
}

}  // namespace

nlohmann::json parse_json(const std::string& text, const std::string& file, int first_line) {
  nlohmann::json root;
  CheckedSax sax(root);
  bool ok = false;
  std::string failure;
  try {
    ok = nlohmann::json::sax_parse(text, &sax);
  } catch (const nlohmann::json::exception& e) {  // not expected: the SAX reports errors itself
    failure = library_message(e.what());
  }
  if (ok) return root;
  Diagnostic d;
  d.file = file;
  size_t at = 0;
  if (sax.too_deep()) {
    at = offset_of_depth(text, kMaxJsonDepth + 1);
    d.message = fmt::format("malformed JSON: nested deeper than {} levels", kMaxJsonDepth);
  } else {
    at = sax.position() > 0 ? sax.position() - 1 : 0;
    d.message = "malformed JSON: " + (failure.empty() ? library_message(sax.message()) : failure);
  }
  std::tie(d.line, d.column) = line_column_at(text, at == std::string::npos ? 0 : at);
  d.line += first_line - 1;
  throw DiagnosticError(d);
}

std::string describe_json(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::array:
      return v.empty() ? "an empty list" : fmt::format("a list of {} item{}", v.size(), v.size() == 1 ? "" : "s");
    case nlohmann::json::value_t::object:
      return v.empty() ? "an empty object" : fmt::format("an object with {} key{}", v.size(), v.size() == 1 ? "" : "s");
    default: break;
  }
  // A scalar: its JSON text (invalid UTF-8 replaced), cut to a readable length.
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  constexpr size_t kMax = 60;
  if (s.size() > kMax) {
    size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
    s = s.substr(0, cut) + "...";
  }
  return s;
}

JsonDocument load_json_string(const std::string& text, const std::string& name) {
  JsonDocument doc;
  doc.file = std::make_shared<const std::string>(name);
  doc.root = parse_json(text, name);
  return doc;
}

JsonDocument load_json_file(const std::filesystem::path& path) {
  return load_json_string(read_text_file(path), path.string());
}

void for_each_json_line(const std::string& text, const std::string& file,
                        const std::function<void(const nlohmann::json& object, int line)>& row) {
  size_t start = 0;
  int line = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line;
    const std::string one = text.substr(start, end - start);
    start = end + 1;
    if (one.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = parse_json(one, file, line);
    if (!j.is_object()) fail_at(file, line, "", fmt::format("expected a JSON object, got {}", describe_json(j)));
    row(j, line);
  }
}

}  // namespace tf::io
