#include "economics/generations.hpp"

#include <cmath>
#include <fmt/format.h>

#include "core/diagnostic.hpp"
#include "io/yaml_reader.hpp"

namespace tf::economics {

std::vector<VendorLine> load_generations(const std::filesystem::path& path, const hardware::Catalog& catalog) {
  const auto root = io::load_yaml_file(path);
  root.expect_keys({"lines"});
  std::vector<VendorLine> out;
  for (const auto& n : root.required("lines").items()) {
    n.expect_keys({"name", "ids", "source"});
    VendorLine l;
    l.name = n.required("name").as_string();
    l.source = n.required("source").as_string();
    for (const auto& id : n.required("ids").items()) {
      const auto s = id.as_string();
      if (!catalog.find(s)) {
        const auto near = closest_match(s, catalog.ids());
        id.fail(fmt::format("unknown hardware id '{}'", s), near.empty() ? "" : "did you mean '" + near + "'?");
      }
      l.ids.push_back(s);
    }
    out.push_back(std::move(l));
  }
  return out;
}

LogLogFit fit_log_log(const std::vector<GenerationRow>& rows) {
  std::vector<std::pair<double, double>> xy;
  for (const auto& r : rows)
    if (r.output_tok_s_per_chip > 0 && r.capacity_x_bandwidth > 0)
      xy.emplace_back(std::log10(r.capacity_x_bandwidth), std::log10(r.output_tok_s_per_chip));
  LogLogFit f;
  f.n = static_cast<int>(xy.size());
  if (f.n < 2) return f;
  double mx = 0, my = 0;
  for (auto [x, y] : xy) {
    mx += x;
    my += y;
  }
  mx /= f.n;
  my /= f.n;
  double sxx = 0, sxy = 0, syy = 0;
  for (auto [x, y] : xy) {
    sxx += (x - mx) * (x - mx);
    sxy += (x - mx) * (y - my);
    syy += (y - my) * (y - my);
  }
  if (sxx <= 0) return f;
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  f.r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
  return f;
}

GenerationsResult generations(const model::ModelSpec& m, const std::vector<VendorLine>& lines,
                              const hardware::Catalog& catalog, const cost::EfficiencyTable& eff, double user,
                              const frontier::SweepOptions& options, int threads) {
  std::vector<const hardware::SystemSpec*> systems;
  std::vector<std::string> line_of;
  for (const auto& l : lines) {
    for (const auto& id : l.ids) {
      systems.push_back(&catalog.get(id));
      line_of.push_back(l.name);
    }
  }
  frontier::SweepOptions o = options;
  o.min_tok_s_per_user = user;
  const auto fs = frontier::sweep(m, systems, eff, o, threads);
  GenerationsResult out;
  for (size_t i = 0; i < systems.size(); ++i) {
    const auto& s = *systems[i];
    GenerationRow r;
    r.line = line_of[i];
    r.system = &s;
    const auto& mem = s.main_memory();
    r.hbm_capacity_bytes = s.memory_capacity_bytes();
    r.hbm_bandwidth_bytes_per_s = mem.bandwidth_bytes_per_s.value;
    r.capacity_x_bandwidth = r.hbm_capacity_bytes * r.hbm_bandwidth_bytes_per_s;
    for (const auto& p : fs[i].points) {
      if (p.output_tok_s_per_chip > r.output_tok_s_per_chip) {
        r.output_tok_s_per_chip = p.output_tok_s_per_chip;
        r.config = p.config.describe();
      }
    }
    if (r.output_tok_s_per_chip <= 0) r.note = fs[i].note.empty() ? "target interactivity not reached" : fs[i].note;
    out.rows.push_back(std::move(r));
  }
  out.fit = fit_log_log(out.rows);
  for (const auto& l : lines) {
    std::vector<GenerationRow> sub;
    for (const auto& r : out.rows)
      if (r.line == l.name) sub.push_back(r);
    out.per_line.emplace_back(l.name, fit_log_log(sub));
  }
  return out;
}

}  // namespace tf::economics
