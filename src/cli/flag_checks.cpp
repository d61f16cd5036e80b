#include "cli/flag_checks.hpp"

#include <fmt/format.h>

#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace tf::cli {

namespace {
constexpr double kMaxTokens = 100e6;      // tokens in one request (the longest contexts are 10M)
constexpr double kMaxParallel = 1 << 20;  // one parallel degree; TP x PP x DP is checked again (deployment_options)
constexpr double kMaxRequests = 10e6;     // simulated requests (about 1 GB of request state)
constexpr double kMaxClients = 1e6;       // simulated closed-loop clients (10 requests each by default)
constexpr double kMaxThreads = 1024;
constexpr double kInt64Max = 9223372036854775807.0;
}  // namespace

const std::vector<FlagBounds>& flag_bounds() {
  static const std::vector<FlagBounds> bounds{
      {nullptr, "--isl", 1, kMaxTokens},          {nullptr, "--osl", 1, kMaxTokens},
      {nullptr, "--tp", 1, kMaxParallel},         {nullptr, "--pp", 1, kMaxParallel},
      {nullptr, "--ep", 1, kMaxParallel},         {nullptr, "--dp", 1, kMaxParallel},
      {nullptr, "--chips", 1, kMaxParallel},      {nullptr, "--max-chips", 0, kMaxParallel},
      {nullptr, "--threads", 0, kMaxThreads},     {nullptr, "--step-tokens", 1, kMaxTokens},
      {nullptr, "--max-running", 1, kMaxClients}, {"simulate", "--requests", 1, kMaxRequests},
      {nullptr, "--concurrency", 1, kMaxClients}, {nullptr, "--rate", 0, 1e9, true},
      {nullptr, "--length-spread", 0, 0.999999}, {"simulate", "--streams", 1, 1024},
      {"simulate", "--prefix-zipf", 0, 10},
  };
  return bounds;
}

std::string check_flag_value(const std::string& value, const std::string& type_name, const FlagBounds* bounds) {
  const bool is_int = type_name == "INT", is_uint = type_name == "UINT", is_float = type_name == "FLOAT";
  if (!is_int && !is_uint && !is_float) {
    if (type_name == "TEXT" && value.empty()) return "must not be empty (leave the flag out for the default)";
    return {};
  }
  const char* b = value.data();
  const char* e = value.data() + value.size();
  if (b != e && *b == '+') ++b;
  double v = 0;
  if (is_float) {
    auto [p, ec] = std::from_chars(b, e, v, std::chars_format::general);
    if (ec == std::errc::result_out_of_range) return fmt::format("{} is out of the range of a number", value);
    if (ec != std::errc() || p != e) return fmt::format("expected a number, got '{}'", value);
    if (!std::isfinite(v)) return fmt::format("must be a finite number, got {}", value);
    if (v != 0 && std::fabs(v) < DBL_MIN) return fmt::format("{} is too small to compute with (denormal)", value);
  } else {
    // Decimal digits only: CLI11 reads 010 as octal and 0x10 as hex, and wraps -1 for unsigned.
    const char* d = b;
    if (d != e && *d == '-') ++d;
    if (d == e || std::strspn(d, "0123456789") != static_cast<size_t>(e - d))
      return fmt::format("expected a whole number, got '{}'", value);
    if (*b == '-' && is_uint) return fmt::format("must be >= 0, got {}", value);
    if (is_uint) {
      std::uint64_t u = 0;
      auto [p, ec] = std::from_chars(b, e, u);
      if (ec != std::errc() || p != e) return fmt::format("{} is too large (at most {})", value, UINT64_MAX);
      v = static_cast<double>(u);
    } else {
      long long s = 0;
      auto [p, ec] = std::from_chars(b, e, s);
      if (ec != std::errc() || p != e) return fmt::format("{} is out of range ({} to {})", value, INT64_MIN, INT64_MAX);
      v = static_cast<double>(s);
    }
    if (e - d > 1 && *d == '0')
      return fmt::format("write '{}' without leading zeros (it would be read as octal)", value);
  }
  auto show = [](double x) {
    return x == std::floor(x) && std::fabs(x) < 1e15 ? fmt::format("{:.0f}", x) : fmt::format("{:g}", x);
  };
  const double lo = bounds ? bounds->min : 0;
  const double hi = bounds ? bounds->max : (is_float ? DBL_MAX : kInt64Max * 2);
  if (bounds && bounds->min_exclusive ? !(v > lo) : !(v >= lo))
    return fmt::format("must be {} {}, got {}", bounds && bounds->min_exclusive ? ">" : ">=", show(lo), value);
  if (bounds && v > hi) return fmt::format("must be <= {}, got {} (see docs/limits.md)", show(hi), value);
  return {};
}

namespace {
const FlagBounds* bounds_for(const std::string& command, const std::string& flag) {
  const FlagBounds* generic = nullptr;
  for (const auto& b : flag_bounds()) {
    if (flag != b.flag) continue;
    if (b.command && command == b.command) return &b;
    if (!b.command && !generic) generic = &b;
  }
  return generic;
}

void attach(CLI::App& app, const std::string& command) {
  for (CLI::Option* opt : app.get_options([](CLI::Option*) { return true; })) {  // positional ones too
    const std::string type = opt->get_type_name();
    if (type.empty() || opt->get_expected_max() == 0) continue;  // a flag without a value
    const std::string name = opt->get_lnames().empty() ? opt->get_name() : "--" + opt->get_lnames().front();
    const FlagBounds* b = bounds_for(command, name);
    opt->check(CLI::Validator([type, b](std::string& value) { return check_flag_value(value, type, b); }, "",
                              "tf-flag-check"));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    // Option groups have no name and belong to their parent command.
    attach(*sub, sub->get_name().empty() ? command : sub->get_name());
  }
}
}  // namespace

void check_every_flag(CLI::App& app) {
  attach(app, app.get_name());
}

}  // namespace tf::cli
