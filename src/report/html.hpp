#pragma once
// The HTML report: one self-contained page (charting library, scripts and styles inlined; no
// network) that renders result documents as interactive charts and tables.
#include <string>
#include <string_view>
#include <vector>

#include "report/documents.hpp"

namespace tf::report {

// Schemas the report has a view for (frontier, generations, validate, simulate, scenario).
const std::vector<std::string_view>& report_schemas();

// Throws DiagnosticError naming `where` (a file name or "document N") when `doc` is not an object
// with a schema the report renders.
void check_report_document(const Json& doc, const std::string& where);

struct ReportPage {
  std::string title = "tokenfactory report";
  std::string subtitle;      // one line under the title: what was computed, from which data
  std::vector<Json> documents;  // rendered in this order
};

// The page. Deterministic: the same documents give the same bytes.
std::string report_html(const ReportPage& page);

// The charting library and the report's scripts and styles, as compiled into the binary (the web
// app serves the same files).
std::string_view echarts_js();
std::string_view report_js();
std::string_view report_css();
std::string_view app_js();

// <script> and <style> elements holding the given text, escaped so that the text cannot close
// its element early.
std::string script_element(std::string_view js);
std::string style_element(std::string_view css);

}  // namespace tf::report
