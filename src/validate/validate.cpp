#include "validate/validate.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <set>
#include <thread>

#include "core/diagnostic.hpp"
#include "core/hash.hpp"
#include "core/stats.hpp"
#include "cost/estimate.hpp"
#include "cost/step_cost.hpp"
#include "io/text.hpp"
#include "serving/kv/offload.hpp"

namespace tf::validate {

// ===================================================================== CSV

// ===================================================================== schema
namespace {

const std::vector<std::pair<Scenario, std::string_view>> kScenarios{{Scenario::offline, "offline"},
                                                                    {Scenario::static_batch, "static_batch"},
                                                                    {Scenario::fixed_concurrency, "fixed_concurrency"},
                                                                    {Scenario::single_stream, "single_stream"},
                                                                    {Scenario::poisson_rate, "poisson_rate"}};

struct MetricInfo {
  Metric metric;
  std::string_view name, unit;
};
const std::vector<MetricInfo> kMetrics{{Metric::output_tok_s, "output_tok_s", "tok/s"},
                                       {Metric::total_tok_s, "total_tok_s", "tok/s"},
                                       {Metric::input_tok_s, "input_tok_s", "tok/s"},
                                       {Metric::output_tok_s_per_user, "output_tok_s_per_user", "tok/s"},
                                       {Metric::ttft_ms, "ttft_ms", "ms"},
                                       {Metric::tpot_ms, "tpot_ms", "ms"},
                                       {Metric::e2e_s, "e2e_s", "s"},
                                       {Metric::ttft_ms_median, "ttft_ms_median", "ms"},
                                       {Metric::tpot_ms_median, "tpot_ms_median", "ms"}};

const std::vector<std::string> kDtypes{"bf16", "fp16", "fp8", "nvfp4", "mxfp4", "int4", "int8", "unknown"};


}  // namespace

const std::vector<std::string> kColumns{
    "id",           "hardware",    "num_chips", "model",        "weight_dtype", "act_dtype", "kv_dtype", "tp",
    "pp",           "ep",          "dp",        "attention_dp", "scenario",     "isl",       "osl",      "concurrency",
    "request_rate", "spec_decode", "metric",    "value",        "unit",         "trust",     "source",   "notes"};

std::string_view to_string(Scenario s) {
  for (const auto& [k, v] : kScenarios)
    if (k == s) return v;
  return "?";
}
std::string_view to_string(Metric m) {
  for (const auto& x : kMetrics)
    if (x.metric == m) return x.name;
  return "?";
}
bool is_throughput(Metric m) {
  return m == Metric::output_tok_s || m == Metric::total_tok_s || m == Metric::input_tok_s ||
         m == Metric::output_tok_s_per_user;
}

MeasuredSet parse_measured(const std::string& text, const std::string& file, const hardware::Catalog& hw,
                           const model::ModelCatalog& models) {
  MeasuredSet set;
  set.file = file;
  set.file_name = std::filesystem::path(file).filename().string();
  set.fnv1a64 = fnv1a64_hex(text);
  const auto records = parse_csv(text, file);
  auto fail_at = [&](int line, int column, const std::string& key, const std::string& msg,
                     const std::string& hint = {}) { tf::fail_at(file, line, key, msg, hint, column); };
  if (records.empty()) fail_at(1, 0, "", "empty file: expected a header row", "columns: " + join(kColumns));
  const auto& header = records.front();
  std::map<std::string, size_t> col;
  for (size_t c = 0; c < header.fields.size(); ++c) {
    const auto& name = header.fields[c];
    if (std::find(kColumns.begin(), kColumns.end(), name) == kColumns.end()) {
      const auto close = closest_match(name, kColumns);
      fail_at(header.line, static_cast<int>(c + 1), name, fmt::format("unknown column '{}'", name),
              close.empty() ? "columns: " + join(kColumns) : fmt::format("did you mean '{}'?", close));
    }
    if (!col.emplace(name, c).second)
      fail_at(header.line, static_cast<int>(c + 1), name, fmt::format("duplicate column '{}'", name));
  }
  for (const auto& name : kColumns)
    if (!col.count(name))
      fail_at(header.line, 0, name, fmt::format("missing column '{}'", name), "columns: " + join(kColumns));

  std::set<std::string> ids;
  for (size_t r = 1; r < records.size(); ++r) {
    const auto& rec = records[r];
    if (rec.fields.size() != header.fields.size())
      fail_at(rec.line, 0, "",
              fmt::format("row has {} fields, the header has {}", rec.fields.size(), header.fields.size()));
    auto get = [&](const std::string& name) -> const std::string& { return rec.fields[col.at(name)]; };
    auto column_of = [&](const std::string& name) { return static_cast<int>(col.at(name) + 1); };
    auto bad = [&](const std::string& name, const std::string& msg, const std::string& hint = {}) {
      fail_at(rec.line, column_of(name), name, msg, hint);
    };
    auto number = [&](const std::string& name, bool allow_empty) -> std::optional<double> {
      const auto& s = get(name);
      if (s.empty()) {
        if (allow_empty) return std::nullopt;
        bad(name, "missing value", "a number");
      }
      errno = 0;
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      if (end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v))
        bad(name, fmt::format("'{}' is not a number", s));
      return v;
    };
    auto positive = [&](const std::string& name) {
      const double v = *number(name, false);
      if (!(v > 0)) bad(name, fmt::format("must be > 0, got {}", get(name)));
      return v;
    };
    auto integer = [&](const std::string& name) {
      const double v = positive(name);
      if (v != std::floor(v) || v > 1e6) bad(name, fmt::format("must be a positive whole number, got {}", get(name)));
      return static_cast<int>(v);
    };
    auto dtype = [&](const std::string& name) {
      const auto& s = get(name);
      if (std::find(kDtypes.begin(), kDtypes.end(), s) == kDtypes.end())
        bad(name, fmt::format("unknown dtype '{}'", s), "one of: " + join(kDtypes));
      return s;
    };
    MeasuredRow m;
    m.line = rec.line;
    m.id = get("id");
    if (m.id.empty()) bad("id", "missing id");
    if (!ids.insert(m.id).second) bad("id", fmt::format("duplicate id '{}'", m.id));
    const auto dash = m.id.rfind('-');
    m.group = dash == std::string::npos ? m.id : m.id.substr(0, dash);
    m.hardware = get("hardware");
    if (!hw.find(m.hardware)) {
      const auto close = closest_match(m.hardware, hw.ids());
      bad("hardware", fmt::format("unknown hardware id '{}'", m.hardware),
          close.empty() ? "see 'tokenfactory catalog hardware'" : fmt::format("did you mean '{}'?", close));
    }
    m.model = get("model");
    if (!models.find(m.model)) {
      const auto close = closest_match(m.model, models.ids());
      bad("model", fmt::format("unknown model id '{}'", m.model),
          close.empty() ? "see 'tokenfactory catalog models'" : fmt::format("did you mean '{}'?", close));
    }
    m.num_chips = integer("num_chips");
    m.tp = integer("tp");
    m.pp = integer("pp");
    m.ep = integer("ep");
    m.dp = integer("dp");
    if (static_cast<long long>(m.tp) * m.pp * m.dp != m.num_chips)
      bad("num_chips", fmt::format("tp x pp x dp = {} x {} x {} != num_chips {}", m.tp, m.pp, m.dp, m.num_chips));
    const auto& adp = get("attention_dp");
    if (adp == "true")
      m.attention_dp = true;
    else if (adp == "false")
      m.attention_dp = false;
    else
      bad("attention_dp", fmt::format("'{}' is not a boolean", adp), "true or false");
    m.weight_dtype = dtype("weight_dtype");
    m.act_dtype = dtype("act_dtype");
    m.kv_dtype = dtype("kv_dtype");
    const auto& sc = get("scenario");
    const auto si = std::find_if(kScenarios.begin(), kScenarios.end(), [&](const auto& p) { return p.second == sc; });
    if (si == kScenarios.end()) {
      std::vector<std::string> names;
      for (const auto& p : kScenarios) names.emplace_back(p.second);
      bad("scenario", fmt::format("unknown scenario '{}'", sc), "one of: " + join(names));
    }
    m.scenario = si->first;
    m.isl = positive("isl");
    m.osl = positive("osl");
    // The same bounds as the CLI's --isl / --osl / --concurrency (docs/limits.md): the predictor
    // simulates these requests and clients.
    for (const auto& [name, v] : {std::pair{"isl", m.isl}, std::pair{"osl", m.osl}})
      if (v > 100e6) bad(name, fmt::format("{} tokens is more than 100000000", get(name)));
    m.concurrency = number("concurrency", true);
    if (m.concurrency && !(*m.concurrency > 0)) bad("concurrency", "must be > 0");
    if (m.concurrency && *m.concurrency > 1e6) bad("concurrency", fmt::format("{} is more than 1000000", get("concurrency")));
    m.request_rate = number("request_rate", true);
    if (m.request_rate && !(*m.request_rate > 0)) bad("request_rate", "must be > 0");
    if ((m.scenario == Scenario::static_batch || m.scenario == Scenario::fixed_concurrency) && !m.concurrency)
      bad("concurrency", fmt::format("scenario {} needs a concurrency", sc));
    if (m.scenario == Scenario::poisson_rate && !m.request_rate)
      bad("request_rate", "scenario poisson_rate needs a request_rate");
    m.spec_decode = get("spec_decode");
    if (m.spec_decode.empty()) bad("spec_decode", "missing value", "none, mtp or unknown");
    const auto& mt = get("metric");
    const auto mi = std::find_if(kMetrics.begin(), kMetrics.end(), [&](const auto& x) { return x.name == mt; });
    if (mi == kMetrics.end()) {
      std::vector<std::string> names;
      for (const auto& x : kMetrics) names.emplace_back(x.name);
      bad("metric", fmt::format("unknown metric '{}'", mt), "one of: " + join(names));
    }
    m.metric = mi->metric;
    m.value = positive("value");
    m.unit = get("unit");
    if (m.unit != mi->unit)
      bad("unit", fmt::format("unit '{}' does not match metric {}", m.unit, mt),
          fmt::format("expected '{}'", mi->unit));
    m.trust = get("trust");
    m.source = get("source");
    m.notes = get("notes");
    try {  // a number in the notes that cannot be used is an error at its row, here
      (void)parse_notes(m.notes);
    } catch (const DiagnosticError& e) {
      bad("notes", e.diagnostic().message, e.diagnostic().hint);
    }
    set.rows.push_back(std::move(m));
  }
  return set;
}

MeasuredSet read_measured(const std::filesystem::path& path, const hardware::Catalog& hw,
                          const model::ModelCatalog& models) {
  return parse_measured(io::read_text_file(path), path.string(), hw, models);
}

EngineFacts engine_facts(const MeasuredRow& row, const serving::EngineProfiles& engines) {
  auto f = parse_notes(row.notes);
  const auto m = engines.match(row.notes + " " + row.source, f.disaggregation.has_value());
  f.engine = m.profile;
  f.engine_recognised = m.recognised;
  f.unsupported = m.unsupported;
  f.scheduler = serving::scheduler_for(*m.profile, row.notes, &f.scheduler_reason);
  if (!m.recognised) f.scheduler_reason += " (engine not recognised: default profile)";
  return f;
}

// parse_notes: validate/notes.cpp (a bounded hand-written scanner).

// ===================================================================== prediction
Predictor::Predictor(const hardware::Catalog& hw, const model::ModelCatalog& models,
                     const serving::EngineProfiles& engines)
    : hw_(hw), models_(models), engines_(engines) {}

std::vector<PreparedRow> Predictor::prepare(const MeasuredSet& set, const cost::EfficiencyTable& table) {
  std::vector<PreparedRow> out;
  out.reserve(set.rows.size());
  for (const auto& row : set.rows) {
    PreparedRow p;
    p.row = &row;
    const auto& system = hw_.get(row.hardware);
    p.family = system.family;
    p.facts = engine_facts(row, engines_);
    out.push_back(std::move(p));
    auto& q = out.back();
    if (q.facts.unsupported) {
      q.reason = *q.facts.unsupported;
      continue;
    }
    if (!q.facts.engine_recognised)
      q.notes.push_back("engine not recognised in notes or source: default engine profile (flagged)");
    if (row.spec_decode.rfind("mtp", 0) == 0) {
      q.reason = "speculative decoding (MTP) not modelled: draft length and acceptance rate not recorded";
      continue;
    }
    if (row.spec_decode == "unknown")
      q.notes.push_back("spec_decode unknown: assumed none");
    else if (row.spec_decode != "none") {
      q.reason = fmt::format("speculative decoding '{}' not modelled", row.spec_decode);
      continue;
    }
    auto it = model_cache_.find(row.model);
    if (it == model_cache_.end()) it = model_cache_.emplace(row.model, models_.resolve(row.model)).first;
    cost::DeploymentSpec spec;
    spec.chips = row.num_chips;
    spec.tp = row.tp;
    spec.pp = row.pp;
    spec.ep = row.ep;
    spec.dp = row.dp;
    spec.attention_dp = row.attention_dp;
    if (row.attention_dp && row.tp == 1) {
      // Attention data-parallel over one rank is plain attention: the same engine.
      spec.attention_dp = false;
      q.notes.push_back("attention_dp over TP1 is plain attention");
    }
    auto dtype = [&](const std::string& s, const char* what) -> std::optional<Precision> {
      if (s == "unknown") {
        q.notes.push_back(fmt::format("{} dtype unknown: default used", what));
        return std::nullopt;
      }
      return parse_precision(s);
    };
    spec.weights = dtype(row.weight_dtype, "weight");
    spec.activations = dtype(row.act_dtype, "activation");
    spec.kv = dtype(row.kv_dtype, "kv");
    if (q.facts.experts_tp_sharded && spec.ep > 1) {
      spec.ep = 1;
      q.notes.push_back("experts TP-sharded (notes): EP 1");
    }
    if (q.facts.launch) {
      spec.launch = q.facts.launch;
      q.notes.push_back(fmt::format("{} launch (notes)", to_string(*q.facts.launch)));
    }
    serving::apply_engine(*q.facts.engine, spec);
    if (q.facts.memory_fraction) {
      spec.memory_policy->fraction = *q.facts.memory_fraction;
      q.notes.push_back(fmt::format("memory fraction {} (notes)", *q.facts.memory_fraction));
    }
    if (q.facts.attention_weights) {
      spec.attention_weights = q.facts.attention_weights;
      q.notes.push_back(fmt::format("attention projections in {} (notes)", to_string(*q.facts.attention_weights)));
    }
    const auto& eff = table.for_family(system.family, q.facts.engine->id);
    if (q.facts.disaggregation) {
      prepare_disaggregated(q, spec, it->second, system, eff);
      continue;
    }
    try {
      q.deployment = cost::resolve_deployment(spec, it->second, system, eff);
      q.modelable = true;
    } catch (const DiagnosticError& e) {
      q.reason = "layout not modelled: " + e.diagnostic().message;
    }
  }
  return out;
}

void Predictor::prepare_disaggregated(PreparedRow& q, const cost::DeploymentSpec& spec, const model::ModelSpec& model,
                                      const hardware::SystemSpec& system, const cost::Efficiency& eff) {
  const auto& row = *q.row;
  const auto& layout = *q.facts.disaggregation;
  if (layout.prefill.chips + layout.decode.chips != row.num_chips) {
    q.reason = fmt::format("the notes state {} prefill + {} decode chips, the row {} chips", layout.prefill.chips,
                           layout.decode.chips, row.num_chips);
    return;
  }
  // Each pool: its chips as `instances` engine instances of TP x PP ranks (attention-DP ranks
  // and EP groups spanning replicas, as in one colocated deployment).
  auto pool = [&](const PoolLayout& l, const char* name) -> std::optional<cost::Deployment> {
    const int per_replica = l.tp * l.pp;
    if (l.instances < 1 || l.chips % l.instances != 0 || (l.chips / l.instances) % per_replica != 0) {
      q.reason = fmt::format("{} pool: {} chips do not divide into {} instances of TP{} x PP{}", name, l.chips,
                             l.instances, l.tp, l.pp);
      return std::nullopt;
    }
    cost::DeploymentSpec ps = spec;
    ps.chips = l.chips;
    ps.tp = l.tp;
    ps.pp = l.pp;
    ps.ep = l.ep;
    ps.dp = l.chips / per_replica;
    ps.attention_dp = l.attention_dp && l.tp > 1;  // over one rank, plain attention
    try {
      return cost::resolve_deployment(ps, model, system, eff);
    } catch (const DiagnosticError& e) {
      q.reason = fmt::format("{} pool layout not modelled: {}", name, e.diagnostic().message);
      return std::nullopt;
    }
  };
  auto prefill = pool(layout.prefill, "prefill");
  if (!prefill) return;
  auto decode = pool(layout.decode, "decode");
  if (!decode) return;
  if (!system.scale_out.bandwidth_bytes_per_s) {
    q.reason = fmt::format("{} states no scale-out bandwidth: the KV transfer between the pools cannot be priced",
                           system.id);
    return;
  }
  q.kv_link.bandwidth_bytes_per_s = system.scale_out.bandwidth_bytes_per_s->value;
  q.kv_link.latency_s = system.scale_out.latency_s ? system.scale_out.latency_s->value : 0;
  q.deployment = std::move(*prefill);
  q.decode = std::move(*decode);
  q.modelable = true;
  q.notes.push_back(fmt::format("disaggregated (notes): prefill {} chips {}, decode {} chips {}, KV over scale-out",
                                layout.prefill.chips, q.deployment.describe(), layout.decode.chips,
                                q.decode->describe()));
}

namespace {

struct PhaseTimes {
  double prefill_s = 0;  // all prompts of one batch, in activation-budget chunks
  double decode_s = 0;   // one decode step of the batch
};

// One batch of `b` requests run to completion on one replica (static batching).
PhaseTimes batch_times(const cost::StepCostModel& m, double b, double isl, double osl) {
  const auto& e = *m.deployment().efficiency;
  PhaseTimes t;
  const double tokens = b * isl;
  const double chunks = std::max(1.0, std::ceil(tokens / std::max(1.0, e.activation_tokens)));
  cost::Batch pre;
  pre.prefill_tokens = tokens / chunks;
  pre.prefill_prompt = isl;
  pre.prefill_seqs = b / chunks;
  const auto pieces = cost::chunked_prefill(isl, pre.prefill_tokens);
  if (pieces.chunks > 1) {
    pre.prefill_pieces = b * pieces.chunks / chunks;
    pre.prefill_prior = b * pieces.prior_tokens / chunks;
  }
  t.prefill_s = chunks * m.step(pre).time_s;
  cost::Batch dec;
  dec.decode_seqs = b;
  dec.decode_context = isl + osl / 2;
  t.decode_s = m.step(dec).time_s;
  return t;
}

struct Operating {
  double output_tok_s = 0;  // whole group
  double ttft_s = 0, tpot_s = 0, e2e_s = 0;
  double batch = 0;
};

}  // namespace

namespace {

// What a simulation gives a row: whole-run figures, or the steady window's when `steady` asks for
// it and the run has one; means, or medians for the median metrics; output tokens/s of the run.
Operating operating_point(const serving::Result& r, bool steady, const MeasuredRow& row) {
  steady = steady && r.steady.measured;
  const auto& win = r.steady.window;
  const auto& ttft = steady ? win.ttft_s : r.ttft_s;
  const auto& tpot = steady ? win.tpot_s : r.tpot_s;
  const auto& e2e = steady ? win.e2e_s : r.e2e_s;
  Operating op;
  op.output_tok_s = steady ? win.output_tok_s : r.output_tok_s;
  const bool median = row.metric == Metric::ttft_ms_median || row.metric == Metric::tpot_ms_median;
  op.ttft_s = median ? ttft.median : ttft.mean;
  op.tpot_s = median ? tpot.median : tpot.mean;
  if (row.osl <= 1 || op.tpot_s <= 0) op.tpot_s = e2e.mean;  // no second token: the request time
  op.e2e_s = e2e.mean;
  op.batch = steady ? r.steady.mean_in_system : r.mean_in_system;
  return op;
}

// The engine a row's replicas run: its profile's step policy and KV admission, the stated (or
// the profile's) token budget, at most `engine_cap` sequences (+inf: no cap).
serving::EngineConfig engine_config(const PreparedRow& p, const cost::StepCostModel& m, double engine_cap) {
  serving::EngineConfig engine;
  engine.scheduler = p.facts.scheduler;
  engine.kv_admission = p.facts.engine ? serving::kv_admission_for(*p.facts.engine) : serving::KvAdmission::whole_context;
  engine.max_running = std::isfinite(engine_cap) ? engine_cap : 0;
  engine.step_tokens = p.facts.step_tokens ? *p.facts.step_tokens
                       : p.facts.engine    ? p.facts.engine->token_budget
                                           : std::max(1.0, m.deployment().efficiency->activation_tokens);
  // A profile that swaps (vLLM V0 preemption_mode=swap): its default 4 GiB of swap space per chip
  // over the host link; a system without a host link figure recomputes.
  const auto& link = m.deployment().system->host.pcie_bandwidth_bytes_per_s_per_chip;
  if (p.facts.engine && p.facts.engine->preemption == "swap" && link) {
    engine.preemption = serving::EngineConfig::Preemption::swap;
    engine.swap_bytes = 4.0 * (1ull << 30);
    engine.swap_bytes_per_s = link->value;
    engine.swap_latency_s = serving::kDramLoadLatencyS;
  }
  return engine;
}

// The engine's cap on sequences in flight per replica: a stated cap (one stated per rank holds
// per attention-DP rank, each rank running its own batch; a TP group shares one batch), else the
// engine profile's default; +inf when neither states one.
double engine_limit(const PreparedRow& p, const cost::Deployment& d, Prediction& out) {
  if (p.facts.max_batch) {
    const double ranks = p.facts.max_batch_per_rank && d.attention_dp ? d.tp : 1;
    if (ranks > 1) out.notes.push_back(fmt::format("engine cap {} per rank x {} ranks", *p.facts.max_batch, ranks));
    return *p.facts.max_batch * ranks;
  }
  if (p.facts.engine && p.facts.engine->max_sequences > 0) {
    out.notes.push_back(
        fmt::format("engine default cap {:.0f} sequences ({})", p.facts.engine->max_sequences, p.facts.engine->id));
    return p.facts.engine->max_sequences;
  }
  return std::numeric_limits<double>::infinity();
}

// One unit's share of a row's request process, where `units` identical units serve it (the
// replicas of a colocated deployment, the slices of a disaggregated service; a router spreads
// the requests evenly): its clients, requests and arrival rate.
struct Share {
  double units = 1;     // units serving (fewer clients than units leave some idle)
  int clients = 0;      // closed loop
  double requests = 0;  // to simulate
  double rate = 0;      // open loop, req/s
  bool steady = false;  // measure over the steady window (an open-loop run of unstated length)
};

Share share_of(const PreparedRow& p, double units, const char* unit, Prediction& out) {
  const auto& row = *p.row;
  Share s;
  s.units = units;
  switch (row.scenario) {
    case Scenario::fixed_concurrency: {
      const double c = *row.concurrency;
      s.units = std::min(units, c);
      s.clients = std::max(1, static_cast<int>(std::lround(c / s.units)));
      s.requests = p.facts.requests ? std::ceil(*p.facts.requests / s.units) : std::max(20.0, 10.0 * s.clients);
      if (!p.facts.requests) out.notes.push_back("request count not stated: 10 per client simulated");
      break;
    }
    case Scenario::poisson_rate:
      s.rate = *row.request_rate / units;
      if (p.facts.requests) {
        // A finite benchmark of the stated requests: its figures are whole-run (total tokens over
        // first arrival to last completion, latency over every request), as the simulator's are.
        s.requests = std::ceil(*p.facts.requests / units);
      } else {
        // A server run of unstated length: long enough for the queue to settle (>= 600 s of
        // arrivals, bounded), measured over its steady window.
        s.requests = static_cast<double>(serving::open_loop_requests(s.rate, std::nullopt));
        s.steady = true;
        out.notes.push_back(fmt::format("request count not stated: {:.0f} per {} simulated ({:.0f} s of arrivals), "
                                        "steady window",
                                        s.requests, unit, s.requests / s.rate));
      }
      break;
    default:  // offline with a stated request count: all queued at t = 0
      s.requests = std::ceil(*p.facts.requests / units);
      break;
  }
  s.requests = std::max(1.0, s.requests);
  return s;
}

// The workload of one unit's share: its requests drawn with the row's lengths (seed 1).
serving::Workload workload_of(const PreparedRow& p, const Share& s) {
  const auto& row = *p.row;
  serving::Workload w;
  w.clients = s.clients;
  w.requests = serving::make_requests(static_cast<size_t>(s.requests), {row.isl, p.facts.length_spread},
                                      {row.osl, p.facts.length_spread}, s.rate, 1);
  return w;
}

// Runs the row's request process through the serving simulator (one replica; the others are
// identical and a router spreads requests evenly).
Operating simulate_row(const PreparedRow& p, const cost::StepCostModel& m, double engine_cap, Prediction& out) {
  const auto& row = *p.row;
  const auto engine = engine_config(p, m, engine_cap);
  const auto share = share_of(p, m.deployment().dp, "replica", out);
  const auto w = workload_of(p, share);
  const double replicas = share.units;
  const bool steady = share.steady;
  const auto r = serving::simulate(m, engine, w);
  Operating op = operating_point(r, steady, row);
  op.output_tok_s *= replicas;
  out.simulated = true;
  out.notes.push_back(fmt::format("simulated: {} requests per replica, {} steps, token budget {:.0f}, {} KV{}, {}",
                                  w.requests.size(), serving::to_string(engine.scheduler), engine.step_tokens,
                                  serving::to_string(engine.kv_admission),
                                  r.preemptions > 0 ? fmt::format(" ({} preemptions)", r.preemptions) : "",
                                  p.facts.scheduler_reason));
  return op;
}

// The row's metric from the operating point; `out` supported when it is a positive number.
Prediction finish(const MeasuredRow& row, const Operating& op, Prediction& out) {
  const double isl = row.isl, osl = row.osl;
  out.batch = op.batch;
  double v = 0;
  switch (row.metric) {
    case Metric::output_tok_s:
      v = op.output_tok_s;
      break;
    case Metric::total_tok_s:
      v = op.output_tok_s * (isl + osl) / osl;
      break;
    case Metric::input_tok_s:
      v = op.output_tok_s * isl / osl;
      break;
    case Metric::output_tok_s_per_user:
      v = 1.0 / op.tpot_s;
      break;
    case Metric::ttft_ms:
    case Metric::ttft_ms_median:
      v = op.ttft_s * 1e3;
      break;
    case Metric::tpot_ms:
    case Metric::tpot_ms_median:
      v = op.tpot_s * 1e3;
      break;
    case Metric::e2e_s:
      v = op.e2e_s;
      break;
  }
  if ((row.metric == Metric::ttft_ms_median || row.metric == Metric::tpot_ms_median) && !out.simulated)
    out.notes.push_back("median predicted as the mean (uniform requests)");
  if (!(v > 0) || !std::isfinite(v)) {
    out.reason = "prediction is not a positive number";
    return out;
  }
  out.supported = true;
  out.predicted = v;
  return out;
}

// A prefill/decode-disaggregated run: both pools and the KV transfer between them on one clock
// (serving::simulate_disaggregated), or, for the calibration's surrogate, a closed form: decode
// replicas in steady state at their share of the requests in flight, limited by the prefill
// pool's prompt rate, with Little's law for the time to first token.
bool predict_disaggregated(const PreparedRow& p, const cost::Efficiency& eff, bool simulate, double batch_hint,
                           Operating& op, Prediction& out) {
  const auto& row = *p.row;
  cost::Deployment pd = p.deployment, dd = *p.decode;
  pd.efficiency = &eff;
  dd.efficiency = &eff;
  const cost::StepCostModel pm(pd), dm(dd);
  for (const auto& [m, name] :
       {std::pair<const cost::StepCostModel*, const char*>{&pm, "prefill"}, {&dm, "decode"}}) {
    if (!m->memory().weights_fit) {
      out.reason = fmt::format("does not fit: {} pool: {}", name, m->memory().reason);
      return false;
    }
  }
  const double isl = row.isl, osl = row.osl;
  const bool paged = p.facts.engine && serving::kv_admission_for(*p.facts.engine) == serving::KvAdmission::paged;
  // Each pool's cap per replica: the engine's, and (whole-context KV) the requests its memory holds.
  Prediction scratch;  // the prefill pool's cap notes would repeat the decode pool's
  auto cap = [&](const cost::StepCostModel& m, double context) {
    const double limit = engine_limit(p, m.deployment(), &m == &dm ? out : scratch);
    return paged ? limit : std::min(limit, m.max_sequences(context));
  };
  const double cap_p = cap(pm, isl + 1), cap_d = cap(dm, isl + osl);
  if (pm.max_sequences(isl + 1) < 1 || dm.max_sequences(isl + osl) < 1) {
    out.reason = fmt::format("does not fit: not one request of {} tokens fits a {} replica's KV memory", isl + osl,
                             pm.max_sequences(isl + 1) < 1 ? "prefill" : "decode");
    return false;
  }
  const double np = pd.dp, nd = dd.dp;
  if (simulate) {
    // The service as g identical slices of np/g prefill and nd/g decode replicas, each with its
    // share of the clients or arrivals (g = gcd of the replica counts, at most the clients): one
    // slice is simulated and its throughput scaled, as a colocated row simulates one replica.
    const int whole = std::gcd(pd.dp, dd.dp);
    int g = whole;
    while (g > 1 && (whole % g != 0 || (row.scenario == Scenario::fixed_concurrency && g > *row.concurrency))) --g;
    const auto slices = static_cast<double>(g);
    serving::DisaggregatedService service;
    service.prefill = &pm;
    service.decode = &dm;
    service.prefill_replicas = static_cast<size_t>(np / slices);
    service.decode_replicas = static_cast<size_t>(nd / slices);
    service.prefill_engine = engine_config(p, pm, cap_p);
    service.decode_engine = engine_config(p, dm, cap_d);
    service.link = p.kv_link;
    const bool offline = row.scenario == Scenario::offline;
    if (!(offline || row.scenario == Scenario::fixed_concurrency || row.scenario == Scenario::poisson_rate)) {
      out.reason = fmt::format("disaggregated {} runs not modelled", to_string(row.scenario));
      return false;
    }
    if (offline && !p.facts.requests) {
      out.reason = "disaggregated offline run without a stated request count not modelled";
      return false;
    }
    const auto share = share_of(p, slices, "slice", out);
    const auto w = workload_of(p, share);
    serving::Result r;
    try {
      r = serving::simulate_disaggregated(service, w);
    } catch (const DiagnosticError& e) {
      out.reason = e.diagnostic().message;
      return false;
    }
    op = operating_point(r, share.steady, row);
    op.output_tok_s *= slices;
    op.batch /= nd / slices;  // per decode replica
    out.simulated = true;
    out.notes.push_back(fmt::format("simulated disaggregated: {} requests on {} prefill + {} decode replicas (1 of {:.0f} "
                                    "identical slices), token budget {:.0f}, {} KV, KV transfer mean {:.2f} ms",
                                    w.requests.size(), service.prefill_replicas, service.decode_replicas, slices,
                                    service.prefill_engine.step_tokens,
                                    serving::to_string(service.decode_engine.kv_admission),
                                    r.disaggregation.transfer_s.mean * 1e3));
    return true;
  }
  // Closed form: b requests per decode replica, decode steps without prompts mixed in.
  double b = std::clamp(batch_hint, 1.0, std::max(1.0, cap_d));
  if (row.scenario == Scenario::fixed_concurrency) b = std::clamp(*row.concurrency / nd, 1.0, std::max(1.0, cap_d));
  cost::Batch dec;
  dec.decode_seqs = b;
  dec.decode_context = isl + osl / 2;
  const double tpot = dm.step(dec).time_s;
  // The prefill pool's prompt rate at full batches of its token budget.
  const auto engine = engine_config(p, pm, cap_p);
  const double k = std::clamp(std::floor(engine.step_tokens / std::max(1.0, isl)), 1.0, std::max(1.0, cap_p));
  const auto t = batch_times(pm, k, isl, 1);
  const double prompt_rate = np * k / t.prefill_s;
  const double decode_rate = nd * b / (std::max(1.0, osl - 1) * tpot);
  const double req_per_s = std::min(prompt_rate, decode_rate);
  const auto one = batch_times(pm, 1, isl, 1);
  op.output_tok_s = req_per_s * osl;
  op.tpot_s = tpot;
  op.ttft_s = eff.request_overhead_s + one.prefill_s;
  if (row.scenario == Scenario::fixed_concurrency)  // Little's law over the request cycle
    op.ttft_s = std::max(op.ttft_s, *row.concurrency / req_per_s - (osl - 1) * tpot);
  op.e2e_s = op.ttft_s + (osl - 1) * tpot;
  op.batch = b;
  return true;
}

Prediction predict_impl(const PreparedRow& p, const cost::Efficiency& eff, bool simulate, double batch_hint) {
  Prediction out;
  out.notes = p.notes;
  out.efficiency_file = eff.file;
  if (!p.modelable) {
    out.reason = p.reason;
    return out;
  }
  const auto& row = *p.row;
  if (p.decode) {
    Operating op;
    if (!predict_disaggregated(p, eff, simulate, batch_hint, op, out)) return out;
    return finish(row, op, out);
  }
  cost::Deployment d = p.deployment;
  d.efficiency = &eff;
  const cost::StepCostModel m(d);
  const auto& mem = m.memory();
  if (!mem.weights_fit) {
    out.reason = "does not fit: " + mem.reason;
    return out;
  }
  const double isl = row.isl, osl = row.osl, dpf = d.dp;
  const double capacity = m.max_sequences(isl + osl);  // per replica
  if (capacity < 1) {
    out.reason = fmt::format("does not fit: not one request of {} tokens fits the KV memory", isl + osl);
    return out;
  }
  const double engine_limit = validate::engine_limit(p, d, out);  // the engine's sequence cap
  // Batches whose requests run in lockstep (static batches) reach their whole context together.
  const double lockstep_cap = std::min(capacity, engine_limit);
  // Requests in flight in a steady state: an engine that allocates paged KV on demand holds each
  // request's KV as it grows, at a steady mix of progress a mean context of isl + osl / 2 (the
  // simulator preempts when the mix runs out); one that reserves the whole context holds isl + osl.
  const bool paged = p.facts.engine && serving::kv_admission_for(*p.facts.engine) == serving::KvAdmission::paged;
  const double engine_cap = paged ? std::min(std::max(capacity, m.max_sequences(isl + osl / 2)), engine_limit)
                                  : lockstep_cap;

  Operating op;
  // A request process the simulator cannot run (a drawn request that can never fit) is
  // reported as unsupported with the simulator's reason.
  auto run_sim = [&] {
    try {
      // Paged KV: the simulator admits on the prompt's blocks, so only the engine's cap applies.
      op = simulate_row(p, m, paged ? engine_limit : engine_cap, out);
      return true;
    } catch (const DiagnosticError& e) {
      out.reason = e.diagnostic().message;
      return false;
    }
  };
  auto steady = [&](double per_replica) {
    const cost::Workload w{isl, osl, per_replica * dpf};
    const auto e = cost::estimate(m, w, false);
    op.output_tok_s = e.output_tok_s;
    op.tpot_s = e.tpot_s;
    op.ttft_s = e.ttft_s;
    op.e2e_s = e.ttft_s + (osl - 1) * e.tpot_s;
    op.batch = per_replica;
  };
  // `n` requests per replica at t=0, run as waves of at most `cap` (KV decides, static batching).
  auto waves = [&](double n) {
    const double k = std::ceil(n / lockstep_cap);
    const double b = n / k;
    const auto t = batch_times(m, b, isl, osl);
    const double wave_s = t.prefill_s + (osl - 1) * t.decode_s;
    // Every request first spends the engine's request overhead outside its steps.
    op.e2e_s = eff.request_overhead_s + k * wave_s;
    op.output_tok_s = dpf * n * osl / op.e2e_s;
    op.tpot_s = t.decode_s;
    op.ttft_s = eff.request_overhead_s + (k - 1) / 2 * wave_s + t.prefill_s * (b + 1) / (2 * b);
    op.batch = b;
  };
  switch (row.scenario) {
    case Scenario::offline: {
      // All requests queued: the engine runs at the largest batch memory (and any stated engine
      // cap) admits. A finite run that fits in one batch is one static batch.
      const double n = p.facts.requests ? *p.facts.requests / dpf : std::numeric_limits<double>::infinity();
      if (simulate && p.facts.requests) {
        if (!run_sim()) return out;
      } else if (n <= lockstep_cap) {
        waves(n);
      } else {
        steady(engine_cap);
        if (p.facts.requests) {
          // Requests beyond the first batch wait for a slot: mean wait of a deterministic drain.
          const double req_per_s = op.output_tok_s / dpf / osl;
          op.ttft_s += (n - engine_cap) * (n - engine_cap) / (2 * n) / req_per_s;
        } else {
          out.notes.push_back("request count not stated: TTFT excludes queueing");
        }
      }
      break;
    }
    case Scenario::static_batch:
      waves(*row.concurrency / dpf);
      break;
    case Scenario::single_stream:
      // One request at a time: its prefill runs alone, then its decode steps at batch 1 (no
      // other prompt's prefill is mixed into them).
      waves(1);
      break;
    case Scenario::fixed_concurrency: {
      if (simulate) {
        if (!run_sim()) return out;
        break;
      }
      const double c = *row.concurrency;
      const double per_replica = std::max(1.0, c / dpf);
      const double b = std::min(per_replica, engine_cap);
      steady(b);
      if (c < dpf) op.output_tok_s *= c / dpf;  // idle replicas
      if (b > 1) {
        // Benchmark clients start all `concurrency` requests together and near-uniform lengths
        // keep them in step (requests finish, and their replacements arrive, in bursts): a
        // prompt waits for the prompts of its burst ahead of it, prefilled in activation-budget
        // chunks. The steady-state TTFT (prefill alone) is the lower bound.
        const auto t = batch_times(m, b, isl, osl);
        op.ttft_s = std::max(op.ttft_s, eff.request_overhead_s + t.prefill_s * (b + 1) / (2 * b) + 0.5 * op.tpot_s);
      }
      if (per_replica > engine_cap) {
        // Closed loop beyond capacity: the excess waits (Little's law on the request cycle).
        const double req_per_s = op.output_tok_s / dpf / osl;
        op.ttft_s += (per_replica - engine_cap) / req_per_s;
        op.e2e_s = op.ttft_s + (osl - 1) * op.tpot_s;
        out.notes.push_back(fmt::format("concurrency above the {:.0f} requests that fit: excess queues", engine_cap));
      }
      break;
    }
    case Scenario::poisson_rate:
      if (!simulate) {
        steady(std::clamp(batch_hint, 1.0, engine_cap));
      } else if (!run_sim()) {
        return out;
      }
      break;
  }
  return finish(row, op, out);
}

}  // namespace

Prediction predict(const PreparedRow& p, const cost::Efficiency& eff) { return predict_impl(p, eff, true, 1); }

Prediction predict_closed_form(const PreparedRow& p, const cost::Efficiency& eff, double batch_hint) {
  return predict_impl(p, eff, false, batch_hint);
}

// ===================================================================== errors
std::vector<RowResult> evaluate(const std::vector<PreparedRow>& rows, const cost::EfficiencyTable& table) {
  std::vector<RowResult> out;
  out.reserve(rows.size());
  for (const auto& p : rows) {
    RowResult r;
    r.row = p.row;
    r.prediction = predict(p, table.for_family(p.family, p.facts.engine ? p.facts.engine->id : "default"));
    if (r.prediction.supported) r.ape = 100 * std::abs(r.prediction.predicted - p.row->value) / p.row->value;
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

ErrorStats stats(const std::vector<const RowResult*>& rs) {
  ErrorStats s;
  s.n = rs.size();
  std::vector<double> apes;
  for (const auto* r : rs)
    if (r->prediction.supported) apes.push_back(r->ape);
  s.supported = apes.size();
  if (apes.empty()) return s;
  s.median_ape = percentile(apes, 0.5);
  s.p90_ape = percentile(apes, 0.9);
  const double k = static_cast<double>(apes.size());
  s.within_10 = static_cast<double>(std::count_if(apes.begin(), apes.end(), [](double a) { return a <= 10; })) / k;
  s.within_25 = static_cast<double>(std::count_if(apes.begin(), apes.end(), [](double a) { return a <= 25; })) / k;
  s.within_50 = static_cast<double>(std::count_if(apes.begin(), apes.end(), [](double a) { return a <= 50; })) / k;
  return s;
}

template <class Key>
std::map<std::string, ErrorStats> by(const std::vector<RowResult>& results, Key key) {
  std::map<std::string, std::vector<const RowResult*>> groups;
  for (const auto& r : results) groups[key(*r.row)].push_back(&r);
  std::map<std::string, ErrorStats> out;
  for (const auto& [k, v] : groups) out[k] = stats(v);
  return out;
}

}  // namespace

Summary summarise(const std::vector<RowResult>& results) {
  Summary s;
  std::vector<const RowResult*> all, tput, lat;
  size_t supported_outside = 0;
  for (const auto& r : results) {
    all.push_back(&r);
    (is_throughput(r.row->metric) ? tput : lat).push_back(&r);
    if (r.row->scenario != Scenario::poisson_rate) {
      ++s.n_outside_poisson;
      if (r.prediction.supported) ++supported_outside;
    }
  }
  s.overall = stats(all);
  s.throughput = stats(tput);
  s.latency = stats(lat);
  s.coverage =
      s.n_outside_poisson ? static_cast<double>(supported_outside) / static_cast<double>(s.n_outside_poisson) : 0;
  s.supported_outside_poisson = supported_outside;
  s.by_hardware = by(results, [](const MeasuredRow& r) { return r.hardware; });
  s.by_model = by(results, [](const MeasuredRow& r) { return r.model; });
  s.by_metric = by(results, [](const MeasuredRow& r) { return std::string(to_string(r.metric)); });
  s.by_scenario = by(results, [](const MeasuredRow& r) { return std::string(to_string(r.scenario)); });
  s.by_group = by(results, [](const MeasuredRow& r) { return r.group; });
  s.by_group_kind = by(results, [](const MeasuredRow& r) {
    return r.group + (is_throughput(r.metric) ? "/throughput" : "/latency");
  });
  return s;
}

}  // namespace tf::validate
