#include "io/text.hpp"

#include <fstream>
#include <sstream>

#include "core/diagnostic.hpp"

namespace tf::io {

std::string read_text_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    Diagnostic d;
    d.file = path.string();
    d.message = "file not found";
    throw DiagnosticError(d);
  }
  if (std::filesystem::is_directory(path, ec)) {
    Diagnostic d;
    d.file = path.string();
    d.message = "is a directory, expected a file";
    throw DiagnosticError(d);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Diagnostic d;
    d.file = path.string();
    d.message = "cannot be read";
    throw DiagnosticError(d);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !(out << text)) {
    Diagnostic d;
    d.file = path.string();
    d.message = "cannot be written";
    throw DiagnosticError(d);
  }
}

void require_directory(const std::filesystem::path& dir, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return;
  Diagnostic d;
  d.file = dir.string();
  d.message = what + " folder not found";
  d.hint = "pass --data DIR or set TOKENFACTORY_DATA to the folder holding hardware/, models/, efficiency/ and economics/";
  throw DiagnosticError(d);
}

std::pair<int, int> line_column_at(const std::string& text, size_t offset) {
  int line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

}  // namespace tf::io
