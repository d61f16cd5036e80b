#include "io/trace.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/diagnostic.hpp"
#include "io/csv.hpp"
#include "io/json_reader.hpp"
#include "io/text.hpp"

namespace tf::io {
namespace {

// Tokens one request may have (2^31 - 1): larger counts are refused rather than carried into
// sizes and sums (see docs/limits.md).
constexpr long long kMaxRequestTokens = 2147483647LL;
// Requests one trace may hold (2^25, about 1.6 GB of requests in memory; docs/limits.md).
constexpr size_t kMaxTraceRequests = size_t{1} << 25;

void add_request(Trace& t, TraceRequest&& q, int line) {
  if (t.requests.size() >= kMaxTraceRequests) {
    fail_at(t.file, line, "", fmt::format("more than {} requests", kMaxTraceRequests),
            "take a slice of the trace (see docs/limits.md)");
  }
  t.requests.push_back(std::move(q));
}

double arrival_number(const std::string& s, const std::string& file, int line, const std::string& key) {
  double v = 0;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  while (b < e && *b == ' ') ++b;
  auto [p, ec] = std::from_chars(b, e, v, std::chars_format::general);
  if (ec != std::errc() || p != e || b == e) fail_at(file, line, key, fmt::format("'{}' is not a number", s));
  if (!std::isfinite(v)) fail_at(file, line, key, fmt::format("'{}' is not a finite number", s));
  if (v < 0) fail_at(file, line, key, fmt::format("{} is negative", s));
  return v;
}

long long token_count(const std::string& s, const std::string& file, int line, const std::string& key) {
  long long v = 0;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  while (b < e && *b == ' ') ++b;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec == std::errc::result_out_of_range) {
    fail_at(file, line, key, fmt::format("'{}' is too large", s), fmt::format("at most {} tokens", kMaxRequestTokens));
  }
  if (ec != std::errc() || p != e) fail_at(file, line, key, fmt::format("'{}' is not a number (a whole number of tokens)", s));
  if (v < 0) fail_at(file, line, key, fmt::format("{} is negative", s));
  if (v > kMaxRequestTokens) {
    fail_at(file, line, key, fmt::format("{} is too large", s), fmt::format("at most {} tokens", kMaxRequestTokens));
  }
  return v;
}

// A request the simulator can run: a prompt of at least one token and at least one token to
// generate (BurstGPT's failed requests, with no response, are skipped before this).
void check_lengths(const TraceRequest& q, const std::string& file, int line, const std::string& in,
                   const std::string& out) {
  if (q.input_tokens < 1) fail_at(file, line, in, "0 tokens: a request needs a prompt of at least 1 token");
  if (q.output_tokens < 1) fail_at(file, line, out, "0 tokens: a request generates at least 1 token");
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
// Hand-scanned with bounded field widths; an impossible date or time (Feb 30, 25:00) is an error.
double parse_timestamp(const std::string& s, const std::string& file, int line) {
  auto bad = [&](const std::string& why) {
    fail_at(file, line, "TIMESTAMP", fmt::format("'{}' is not a timestamp: {}", s, why),
            "expected YYYY-MM-DD HH:MM:SS[.f][+HH:MM]");
  };
  size_t i = 0;
  const size_t n = s.size();
  while (i < n && s[i] == ' ') ++i;
  auto integer = [&](int max_digits, const char* what) {
    int v = 0, digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && digits < max_digits) {
      v = v * 10 + (s[i++] - '0');
      ++digits;
    }
    if (digits == 0) bad(fmt::format("no {}", what));
    if (i < n && s[i] >= '0' && s[i] <= '9') bad(fmt::format("the {} has too many digits", what));
    return v;
  };
  auto expect = [&](char c, const char* what) {
    if (i >= n || s[i] != c) bad(fmt::format("expected '{}' {}", c, what));
    ++i;
  };
  const int y = integer(4, "year");
  expect('-', "after the year");
  const int mo = integer(2, "month");
  expect('-', "after the month");
  const int d = integer(2, "day");
  if (i >= n || (s[i] != ' ' && s[i] != 'T')) bad("expected a space between the date and the time");
  while (i < n && (s[i] == ' ' || s[i] == 'T')) ++i;
  const int h = integer(2, "hour");
  expect(':', "after the hour");
  const int mi = integer(2, "minute");
  expect(':', "after the minute");
  const size_t sec_begin = i;
  const int whole_sec = integer(2, "second");
  if (i < n && s[i] == '.') {
    ++i;
    const size_t digits_begin = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == digits_begin) bad("no digits after the decimal point");
  }
  double sec = 0;  // the seconds as written, correctly rounded
  std::from_chars(s.data() + sec_begin, s.data() + i, sec);
  if (mo < 1 || mo > 12) bad("month out of range");
  if (d < 1 || d > days_in_month(y, mo)) bad("no such day in that month");
  if (h > 23 || mi > 59 || whole_sec > 60) bad("time of day out of range");
  double offset = 0;
  while (i < n && s[i] == ' ') ++i;
  if (i < n) {
    const char sign = s[i];
    if (sign != '+' && sign != '-') bad("unreadable text after the time");
    ++i;
    const int oh = integer(2, "offset hours");
    expect(':', "in the UTC offset");
    const int om = integer(2, "offset minutes");
    if (oh > 14 || om > 59) bad("UTC offset out of range");
    offset = (sign == '+' ? 1 : -1) * (oh * 3600.0 + om * 60.0);
    while (i < n && s[i] == ' ') ++i;
    if (i < n) bad("unreadable text after the UTC offset");
  }
  return static_cast<double>(days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d))) * 86400 +
         h * 3600.0 + mi * 60.0 + sec - offset;
}

Trace load_csv_trace(const std::string& text, const std::string& file) {
  struct Layout {
    const char* format;
    const char* time;
    const char* in;
    const char* out;
  };
  static const Layout layouts[] = {{"azure", "TIMESTAMP", "ContextTokens", "GeneratedTokens"},
                                   {"burstgpt", "Timestamp", "Request tokens", "Response tokens"},
                                   {"vidur", "arrived_at", "num_prefill_tokens", "num_decode_tokens"}};
  Trace t;
  t.file = file;
  const Layout* layout = nullptr;
  size_t fields = 0, ct = 0, ci = 0, co = 0;
  bool azure = false, burstgpt = false;
  // Records are read one at a time: the memory is the text plus the requests (docs/limits.md).
  for_each_csv_record(text, file, [&](CsvRecord& rec) {
    const auto& f = rec.fields;
    const int line = rec.line;
    if (!layout) {  // the header
      auto col = [&](const char* name) -> long {
        auto it = std::find(f.begin(), f.end(), name);
        return it == f.end() ? -1 : static_cast<long>(it - f.begin());
      };
      for (const auto& l : layouts)
        if (col(l.time) >= 0 && col(l.in) >= 0 && col(l.out) >= 0) layout = &l;
      if (!layout) {
        fail_at(file, line, "", "unrecognised trace header",
                "expected Azure (TIMESTAMP,ContextTokens,GeneratedTokens), BurstGPT (Timestamp,...,Request tokens,"
                "Response tokens,...) or vidur (arrived_at,num_prefill_tokens,num_decode_tokens) columns");
      }
      t.format = layout->format;
      azure = t.format == "azure";
      burstgpt = t.format == "burstgpt";
      fields = f.size();
      ct = static_cast<size_t>(col(layout->time));
      ci = static_cast<size_t>(col(layout->in));
      co = static_cast<size_t>(col(layout->out));
      return true;
    }
    if (f.size() != fields) fail_at(file, line, "", fmt::format("{} fields, the header has {}", f.size(), fields));
    TraceRequest q;
    q.arrival_s = azure ? parse_timestamp(f[ct], file, line) : arrival_number(f[ct], file, line, layout->time);
    q.input_tokens = token_count(f[ci], file, line, layout->in);
    q.output_tokens = token_count(f[co], file, line, layout->out);
    if (burstgpt && q.output_tokens == 0) {
      ++t.skipped;
      return true;
    }
    check_lengths(q, file, line, layout->in, layout->out);
    add_request(t, std::move(q), line);
    return true;
  });
  if (!layout) fail_at(file, 1, "", "empty file: expected a header row");
  return t;
}

Trace load_jsonl_trace(const std::string& text, const std::string& file) {
  Trace t;
  t.file = file;
  t.format = "mooncake";
  for_each_json_line(text, file, [&](const nlohmann::json& j, int line) {
    auto need = [&](const char* key) -> const nlohmann::json& {
      if (!j.contains(key)) fail_at(file, line, key, "missing key", "each line needs timestamp, input_length, output_length");
      const auto& v = j.at(key);
      if (!v.is_number() || v.get<double>() < 0)
        fail_at(file, line, key, fmt::format("expected a number >= 0, got {}", describe_json(v)));
      return v;
    };
    auto tokens = [&](const char* key) -> long long {
      const auto& v = need(key);
      const double d = v.get<double>();
      if (v.is_number_float() && std::floor(d) != d)
        fail_at(file, line, key, fmt::format("{} is not a whole number of tokens", describe_json(v)));
      if (d > static_cast<double>(kMaxRequestTokens) ||
          (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxRequestTokens))) {
        fail_at(file, line, key, fmt::format("{} is too large", describe_json(v)),
                fmt::format("at most {} tokens", kMaxRequestTokens));
      }
      return v.is_number_float() ? static_cast<long long>(d) : v.get<long long>();
    };
    TraceRequest q;
    q.arrival_s = need("timestamp").get<double>() / 1000.0;  // milliseconds
    q.input_tokens = tokens("input_length");
    q.output_tokens = tokens("output_length");
    check_lengths(q, file, line, "input_length", "output_length");
    if (j.contains("hash_ids")) {
      const auto& h = j.at("hash_ids");
      if (!h.is_array()) fail_at(file, line, "hash_ids", "expected a list of block ids");
      q.block_hashes.reserve(h.size());
      for (const auto& v : h) {
        if (!v.is_number_unsigned() || v.get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
          fail_at(file, line, "hash_ids", fmt::format("{} is not a block id (0 to 2^32 - 1)", describe_json(v)));
        q.block_hashes.push_back(static_cast<std::uint32_t>(v.get<std::uint64_t>()));
      }
    }
    add_request(t, std::move(q), line);
  });
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

Trace parse_trace(const std::string& text, const std::string& name) {
  const auto ext = std::filesystem::path(name).extension().string();
  Trace t = ext == ".jsonl" || ext == ".json" ? load_jsonl_trace(text, name) : load_csv_trace(text, name);
  if (t.requests.empty()) fail_at(name, 0, "", "the trace has no requests");
  std::stable_sort(t.requests.begin(), t.requests.end(),
                   [](const TraceRequest& a, const TraceRequest& b) { return a.arrival_s < b.arrival_s; });
  const double t0 = t.requests.front().arrival_s;
  for (auto& r : t.requests) r.arrival_s -= t0;
  return t;
}

Trace load_trace(const std::filesystem::path& path) { return parse_trace(read_text_file(path), path.string()); }

}  // namespace tf::io
