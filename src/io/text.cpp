#include "io/text.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <fstream>
#include <unistd.h>
#include <sstream>

#include "core/diagnostic.hpp"

namespace tf::io {

std::string read_text_file(const std::filesystem::path& path) {
  auto error = [&](const std::string& message, const std::string& hint = {}) {
    Diagnostic d;
    d.file = path.string();
    d.message = message;
    d.hint = hint;
    throw DiagnosticError(d);
  };
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) error("file not found");
  if (std::filesystem::is_directory(status)) error("is a directory, expected a file");
  // A FIFO would block until a writer appears and a device such as /dev/zero never ends.
  if (!std::filesystem::is_regular_file(status))
    error("is not a regular file (a device, FIFO or socket)", "save the input to a file and pass its path");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) error("cannot be read");
  if (size > kMaxInputBytes) {
    error(fmt::format("is {} bytes, more than the {} bytes an input may have", size, kMaxInputBytes),
          "split the input (see docs/limits.md)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) error("cannot be read");
  std::string text;
  text.resize(static_cast<size_t>(size));
  in.read(text.data(), static_cast<std::streamsize>(size));
  // A file that grew since the size was taken is read up to the limit and no further.
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.gcount() == static_cast<std::streamsize>(size) && in.peek() != std::char_traits<char>::eof())
    error(fmt::format("grew while being read (more than {} bytes)", size));
  return text;
}

std::vector<std::filesystem::path> files_with_extension(const std::filesystem::path& dir, const std::string& extension) {
  std::vector<std::filesystem::path> paths;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return paths;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == extension) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  return paths;
}

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

bool is_calendar_date(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (const size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
    if (s[i] < '0' || s[i] > '9') return false;
  const int y = std::stoi(s.substr(0, 4)), m = std::stoi(s.substr(5, 2)), d = std::stoi(s.substr(8, 2));
  return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  // Atomic: the text goes to a temporary file beside the target, which is renamed over it only
  // once complete, so a failed run leaves neither a partial file nor a damaged existing one.
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  auto tmp = path;
  tmp += fmt::format(".tmp-{}", static_cast<long>(::getpid()));
  auto fail_write = [&](const std::string& why) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    Diagnostic d;
    d.file = path.string();
    d.message = why;
    throw DiagnosticError(d);
  };
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail_write("cannot be written");
    out << text;
    out.flush();
    if (!out) fail_write("cannot be written (disk full?)");
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail_write("cannot be written: " + ec.message());
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
