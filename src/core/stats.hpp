#pragma once
// Order statistics shared by the simulator's latency distributions and validate's error tables.
#include <vector>

namespace tf {

// Percentile with linear interpolation between closest ranks (q in [0, 1]) of an ascending list;
// 0 for an empty list.
double percentile_sorted(const std::vector<double>& sorted, double q);
// The same of an unsorted list (sorted here).
double percentile(std::vector<double> v, double q);

}  // namespace tf
