#pragma once
// The capex document (`tokenfactory.capex/1`): the ARR test and the spend test.
#include "economics/capex.hpp"
#include "report/documents.hpp"

namespace tf::report {

// Adds the ARR test's keys to a capex document.
void capex_arr_json(Json& j, double arr_usd, double gross_margin, double depreciation_years);
// Adds the spend test's keys to a capex document.
void capex_spend_json(Json& j, const economics::CapexSpend& c, const economics::CapexSpendSpec& spec,
                      const hardware::SystemSpec& s, const model::ModelSpec& m, const economics::EconomicsParams& p);

}  // namespace tf::report
