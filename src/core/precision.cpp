#include "core/precision.hpp"

#include <array>
#include <fmt/format.h>

#include "core/diagnostic.hpp"

namespace tf {
namespace {

constexpr std::array<PrecisionInfo, 8> kPrecisions{{
    {Precision::fp32, "fp32", 4.0, ComputeClass::fp32, "IEEE 754 binary32"},
    {Precision::bf16, "bf16", 2.0, ComputeClass::bf16, "bfloat16, 16 bits"},
    {Precision::fp16, "fp16", 2.0, ComputeClass::fp16, "IEEE 754 binary16"},
    {Precision::fp8, "fp8", 1.0, ComputeClass::fp8,
     "OCP FP8 E4M3/E5M2, 8 bits; per-tensor or 128x128-block scales are negligible"},
    {Precision::int8, "int8", 1.0, ComputeClass::int8, "8-bit integer, per-channel scales negligible"},
    {Precision::nvfp4, "nvfp4", 0.5625, ComputeClass::fp4,
     "NVIDIA NVFP4: 4-bit E2M1 values + one FP8 E4M3 scale per 16 values = 4.5 bits"},
    {Precision::mxfp4, "mxfp4", 0.53125, ComputeClass::fp4,
     "OCP Microscaling MXFP4: 4-bit E2M1 values + one E8M0 scale per 32 values = 4.25 bits"},
    {Precision::int4, "int4", 0.515625, ComputeClass::int4,
     "4-bit integer weights with one fp16 scale per group of 128 (AWQ/GPTQ convention) = 4.125 bits"},
}};

constexpr std::array<std::string_view, 7> kComputeNames{"fp32", "bf16", "fp16", "fp8", "int8", "fp4", "int4"};

}  // namespace

const PrecisionInfo& info(Precision p) { return kPrecisions[static_cast<size_t>(p)]; }
std::string_view to_string(Precision p) { return info(p).name; }
std::string_view to_string(ComputeClass c) { return kComputeNames[static_cast<size_t>(c)]; }

std::optional<Precision> precision_from_string(std::string_view s) {
  for (const auto& p : kPrecisions)
    if (p.name == s) return p.precision;
  return std::nullopt;
}

std::optional<ComputeClass> compute_class_from_string(std::string_view s) {
  for (size_t i = 0; i < kComputeNames.size(); ++i)
    if (kComputeNames[i] == s) return static_cast<ComputeClass>(i);
  return std::nullopt;
}

std::vector<std::string> precision_names() {
  std::vector<std::string> out;
  for (const auto& p : kPrecisions) out.emplace_back(p.name);
  return out;
}

std::vector<std::string> compute_class_names() {
  return {kComputeNames.begin(), kComputeNames.end()};
}

Precision parse_precision(std::string_view s) {
  if (auto p = precision_from_string(s)) return *p;
  fail(fmt::format("unknown precision '{}'", s), "valid: " + join(precision_names()));
}

}  // namespace tf
