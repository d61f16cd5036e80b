#pragma once
// A stable content hash for provenance (which input file a result was fitted or checked
// against): 64-bit FNV-1a, written as 16 hex digits.
#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace tf {

inline uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// "639e798e99da8a2e"
inline std::string fnv1a64_hex(std::string_view s) { return fmt::format("{:016x}", fnv1a64(s)); }

}  // namespace tf
