#pragma once
// RFC 4180 CSV: quoted fields, "" escapes, CRLF or LF, newlines inside quotes.
#include <functional>
#include <string>
#include <vector>

namespace tf::io {

struct CsvRecord {
  int line = 0;  // 1-based line where the record starts
  std::vector<std::string> fields;
};

// Throws DiagnosticError naming `file` and the line on an unterminated quote or text after a
// closing quote. Blank lines are skipped.
std::vector<CsvRecord> parse_csv(const std::string& text, const std::string& file);

// The same records one at a time, so a large file is read without holding all its fields
// (memory: the text plus one record). Stops early when `on_record` returns false.
void for_each_csv_record(const std::string& text, const std::string& file,
                         const std::function<bool(CsvRecord&)>& on_record);

}  // namespace tf::io
