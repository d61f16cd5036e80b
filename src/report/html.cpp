#include "report/html.hpp"

#include <fmt/format.h>

#include "core/diagnostic.hpp"

namespace tf::report {
namespace assets {
extern const std::string_view echarts_js, report_js, report_css, app_js;  // generated: tools/embed_assets.cpp
}

std::string_view echarts_js() { return assets::echarts_js; }
std::string_view report_js() { return assets::report_js; }
std::string_view report_css() { return assets::report_css; }
std::string_view app_js() { return assets::app_js; }

const std::vector<std::string_view>& report_schemas() {
  static const std::vector<std::string_view> s = {"tokenfactory.frontier/1", "tokenfactory.generations/1",
                                                  "tokenfactory.validate/1", "tokenfactory.simulate/1",
                                                  "tokenfactory.scenario/1", "tokenfactory.plan/1"};
  return s;
}

void check_report_document(const Json& doc, const std::string& where) {
  std::string valid;
  for (auto s : report_schemas()) valid += (valid.empty() ? "" : ", ") + std::string(s);
  if (!doc.is_object() || !doc.contains("schema") || !doc["schema"].is_string())
    throw DiagnosticError(Diagnostic{.file = where,
                                     .key = "schema",
                                     .message = "not a tokenfactory result document (no \"schema\" key)",
                                     .hint = "save one with --json from: frontier, generations, validate, simulate, plan"});
  const auto schema = doc["schema"].get<std::string>();
  for (auto s : report_schemas())
    if (schema == s) return;
  throw DiagnosticError(Diagnostic{.file = where,
                                   .key = "schema",
                                   .message = fmt::format("the report has no view for '{}'", schema),
                                   .hint = "documents it renders: " + valid});
}

namespace {

// Text safe inside a <script> or <style> element: an end tag of that element ("</script", any
// case) cannot appear, so the text cannot close the element early ("<\/" means "</" in scripts).
std::string inline_text(std::string_view s, std::string_view element) {
  std::string out;
  out.reserve(s.size());
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  for (size_t i = 0; i < s.size(); ++i) {
    bool end_tag = s[i] == '<' && i + 2 + element.size() <= s.size() && s[i + 1] == '/';
    for (size_t k = 0; end_tag && k < element.size(); ++k) end_tag = lower(s[i + 2 + k]) == element[k];
    if (end_tag) {
      out += element == "style" ? "<\\00002f" : "<\\/";
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string script_element(std::string_view js) { return "<script>\n" + inline_text(js, "script") + "\n</script>\n"; }
std::string style_element(std::string_view css) { return "<style>\n" + inline_text(css, "style") + "\n</style>\n"; }

std::string report_html(const ReportPage& page) {
  Json docs = Json::array();
  for (const auto& d : page.documents) docs.push_back(d);
  // '<' inside JSON strings becomes \u003c, so the data can never close its script element.
  std::string data;
  for (char c : docs.dump(-1, ' ', false, Json::error_handler_t::replace)) {
    if (c == '<') data += "\\u003c";
    else data += c;
  }
  std::string html;
  html.reserve(echarts_js().size() + data.size() + 64 * 1024);
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<meta name=\"generator\" content=\"tokenfactory\">\n";
  html += "<title>" + html_escape(page.title) + "</title>\n" + style_element(report_css());
  html += script_element(echarts_js()) + script_element(report_js()) + "</head>\n<body>\n";
  html += "<header class=\"top\"><h1>" + html_escape(page.title) + "</h1><p>" + html_escape(page.subtitle) +
          "</p></header>\n<main id=\"tf-report\"></main>\n";
  html += "<footer><main>Made by tokenfactory. Charts by Apache ECharts (Apache License 2.0), inlined: this page needs "
          "no network. Every number comes from the documents embedded in this page (schema ids: tokenfactory.*); "
          "hover a point for the configuration behind it; each chart's data is a CSV download.</main></footer>\n";
  html += "<script type=\"application/json\" id=\"tf-documents\">" + data + "</script>\n</body>\n</html>\n";
  return html;
}

}  // namespace tf::report
