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

}  // namespace tf::report
