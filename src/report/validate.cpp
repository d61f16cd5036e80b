#include "report/validate.hpp"

namespace tf::report {

using validate::ErrorStats;
using validate::RowResult;
using validate::Summary;

Json stats_json(const ErrorStats& s) {
  Json j;
  j["n"] = s.n;
  j["supported"] = s.supported;
  j["median_ape"] = s.median_ape;
  j["p90_ape"] = s.p90_ape;
  j["within_10"] = s.within_10;
  j["within_25"] = s.within_25;
  j["within_50"] = s.within_50;
  return j;
}

Json summary_json(const Summary& s) {
  auto j = stats_json(s.overall);
  j["n_outside_poisson"] = s.n_outside_poisson;
  j["supported_outside_poisson"] = s.supported_outside_poisson;
  j["coverage"] = s.coverage;
  j["throughput"] = stats_json(s.throughput);
  j["latency"] = stats_json(s.latency);
  auto m = [](const std::map<std::string, ErrorStats>& x) {
    Json o = Json::object();
    for (const auto& [k, v] : x) o[k] = stats_json(v);
    return o;
  };
  j["by_hardware"] = m(s.by_hardware);
  j["by_model"] = m(s.by_model);
  j["by_metric"] = m(s.by_metric);
  j["by_scenario"] = m(s.by_scenario);
  j["by_source_group"] = m(s.by_group);
  j["by_source_group_and_kind"] = m(s.by_group_kind);
  return j;
}

Json rows_json(const std::vector<RowResult>& results) {
  Json rows = Json::array();
  for (const auto& r : results) {
    Json j;
    j["id"] = r.row->id;
    j["line"] = r.row->line;
    j["hardware"] = r.row->hardware;
    j["model"] = r.row->model;
    j["scenario"] = validate::to_string(r.row->scenario);
    j["metric"] = validate::to_string(r.row->metric);
    j["measured"] = r.row->value;
    j["supported"] = r.prediction.supported;
    if (r.prediction.supported) {
      j["predicted"] = r.prediction.predicted;
      j["ape"] = r.ape;
      j["batch_per_replica"] = r.prediction.batch;
      j["reason"] = nullptr;
    } else {
      j["predicted"] = nullptr;
      j["ape"] = nullptr;
      j["reason"] = r.prediction.reason;
    }
    j["notes"] = r.prediction.notes;
    j["efficiency"] = r.prediction.efficiency_file;
    rows.push_back(std::move(j));
  }
  return rows;
}

Json validate_document(const validate::MeasuredSet& set, bool uncalibrated, const std::vector<RowResult>& results,
                       const Summary& summary) {
  Json j;
  j["schema"] = "tokenfactory.validate/1";
  j["input"] = {{"file", set.file_name}, {"fnv1a64", set.fnv1a64}};
  j["efficiency"] = uncalibrated ? "data/efficiency" : "data/efficiency + data/calibration";
  j["rows"] = rows_json(results);
  j["summary"] = summary_json(summary);
  return j;
}

Json calibrate_document(const validate::MeasuredSet& set, const validate::Calibration& cal,
                        const std::filesystem::path& family_dir, const std::filesystem::path& engine_dir,
                        const Summary& in_sample, const std::optional<CrossValidation>& cv) {
  Json j;
  j["schema"] = "tokenfactory.calibrate/1";
  j["input"] = {{"file", set.file_name}, {"fnv1a64", set.fnv1a64}};
  // Every fitted parameter under its key (times in seconds, "_s"), from the one table.
  auto param_key = [](const validate::ParamSpec& spec) { return std::string(spec.key) + (*spec.unit ? "_s" : ""); };
  Json fams = Json::array();
  for (const auto& f : cal.families) {
    Json fj = {{"family", f.family},
               {"fit", f.kind},
               {"rows", f.rows},
               {"file", (family_dir / (f.family + ".yaml")).string()}};
    // Hardware terms fitted for the family, software terms the typical engine's (as its file).
    for (size_t i = 0; i < validate::fitted_parameters().size(); ++i)
      fj[param_key(validate::fitted_parameters()[i])] = validate::parameter_value(f.efficiency, i);
    fj["loss_start"] = f.start_loss;
    fj["loss_fit"] = f.loss;
    fj["flags"] = f.flags;
    fj["at_bound"] = f.at_bound;
    fj["in_sample"] = stats_json(f.in_sample);
    fams.push_back(std::move(fj));
  }
  j["families"] = fams;
  Json engs = Json::array();
  const auto sw = validate::software_indices();
  for (const auto& g : cal.engines) {
    Json gj = {{"engine", g.engine},
               {"fit", g.kind},
               {"rows", g.rows},
               {"families", g.families},
               {"file", (engine_dir / (g.engine + ".yaml")).string()}};
    // Rows that identify each term (0: held at its prior).
    Json identifying = Json::object();
    for (size_t k = 0; k < sw.size(); ++k) {
      const auto& spec = validate::fitted_parameters()[sw[k]];
      gj[param_key(spec)] = g.values.at(k);
      identifying[spec.key] = g.identifying.at(k);
    }
    gj["identifying_rows"] = identifying;
    gj["loss_start"] = g.start_loss;
    gj["loss_fit"] = g.loss;
    gj["flags"] = g.flags;
    gj["in_sample"] = stats_json(g.in_sample);
    engs.push_back(std::move(gj));
  }
  j["engines"] = engs;
  j["in_sample"] = summary_json(in_sample);
  if (cv) {
    j["cross_validation"] = {{"hold_out", std::string(validate::to_string(cv->hold_out))}};
    j["cross_validated"] = summary_json(cv->summary);
    j["cross_validated_rows"] = rows_json(cv->rows);
  }
  return j;
}

}  // namespace tf::report
