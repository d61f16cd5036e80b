#pragma once
// Numeric formats for weights, activations and KV cache, with their storage cost including
// block-scale overhead, and the tensor-core rate class that executes them.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tf {

enum class Precision { fp32, bf16, fp16, fp8, int8, nvfp4, mxfp4, int4 };

// The compute-rate key in a chip's `compute:` map that runs this format's math.
enum class ComputeClass { fp32, bf16, fp16, fp8, int8, fp4, int4 };

struct PrecisionInfo {
  Precision precision;
  std::string_view name;          // "bf16", "nvfp4", ...
  double bytes_per_element;       // storage incl. block scales
  ComputeClass compute_class;
  std::string_view source;        // where the storage figure comes from
};

const PrecisionInfo& info(Precision p);
std::string_view to_string(Precision p);
std::string_view to_string(ComputeClass c);
std::optional<Precision> precision_from_string(std::string_view s);
std::optional<ComputeClass> compute_class_from_string(std::string_view s);
std::vector<std::string> precision_names();
std::vector<std::string> compute_class_names();

// Throws DiagnosticError naming the valid formats.
Precision parse_precision(std::string_view s);

}  // namespace tf
