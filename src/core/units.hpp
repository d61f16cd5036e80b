#pragma once
// Physical quantities parsed from unit strings ("3.35 TB/s", "80 GB", "989 TFLOP/s") into SI
// doubles. Decimal prefixes are powers of 1000 (GB = 1e9 bytes); binary prefixes (GiB) are
// powers of 1024. Bit rates (Gb/s) are converted to bytes/s. A unit-less or wrong-dimension
// string is a user error (DiagnosticError), never a silent default.
#include <string>
#include <string_view>
#include <vector>

namespace tf {

enum class Dimension {
  bytes,            // B
  bytes_per_s,      // B/s
  flop_per_s,       // FLOP/s (floating point)
  op_per_s,         // OP/s (integer formats)
  watts,            // W
  seconds,          // s
  usd,              // US dollars
  usd_per_hour,     // US dollars per hour
  usd_per_kwh,      // electricity price
  usd_per_kw_month, // colocation price per kW of critical power per month
};

std::string_view to_string(Dimension d);

// Units accepted for a dimension (for error hints), e.g. {"B","KB",...}.
std::vector<std::string> units_for(Dimension d);

// Parses "<number> <unit>" (space optional) into SI units of the expected dimension.
// Throws DiagnosticError naming the text and the valid units when it cannot.
double parse_quantity(std::string_view text, Dimension expected);

// Formats an SI value for people: 80e9 bytes -> "80 GB", 3.35e12 B/s -> "3.35 TB/s".
std::string format_quantity(double value_si, Dimension d, int significant = 3);

// Named constants for readability at call sites.
inline constexpr double kGB = 1e9;
inline constexpr double kGiB = 1073741824.0;
inline constexpr double kTB = 1e12;
inline constexpr double kTera = 1e12;

}  // namespace tf
