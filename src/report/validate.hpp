#pragma once
// The validate and calibrate documents' pieces (`tokenfactory.validate/1`,
// `tokenfactory.calibrate/1`): error statistics, summaries by group, and per-row predictions.
#include <vector>

#include "report/documents.hpp"
#include <filesystem>
#include <optional>

#include "validate/calibrate.hpp"
#include "validate/validate.hpp"

namespace tf::report {

Json stats_json(const validate::ErrorStats& s);
Json summary_json(const validate::Summary& s);
// Each row: id, line, hardware, model, scenario, metric, measured, predicted (null when
// unsupported, with the reason), absolute percentage error, notes, efficiency file.
Json rows_json(const std::vector<validate::RowResult>& results);

// `tokenfactory.validate/1`: the input file (name and FNV-1a hash), which efficiency data
// predicted it, every row and the summary.
Json validate_document(const validate::MeasuredSet& set, bool uncalibrated,
                       const std::vector<validate::RowResult>& results, const validate::Summary& summary);

// What a calibration cross-validated: how rows were held out, the summary and every row.
struct CrossValidation {
  validate::HoldOut hold_out = validate::HoldOut::source_group;
  validate::Summary summary;
  std::vector<validate::RowResult> rows;
};

// `tokenfactory.calibrate/1`: the fitted terms per family and per engine (with the files they
// were written to under `family_dir` and `engine_dir`), the in-sample summary, and the
// cross-validation when one ran.
Json calibrate_document(const validate::MeasuredSet& set, const validate::Calibration& cal,
                        const std::filesystem::path& family_dir, const std::filesystem::path& engine_dir,
                        const validate::Summary& in_sample, const std::optional<CrossValidation>& cv);

}  // namespace tf::report
