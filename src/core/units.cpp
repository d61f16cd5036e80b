#include "core/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <fmt/format.h>
#include <utility>

#include "core/diagnostic.hpp"

namespace tf {
namespace {

struct UnitDef {
  const char* name;
  Dimension dim;
  double scale;  // multiply to get SI
};

// Every accepted unit spelling. Matching is exact (case-sensitive: "Gb/s" is bits, "GB/s" bytes).
constexpr UnitDef kUnits[] = {
    {"B", Dimension::bytes, 1.0},
    {"KB", Dimension::bytes, 1e3},
    {"kB", Dimension::bytes, 1e3},
    {"MB", Dimension::bytes, 1e6},
    {"GB", Dimension::bytes, 1e9},
    {"TB", Dimension::bytes, 1e12},
    {"PB", Dimension::bytes, 1e15},
    {"KiB", Dimension::bytes, 1024.0},
    {"MiB", Dimension::bytes, 1048576.0},
    {"GiB", Dimension::bytes, 1073741824.0},
    {"TiB", Dimension::bytes, 1099511627776.0},
    {"B/s", Dimension::bytes_per_s, 1.0},
    {"KB/s", Dimension::bytes_per_s, 1e3},
    {"MB/s", Dimension::bytes_per_s, 1e6},
    {"GB/s", Dimension::bytes_per_s, 1e9},
    {"TB/s", Dimension::bytes_per_s, 1e12},
    {"PB/s", Dimension::bytes_per_s, 1e15},
    {"GiB/s", Dimension::bytes_per_s, 1073741824.0},
    {"TiB/s", Dimension::bytes_per_s, 1099511627776.0},
    {"b/s", Dimension::bytes_per_s, 1.0 / 8},
    {"Kb/s", Dimension::bytes_per_s, 1e3 / 8},
    {"Mb/s", Dimension::bytes_per_s, 1e6 / 8},
    {"Gb/s", Dimension::bytes_per_s, 1e9 / 8},
    {"Tb/s", Dimension::bytes_per_s, 1e12 / 8},
    {"Pb/s", Dimension::bytes_per_s, 1e15 / 8},
    {"FLOP/s", Dimension::flop_per_s, 1.0},
    {"GFLOP/s", Dimension::flop_per_s, 1e9},
    {"TFLOP/s", Dimension::flop_per_s, 1e12},
    {"PFLOP/s", Dimension::flop_per_s, 1e15},
    {"EFLOP/s", Dimension::flop_per_s, 1e18},
    {"OP/s", Dimension::op_per_s, 1.0},
    {"GOP/s", Dimension::op_per_s, 1e9},
    {"TOP/s", Dimension::op_per_s, 1e12},
    {"POP/s", Dimension::op_per_s, 1e15},
    {"W", Dimension::watts, 1.0},
    {"kW", Dimension::watts, 1e3},
    {"MW", Dimension::watts, 1e6},
    {"ns", Dimension::seconds, 1e-9},
    {"us", Dimension::seconds, 1e-6},
    {"ms", Dimension::seconds, 1e-3},
    {"s", Dimension::seconds, 1.0},
    {"h", Dimension::seconds, 3600.0},
    {"USD", Dimension::usd, 1.0},
    {"kUSD", Dimension::usd, 1e3},
    {"MUSD", Dimension::usd, 1e6},
    {"USD/h", Dimension::usd_per_hour, 1.0},
    {"USD/kWh", Dimension::usd_per_kwh, 1.0},
    {"USD/MWh", Dimension::usd_per_kwh, 1e-3},
    {"USD/kW-month", Dimension::usd_per_kw_month, 1.0},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view to_string(Dimension d) {
  switch (d) {
    case Dimension::bytes: return "bytes";
    case Dimension::bytes_per_s: return "bytes per second";
    case Dimension::flop_per_s: return "FLOP per second";
    case Dimension::op_per_s: return "operations per second";
    case Dimension::watts: return "power";
    case Dimension::seconds: return "time";
    case Dimension::usd: return "US dollars";
    case Dimension::usd_per_hour: return "US dollars per hour";
    case Dimension::usd_per_kwh: return "US dollars per kWh";
    case Dimension::usd_per_kw_month: return "US dollars per kW-month";
  }
  return "?";
}

std::vector<std::string> units_for(Dimension d) {
  std::vector<std::string> out;
  for (const auto& u : kUnits)
    if (u.dim == d) out.emplace_back(u.name);
  return out;
}

double parse_quantity(std::string_view text, Dimension expected) {
  const std::string_view s = trim(text);
  const std::string valid = "valid units for " + std::string(to_string(expected)) + ": " +
                            join(units_for(expected));
  double number = 0;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  if (ec != std::errc() || ptr == begin) {
    fail(fmt::format("'{}' is not a quantity: expected '<number> <unit>'", text), valid);
  }
  if (!std::isfinite(number)) fail(fmt::format("'{}' is not a finite number", text));
  const std::string_view unit = trim(std::string_view(ptr, static_cast<size_t>(end - ptr)));
  if (unit.empty()) {
    fail(fmt::format("'{}' has no unit", text), valid);
  }
  for (const auto& u : kUnits) {
    if (unit == u.name) {
      if (u.dim != expected) {
        fail(fmt::format("'{}' is {}, expected {}", text, to_string(u.dim), to_string(expected)),
             valid);
      }
      if (number < 0) fail(fmt::format("'{}' is negative", text), "quantities must be >= 0");
      // In SI units the value must stay a normal double: 1e-320 TB/s or 1e300 PB would compute
      // as denormals or infinities (docs/limits.md).
      const double si = number * u.scale;
      if (!std::isfinite(si)) fail(fmt::format("'{}' is too large", text));
      if (si != 0 && si < std::numeric_limits<double>::min()) fail(fmt::format("'{}' is too small to compute with", text));
      return si;
    }
  }
  fail(fmt::format("unknown unit '{}' in '{}'", unit, text), valid);
}

std::string format_quantity(double v, Dimension d, int significant) {
  struct Step {
    double scale;
    const char* unit;
  };
  auto pick = [&](std::initializer_list<Step> steps) {
    const Step* best = steps.begin();
    for (const auto& st : steps)
      if (std::fabs(v) >= st.scale) best = &st;
    return fmt::format("{:.{}g} {}", v / best->scale, significant, best->unit);
  };
  switch (d) {
    case Dimension::bytes: return pick({{1, "B"}, {1e3, "KB"}, {1e6, "MB"}, {1e9, "GB"}, {1e12, "TB"}, {1e15, "PB"}});
    case Dimension::bytes_per_s:
      return pick({{1, "B/s"}, {1e6, "MB/s"}, {1e9, "GB/s"}, {1e12, "TB/s"}, {1e15, "PB/s"}});
    case Dimension::flop_per_s:
      return pick({{1, "FLOP/s"}, {1e9, "GFLOP/s"}, {1e12, "TFLOP/s"}, {1e15, "PFLOP/s"}});
    case Dimension::op_per_s: return pick({{1, "OP/s"}, {1e9, "GOP/s"}, {1e12, "TOP/s"}, {1e15, "POP/s"}});
    case Dimension::watts: return pick({{1, "W"}, {1e3, "kW"}, {1e6, "MW"}});
    case Dimension::seconds: return pick({{1e-9, "ns"}, {1e-6, "us"}, {1e-3, "ms"}, {1, "s"}});
    case Dimension::usd: return fmt::format("{:.{}g} USD", v, significant);
    case Dimension::usd_per_hour: return fmt::format("{:.{}g} USD/h", v, significant);
    case Dimension::usd_per_kwh: return fmt::format("{:.{}g} USD/kWh", v, significant);
    case Dimension::usd_per_kw_month: return fmt::format("{:.{}g} USD/kW-month", v, significant);
  }
  return fmt::format("{}", v);
}

}  // namespace tf
