#pragma once
#include <filesystem>
#include <string>

namespace tf::io {

// Reads a whole file; a missing or unreadable file is a DiagnosticError naming the path.
std::string read_text_file(const std::filesystem::path& path);

// Writes a whole file, creating parent folders; failure is a DiagnosticError.
void write_text_file(const std::filesystem::path& path, const std::string& text);

// Fails (DiagnosticError naming the path) unless `dir` is a folder; `what` names it ("model catalog").
void require_directory(const std::filesystem::path& dir, const std::string& what);

// 1-based line and column of a byte offset in text.
std::pair<int, int> line_column_at(const std::string& text, size_t offset);

}  // namespace tf::io
