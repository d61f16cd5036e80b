#pragma once
// Result documents: the JSON every consumer (CLI --json, tests, later the report and web UI)
// reads. Keys carry units; documents are deterministic (ordered keys, no timestamps).
#include <nlohmann/json.hpp>

#include "cost/estimate.hpp"
#include "economics/tco.hpp"

namespace tf::report {

using Json = nlohmann::ordered_json;

// The text of a document for --json (indented by 2). Invalid UTF-8 in a string (a Latin-1 file
// name, a stray byte in an input file) becomes U+FFFD instead of an exception.
template <typename J>
std::string json_text(const J& j) {
  return j.dump(2, ' ', false, J::error_handler_t::replace);
}

Json deployment_json(const cost::Deployment& d);
Json memory_json(const cost::StepCostModel& m, double kv_bytes_per_chip);
Json breakdown_json(const cost::StepCost& s);
Json ceiling_json(const cost::Ceiling& c);
Json estimate_json(const cost::StepCostModel& m, const cost::Workload& w, const cost::Estimate& e);
Json tco_json(const economics::Tco& t, const economics::EconomicsParams& p);
Json token_cost_json(const economics::TokenCost& c, const economics::Tco& t);
// Where a system's numbers come from: the efficiency values (calibrated with its rows and
// cross-validated error, inherited from which family, or default) and the hardware figures'
// status (shipping / announced / legacy).
Json provenance_json(const hardware::SystemSpec& s, const cost::Efficiency& e);
// One short line for tables: "calibrated (636 rows, CV 13.5%); shipping".
std::string provenance_text(const hardware::SystemSpec& s, const cost::Efficiency& e);

// The provenance column of a table (frontier, plan, generations): "* " marks a system not
// calibrated on its own measurements; footnote() explains the mark (empty when none was made).
class ProvenanceColumn {
 public:
  explicit ProvenanceColumn(const cost::EfficiencyTable& table) : table_(table) {}
  std::string cell(const hardware::SystemSpec& s);
  [[nodiscard]] std::string footnote() const;

 private:
  const cost::EfficiencyTable& table_;
  bool marked_ = false;
};

}  // namespace tf::report
