#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tf::io {

// Largest input file any reader accepts (1 GiB): inputs are read whole, so this bounds the memory
// a reader takes (see docs/limits.md).
inline constexpr std::uintmax_t kMaxInputBytes = std::uintmax_t{1} << 30;

// Reads a whole file; a missing or unreadable file, one that is not a regular file (a FIFO or a
// device such as /dev/zero) and one larger than kMaxInputBytes are DiagnosticErrors naming the path.
std::string read_text_file(const std::filesystem::path& path);

// Writes a whole file atomically (a temporary file renamed over the target), creating parent
// folders; failure is a DiagnosticError and leaves an existing file as it was.
void write_text_file(const std::filesystem::path& path, const std::string& text);

// The regular files in `dir` whose names end in `extension` (".yaml"), sorted; none when `dir`
// is not a folder.
std::vector<std::filesystem::path> files_with_extension(const std::filesystem::path& dir, const std::string& extension);

// Fails (DiagnosticError naming the path) unless `dir` is a folder; `what` names it ("model catalog").
void require_directory(const std::filesystem::path& dir, const std::string& what);

// Days in month m (1-12) of year y, Gregorian.
int days_in_month(int y, int m);

// True when `s` is a calendar date written YYYY-MM-DD (a real day: no Feb 30).
bool is_calendar_date(const std::string& s);

// 1-based line and column of a byte offset in text.
std::pair<int, int> line_column_at(const std::string& text, size_t offset);

}  // namespace tf::io
