#include "core/diagnostic.hpp"

#include <algorithm>
#include <numeric>

namespace tf {

std::string Diagnostic::to_string() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) {
      out += ":" + std::to_string(line);
      if (column > 0) out += ":" + std::to_string(column);
    }
    out += ": ";
  }
  if (!key.empty()) out += "'" + key + "': ";
  out += message;
  if (!hint.empty()) out += " (" + hint + ")";
  return out;
}

DiagnosticError::DiagnosticError(Diagnostic d)
    : std::runtime_error(d.to_string()), diagnostic_(std::move(d)) {}

void fail(std::string message, std::string hint) {
  Diagnostic d;
  d.message = std::move(message);
  d.hint = std::move(hint);
  throw DiagnosticError(std::move(d));
}

void fail_at(std::string file, int line, std::string key, std::string message, std::string hint, int column) {
  Diagnostic d;
  d.file = std::move(file);
  d.line = line;
  d.column = column;
  d.key = std::move(key);
  d.message = std::move(message);
  d.hint = std::move(hint);
  throw DiagnosticError(std::move(d));
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  std::iota(prev.begin(), prev.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string closest_match(const std::string& name, const std::vector<std::string>& choices) {
  std::string best;
  size_t best_d = std::max<size_t>(3, name.size() / 3) + 1;
  for (const auto& c : choices) {
    const size_t d = edit_distance(name, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

}  // namespace tf
