#pragma once
// The generations result: the generational chart's rows with each row's cost and power on one
// price basis, and its document (`tokenfactory.generations/1`).
#include <optional>
#include <string>
#include <vector>

#include "economics/generations.hpp"
#include "economics/tco.hpp"
#include "report/documents.hpp"

namespace tf::report {

struct GenerationsQuery {
  double tok_s_per_user = 50;
  frontier::SweepOptions sweep;
  economics::EconomicsParams economics;
  economics::TcoOverrides overrides;
  int threads = 1;
};

struct GenerationCost {
  std::optional<economics::Tco> tco;
  std::optional<economics::TokenCost> token_cost;
  std::optional<economics::Power> power;
};

struct GenerationsReport {
  const model::ModelSpec* model = nullptr;
  GenerationsQuery query;
  economics::GenerationsResult result;
  std::vector<GenerationCost> costs;  // one per result.rows entry

  // Output tokens/s per MW of facility power and total USD per million tokens of row i (nullopt
  // without power / price, or when the row reaches no point).
  [[nodiscard]] std::optional<double> tok_s_per_mw(size_t i) const;
  [[nodiscard]] std::optional<double> usd_per_mtok(size_t i) const;
};

GenerationsReport compute_generations(const model::ModelSpec& model, const std::vector<economics::VendorLine>& lines,
                                      const hardware::Catalog& catalog, const cost::EfficiencyTable& efficiency,
                                      GenerationsQuery query);

Json generations_document(const GenerationsReport& g, const cost::EfficiencyTable& efficiency);

}  // namespace tf::report
