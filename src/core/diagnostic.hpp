#pragma once
// User-facing errors. Anything a user can get wrong (a file, a key, a value, a flag) becomes a
// Diagnostic that names where the problem is and what would be valid. Library code throws
// DiagnosticError; only the CLI turns it into a message and exit code 2.
#include <stdexcept>
#include <string>
#include <vector>

namespace tf {

struct Diagnostic {
  std::string file;     // path of the offending file, empty if not from a file
  int line = 0;         // 1-based line, 0 if unknown
  int column = 0;       // 1-based column, 0 if unknown
  std::string key;      // dotted key path, e.g. "chip.memory[0].bandwidth"
  std::string message;  // what is wrong
  std::string hint;     // what would be valid

  // "file:line:col: key: message (hint)"
  [[nodiscard]] std::string to_string() const;
};

class DiagnosticError : public std::runtime_error {
 public:
  explicit DiagnosticError(Diagnostic d);
  [[nodiscard]] const Diagnostic& diagnostic() const { return diagnostic_; }

 private:
  Diagnostic diagnostic_;
};

// Throws a DiagnosticError with just a message and hint.
[[noreturn]] void fail(std::string message, std::string hint = {});

// Throws a DiagnosticError located in a file (line and column 0 when unknown).
[[noreturn]] void fail_at(std::string file, int line, std::string key, std::string message, std::string hint = {},
                          int column = 0);

// "a, b, c" from a list of names (for hints listing valid choices).
std::string join(const std::vector<std::string>& items, const std::string& sep = ", ");

// Closest name by edit distance, or empty if nothing is close (for "did you mean" hints).
std::string closest_match(const std::string& name, const std::vector<std::string>& choices);

}  // namespace tf
