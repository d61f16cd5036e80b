#pragma once
// The calibrate-kernels document (`tokenfactory.kernels/1`): what was read, the kernel-level fits
// per family and per system (roofline fractions, floors, link latency and bandwidth, their
// quality), the shape tables, and the files written.
#include <string>
#include <vector>

#include "report/documents.hpp"
#include "validate/kernels.hpp"

namespace tf::report {

Json kernels_document(const validate::kernels::KernelCalibration& cal, const std::vector<std::string>& written);

}  // namespace tf::report
