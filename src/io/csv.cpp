#include "io/csv.hpp"

#include "core/diagnostic.hpp"

namespace tf::io {

std::vector<CsvRecord> parse_csv(const std::string& text, const std::string& file) {
  std::vector<CsvRecord> out;
  for_each_csv_record(text, file, [&](CsvRecord& r) {
    out.push_back(std::move(r));
    return true;
  });
  return out;
}

void for_each_csv_record(const std::string& text, const std::string& file,
                         const std::function<bool(CsvRecord&)>& on_record) {
  size_t i = 0;
  int line = 1;
  const size_t n = text.size();
  auto error = [&](int at, const std::string& msg) {
    Diagnostic d;
    d.file = file;
    d.line = at;
    d.message = msg;
    d.hint = "CSV (RFC 4180): quote fields holding commas, quotes or newlines, and double embedded quotes";
    throw DiagnosticError(d);
  };
  while (i < n) {
    CsvRecord rec;
    rec.line = line;
    // Skip blank lines.
    if (text[i] == '\n' || text[i] == '\r') {
      if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
      ++i;
      ++line;
      continue;
    }
    bool end_of_record = false;
    while (!end_of_record) {
      std::string field;
      if (i < n && text[i] == '"') {
        const int start = line;
        ++i;
        for (;;) {
          if (i >= n) error(start, "unterminated quoted field");
          const char c = text[i];
          if (c == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (c == '\n') ++line;
          field += c;
          ++i;
        }
        if (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
          error(line, "unexpected text after a closing quote");
      } else {
        while (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          if (text[i] == '"') error(line, "quote inside an unquoted field");
          field += text[i++];
        }
      }
      rec.fields.push_back(std::move(field));
      if (i >= n) {
        end_of_record = true;
      } else if (text[i] == ',') {
        ++i;
      } else {  // newline
        if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
        ++i;
        ++line;
        end_of_record = true;
      }
    }
    if (!on_record(rec)) return;
  }
}

}  // namespace tf::io
