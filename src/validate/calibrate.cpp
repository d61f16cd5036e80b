#include "validate/calibrate.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "core/diagnostic.hpp"
#include "core/parallel.hpp"
#include "io/text.hpp"
#include "io/yaml_reader.hpp"
#include "io/yaml_writer.hpp"

namespace tf::validate {

namespace {

// Rows whose metric includes a request's time outside the engine's steps once (time to first
// token, end to end): the only ones that identify request_overhead.
bool identifies_request_overhead(const PreparedRow& p) {
  const auto m = p.row->metric;
  return m == Metric::ttft_ms || m == Metric::ttft_ms_median || m == Metric::e2e_s;
}
// Rows that ran without captured graphs: the only ones that identify eager_launch.
bool ran_eager(const PreparedRow& p) { return p.deployment.launch == cost::Launch::eager; }

}  // namespace

const std::vector<ParamSpec>& fitted_parameters() {
  // Plausible ranges: achieved HBM bandwidth 40-95% of peak (STREAM-like kernels reach 90-95%),
  // GEMM 15-90% and attention 5-90% of dense peak, collectives 10-95% of link peak; fixed costs
  // bounded by what engine profiles show (a step above 10 ms or a layer above 150 us of pure
  // overhead is not an efficiency, it is a missing mechanism); eager dispatch of one layer's
  // kernels from 0 to 1 ms (PyTorch eager issues a kernel in ~5-20 us, a layer has ~10-30); a
  // request's time outside the steps (HTTP, tokenisation, hand-off, streaming back) from 0 to
  // 200 ms (beyond that it is a queue, not an overhead).
  // Software terms take their field and unit from cost::software_terms().
  using E = cost::Efficiency;
  static const std::vector<ParamSpec> p = [] {
    std::vector<ParamSpec> v{{"memory_bandwidth_fraction", 0.40, 0.95, false, &E::memory_bandwidth_fraction},
                             {"compute_fraction", 0.15, 0.90, false, &E::compute_fraction},
                             {"attention_compute_fraction", 0.05, 0.90, false, &E::attention_compute_fraction},
                             {"network_fraction", 0.10, 0.95, false, &E::network_fraction},
                             {"step_overhead", 0.0, 10e-3, true},
                             {"layer_overhead", 0.0, 150e-6, true},
                             {"collective_latency", 0.0, 50e-6, false, &E::collective_latency_s, "us"},
                             {"eager_launch", 0.0, 1e-3, true, nullptr, "", ran_eager, "eager rows"},
                             {"request_overhead", 0.0, 200e-3, true, nullptr, "", identifies_request_overhead,
                              "TTFT or E2E rows"}};
    for (auto& s : v) {
      if (!s.software) continue;
      const auto& terms = cost::software_terms();
      const auto it = std::find_if(terms.begin(), terms.end(),
                                   [&](const cost::SoftwareTerm& t) { return std::string_view(t.key) == s.key; });
      if (it == terms.end()) throw std::logic_error(std::string("fitted software term without a cost term: ") + s.key);
      s.field = it->field;
      s.unit = it->unit;
    }
    return v;
  }();
  return p;
}

double ParamSpec::in_unit(double v) const {
  const std::string_view u(unit);
  return u == "us" ? v * 1e6 : u == "ms" ? v * 1e3 : v;
}

double parameter_value(const cost::Efficiency& e, size_t index) { return e.*fitted_parameters()[index].field; }
void set_parameter(cost::Efficiency& e, size_t index, double v) { e.*fitted_parameters()[index].field = v; }

namespace {
std::vector<size_t> indices(bool software) {
  std::vector<size_t> out;
  const auto& specs = fitted_parameters();
  for (size_t i = 0; i < specs.size(); ++i)
    if (specs[i].software == software) out.push_back(i);
  return out;
}
}  // namespace

std::vector<size_t> software_indices() { return indices(true); }
std::vector<size_t> hardware_indices() { return indices(false); }

double EngineFit::value(std::string_view key) const {
  const auto idx = software_indices();
  for (size_t k = 0; k < idx.size() && k < values.size(); ++k)
    if (key == fitted_parameters()[idx[k]].key) return values[k];
  throw std::logic_error(fmt::format("no software term '{}'", key));
}

std::map<std::string, KernelPrior> load_kernel_priors(const std::filesystem::path& dir) {
  std::map<std::string, KernelPrior> out;
  const auto& specs = fitted_parameters();
  for (const auto& path : io::files_with_extension(dir, ".yaml")) {
    const auto root = io::load_yaml_file(path);
    KernelPrior k;
    k.file = path.string();
    k.family = root.required("family").as_string();
    if (k.family != path.stem().string())
      root.required("family").fail(fmt::format("family '{}' does not match the file name", k.family));
    for (size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].software) continue;  // kernels time device work only
      const auto node = root.optional(specs[i].key);
      if (!node) continue;
      node->expect_map();
      const auto v = node->required("value");
      const double x = *specs[i].unit ? v.as_quantity(Dimension::seconds) : v.as_double();
      if (!std::isfinite(x) || x < specs[i].lo || x > specs[i].hi)
        v.fail(fmt::format("{} is outside the fitted range [{}, {}]", x, specs[i].lo, specs[i].hi));
      k.values[i] = x;
      if (auto s = node->optional("source")) k.sources[i] = s->as_string();
    }
    out[k.family] = std::move(k);
  }
  return out;
}

std::string engine_key(const PreparedRow& p) {
  return p.facts.engine ? p.facts.engine->id : "default";
}

namespace {

using Vec = std::vector<double>;

// Bounded transform: value = lo + (hi - lo) * sigmoid(z).
double to_value(double z, const ParamSpec& s) {
  return s.lo + (s.hi - s.lo) / (1 + std::exp(-z));
}
double to_z(double v, const ParamSpec& s) {
  const double u = std::clamp((v - s.lo) / (s.hi - s.lo), 1e-4, 1 - 1e-4);
  return std::log(u / (1 - u));
}

// Squared log error of rows under efficiencies that differ per row only in their base (family
// hardware, engine software), with the free parameters set from z. Rows share a handful of
// distinct bases, so an evaluation builds one Efficiency per base, not per row.
struct Objective {
  std::vector<const PreparedRow*> rows;
  std::vector<size_t> base_of;          // row -> index into bases
  std::vector<cost::Efficiency> bases;  // distinct bases
  std::vector<size_t> free;             // parameter indices the fit moves
  Vec z0, weight;                       // prior centre and weight per free parameter
  // The fast surrogate: each row's closed form times a per-row factor that makes it equal to
  // the full prediction (simulation) at the last refresh; 1 for rows without a simulation.
  std::vector<double> scale, hint;

  [[nodiscard]] std::vector<cost::Efficiency> at(const Vec& z) const {
    auto es = bases;
    for (auto& e : es)
      for (size_t k = 0; k < free.size(); ++k) set_parameter(e, free[k], to_value(z[k], fitted_parameters()[free[k]]));
    return es;
  }
  void refresh(const Vec& z) {
    const auto es = at(z);
    scale.assign(rows.size(), 1.0);
    hint.assign(rows.size(), 1.0);
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& e = es[base_of[i]];
      const auto full = predict(*rows[i], e);
      if (!full.simulated || !full.supported) continue;
      hint[i] = std::max(1.0, full.batch);
      const auto cf = predict_closed_form(*rows[i], e, hint[i]);
      if (cf.supported) scale[i] = full.predicted / cf.predicted;
    }
  }
  // Mean squared log error over rows supported under z (an unsupported row costs a fixed
  // penalty so the fit cannot "win" by making rows infeasible). `exact`: full predictions.
  [[nodiscard]] double loss(const Vec& z, bool exact = false) const {
    const auto es = at(z);
    const bool fast = !exact && !scale.empty();
    double s = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto* p = rows[i];
      const auto& e = es[base_of[i]];
      const auto pr = fast ? predict_closed_form(*p, e, hint[i]) : predict(*p, e);
      if (!pr.supported) {
        s += 25;
        continue;
      }
      const double l = std::log(pr.predicted * (fast ? scale[i] : 1.0) / p->row->value);
      s += l * l;
    }
    return rows.empty() ? 0 : s / static_cast<double>(rows.size());
  }
  double operator()(const Vec& z) const {
    double reg = 0;
    for (size_t k = 0; k < free.size(); ++k) reg += weight[k] * (z[k] - z0[k]) * (z[k] - z0[k]);
    return loss(z) + reg;
  }
};

// Deterministic Nelder-Mead (standard coefficients) from a fixed simplex around x0.
Vec nelder_mead(const Objective& f, const Vec& x0, int budget, int& evals) {
  const size_t n = x0.size();
  std::vector<Vec> xs(n + 1, x0);
  std::vector<double> fs(n + 1);
  for (size_t i = 0; i < n; ++i) xs[i + 1][i] += 1.0;
  evals = 0;
  for (size_t i = 0; i <= n; ++i) fs[i] = f(xs[i]), ++evals;
  std::vector<size_t> idx(n + 1);
  while (evals < budget) {
    for (size_t i = 0; i <= n; ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return fs[a] < fs[b]; });
    const size_t best = idx[0], worst = idx[n], second = idx[n - 1];
    if (std::abs(fs[worst] - fs[best]) < 1e-9 * (1 + std::abs(fs[best]))) break;
    Vec c(n, 0.0);
    for (size_t i = 0; i < n; ++i)
      for (size_t k = 0; k <= n; ++k)
        if (k != worst) c[i] += xs[k][i] / static_cast<double>(n);
    auto along = [&](double t) {
      Vec v(n);
      for (size_t i = 0; i < n; ++i) v[i] = c[i] + t * (xs[worst][i] - c[i]);
      return v;
    };
    const Vec xr = along(-1);
    const double fr = f(xr);
    ++evals;
    if (fr < fs[best]) {
      const Vec xe = along(-2);
      const double fe = f(xe);
      ++evals;
      if (fe < fr)
        xs[worst] = xe, fs[worst] = fe;
      else
        xs[worst] = xr, fs[worst] = fr;
    } else if (fr < fs[second]) {
      xs[worst] = xr, fs[worst] = fr;
    } else {
      const bool outside = fr < fs[worst];
      const Vec xc = along(outside ? -0.5 : 0.5);
      const double fc = f(xc);
      ++evals;
      if (fc < std::min(fr, fs[worst])) {
        xs[worst] = xc, fs[worst] = fc;
      } else {
        for (size_t k = 0; k <= n; ++k) {
          if (k == best) continue;
          for (size_t i = 0; i < n; ++i) xs[k][i] = xs[best][i] + 0.5 * (xs[k][i] - xs[best][i]);
          fs[k] = f(xs[k]);
          ++evals;
        }
      }
    }
  }
  size_t b = 0;
  for (size_t i = 1; i <= n; ++i)
    if (fs[i] < fs[b]) b = i;
  return xs[b];
}

// Nelder-Mead with restarts from the best point on the objective's current surrogate (no
// refresh): a block step of the alternating fit. Never returns a point worse than z_start.
Vec descend(const Objective& f, const Vec& z_start, int budget) {
  Vec z = z_start;
  if (f.rows.empty()) return z;
  double best = f(z);
  int used = 0;
  while (used < budget) {
    int evals = 0;
    const Vec next = nelder_mead(f, z, std::min(400, budget - used), evals);
    used += evals;
    const double v = f(next);
    const bool better = v < best - 1e-12 * (1 + best);
    if (v < best) z = next, best = v;
    if (!better) break;
  }
  return z;
}

struct Row {
  const PreparedRow* p;
  std::string family, engine;  // engine: the software key it is fitted under
  size_t index = 0;            // into the shared surrogate
};

// The fast surrogate shared by every block of the alternating fit: per row, the closed form
// times a factor that makes it equal to the full prediction (simulation) at the last refresh.
struct Surrogate {
  std::vector<double> scale, hint;
};

// The state of the alternating fit: hardware terms per family, software terms per engine key.
struct State {
  const cost::EfficiencyTable* base = nullptr;
  std::map<std::string, cost::Efficiency> hardware;  // families with a fit of their own
  std::optional<cost::Efficiency> pooled;            // hardware terms for every other family
  std::map<std::string, Vec> software;               // engine key -> {step, layer} values
  Vec typical;                                       // the default engine's values

  [[nodiscard]] cost::Efficiency hardware_of(const std::string& family) const {
    if (auto it = hardware.find(family); it != hardware.end()) return it->second;
    auto e = base->for_family(family);
    if (pooled)
      for (const size_t i : indices(false)) set_parameter(e, i, parameter_value(*pooled, i));
    return e;
  }
  [[nodiscard]] cost::Efficiency efficiency(const std::string& family, const std::string& engine) const {
    auto e = hardware_of(family);
    const auto it = software.find(engine);
    const Vec& sw = it != software.end() ? it->second : typical;
    const auto idx = indices(true);
    for (size_t k = 0; k < idx.size(); ++k) set_parameter(e, idx[k], sw[k]);
    return e;
  }
};

// An objective over `rows`, each under base(row), moving `free` towards `prior` values.
template <typename BaseFn>
Objective objective(const std::vector<const Row*>& rows, BaseFn base, const std::vector<size_t>& free,
                    const std::map<size_t, double>& prior, const std::map<size_t, double>& weight,
                    const Surrogate* sur = nullptr) {
  Objective f;
  f.free = free;
  if (sur) {
    for (const auto* r : rows) {
      f.scale.push_back(sur->scale[r->index]);
      f.hint.push_back(sur->hint[r->index]);
    }
  }
  std::map<std::string, size_t> seen;
  for (const auto* r : rows) {
    auto [key, e] = base(*r);
    auto it = seen.find(key);
    if (it == seen.end()) {
      it = seen.emplace(key, f.bases.size()).first;
      f.bases.push_back(std::move(e));
    }
    f.rows.push_back(r->p);
    f.base_of.push_back(it->second);
  }
  for (const size_t i : free) {
    f.z0.push_back(to_z(prior.at(i), fitted_parameters()[i]));
    f.weight.push_back(weight.at(i));
  }
  return f;
}

Vec z_of(const cost::Efficiency& e, const std::vector<size_t>& free) {
  Vec z;
  for (const size_t i : free) z.push_back(to_z(parameter_value(e, i), fitted_parameters()[i]));
  return z;
}

// Flags every parameter of `free` within 10% of its range's ends; returns their keys.
std::vector<std::string> flag_bounds(const cost::Efficiency& e, const std::vector<size_t>& free,
                                     std::vector<std::string>& flags) {
  std::vector<std::string> keys;
  for (const size_t i : free) {
    const auto& s = fitted_parameters()[i];
    const double v = parameter_value(e, i);
    if (v <= s.lo + 0.1 * (s.hi - s.lo) || v >= s.hi - 0.1 * (s.hi - s.lo)) {
      flags.push_back(fmt::format("{} within 10% of a bound ({:.4g}, range [{:.4g}, {:.4g}])", s.key, v, s.lo, s.hi));
      keys.emplace_back(s.key);
    }
  }
  return keys;
}

ErrorStats stats_under(const std::vector<const Row*>& rows, const State& st) {
  std::vector<RowResult> rr;
  for (const auto* r : rows) {
    RowResult x;
    x.row = r->p->row;
    x.prediction = predict(*r->p, st.efficiency(r->family, r->engine));
    if (x.prediction.supported) x.ape = 100 * std::abs(x.prediction.predicted - r->p->row->value) / r->p->row->value;
    rr.push_back(std::move(x));
  }
  return summarise(rr).overall;
}

}  // namespace

cost::Efficiency Calibration::efficiency_for(const PreparedRow& p, const cost::EfficiencyTable& base) const {
  cost::Efficiency e = base.for_family(p.family);
  const FamilyFit* fam = nullptr;
  for (const auto& f : families)
    if (f.family == p.family) fam = &f;
  const auto& hw = fam ? fam->efficiency : pooled.efficiency;
  for (const size_t i : indices(false)) set_parameter(e, i, parameter_value(hw, i));
  const EngineFit* eng = nullptr;
  const EngineFit* typical = nullptr;
  for (const auto& g : engines) {
    if (g.engine == engine_key(p) && g.kind == "engine") eng = &g;
    if (g.engine == "default") typical = &g;
  }
  if (!eng) eng = typical;
  if (eng) {
    const auto sw = indices(true);
    for (size_t k = 0; k < sw.size(); ++k) set_parameter(e, sw[k], eng->values[k]);
  }
  return e;
}

Calibration calibrate(const std::vector<PreparedRow>& prepared, const cost::EfficiencyTable& base,
                      const FitOptions& o) {
  const auto hw_idx = indices(false), sw_idx = indices(true);
  const auto& start_default = base.for_family("default");
  State st;
  st.base = &base;
  for (const size_t i : sw_idx) st.typical.push_back(parameter_value(start_default, i));

  // Rows supported under their family's start values. A prefill/decode-disaggregated run is
  // predicted but not fitted: the hand-off between its pools (the engine's KV transfer, decode-side
  // pre-allocation and scheduling) has no term the fit can move, so fitting it would make the
  // hardware and engine terms absorb what that hand-off costs.
  std::vector<Row> rows;
  std::set<std::string> all_families;
  for (const auto& p : prepared) {
    all_families.insert(p.family);
    if (!p.modelable || p.decode) continue;
    if (!predict(p, base.for_family(p.family)).supported) continue;
    rows.push_back({&p, p.family, engine_key(p), rows.size()});
  }
  std::map<std::string, std::vector<const Row*>> by_family, by_engine;
  std::vector<const Row*> all;
  for (const auto& r : rows) {
    by_family[r.family].push_back(&r);
    by_engine[r.engine].push_back(&r);
    all.push_back(&r);
  }
  // Engines with too few rows of their own are fitted as the typical engine. ("default" here:
  // the rows whose engine is not recognised, fitted as a group of their own during the
  // alternation; the typical engine replaces it at the end.)
  std::set<std::string> own_engines;
  for (const auto& [engine, er] : by_engine)
    if (er.size() >= o.min_rows) own_engines.insert(engine);
  for (auto& r : rows)
    if (!own_engines.count(r.engine)) r.engine = "default";
  if (!own_engines.count("default") && std::count_if(rows.begin(), rows.end(), [](const Row& r) {
                                         return r.engine == "default";
                                       }) >= static_cast<long>(o.min_rows))
    own_engines.insert("default");
  std::map<std::string, std::vector<const Row*>> by_own_engine;
  for (const auto* r : all) by_own_engine[r->engine].push_back(r);
  std::vector<std::string> fitted_families;
  for (const auto& [family, fr] : by_family)
    if (fr.size() >= o.min_rows) fitted_families.push_back(family);

  // Priors: hardware terms towards the kernel fit (strong) where it exists, else the family's
  // published anchors (weak); software terms towards the default file's values (weak).
  auto hw_prior = [&](const std::string& family, std::map<size_t, double>& centre, std::map<size_t, double>& w) {
    const auto& start = base.for_family(family);
    const auto kp = o.kernel_priors.find(family);
    std::string file;
    for (const size_t i : hw_idx) {
      centre[i] = parameter_value(start, i);
      w[i] = o.prior_weight;
      if (kp != o.kernel_priors.end() && kp->second.values.count(i) &&
          o.kernel_prior_params.count(fitted_parameters()[i].key)) {
        centre[i] = kp->second.values.at(i);
        w[i] = o.kernel_prior_weight;
        file = kp->second.file;
      }
    }
    return file;
  };
  std::map<size_t, double> sw_centre, sw_weight;
  for (const size_t i : sw_idx) {
    sw_centre[i] = parameter_value(start_default, i);
    sw_weight[i] = o.prior_weight;
  }
  auto values = [&](const Vec& z, const std::vector<size_t>& idx) {
    Vec v;
    for (size_t k = 0; k < idx.size(); ++k) v.push_back(to_value(z[k], fitted_parameters()[idx[k]]));
    return v;
  };
  auto with_software = [&](const Row& r) {
    return std::pair{r.family + "|" + r.engine, st.efficiency(r.family, r.engine)};
  };
  auto hardware_only = [&](const Row& r) { return std::pair{r.family, st.hardware_of(r.family)}; };
  auto exact_loss = [&](const std::vector<const Row*>& rs) {
    auto f = objective(rs, with_software, {}, {}, {});
    return f.loss({}, true);
  };
  Surrogate sur;
  auto refresh = [&] {
    sur.scale.assign(rows.size(), 1.0);
    sur.hint.assign(rows.size(), 1.0);
    for (const auto& r : rows) {
      const auto e = st.efficiency(r.family, r.engine);
      const auto full = predict(*r.p, e);
      if (!full.simulated || !full.supported) continue;
      sur.hint[r.index] = std::max(1.0, full.batch);
      const auto cf = predict_closed_form(*r.p, e, sur.hint[r.index]);
      if (cf.supported) sur.scale[r.index] = full.predicted / cf.predicted;
    }
  };

  Calibration c;
  std::map<std::string, double> fam_start_loss, eng_start_loss;
  for (const auto& family : fitted_families) fam_start_loss[family] = exact_loss(by_family.at(family));
  for (const auto& engine : own_engines) eng_start_loss[engine] = exact_loss(by_own_engine.at(engine));
  std::map<std::string, std::string> prior_file;
  const int outer_n = std::max(1, o.outer_iterations);
  const int rounds = std::max(1, o.rounds);
  std::map<std::string, int> evaluations;
  // One joint least-squares fit of every family's hardware terms and every engine's software
  // terms (Levenberg-Marquardt in the bounded transformed space) on a surrogate refreshed against
  // fresh simulations once per outer iteration. Hardware and software are strongly correlated
  // (a slower chip or a slower engine both lengthen a step), so they are moved together, not in
  // alternating blocks.
  struct Param {
    bool software;
    std::string owner;  // family or engine key
    size_t index;       // fitted_parameters() index
  };
  std::vector<Param> params;
  Vec z, z0, w;
  for (const auto& family : fitted_families) {
    std::map<size_t, double> centre, wt;
    prior_file[family] = hw_prior(family, centre, wt);
    const auto& start = base.for_family(family);
    const double share = static_cast<double>(by_family.at(family).size()) / static_cast<double>(all.size());
    for (const size_t i : hw_idx) {
      params.push_back({false, family, i});
      z.push_back(to_z(parameter_value(start, i), fitted_parameters()[i]));
      z0.push_back(to_z(centre.at(i), fitted_parameters()[i]));
      w.push_back(wt.at(i) * share);
    }
  }
  for (const auto& engine : own_engines) {
    const double share = static_cast<double>(by_own_engine.at(engine).size()) / static_cast<double>(all.size());
    for (const size_t i : sw_idx) {
      params.push_back({true, engine, i});
      z.push_back(to_z(parameter_value(start_default, i), fitted_parameters()[i]));
      z0.push_back(to_z(sw_centre.at(i), fitted_parameters()[i]));
      w.push_back(sw_weight.at(i) * share);
    }
  }
  // Writes z into the state.
  auto apply = [&](const Vec& zz) {
    for (size_t k = 0; k < params.size(); ++k) {
      const auto& q = params[k];
      const double v = to_value(zz[k], fitted_parameters()[q.index]);
      if (q.software) {
        auto& sw = st.software[q.owner];
        if (sw.empty()) sw = st.typical;
        const auto pos = static_cast<size_t>(std::find(sw_idx.begin(), sw_idx.end(), q.index) - sw_idx.begin());
        sw[pos] = v;
      } else {
        auto it = st.hardware.find(q.owner);
        if (it == st.hardware.end()) it = st.hardware.emplace(q.owner, base.for_family(q.owner)).first;
        set_parameter(it->second, q.index, v);
      }
    }
  };
  // Row residuals (log error on the surrogate, an unsupported row a fixed 5) scaled so that
  // their squares sum to the mean, then the prior residuals.
  const double row_scale = 1 / std::sqrt(static_cast<double>(std::max<size_t>(1, all.size())));
  auto residual_of = [&](const Row& r, std::map<std::string, cost::Efficiency>& cache) {
    const auto key = r.family + "|" + r.engine;
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, st.efficiency(r.family, r.engine)).first;
    const auto pr = predict_closed_form(*r.p, it->second, sur.hint[r.index]);
    if (!pr.supported) return 5 * row_scale;
    return std::log(pr.predicted * sur.scale[r.index] / r.p->row->value) * row_scale;
  };
  auto residuals = [&](const Vec& zz) {
    apply(zz);
    std::map<std::string, cost::Efficiency> cache;
    Vec res(rows.size() + params.size());
    for (const auto& r : rows) res[r.index] = residual_of(r, cache);
    for (size_t k = 0; k < params.size(); ++k) res[rows.size() + k] = std::sqrt(w[k]) * (zz[k] - z0[k]);
    return res;
  };
  auto cost_of = [](const Vec& res) {
    double c2 = 0;
    for (const double x : res) c2 += x * x;
    return c2;
  };
  // The rows a parameter moves: its family's or its engine's.
  std::vector<std::vector<const Row*>> touched(params.size());
  for (size_t k = 0; k < params.size(); ++k)
    touched[k] = params[k].software ? by_own_engine.at(params[k].owner) : by_family.at(params[k].owner);
  const size_t np = params.size();
  for (int outer = 0; outer < outer_n && np > 0; ++outer) {
    apply(z);
    refresh();
    Vec res = residuals(z);
    double cost = cost_of(res);
    double lambda = 1e-2;
    for (int it = 0; it < 12 * rounds; ++it) {
      // Forward-difference Jacobian, one column per parameter over the rows it moves.
      std::vector<Vec> J(np, Vec(res.size(), 0.0));
      const double h = 1e-4;
      for (size_t k = 0; k < np; ++k) {
        Vec zk = z;
        zk[k] += h;
        apply(zk);
        std::map<std::string, cost::Efficiency> cache;
        for (const auto* r : touched[k]) J[k][r->index] = (residual_of(*r, cache) - res[r->index]) / h;
        J[k][rows.size() + k] = std::sqrt(w[k]);
      }
      apply(z);
      // Normal equations.
      std::vector<Vec> A(np, Vec(np, 0.0));
      Vec g(np, 0.0);
      for (size_t a = 0; a < np; ++a) {
        for (size_t i = 0; i < res.size(); ++i) g[a] += J[a][i] * res[i];
        for (size_t b = a; b < np; ++b) {
          double v = 0;
          for (size_t i = 0; i < res.size(); ++i) v += J[a][i] * J[b][i];
          A[a][b] = A[b][a] = v;
        }
      }
      bool stepped = false;
      for (int tries = 0; tries < 10 && !stepped; ++tries) {
        // Solve (A + lambda diag(A)) d = -g by Gaussian elimination with partial pivoting.
        std::vector<Vec> M = A;
        Vec d(np);
        for (size_t a = 0; a < np; ++a) {
          M[a][a] += lambda * std::max(A[a][a], 1e-12);
          d[a] = -g[a];
        }
        bool singular = false;
        for (size_t col = 0; col < np && !singular; ++col) {
          size_t piv = col;
          for (size_t r2 = col + 1; r2 < np; ++r2)
            if (std::abs(M[r2][col]) > std::abs(M[piv][col])) piv = r2;
          if (std::abs(M[piv][col]) < 1e-300) {
            singular = true;
            break;
          }
          std::swap(M[piv], M[col]);
          std::swap(d[piv], d[col]);
          for (size_t r2 = col + 1; r2 < np; ++r2) {
            const double f = M[r2][col] / M[col][col];
            for (size_t c2 = col; c2 < np; ++c2) M[r2][c2] -= f * M[col][c2];
            d[r2] -= f * d[col];
          }
        }
        if (!singular)
          for (size_t a = np; a-- > 0;) {
            for (size_t b = a + 1; b < np; ++b) d[a] -= M[a][b] * d[b];
            d[a] /= M[a][a];
          }
        Vec zn = z;
        for (size_t a = 0; a < np; ++a) zn[a] += singular ? 0 : std::clamp(d[a], -2.0, 2.0);
        const Vec rn = residuals(zn);
        const double cn = cost_of(rn);
        if (!singular && cn < cost) {
          const bool tiny = cost - cn < 1e-10 * (1 + cost);
          z = zn;
          res = rn;
          cost = cn;
          lambda = std::max(1e-7, lambda / 3);
          stepped = !tiny;
          if (tiny) tries = 10;
        } else {
          lambda *= 4;
        }
      }
      apply(z);
      if (!stepped) break;
      for (auto& [family, n] : evaluations) n += 1;
    }
  }
  apply(z);
  // The joint fit is kept only when it beats the published anchors over all rows together (a
  // single family's loss may rise when shared engine terms move for the others' benefit).
  std::set<std::string> rejected;
  {
    double before = 0, after = 0;
    for (const auto& family : fitted_families) {
      const double n = static_cast<double>(by_family.at(family).size());
      before += fam_start_loss.at(family) * n;
      after += exact_loss(by_family.at(family)) * n;
    }
    if (!(after < before)) {
      for (const auto& family : fitted_families) {
        st.hardware[family] = base.for_family(family);
        rejected.insert(family);
      }
      st.software.clear();
    }
  }
  // The typical engine: one set of software terms over every row, each under its family's
  // hardware terms (what a prediction without a named engine uses, and rows whose engine has
  // too few rows of its own). Then the pooled hardware terms for families without a fit.
  refresh();
  {
    const auto f = objective(all, hardware_only, sw_idx, sw_centre, sw_weight, &sur);
    cost::Efficiency cur = start_default;
    if (st.software.count("default"))
      for (size_t k = 0; k < sw_idx.size(); ++k) set_parameter(cur, sw_idx[k], st.software.at("default")[k]);
    st.typical = values(descend(f, z_of(cur, sw_idx), o.max_evaluations / outer_n), sw_idx);
    st.software.erase("default");
    own_engines.erase("default");
  }
  {
    std::map<size_t, double> centre, wt;
    hw_prior("default", centre, wt);
    const auto f = objective(all, with_software, hw_idx, centre, wt, &sur);
    const auto zp = descend(f, z_of(start_default, hw_idx), o.max_evaluations / outer_n);
    cost::Efficiency e = start_default;
    const auto v = values(zp, hw_idx);
    for (size_t k = 0; k < hw_idx.size(); ++k) set_parameter(e, hw_idx[k], v[k]);
    st.pooled = e;
    c.pooled.family = "pooled";
    c.pooled.kind = "pooled";
    c.pooled.start = start_default;
    c.pooled.efficiency = e;
    c.pooled.rows = all.size();
  }

  // Results: families (own fit, else pooled hardware), engines (own, then the typical one).
  for (const auto& family : all_families) {
    const auto& start = base.for_family(family);
    const auto fr = by_family.count(family) ? by_family.at(family) : std::vector<const Row*>{};
    FamilyFit fit;
    fit.family = family;
    fit.start = start;
    fit.rows = fr.size();
    for (const auto* r : fr) ++fit.groups[r->p->row->group];
    if (fam_start_loss.count(family)) {
      fit.kind = rejected.count(family) ? "defaults" : "family";
      fit.start_loss = fam_start_loss.at(family);
      fit.loss = exact_loss(fr);
      fit.evaluations = evaluations[family];
      fit.prior = prior_file[family];
      fit.efficiency = st.hardware.at(family);
      if (rejected.count(family)) fit.flags.push_back("fit did not improve on the published anchors: kept");
      fit.at_bound = flag_bounds(fit.efficiency, hw_idx, fit.flags);
      if (!fit.prior.empty()) {
        const auto& kp = o.kernel_priors.at(family);
        for (const size_t i : hw_idx)
          if (!kp.values.count(i) || !o.kernel_prior_params.count(fitted_parameters()[i].key))
            fit.flags.push_back(
                fmt::format("{} not held by the kernel fit: fitted end to end", fitted_parameters()[i].key));
      }
    } else {
      fit.kind = "pooled";
      fit.efficiency = st.hardware_of(family);
      fit.flags.push_back(
          fr.empty() ? std::string("no supported rows: pooled fit over all families used")
                     : fmt::format("{} supported rows < {}: pooled fit over all families used", fr.size(), o.min_rows));
    }
    // The family file records the typical engine's software terms (what for_family gives when
    // no engine is named); each engine's own are in engines/<engine>.yaml.
    for (size_t k = 0; k < sw_idx.size(); ++k) set_parameter(fit.efficiency, sw_idx[k], st.typical[k]);
    fit.efficiency.family = family;
    fit.in_sample = stats_under(fr, st);
    c.families.push_back(std::move(fit));
  }
  // The pooled terms as a family file of their own (data/calibration/pooled.yaml): what families
  // without measurements inherit. In-sample: every row under the pooled hardware terms.
  {
    for (size_t k = 0; k < sw_idx.size(); ++k) set_parameter(c.pooled.efficiency, sw_idx[k], st.typical[k]);
    for (const auto* r : all) ++c.pooled.groups[r->p->row->group];
    State pooled_only = st;
    pooled_only.hardware.clear();
    c.pooled.in_sample = stats_under(all, pooled_only);
    auto loss_under = [&](const cost::Efficiency& hw) {
      auto f = objective(
          all,
          [&](const Row& r) {
            State s1 = pooled_only;
            s1.pooled = hw;
            return std::pair{r.family + "|" + r.engine, s1.efficiency(r.family, r.engine)};
          },
          {}, {}, {});
      return f.loss({}, true);
    };
    c.pooled.start_loss = loss_under(start_default);
    c.pooled.loss = loss_under(*pooled_only.pooled);
    c.pooled.at_bound = flag_bounds(c.pooled.efficiency, hw_idx, c.pooled.flags);
  }
  auto engine_fit = [&](const std::string& engine, const std::vector<const Row*>& er, const Vec& v, const char* kind) {
    EngineFit g;
    g.engine = engine;
    g.kind = kind;
    g.values = v;
    g.identifying.assign(sw_idx.size(), 0);
    g.rows = er.size();
    for (const auto* r : er) {
      ++g.groups[r->p->row->group];
      ++g.families[r->family];
      for (size_t k = 0; k < sw_idx.size(); ++k) {
        const auto& spec = fitted_parameters()[sw_idx[k]];
        if (!spec.identified_by || spec.identified_by(*r->p)) ++g.identifying[k];
      }
    }
    g.start_loss = eng_start_loss.count(engine) ? eng_start_loss.at(engine) : 0;
    g.loss = exact_loss(er);
    cost::Efficiency e = start_default;
    for (size_t k = 0; k < sw_idx.size(); ++k) set_parameter(e, sw_idx[k], v[k]);
    (void)flag_bounds(e, sw_idx, g.flags);
    for (size_t k = 0; k < sw_idx.size(); ++k) {
      if (g.identifying[k] > 0) continue;
      // Rows that do not move a term (graph runs for eager dispatch): not a fit, and not a
      // bound worth flagging.
      const auto& spec = fitted_parameters()[sw_idx[k]];
      const std::string prefix = std::string(spec.key) + " ";
      std::erase_if(g.flags, [&](const std::string& f) { return f.starts_with(prefix); });
      g.flags.push_back(fmt::format("{} not identified (no {}): held at its prior", spec.key,
                                    spec.identifying_rows ? spec.identifying_rows : "rows"));
    }
    g.in_sample = stats_under(er, st);
    return g;
  };
  for (const auto& engine : own_engines)
    c.engines.push_back(engine_fit(engine, by_own_engine.at(engine), st.software.at(engine), "engine"));
  c.engines.push_back(engine_fit("default", all, st.typical, "typical"));
  // The typical engine's loss over all rows is under each row's own engine: report it under
  // the typical terms instead.
  {
    auto f = objective(all, hardware_only, sw_idx, sw_centre, sw_weight);
    auto& g = c.engines.back();
    g.loss = f.loss(z_of(
                        [&] {
                          cost::Efficiency e = start_default;
                          for (size_t k = 0; k < sw_idx.size(); ++k) set_parameter(e, sw_idx[k], st.typical[k]);
                          return e;
                        }(),
                        sw_idx),
                    true);
  }
  for (const auto& [engine, er] : by_engine)
    if (engine != "default" && !own_engines.count(engine))
      c.engines.back().flags.push_back(
          fmt::format("{}: {} rows < {}, fitted as the typical engine", engine, er.size(), o.min_rows));
  return c;
}

std::string_view to_string(HoldOut h) {
  switch (h) {
    case HoldOut::source_group: return "source group";
    case HoldOut::family: return "hardware family";
  }
  return "?";
}

std::vector<RowResult> cross_validate(const std::vector<PreparedRow>& rows, const cost::EfficiencyTable& base,
                                      const FitOptions& o, int threads, HoldOut by) {
  auto key = [by](const PreparedRow& p) -> const std::string& {
    return by == HoldOut::family ? p.family : p.row->group;
  };
  std::vector<std::string> groups;
  for (const auto& p : rows)
    if (std::find(groups.begin(), groups.end(), key(p)) == groups.end()) groups.push_back(key(p));
  std::sort(groups.begin(), groups.end());
  std::vector<RowResult> out(rows.size());
  auto fold = [&](size_t g) {
    std::vector<PreparedRow> train;
    for (const auto& p : rows)
      if (key(p) != groups[g]) train.push_back(p);
    const auto cal = calibrate(train, base, o);
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& p = rows[i];
      if (key(p) != groups[g]) continue;
      // The held-out group may be a family's or an engine's only evidence: the pooled hardware
      // and the typical engine stand in (Calibration::efficiency_for).
      const auto e = cal.efficiency_for(p, base);
      RowResult r;
      r.row = p.row;
      r.prediction = predict(p, e);
      if (r.prediction.supported) r.ape = 100 * std::abs(r.prediction.predicted - p.row->value) / p.row->value;
      out[i] = std::move(r);
    }
  };
  // Folds run on worker threads; an error inside one reaches the caller (tf::parallel_for).
  parallel_for(groups.size(), threads, fold);
  return out;
}

namespace {

std::string g6(double v) { return fmt::format("{:.6g}", v); }

// One fitted parameter as `key: {value, source}`: fractions as plain numbers, times quoted with
// their unit.
void emit_parameter(YAML::Emitter& y, const ParamSpec& spec, double v, const std::string& source) {
  if (*spec.unit)
    io::emit_sourced(y, spec.key, fmt::format("{} {}", g6(spec.in_unit(v)), spec.unit), true, source);
  else
    io::emit_sourced(y, spec.key, g6(v), false, source);
}

void emit_stats(YAML::Emitter& y, const char* key, const ErrorStats& st, const char* hold_out = nullptr) {
  y << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap;
  if (hold_out) y << YAML::Key << "hold_out" << YAML::Value << YAML::DoubleQuoted << hold_out;
  y << YAML::Key << "rows" << YAML::Value << st.supported;
  y << YAML::Key << "median_ape_pct" << YAML::Value << fmt::format("{:.3g}", st.median_ape);
  y << YAML::Key << "p90_ape_pct" << YAML::Value << fmt::format("{:.3g}", st.p90_ape);
  y << YAML::EndMap;
}

void emit_counts(YAML::Emitter& y, const char* key, const std::map<std::string, size_t>& counts) {
  y << YAML::Key << key << YAML::Value;
  if (counts.empty()) {
    y << YAML::Flow << YAML::BeginMap << YAML::EndMap;
    return;
  }
  y << YAML::BeginMap;
  for (const auto& [k, n] : counts) y << YAML::Key << k << YAML::Value << n;
  y << YAML::EndMap;
}

// The `calibration:` block: what was fitted to what, and how well. `families`: rows per hardware
// family (engine files only).
void emit_provenance(YAML::Emitter& y, const MeasuredSet& set, const std::string& date, const std::string& fit,
                     size_t rows, const std::map<std::string, size_t>& groups,
                     const std::map<std::string, size_t>* families, double start_loss, double loss,
                     const ErrorStats& in_sample, const ErrorStats* cv, HoldOut hold_out,
                     const std::vector<std::string>& flags, const std::vector<std::string>* at_bound = nullptr) {
  y << YAML::Key << "calibration" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "tool" << YAML::Value << "tokenfactory calibrate";
  y << YAML::Key << "input" << YAML::Value << set.file_name;
  y << YAML::Key << "input_fnv1a64" << YAML::Value << YAML::DoubleQuoted << set.fnv1a64;
  y << YAML::Key << "input_rows" << YAML::Value << set.rows.size();
  if (!date.empty()) y << YAML::Key << "date" << YAML::Value << YAML::DoubleQuoted << date;
  y << YAML::Key << "fit" << YAML::Value << fit;
  y << YAML::Key << "rows" << YAML::Value << rows;
  emit_counts(y, "source_groups", groups);
  if (families) emit_counts(y, "families", *families);
  y << YAML::Key << "objective" << YAML::Value << "mean squared log error of predicted vs measured over supported rows";
  y << YAML::Key << "loss_start" << YAML::Value << g6(start_loss);
  y << YAML::Key << "loss_fit" << YAML::Value << g6(loss);
  emit_stats(y, "in_sample", in_sample);
  if (cv && cv->supported > 0) emit_stats(y, "cross_validated", *cv, std::string(to_string(hold_out)).c_str());
  // Machine-readable: the hardware terms whose fit ended near a bound of their range (results
  // bound by them say so; cost::EfficiencyProvenance::at_bound).
  if (at_bound) y << YAML::Key << "at_bound" << YAML::Value << YAML::Flow << *at_bound;
  y << YAML::Key << "flags" << YAML::Value;
  if (flags.empty()) {
    y << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
  } else {
    y << YAML::BeginSeq;
    for (const auto& f : flags) y << YAML::DoubleQuoted << f;
    y << YAML::EndSeq;
  }
  y << YAML::EndMap;
}

std::string with_header(const char* header, const YAML::Emitter& y) { return header + std::string(y.c_str()) + "\n"; }

}  // namespace

std::string calibration_yaml(const FamilyFit& fit, const MeasuredSet& set, const std::string& date,
                             const ErrorStats* cross_validated, HoldOut hold_out) {
  const auto& e = fit.efficiency;
  std::string src = fmt::format("tokenfactory calibrate: {} fit to {} rows of {} (fnv1a64 {})", fit.kind, fit.rows,
                                set.file_name, set.fnv1a64);
  if (!fit.prior.empty())
    src += fmt::format(", held near the kernel fit {}", std::filesystem::path(fit.prior).filename().string());
  const std::string sw = fmt::format(
      "software term of the typical engine (engines/default.yaml), fitted across families to {}; a named "
      "engine's own terms are in engines/<engine>.yaml",
      set.file_name);
  const std::string kept = fmt::format("kept from {}", std::filesystem::path(fit.start.file).filename().string());
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "family" << YAML::Value << fit.family;
  y << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted
    << fmt::format("Calibrated ({}) against measured results; start: {}", fit.kind,
                   std::filesystem::path(fit.start.file).filename().string());
  // Hardware terms first, then the software terms, in the order of fitted_parameters().
  for (const bool software : {false, true})
    for (const size_t i : indices(software))
      emit_parameter(y, fitted_parameters()[i], parameter_value(e, i), software ? sw : src);
  io::emit_sourced(y, "memory_utilization", g6(e.memory_utilization), false, kept);
  io::emit_sourced(y, "runtime_reserve", fmt::format("{} GB", g6(e.runtime_reserve_bytes / 1e9)), true, kept);
  io::emit_sourced(y, "activation_tokens", fmt::format("{:.0f}", e.activation_tokens), false, kept);
  // Kernel-measured, held (not fitted end to end): the family's kernel fit, or what it inherits.
  io::emit_sourced(y, "moe_floor", fmt::format("{} us", g6(e.moe_floor_s * 1e6)), true,
                   e.moe_floor_file.empty()
                       ? kept
                       : fmt::format("kernel-measured, held: calibrate-kernels fit {} (median of the per-dtype MoE "
                                     "floors)",
                                     std::filesystem::path(e.moe_floor_file).filename().string()));
  emit_provenance(y, set, date, fit.kind, fit.rows, fit.groups, nullptr, fit.start_loss, fit.loss, fit.in_sample,
                  cross_validated, hold_out, fit.flags, &fit.at_bound);
  y << YAML::EndMap;
  return with_header(
      "# Generated by `tokenfactory calibrate` (scripts/accuracy.sh); do not edit by hand.\n"
      "# Overrides data/efficiency for this family; see docs/accuracy.md.\n",
      y);
}

std::string engine_calibration_yaml(const EngineFit& fit, const MeasuredSet& set, const std::string& date,
                                    const ErrorStats* cross_validated, HoldOut hold_out) {
  const std::string src =
      fmt::format("tokenfactory calibrate: {} fit to {} rows of {} (fnv1a64 {}) on {} hardware families", fit.kind,
                  fit.rows, set.file_name, set.fnv1a64, fit.families.size());
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "engine" << YAML::Value << fit.engine;
  y << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted
    << (fit.engine == "default"
            ? "The typical engine: software terms fitted over every row (used when no engine is named and for "
              "engines without enough rows of their own)"
            : "Software terms fitted over the rows this engine ran, on every hardware family");
  const auto sw = indices(true);
  for (size_t k = 0; k < sw.size(); ++k) {
    const auto& spec = fitted_parameters()[sw[k]];
    const bool identified = k < fit.identifying.size() && fit.identifying[k] > 0;
    emit_parameter(y, spec, fit.values.at(k),
                   identified ? src
                              : fmt::format("held at its prior (data/efficiency/default.yaml): this engine has no {}",
                                            spec.identifying_rows ? spec.identifying_rows : "rows"));
  }
  emit_provenance(y, set, date, fit.kind, fit.rows, fit.groups, &fit.families, fit.start_loss, fit.loss,
                  fit.in_sample, cross_validated, hold_out, fit.flags);
  y << YAML::EndMap;
  return with_header(
      "# Generated by `tokenfactory calibrate` (scripts/accuracy.sh); do not edit by hand.\n"
      "# Software terms of one serving engine, fitted across hardware families; see docs/accuracy.md.\n",
      y);
}

}  // namespace tf::validate
