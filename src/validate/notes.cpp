#include "validate/notes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "core/diagnostic.hpp"

namespace tf::validate {
namespace {

constexpr size_t npos = std::string_view::npos;

// Character classes of std::regex in the "C" locale, on the note lowered byte by byte.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_word(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

// A cursor-based matcher over the lowered note. Every function takes a position and returns the
// position after what it matched, or npos; none of them looks back or retries, so a call costs
// the length of what it consumes plus a constant.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  [[nodiscard]] size_t size() const { return s_.size(); }
  [[nodiscard]] char at(size_t i) const { return i < s_.size() ? s_[i] : '\0'; }
  [[nodiscard]] std::string_view text(size_t b, size_t e) const { return s_.substr(b, e - b); }

  [[nodiscard]] size_t literal(size_t i, std::string_view word) const {
    if (i == npos || i > s_.size() || s_.size() - i < word.size() || s_.compare(i, word.size(), word) != 0) return npos;
    return i + word.size();
  }
  // Words joined by an optional separator: max·num·seqs. A word starts with a letter, never with
  // a separator, so taking the separator whenever it is there is the only way to match.
  [[nodiscard]] size_t words(size_t i, std::initializer_list<std::string_view> ws) const {
    bool first = true;
    for (auto w : ws) {
      if (i == npos) return npos;
      if (!first && (at(i) == ' ' || at(i) == '_' || at(i) == '-')) ++i;
      i = literal(i, w);
      first = false;
    }
    return i;
  }
  [[nodiscard]] size_t spaces(size_t i) const {  // \s*
    if (i == npos) return npos;
    while (i < s_.size() && is_space(s_[i])) ++i;
    return i;
  }
  [[nodiscard]] size_t spaces1(size_t i) const {  // \s+
    if (i == npos || !is_space(at(i))) return npos;
    return spaces(i);
  }
  [[nodiscard]] size_t digits(size_t i) const {  // \d+
    if (i == npos || !is_digit(at(i))) return npos;
    while (i < s_.size() && is_digit(s_[i])) ++i;
    return i;
  }
  [[nodiscard]] bool boundary(size_t i) const {  // \b
    const bool left = i > 0 && i <= s_.size() && is_word(s_[i - 1]);
    const bool right = i < s_.size() && is_word(s_[i]);
    return left != right;
  }
  // \s*[=:]?\s*  (the separator between a keyword and its value)
  [[nodiscard]] size_t assignment(size_t i) const {
    i = spaces(i);
    if (i != npos && (at(i) == '=' || at(i) == ':')) ++i;
    return spaces(i);
  }

 private:
  std::string_view s_;
};

struct Capture {
  size_t begin = npos, end = npos;  // the number
  size_t start = npos;              // where the whole match starts (for messages)
  [[nodiscard]] bool found() const { return begin != npos; }
};

// Ends of the cap keywords at i, in the order the alternation tries them.
std::vector<size_t> cap_keyword_ends(const Scanner& s, size_t i) {
  std::vector<size_t> ends;
  if (s.at(i) != 'm') return ends;
  if (auto e = s.words(i, {"max", "num", "seqs"}); e != npos) ends.push_back(e);
  if (auto e = s.words(i, {"max", "batch"}); e != npos) {
    if (auto with_size = s.words(e, {"", "size"}); with_size != npos) ends.push_back(with_size);  // (·size)? greedy
    ends.push_back(e);
  }
  if (auto e = s.words(i, {"max", "running", "requests"}); e != npos) ends.push_back(e);
  return ends;
}

std::vector<size_t> budget_keyword_ends(const Scanner& s, size_t i) {
  std::vector<size_t> ends;
  if (s.at(i) != 'm' && s.at(i) != 'c') return ends;
  if (auto e = s.words(i, {"max", "num", "batched", "tokens"}); e != npos) ends.push_back(e);
  if (auto e = s.words(i, {"max", "num", "tokens"}); e != npos) ends.push_back(e);
  if (auto e = s.words(i, {"chunked", "prefill", "size"}); e != npos) ends.push_back(e);
  return ends;
}

std::vector<size_t> memory_keyword_ends(const Scanner& s, size_t i) {
  std::vector<size_t> ends;
  if (s.at(i) != 'g' && s.at(i) != 'm' && s.at(i) != 'k') return ends;
  if (auto e = s.words(i, {"gpu", "memory", "utilization"}); e != npos) ends.push_back(e);
  if (auto e = s.words(i, {"mem", "fraction", "static"}); e != npos) ends.push_back(e);
  if (auto e = s.words(i, {"kv", "cache", "free", "gpu", "mem", "fraction"}); e != npos) ends.push_back(e);
  if (auto e = s.literal(i, "kv frac"); e != npos) ends.push_back(e);
  return ends;
}

// keyword \s*[=:]?\s* (\d+): the leftmost match.
template <typename Keywords>
Capture keyword_number(const Scanner& s, Keywords keywords) {
  for (size_t i = 0; i < s.size(); ++i) {
    for (size_t e : keywords(s, i)) {
      const size_t b = s.assignment(e);
      if (const size_t d = s.digits(b); d != npos) return {b, d, i};
    }
  }
  return {};
}

// (\d+)\s+(sharegpt\s+)?(reqs|requests|prompts)\b: the capture is always a whole run of digits
// (a match starting inside a run would also match from its first digit), so each run is tried once.
Capture request_count(const Scanner& s) {
  for (size_t i = 0; i < s.size();) {
    if (!is_digit(s.at(i))) {
      ++i;
      continue;
    }
    const size_t d = s.digits(i);
    size_t p = s.spaces1(d);
    if (p != npos) {
      if (const size_t sg = s.spaces1(s.literal(p, "sharegpt")); sg != npos) p = sg;  // (sharegpt\s+)? greedy;
      // without it the keyword would have to start at "sharegpt", which none does.
      for (std::string_view k : {"reqs", "requests", "prompts"}) {
        const size_t e = s.literal(p, k);
        if (e != npos && s.boundary(e)) return {i, d, i};
      }
    }
    i = d;
  }
  return {};
}

// u\[\s*([0-9.]+)\s*,\s*([0-9.]+)\s*\]
bool uniform(const Scanner& s, Capture& a, Capture& b) {
  auto run = [&](size_t i) {  // [0-9.]+
    if (i == npos || !(is_digit(s.at(i)) || s.at(i) == '.')) return npos;
    while (is_digit(s.at(i)) || s.at(i) == '.') ++i;
    return i;
  };
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s.at(i) != 'u' || s.at(i + 1) != '[') continue;
    const size_t a0 = s.spaces(i + 2), a1 = run(a0);
    if (a1 == npos) continue;
    size_t p = s.spaces(a1);
    if (s.at(p) != ',') continue;
    const size_t b0 = s.spaces(p + 1), b1 = run(b0);
    if (b1 == npos) continue;
    p = s.spaces(b1);
    if (s.at(p) != ']') continue;
    a = {a0, a1, i};
    b = {b0, b1, i};
    return true;
  }
  return false;
}

// \+-\s*(\d+(\.\d+)?)\s*%
Capture plus_minus(const Scanner& s) {
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s.at(i) != '+' || s.at(i + 1) != '-') continue;
    const size_t b = s.spaces(i + 2);
    size_t e = s.digits(b);
    if (e == npos) continue;
    if (s.at(e) == '.' && is_digit(s.at(e + 1))) e = s.digits(e + 1);  // (\.\d+)? greedy; without it '.' is not '%'
    const size_t p = s.spaces(e);
    if (s.at(p) == '%') return {b, e, i};
  }
  return {};
}

// \battn(ention)?\s+(bf16|fp16|fp8)\b
std::optional<std::string_view> attention_precision(const Scanner& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.at(i) != 'a' || !s.boundary(i)) continue;
    size_t e = s.literal(i, "attn");
    if (e == npos) continue;
    if (const size_t longer = s.literal(e, "ention"); longer != npos) e = longer;  // greedy; then \s+ decides
    const size_t p = s.spaces1(e);
    if (p == npos) continue;
    for (std::string_view k : {"bf16", "fp16", "fp8"}) {
      const size_t f = s.literal(p, k);
      if (f != npos && s.boundary(f)) return k;
    }
  }
  return std::nullopt;
}

// keyword \s*[=:]?\s* (0?\.\d{1,4}|1\.0{0,4})
Capture memory_fraction(const Scanner& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    for (size_t e : memory_keyword_ends(s, i)) {
      const size_t b = s.assignment(e);
      size_t p = b;
      if (s.at(p) == '0') ++p;  // 0? greedy: without it '.' would have to be the '0'
      if (s.at(p) == '.' && is_digit(s.at(p + 1))) {
        size_t q = p + 1;
        for (int k = 0; k < 4 && is_digit(s.at(q)); ++k) ++q;
        return {b, q, i};
      }
      if (s.at(b) == '1' && s.at(b + 1) == '.') {
        size_t q = b + 2;
        for (int k = 0; k < 4 && s.at(q) == '0'; ++k) ++q;
        return {b, q, i};
      }
    }
  }
  return {};
}

// <cap keyword>\s*[=:]?\s*\d+\s*(/\s*rank|per\s+rank), anywhere.
bool cap_per_rank(const Scanner& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    for (size_t e : cap_keyword_ends(s, i)) {
      const size_t d = s.digits(s.assignment(e));
      if (d == npos) continue;
      const size_t p = s.spaces(d);
      if (s.at(p) == '/' && s.literal(s.spaces(p + 1), "rank") != npos) return true;
      if (s.literal(s.spaces1(s.literal(p, "per")), "rank") != npos) return true;
    }
  }
  return false;
}

// The numbers of a disaggregated layout, as captures (converted by the caller).
struct PoolCaptures {
  Capture instances, tp, pp, ep;
  bool attention_dp = false;
};
struct LayoutCaptures {
  Capture prefill_chips, decode_chips;
  PoolCaptures prefill, decode;
};

// (\d+)\s*x\s*\(\s*tp(\d+)(\s+pp(\d+))?(\s+ep(\d+))?(\s+dpa=(true|false))?\s*\)
size_t pool_layout(const Scanner& s, size_t i, size_t start, PoolCaptures& out) {
  const size_t n = s.digits(i);
  if (n == npos) return npos;
  out.instances = {i, n, start};
  size_t p = s.spaces(n);
  if (s.at(p) != 'x') return npos;
  p = s.spaces(p + 1);
  if (s.at(p) != '(') return npos;
  p = s.spaces(p + 1);
  auto number_after = [&](size_t at, std::string_view key, Capture& c) {
    const size_t b = s.literal(at, key), e = s.digits(b);
    if (e == npos) return npos;
    c = {b, e, start};
    return e;
  };
  p = number_after(p, "tp", out.tp);
  if (p == npos) return npos;
  if (const size_t q = number_after(s.spaces1(p), "pp", out.pp); q != npos) p = q;
  if (const size_t q = number_after(s.spaces1(p), "ep", out.ep); q != npos) p = q;
  if (const size_t q = s.literal(s.spaces1(p), "dpa="); q != npos) {
    if (const size_t t = s.literal(q, "true"); t != npos) {
      out.attention_dp = true, p = t;
    } else if (const size_t f = s.literal(q, "false"); f != npos) {
      p = f;
    } else {
      return npos;
    }
  }
  p = s.spaces(p);
  return s.at(p) == ')' ? p + 1 : npos;
}

// pd-disagg\s+(\d+)p\s*\+\s*(\d+)d\b[^:]{0,16}:\s*p\s+<pool>\s*,\s*d\s+<pool>: the leftmost match.
bool disaggregated_layout(const Scanner& s, LayoutCaptures& out) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.at(i) != 'p') continue;
    const size_t p0 = s.spaces1(s.literal(i, "pd-disagg"));
    const size_t pc = s.digits(p0);
    if (pc == npos || s.at(pc) != 'p') continue;
    size_t p = s.spaces(pc + 1);
    if (s.at(p) != '+') continue;
    const size_t d0 = s.spaces(p + 1), dc = s.digits(d0);
    if (dc == npos || s.at(dc) != 'd' || !s.boundary(dc + 1)) continue;
    size_t colon = dc + 1;
    while (colon < s.size() && colon - dc < 17 && s.at(colon) != ':') ++colon;
    if (s.at(colon) != ':') continue;
    LayoutCaptures c;
    c.prefill_chips = {p0, pc, i};
    c.decode_chips = {d0, dc, i};
    p = s.spaces1(s.literal(s.spaces(colon + 1), "p"));
    if ((p = pool_layout(s, p, i, c.prefill)) == npos) continue;
    p = s.spaces(p);
    if (s.at(p) != ',') continue;
    p = s.spaces1(s.literal(s.spaces(p + 1), "d"));
    if (pool_layout(s, p, i, c.decode) == npos) continue;
    out = c;
    return true;
  }
  return false;
}

[[noreturn]] void refuse(const Scanner& s, const Capture& c, const std::string& why) {
  // Quote the phrase, cut so that a hostile note does not flood the message.
  const size_t end = std::min(c.end, c.start + 48);
  std::string phrase(s.text(c.start, end));
  if (end < c.end) phrase += "...";
  fail_at("", 0, "notes", fmt::format("'{}': {}", phrase, why),
          fmt::format("notes state counts up to {:.0f} and fractions as decimals", kMaxNoteCount));
}

// A count (\d+): the integer it states, at most kMaxNoteCount.
double count(const Scanner& s, const Capture& c) {
  size_t b = c.begin;
  while (b + 1 < c.end && s.at(b) == '0') ++b;  // leading zeros
  if (c.end - b > 15) refuse(s, c, fmt::format("a {}-digit number is more than {:.0f}", c.end - b, kMaxNoteCount));
  double v = 0;
  for (size_t i = b; i < c.end; ++i) v = v * 10 + (s.at(i) - '0');  // exact below 2^53
  if (v > kMaxNoteCount) refuse(s, c, fmt::format("{:.0f} is more than {:.0f}", v, kMaxNoteCount));
  return v;
}

// A decimal as std::stod reads it: the longest prefix digits[.digits] with a digit in it.
double decimal(const Scanner& s, const Capture& c) {
  size_t e = c.begin;
  bool any = false;
  while (e < c.end && is_digit(s.at(e))) ++e, any = true;
  if (e < c.end && s.at(e) == '.') {
    ++e;
    while (e < c.end && is_digit(s.at(e))) ++e, any = true;
  }
  if (!any) refuse(s, c, fmt::format("'{}' is not a number", s.text(c.begin, c.end)));
  const std::string_view t = s.text(c.begin, e);
  double v = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v, std::chars_format::fixed);
  bool nonzero = false;
  for (char ch : t) nonzero = nonzero || (ch >= '1' && ch <= '9');
  if (ec != std::errc() || p != t.data() + t.size() || !std::isfinite(v) || (nonzero && v < DBL_MIN))
    refuse(s, c, fmt::format("a {}-character number is outside the range of a double", t.size()));
  return v;
}

}  // namespace

EngineFacts parse_notes(const std::string& notes) {
  EngineFacts f;
  std::string lower = notes;
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  const Scanner s(lower);
  if (const auto c = keyword_number(s, cap_keyword_ends); c.found()) f.max_batch = count(s, c);
  if (const auto c = request_count(s); c.found()) f.requests = count(s, c);
  if (const auto c = keyword_number(s, budget_keyword_ends); c.found()) f.step_tokens = count(s, c);
  // Request lengths: U[a,b] x nominal (uniform between a and b times the nominal length), or +-p%.
  Capture ua, ub;
  if (uniform(s, ua, ub)) {
    const double a = decimal(s, ua), b = decimal(s, ub);
    if (a >= 0 && b > a) f.length_spread = (b - a) / (b + a);
  } else if (const auto c = plus_minus(s); c.found()) {
    f.length_spread = std::min(0.9, decimal(s, c) / 100);
  }
  // A checkpoint that keeps the attention projections in another precision ("attn BF16").
  if (const auto p = attention_precision(s)) f.attention_weights = parse_precision(*p);
  // Stated memory shares: vLLM --gpu-memory-utilization, SGLang --mem-fraction-static,
  // TensorRT-LLM kv_cache_free_gpu_mem_fraction ("KV frac 0.95").
  if (const auto c = memory_fraction(s); c.found()) f.memory_fraction = decimal(s, c);
  // A cap stated per rank ("max_batch_size 128/rank", "256 per rank").
  f.max_batch_per_rank = cap_per_rank(s);
  // The pools of a prefill/decode-disaggregated run ("PD-disagg 8P+16D GPUs: P 1x(tp8 ep8
  // dpa=false), D 2x(tp8 ep8 dpa=false)").
  if (LayoutCaptures c; disaggregated_layout(s, c)) {
    auto pool = [&](const Capture& chips, const PoolCaptures& pc) {
      PoolLayout l;
      l.chips = static_cast<int>(count(s, chips));
      l.instances = static_cast<int>(count(s, pc.instances));
      l.tp = static_cast<int>(count(s, pc.tp));
      if (pc.pp.found()) l.pp = static_cast<int>(count(s, pc.pp));
      if (pc.ep.found()) l.ep = static_cast<int>(count(s, pc.ep));
      l.attention_dp = pc.attention_dp;
      return l;
    };
    f.disaggregation = DisaggregatedLayout{pool(c.prefill_chips, c.prefill), pool(c.decode_chips, c.decode)};
  }
  // Kernels issued from the host: vLLM --enforce-eager, SGLang --disable-cuda-graph.
  for (std::string_view k : {"enforce-eager", "enforce_eager", "eager mode", "no cuda graphs", "no hip graphs",
                             "disable-cuda-graph", "disable_cuda_graph"})
    if (lower.find(k) != std::string::npos) f.launch = cost::Launch::eager;
  for (std::string_view k : {"experts tp-sharded", "experts tp sharded", "moe_tp=tp", "no real ep"})
    if (lower.find(k) != std::string::npos) f.experts_tp_sharded = true;
  return f;
}

}  // namespace tf::validate
