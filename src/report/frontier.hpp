#pragma once
// The frontier result: a sweep over systems plus each system's economics on one price basis, and
// its document (`tokenfactory.frontier/1`). The CLI, the HTML report and the web API build it here.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "economics/tco.hpp"
#include "frontier/sweep.hpp"
#include "report/documents.hpp"

namespace tf::report {

// Per-system economics, computed once per sweep: cost on the comparison's one price basis
// (nullopt when the system has no price on it) and facility power (needs no price).
struct SystemEconomics {
  std::optional<economics::Tco> tco;
  std::optional<economics::Power> power;
};
using EconomicsMap = std::map<std::string, SystemEconomics>;

struct FrontierQuery {
  std::vector<const hardware::SystemSpec*> systems;
  frontier::SweepOptions sweep;
  std::vector<std::string> precision_names;  // as the user gave them (the document echoes them)
  economics::EconomicsParams economics;
  economics::TcoOverrides overrides;
  int threads = 1;
};

struct FrontierResult {
  const model::ModelSpec* model = nullptr;
  FrontierQuery query;
  std::vector<frontier::SystemFrontier> systems;  // in the order of query.systems
  EconomicsMap economics;                          // by system id
};

FrontierResult compute_frontier(const model::ModelSpec& model, const cost::EfficiencyTable& efficiency,
                                FrontierQuery query, const frontier::Progress& progress = {});

// Output tokens/s per MW of facility power (NaN without a power figure).
double per_mw(const EconomicsMap& e, const hardware::SystemSpec& s, double tok_s_per_chip);
// Output tokens bought per US dollar at the busy chip-hour cost (NaN without a price).
double per_usd(const EconomicsMap& e, const hardware::SystemSpec& s, double tok_s_per_chip);
// The best point at or above a per-user speed (nullptr if none reaches it).
const frontier::Point* best_at(const frontier::SystemFrontier& f, double tok_s_per_user);

Json frontier_point_json(const frontier::Point& p, const EconomicsMap& e);
Json frontier_document(const FrontierResult& r, const cost::EfficiencyTable& efficiency);

}  // namespace tf::report
