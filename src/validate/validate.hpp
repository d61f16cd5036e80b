#pragma once
// Measured reality: predicting public measured results and fitting efficiencies to them.
// (Stub: filled in by the validate/calibrate work.)

namespace tf::validate {}  // namespace tf::validate
