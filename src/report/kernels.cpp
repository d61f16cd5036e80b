#include "report/kernels.hpp"

#include <cmath>

namespace tf::report {
namespace {

namespace k = validate::kernels;

Json quality_json(const k::Quality& q) {
  return {{"rows", q.rows}, {"median_ape_pct", q.median_ape_pct}, {"p90_ape_pct", q.p90_ape_pct}};
}

Json roof_json(const k::RoofFit& f) {
  Json j;
  j["fitted"] = f.fitted;
  if (!f.note.empty()) j["note"] = f.note;
  if (!f.fitted) return j;
  j["compute_fraction"] = f.compute_fraction;
  j["compute_fixed"] = f.compute_fixed;
  j["compute_identified"] = f.compute_identified;
  j["memory_fraction"] = f.memory_fraction;
  j["memory_fixed"] = f.memory_fixed;
  j["memory_identified"] = f.memory_identified;
  Json fl = Json::object();
  for (const auto& [g, s] : f.floors_s) fl[g] = s;
  j["floor_s"] = fl;
  j["rows"] = f.rows;
  j["fit_rows"] = f.fit_rows;
  j["compute_bound_rows"] = f.compute_rows;
  j["memory_bound_rows"] = f.memory_rows;
  j["all"] = quality_json(f.all);
  j["fit"] = quality_json(f.fit);
  return j;
}

Json link_json(const k::LinkFit& l) {
  Json j;
  j["fitted"] = l.fitted;
  j["num_gpus"] = l.num_gpus;
  j["rows"] = l.rows;
  if (!l.fitted) return j;
  j["latency_s"] = l.latency_s;
  j["network_fraction"] = l.network_fraction;
  j["ends"] = quality_json(l.ends);
  j["all"] = quality_json(l.all);
  j["all_sizes_fit"] = {{"latency_s", l.latency_all_s},
                        {"network_fraction", l.network_fraction_all},
                        {"quality", quality_json(l.all_fit)}};
  return j;
}

Json fits_json(const k::TableFits& f) {
  Json j;
  j["sources"] = f.sources;
  j["gemm"] = roof_json(f.gemm);
  Json d = Json::object();
  for (const auto& [name, g] : f.gemm_by_dtype) d[name] = roof_json(g);
  j["gemm_by_dtype"] = d;
  j["context_attention"] = roof_json(f.context_attention);
  j["generation_attention"] = roof_json(f.generation_attention);
  j["moe"] = roof_json(f.moe);
  j["moe_power_law"] = quality_json(f.moe_power_law);
  j["moe_power_law_measured_over_predicted"] = f.moe_power_law_ratio;
  Json ar = Json::array();
  for (const auto& l : f.allreduce) ar.push_back(link_json(l));
  j["allreduce"] = ar;
  j["allreduce_pooled"] = link_json(f.allreduce_pooled);
  Json ex = Json::object();
  for (const auto& [why, n] : f.excluded) ex[why] = n;
  j["excluded"] = ex;
  return j;
}

Json table_json(const k::ShapeTable& t) {
  Json j;
  j["title"] = t.title;
  j["axis"] = t.axis;
  j["columns"] = t.columns;
  Json rows = Json::array();
  for (size_t r = 0; r < t.rows.size(); ++r) {
    Json row = Json::array();
    row.push_back(t.axis_values[r]);
    for (const double v : t.rows[r]) row.push_back(std::isnan(v) ? Json(nullptr) : Json(v));
    rows.push_back(std::move(row));
  }
  j["rows"] = rows;
  return j;
}

}  // namespace

Json kernels_document(const k::KernelCalibration& cal, const std::vector<std::string>& written) {
  Json j;
  j["schema"] = "tokenfactory.kernels/1";
  j["input"] = {{"dir", cal.dir_name},
                {"manifest_fnv1a64", cal.manifest_fnv1a64},
                {"files", cal.read.files},
                {"rows", cal.read.rows},
                {"bytes", cal.read.bytes}};
  j["primary_backend"] = cal.primary_backend;
  Json sk = Json::array();
  for (const auto& [p, why] : cal.skipped) sk.push_back({{"path", p}, {"reason", why}});
  j["skipped"] = sk;
  Json fams = Json::array();
  for (const auto& f : cal.families) {
    Json fj;
    fj["family"] = f.family;
    fj["systems"] = f.systems;
    fj["backend"] = f.backend;
    fj["wire_latency_s"] = f.wire_latency_s;
    fj["fits"] = fits_json(f.fits);
    fj["nccl_allreduce"] = link_json(f.nccl_allreduce);
    Json nb = Json::array();
    for (const auto& l : f.nccl_by_gpus) nb.push_back(link_json(l));
    fj["nccl_by_gpus"] = nb;
    Json tabs = Json::array();
    for (const auto& t : f.tables) tabs.push_back(table_json(t));
    fj["tables"] = tabs;
    fams.push_back(std::move(fj));
  }
  j["families"] = fams;
  Json sys = Json::array();
  for (const auto& s : cal.systems)
    sys.push_back({{"folder", s.folder},
                   {"system", s.system_id},
                   {"family", s.family},
                   {"backend", s.backend},
                   {"fits", fits_json(s.fits)}});
  j["systems"] = sys;
  j["written"] = written;
  return j;
}

}  // namespace tf::report
