#include "io/trace.hpp"

#include <algorithm>
#include <charconv>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/diagnostic.hpp"
#include "io/csv.hpp"
#include "io/text.hpp"

namespace tf::io {
namespace {

template <typename T>
T number(const std::string& s, const std::string& file, int line, const std::string& key) {
  T v{};
  const char* b = s.data();
  const char* e = s.data() + s.size();
  while (b < e && *b == ' ') ++b;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e) fail_at(file, line, key, fmt::format("'{}' is not a number", s));
  if (v < 0) fail_at(file, line, key, fmt::format("{} is negative", s));
  return v;
}

// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

// "YYYY-MM-DD HH:MM:SS[.fffffff][+HH:MM]" -> seconds since the epoch (UTC when an offset is given).
double parse_timestamp(const std::string& s, const std::string& file, int line) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  double sec = 0;
  char tail[16] = {0};
  const int n = std::sscanf(s.c_str(), "%d-%d-%d %d:%d:%lf%15s", &y, &mo, &d, &h, &mi, &sec, tail);
  if (n < 6 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec >= 61) {
    fail_at(file, line, "TIMESTAMP", fmt::format("'{}' is not a timestamp", s), "expected YYYY-MM-DD HH:MM:SS[.f][+HH:MM]");
  }
  double offset = 0;
  if (n == 7) {
    int oh = 0, om = 0;
    char sign = 0;
    if (std::sscanf(tail, "%c%d:%d", &sign, &oh, &om) != 3 || (sign != '+' && sign != '-')) {
      fail_at(file, line, "TIMESTAMP", fmt::format("unreadable UTC offset in '{}'", s));
    }
    offset = (sign == '+' ? 1 : -1) * (oh * 3600.0 + om * 60.0);
  }
  return static_cast<double>(days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d))) * 86400 +
         h * 3600.0 + mi * 60.0 + sec - offset;
}

Trace load_csv_trace(const std::string& text, const std::string& file) {
  const auto rows = parse_csv(text, file);
  if (rows.empty()) fail_at(file, 1, "", "empty file: expected a header row");
  const auto& header = rows.front().fields;
  auto col = [&](const char* name) -> long {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<long>(it - header.begin());
  };
  struct Layout {
    const char* format;
    const char* time;
    const char* in;
    const char* out;
  };
  const Layout layouts[] = {{"azure", "TIMESTAMP", "ContextTokens", "GeneratedTokens"},
                            {"burstgpt", "Timestamp", "Request tokens", "Response tokens"},
                            {"vidur", "arrived_at", "num_prefill_tokens", "num_decode_tokens"}};
  const Layout* layout = nullptr;
  for (const auto& l : layouts)
    if (col(l.time) >= 0 && col(l.in) >= 0 && col(l.out) >= 0) layout = &l;
  if (!layout) {
    fail_at(file, rows.front().line, "", "unrecognised trace header",
            "expected Azure (TIMESTAMP,ContextTokens,GeneratedTokens), BurstGPT (Timestamp,...,Request tokens,"
            "Response tokens,...) or vidur (arrived_at,num_prefill_tokens,num_decode_tokens) columns");
  }
  Trace t;
  t.file = file;
  t.format = layout->format;
  const auto ct = static_cast<size_t>(col(layout->time));
  const auto ci = static_cast<size_t>(col(layout->in));
  const auto co = static_cast<size_t>(col(layout->out));
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r].fields;
    const int line = rows[r].line;
    if (f.size() != header.size()) {
      fail_at(file, line, "", fmt::format("{} fields, the header has {}", f.size(), header.size()));
    }
    TraceRequest q;
    q.arrival_s = t.format == "azure" ? parse_timestamp(f[ct], file, line) : number<double>(f[ct], file, line, layout->time);
    q.input_tokens = number<long long>(f[ci], file, line, layout->in);
    q.output_tokens = number<long long>(f[co], file, line, layout->out);
    if (t.format == "burstgpt" && q.output_tokens == 0) {
      ++t.skipped;
      continue;
    }
    t.requests.push_back(std::move(q));
  }
  return t;
}

Trace load_jsonl_trace(const std::string& text, const std::string& file) {
  Trace t;
  t.file = file;
  t.format = "mooncake";
  size_t start = 0;
  int line = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line;
    const std::string row = text.substr(start, end - start);
    start = end + 1;
    if (row.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(row);
    } catch (const nlohmann::json::parse_error& e) {
      fail_at(file, line, "", fmt::format("malformed JSON: {}", e.what()));
    }
    auto need = [&](const char* key) -> const nlohmann::json& {
      if (!j.is_object() || !j.contains(key)) fail_at(file, line, key, "missing key", "each line needs timestamp, input_length, output_length");
      const auto& v = j.at(key);
      if (!v.is_number() || v.get<double>() < 0) fail_at(file, line, key, fmt::format("expected a number >= 0, got {}", v.dump()));
      return v;
    };
    TraceRequest q;
    q.arrival_s = need("timestamp").get<double>() / 1000.0;  // milliseconds
    q.input_tokens = need("input_length").get<long long>();
    q.output_tokens = need("output_length").get<long long>();
    if (j.contains("hash_ids")) {
      const auto& h = j.at("hash_ids");
      if (!h.is_array()) fail_at(file, line, "hash_ids", "expected a list of block ids");
      for (const auto& v : h) {
        if (!v.is_number_unsigned()) fail_at(file, line, "hash_ids", fmt::format("{} is not a block id", v.dump()));
        q.block_hashes.push_back(v.get<std::uint32_t>());
      }
    }
    t.requests.push_back(std::move(q));
  }
  return t;
}

}  // namespace

double Trace::duration_s() const { return requests.empty() ? 0 : requests.back().arrival_s - requests.front().arrival_s; }

double Trace::mean_input_tokens() const {
  double s = 0;
  for (const auto& r : requests) s += static_cast<double>(r.input_tokens);
  return requests.empty() ? 0 : s / static_cast<double>(requests.size());
}

double Trace::mean_output_tokens() const {
  double s = 0;
  for (const auto& r : requests) s += static_cast<double>(r.output_tokens);
  return requests.empty() ? 0 : s / static_cast<double>(requests.size());
}

double Trace::request_rate() const {
  const double d = duration_s();
  return d > 0 ? static_cast<double>(requests.size()) / d : static_cast<double>(requests.size());
}

Trace load_trace(const std::filesystem::path& path) {
  const auto text = read_text_file(path);
  const auto ext = path.extension().string();
  Trace t = ext == ".jsonl" || ext == ".json" ? load_jsonl_trace(text, path.string()) : load_csv_trace(text, path.string());
  if (t.requests.empty()) fail_at(path.string(), 0, "", "the trace has no requests");
  std::stable_sort(t.requests.begin(), t.requests.end(),
                   [](const TraceRequest& a, const TraceRequest& b) { return a.arrival_s < b.arrival_s; });
  const double t0 = t.requests.front().arrival_s;
  for (auto& r : t.requests) r.arrival_s -= t0;
  return t;
}

}  // namespace tf::io
