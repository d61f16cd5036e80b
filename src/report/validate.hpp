#pragma once
// The validate and calibrate documents' pieces (`tokenfactory.validate/1`,
// `tokenfactory.calibrate/1`): error statistics, summaries by group, and per-row predictions.
#include <vector>

#include "report/documents.hpp"
#include "validate/validate.hpp"

namespace tf::report {

Json stats_json(const validate::ErrorStats& s);
Json summary_json(const validate::Summary& s);
// Each row: id, line, hardware, model, scenario, metric, measured, predicted (null when
// unsupported, with the reason), absolute percentage error, notes, efficiency file.
Json rows_json(const std::vector<validate::RowResult>& results);

}  // namespace tf::report
