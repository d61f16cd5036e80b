#include "validate/kernels.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <cmath>
#include <limits>
#include <set>
#include <string_view>

#include "core/diagnostic.hpp"
#include "core/hash.hpp"
#include "core/stats.hpp"
#include "cost/deployment.hpp"
#include "io/csv.hpp"
#include "io/text.hpp"
#include "io/yaml_reader.hpp"
#include "io/yaml_writer.hpp"

namespace tf::validate::kernels {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

const SystemMapping* KernelConfig::system_for_folder(const std::string& folder) const {
  for (const auto& s : systems)
    if (s.folder == folder) return &s;
  return nullptr;
}

const DtypeMapping* KernelConfig::dtype(const std::string& name) const {
  for (const auto& d : dtypes)
    if (d.name == name) return &d;
  return nullptr;
}

KernelConfig load_kernel_config(const fs::path& file, const hardware::Catalog& catalog) {
  const auto root = io::load_yaml_file(file);
  root.expect_keys({"systems", "dtypes", "exclude"});
  KernelConfig c;
  c.file = file.string();
  auto reason_of = [](const io::YamlNode& entry) {
    const auto r = entry.required("reason");
    auto s = r.as_string();
    if (s.empty()) r.fail("must say why");
    return s;
  };
  const auto systems = root.required("systems");
  for (const auto& folder : systems.keys()) {
    const auto e = systems.required(folder);
    e.expect_keys({"system", "family", "reason", "pool_collectives"});
    SystemMapping m{folder, e.required("system").as_string(), e.required("family").as_string(), reason_of(e)};
    if (e.has("pool_collectives")) m.pool_collectives = e.required("pool_collectives").as_bool();
    const auto* spec = catalog.find(m.system_id);
    if (!spec) {
      const auto close = closest_match(m.system_id, catalog.ids());
      e.required("system").fail(fmt::format("'{}' is not a system in the hardware catalog", m.system_id),
                                close.empty() ? "see `tokenfactory catalog`" : fmt::format("did you mean '{}'?", close));
    }
    if (spec->family != m.family)
      e.required("family").fail(fmt::format("catalog family of {} is '{}', not '{}'", m.system_id, spec->family,
                                            m.family),
                                fmt::format("see {}", spec->file));
    c.systems.push_back(std::move(m));
  }
  const auto dtypes = root.required("dtypes");
  for (const auto& name : dtypes.keys()) {
    const auto e = dtypes.required(name);
    e.expect_keys({"weights", "activations", "reason"});
    auto precision = [&](const char* key) {
      const auto n = e.required(key);
      const auto p = precision_from_string(n.as_string());
      if (!p) n.fail(fmt::format("unknown precision '{}'", n.as_string()), "valid: " + join(precision_names()));
      return *p;
    };
    c.dtypes.push_back(DtypeMapping{name, precision("weights"), precision("activations"), reason_of(e)});
  }
  if (auto ex = root.optional("exclude")) {
    for (const auto& e : ex->items()) {
      e.expect_keys({"backend", "table", "dtype", "kernel_contains", "reason"});
      Exclusion x;
      auto text = [&](const char* key) { return e.has(key) ? e.required(key).as_string() : std::string(); };
      x.backend = text("backend");
      x.table = text("table");
      x.dtype = text("dtype");
      x.kernel_contains = text("kernel_contains");
      x.reason = reason_of(e);
      c.exclusions.push_back(std::move(x));
    }
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Reading: one CSV at a time, fields as views into the file text (no per-row allocation)
// ---------------------------------------------------------------------------------------------

namespace {

// The tables the fits use; every other table in a folder is left unread.
enum class Table { gemm, context_attention, generation_attention, moe, custom_allreduce, nccl };
constexpr std::array<std::pair<Table, std::string_view>, 6> kTables{{
    {Table::gemm, "gemm_perf"},
    {Table::context_attention, "context_attention_perf"},
    {Table::generation_attention, "generation_attention_perf"},
    {Table::moe, "moe_perf"},
    {Table::custom_allreduce, "custom_allreduce_perf"},
    {Table::nccl, "nccl_perf"},
}};

std::string_view table_name(Table t) {
  for (const auto& [k, v] : kTables)
    if (k == t) return v;
  return "?";
}


// Constant columns the curation dropped from a file (MANIFEST.csv constant_columns_dropped):
// file -> column -> value. A column missing from a header is taken from here before it counts
// as missing.
using Constants = std::map<std::string, std::map<std::string, std::string>>;

Constants read_manifest(const fs::path& path, const std::string& text) {
  Constants out;
  const auto records = io::parse_csv(text, path.string());
  if (records.empty()) return out;
  const auto& h = records.front().fields;
  const auto col = [&](const char* name) -> size_t {
    const auto it = std::find(h.begin(), h.end(), name);
    if (it == h.end()) fail_at(path.string(), records.front().line, name, fmt::format("missing column '{}'", name));
    return static_cast<size_t>(it - h.begin());
  };
  const size_t file_col = col("file"), const_col = col("constant_columns_dropped");
  for (size_t r = 1; r < records.size(); ++r) {
    const auto& f = records[r].fields;
    if (f.size() != h.size())
      fail_at(path.string(), records[r].line, "", fmt::format("{} fields, the header has {}", f.size(), h.size()));
    auto& m = out[f[file_col]];
    std::string_view rest = f[const_col];
    while (!rest.empty()) {
      const auto semi = rest.find(';');
      const auto item = rest.substr(0, semi);
      if (const auto eq = item.find('='); eq != std::string_view::npos)
        m[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
      if (semi == std::string_view::npos) break;
      rest = rest.substr(semi + 1);
    }
  }
  return out;
}

class CsvReader {
 public:
  CsvReader(std::string text, std::string file, const std::map<std::string, std::string>* constants)
      : text_(std::move(text)), file_(std::move(file)), constants_(constants) {
    if (!next_line()) fail_at(file_, 1, "", "empty file: expected a header row");
    header_line_ = line_;
    for (const auto f : fields_) header_.emplace_back(f);
    for (size_t i = 0; i < header_.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (header_[i] == header_[j])
          fail_at(file_, line_, header_[i], fmt::format("duplicate column '{}'", header_[i]), {},
                  static_cast<int>(i + 1));
  }

  struct Column {
    std::string name;
    int index = -1;           // field index, or -1 when taken from `constant`
    std::string constant;
  };
  // A required column: in the header, else a constant the curation dropped (MANIFEST), else
  // `fallback` when given, else a DiagnosticError naming the file and the column.
  Column column(const std::string& name, const char* fallback = nullptr) const {
    Column c;
    c.name = name;
    for (size_t i = 0; i < header_.size(); ++i)
      if (header_[i] == name) {
        c.index = static_cast<int>(i);
        return c;
      }
    if (constants_) {
      if (auto it = constants_->find(name); it != constants_->end()) {
        c.constant = it->second;
        return c;
      }
    }
    if (fallback) {
      c.constant = fallback;
      return c;
    }
    fail_at(file_, header_line_, name, fmt::format("missing column '{}'", name), "columns: " + join(header_));
  }

  // Advances to the next record; false at the end of the file.
  bool next() {
    if (!next_line()) return false;
    if (fields_.size() != header_.size())
      fail_at(file_, line_, "", fmt::format("{} fields, the header has {}", fields_.size(), header_.size()),
              "one value per column, comma-separated");
    ++rows_;
    return true;
  }

  [[nodiscard]] std::string_view text(const Column& c) const {
    return c.index >= 0 ? fields_[static_cast<size_t>(c.index)] : std::string_view(c.constant);
  }
  [[nodiscard]] std::string str(const Column& c) const { return std::string(text(c)); }

  // A finite number; `positive` also requires > 0.
  double number(const Column& c, bool positive = true) const {
    const auto sv = text(c);
    double v = 0;
    const auto* end = sv.data() + sv.size();
    const auto r = std::from_chars(sv.data(), end, v);
    if (sv.empty() || r.ec != std::errc() || r.ptr != end || !std::isfinite(v))
      bad(c, fmt::format("'{}' is not a number", sv));
    if (positive && !(v > 0)) bad(c, fmt::format("{} must be > 0", v));
    return v;
  }
  // A whole number >= `min`.
  long long integer(const Column& c, long long min = 1) const {
    const auto sv = text(c);
    long long v = 0;
    const auto* end = sv.data() + sv.size();
    const auto r = std::from_chars(sv.data(), end, v);
    if (sv.empty() || r.ec != std::errc() || r.ptr != end) bad(c, fmt::format("'{}' is not a whole number", sv));
    if (v < min) bad(c, fmt::format("{} must be >= {}", v, min));
    return v;
  }
  [[noreturn]] void bad(const Column& c, const std::string& message) const {
    // A value taken from the manifest has no column of its own: point at the header.
    fail_at(file_, c.index >= 0 ? line_ : header_line_, c.name, message,
            c.index >= 0 ? std::string() : "value from MANIFEST.csv constant_columns_dropped",
            c.index >= 0 ? c.index + 1 : 0);
  }
  [[nodiscard]] size_t rows() const { return rows_; }
  [[nodiscard]] size_t bytes() const { return text_.size(); }

 private:
  // Splits the next non-blank line into fields_. Quoted fields lose their quotes (these tables
  // hold numbers and identifiers; a quote that does not close on its line is an error).
  bool next_line() {
    while (pos_ < text_.size()) {
      const size_t start = pos_;
      size_t end = text_.find('\n', start);
      if (end == std::string::npos) end = text_.size();
      pos_ = end + 1;
      ++line_;
      std::string_view l(text_.data() + start, end - start);
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      if (l.empty()) continue;
      fields_.clear();
      size_t i = 0;
      for (;;) {
        if (i < l.size() && l[i] == '"') {
          const size_t close = l.find('"', i + 1);
          if (close == std::string_view::npos)
            fail_at(file_, line_, "", "unterminated quoted field", {}, static_cast<int>(fields_.size() + 1));
          fields_.push_back(l.substr(i + 1, close - i - 1));
          i = close + 1;
          if (i < l.size() && l[i] != ',')
            fail_at(file_, line_, "", "unexpected text after a closing quote", {},
                    static_cast<int>(fields_.size()));
        } else {
          const size_t comma = l.find(',', i);
          const size_t stop = comma == std::string_view::npos ? l.size() : comma;
          fields_.push_back(l.substr(i, stop - i));
          i = stop;
        }
        if (i >= l.size()) break;
        ++i;  // the comma
        if (i == l.size()) {
          fields_.emplace_back();  // trailing empty field
          break;
        }
      }
      return true;
    }
    return false;
  }

  std::string text_;
  std::string file_;
  const std::map<std::string, std::string>* constants_;
  std::vector<std::string> header_;
  std::vector<std::string_view> fields_;
  size_t pos_ = 0;
  int line_ = 0;
  int header_line_ = 0;
  size_t rows_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Samples: one row of a table in the cost model's terms
// ---------------------------------------------------------------------------------------------

constexpr uint8_t kLarge = 1;     // GEMM with n, k >= 1024 (the per-m table's shape set)
constexpr uint8_t kPowerLaw = 2;  // MoE row with power-law routing

struct Sample {
  double tc = 0;    // FLOPs / dense peak of the math format: compute time at peak, s
  double tm = 0;    // bytes in the max() term / peak bandwidth, s
  double tx = 0;    // bytes added after the max() (MoE permutation traffic) / peak bandwidth, s
  double tq = 0;    // prefill attention: Q, K, V reads and O writes / peak bandwidth, s (diagnostic)
  double t = 0;     // measured latency, s
  double lt = 0;    // log(t)
  double axis = 0;  // the shape axis of the report tables (m, isl, KV tokens, tokens/expert, bytes)
  double axis2 = 0; // GEMM weight bytes, attention batch, MoE tokens
  uint16_t group = 0;   // floor group: dtype index in the config (0 where one floor is shared)
  uint16_t system = 0;  // index of the system in the config
  uint16_t gpus = 0;    // all-reduce group size
  uint8_t flags = 0;
};

struct SampleSet {
  std::vector<Sample> rows;
  std::set<std::string> sources;           // "<backend>-<version>" folders read
  std::map<std::string, size_t> excluded;  // reason -> rows left out
  void add(const SampleSet& o) {
    rows.insert(rows.end(), o.rows.begin(), o.rows.end());
    sources.insert(o.sources.begin(), o.sources.end());
    for (const auto& [k, v] : o.excluded) excluded[k] += v;
  }
};

using BackendSets = std::map<Table, SampleSet>;

// Mean keys attended per prompt token of a causal prompt (cost::StepCostModel::mean_prefill_keys
// for a full or sliding window).
double mean_prefill_keys(double prompt, double window) {
  if (window <= 0 || prompt <= window) return prompt / 2;
  return window - window * window / (2 * prompt);
}

// Keys a decoding token at `context` attends (StepCostModel::keys, sliding window).
double decode_keys(double context, double window) {
  return window > 0 && context > window ? window : context;
}

struct ReadContext {
  const KernelConfig& config;
  const hardware::SystemSpec& system;
  uint16_t system_index;
  std::string backend;
  std::string source;  // "<backend>-<version>"
  std::vector<const Exclusion*> exclusions;  // those of this backend and table
};

const Exclusion* excluded_by(const ReadContext& c, std::string_view dtype, std::string_view kernel) {
  for (const auto* x : c.exclusions) {
    if (!x->dtype.empty() && x->dtype != dtype) continue;
    if (!x->kernel_contains.empty() && kernel.find(x->kernel_contains) == std::string_view::npos) continue;
    return x;
  }
  return nullptr;
}

uint16_t dtype_index(const KernelConfig& c, const DtypeMapping* d) {
  return static_cast<uint16_t>(d - c.dtypes.data());
}

double hbm_bandwidth(const hardware::SystemSpec& s) { return s.main_memory().bandwidth_bytes_per_s.value; }

// Dense peak of a math format (cost::peak_rate: bf16 and fp16 stand in for each other).
std::optional<double> peak_for(const hardware::SystemSpec& s, Precision math) {
  return cost::peak_rate(s, info(math).compute_class);
}

void read_table(Table table, CsvReader& r, const ReadContext& c, SampleSet& out) {
  const double hbm = hbm_bandwidth(c.system);
  auto skip = [&](const std::string& why) { ++out.excluded[why]; };
  auto unmapped = [&](std::string_view d) {
    skip(fmt::format("{}: dtype '{}' is not in {}", table_name(table), d, fs::path(c.config.file).filename().string()));
  };
  auto no_peak = [&](Precision p) {
    skip(fmt::format("{}: {} has no {} peak in the catalog", table_name(table), c.system.id,
                     to_string(info(p).compute_class)));
  };
  auto push = [&](Sample s, double latency_ms) {
    s.t = latency_ms * 1e-3;
    s.lt = std::log(s.t);
    s.system = c.system_index;
    out.rows.push_back(s);
  };
  switch (table) {
    case Table::gemm: {
      const auto dt = r.column("gemm_dtype"), m = r.column("m"), n = r.column("n"), k = r.column("k"),
                 lat = r.column("latency"), ks = r.column("kernel_source", "");
      while (r.next()) {
        const auto dname = r.text(dt);
        const double M = static_cast<double>(r.integer(m)), N = static_cast<double>(r.integer(n)),
                     K = static_cast<double>(r.integer(k)), ms = r.number(lat);
        if (const auto* x = excluded_by(c, dname, r.text(ks))) {
          skip(x->reason);
          continue;
        }
        const auto* d = c.config.dtype(std::string(dname));
        if (!d) {
          unmapped(dname);
          continue;
        }
        const auto peak = peak_for(c.system, d->activations);
        if (!peak) {
          no_peak(d->activations);
          continue;
        }
        const double wb = info(d->weights).bytes_per_element, ab = info(d->activations).bytes_per_element;
        Sample s;
        s.tc = 2 * M * N * K / *peak;
        // x [m, k] in the activations' format, W [n, k] in the weights', y [m, n] in bf16.
        s.tm = (M * K * ab + N * K * wb + M * N * 2) / hbm;
        s.axis = M;
        s.axis2 = N * K * wb;
        s.group = dtype_index(c.config, d);
        s.flags = N >= 1024 && K >= 1024 ? kLarge : 0;
        push(s, ms);
      }
      break;
    }
    case Table::context_attention:
    case Table::generation_attention: {
      const bool prefill = table == Table::context_attention;
      const auto b = r.column("batch_size"), h = r.column("num_heads"), kv = r.column("num_key_value_heads"),
                 hd = r.column("head_dim"), win = r.column("window_size", "0"), ad = r.column("attn_dtype", "bfloat16"),
                 kvd = r.column("kv_cache_dtype"), lat = r.column("latency"), ks = r.column("kernel_source", "");
      const auto len = r.column(prefill ? "isl" : "step");
      while (r.next()) {
        const double B = static_cast<double>(r.integer(b)), H = static_cast<double>(r.integer(h)),
                     KV = static_cast<double>(r.integer(kv)), D = static_cast<double>(r.integer(hd)),
                     W = static_cast<double>(r.integer(win, 0)), L = static_cast<double>(r.integer(len, 0)),
                     ms = r.number(lat);
        const auto aname = r.text(ad), kvname = r.text(kvd);
        if (const auto* x = excluded_by(c, kvname, r.text(ks))) {
          skip(x->reason);
          continue;
        }
        const auto* a = c.config.dtype(std::string(aname));
        const auto* kd = c.config.dtype(std::string(kvname));
        if (!a || !kd) {
          unmapped(!a ? aname : kvname);
          continue;
        }
        const auto peak = peak_for(c.system, a->activations);
        if (!peak) {
          no_peak(a->activations);
          continue;
        }
        const double kv_token_bytes = 2 * KV * D * info(kd->weights).bytes_per_element;
        Sample s;
        if (prefill) {
          if (L < 1) r.bad(len, "isl must be >= 1");
          // Causal prefill: 4 x heads x head_dim FLOPs per (query, key) pair, mean keys per
          // query isl/2 (window-capped); the new tokens' KV is written.
          s.tc = 4 * H * D * B * L * mean_prefill_keys(L, W) / *peak;
          s.tm = B * L * kv_token_bytes / hbm;
          s.tq = B * L * (2 * H + 2 * KV) * D * info(a->activations).bytes_per_element / hbm;
          s.axis = L;
        } else {
          // `step` tokens are cached; the new token attends step + 1 (window-capped).
          const double keys = decode_keys(L + 1, W);
          s.tc = 4 * H * D * B * keys / *peak;
          s.tm = B * keys * kv_token_bytes / hbm;
          s.axis = B * keys;
        }
        s.axis2 = B;
        push(s, ms);
      }
      break;
    }
    case Table::moe: {
      const auto dt = r.column("moe_dtype"), tok = r.column("num_tokens"), hid = r.column("hidden_size"),
                 inter = r.column("inter_size"), topk = r.column("topk"), ne = r.column("num_experts"),
                 tp = r.column("moe_tp_size"), ep = r.column("moe_ep_size"), dist = r.column("distribution"),
                 lat = r.column("latency"), ks = r.column("kernel_source", "");
      while (r.next()) {
        const double T = static_cast<double>(r.integer(tok)), Hd = static_cast<double>(r.integer(hid)),
                     I = static_cast<double>(r.integer(inter)), K = static_cast<double>(r.integer(topk)),
                     E = static_cast<double>(r.integer(ne)), TP = static_cast<double>(r.integer(tp)),
                     EP = static_cast<double>(r.integer(ep)), ms = r.number(lat);
        const auto dname = r.text(dt), kernel = r.text(ks), distribution = r.text(dist);
        if (const auto* x = excluded_by(c, dname, kernel)) {
          skip(x->reason);
          continue;
        }
        uint8_t flags = 0;
        if (distribution.rfind("power_law", 0) == 0) {
          flags = kPowerLaw;
        } else if (distribution != "balanced") {
          skip(fmt::format("moe_perf: distribution '{}'", distribution));
          continue;
        }
        const auto* d = c.config.dtype(std::string(dname));
        if (!d) {
          unmapped(dname);
          continue;
        }
        const auto peak = peak_for(c.system, d->activations);
        if (!peak) {
          no_peak(d->activations);
          continue;
        }
        // One rank of a moe_tp x moe_ep group: E/ep experts of inter/tp each; gated experts have
        // three matrices (gate, up, down), "nongated" kernels two. Balanced routing spreads the
        // T x k token copies evenly, so a rank holds T k / ep of them on min(E, T k) / ep experts.
        const double mats = kernel.find("nongated") != std::string_view::npos ? 2 : 3;
        const double slice = mats * Hd * I / TP;  // elements of one expert on this rank
        const double copies = T * K / EP;
        const double touched = std::min(E, T * K) / EP;
        Sample s;
        s.tc = 2 * slice * copies / *peak;
        s.tm = touched * slice * info(d->weights).bytes_per_element / hbm;
        // Permute in, unpermute and combine out: 4 passes of each copy's hidden state
        // (StepCostModel moe_perm_bytes_per_copy_), added after the roofline.
        s.tx = copies * 4 * Hd * info(d->activations).bytes_per_element / hbm;
        s.axis = T * K / E;
        s.axis2 = T;
        s.group = dtype_index(c.config, d);
        s.flags = flags;
        push(s, ms);
      }
      break;
    }
    case Table::custom_allreduce:
    case Table::nccl: {
      const bool nccl = table == Table::nccl;
      const auto dt = r.column(nccl ? "nccl_dtype" : "allreduce_dtype"), g = r.column("num_gpus"),
                 msz = r.column("message_size"), lat = r.column("latency"), ks = r.column("kernel_source", ""),
                 op = r.column("op_name", "all_reduce");
      const double domain = c.system.scale_up_domain_chips.value;
      while (r.next()) {
        const double n = static_cast<double>(r.integer(g, 2)), elems = static_cast<double>(r.integer(msz)),
                     ms = r.number(lat);
        const auto dname = r.text(dt), opname = r.text(op);
        if (nccl && opname != "all_reduce") {
          skip(fmt::format("nccl_perf: {} (only all_reduce is fitted)", opname));
          continue;
        }
        if (const auto* x = excluded_by(c, dname, r.text(ks))) {
          skip(x->reason);
          continue;
        }
        // message_size counts elements: 2 bytes each for bfloat16/half (README).
        if (dname != "bfloat16" && dname != "half") {
          skip(fmt::format("{}: dtype '{}' (16-bit all-reduce only, as tensor parallelism sends)", table_name(table),
                           dname));
          continue;
        }
        const bool up = n <= domain;
        const auto& link = up ? c.system.scale_up : c.system.scale_out;
        if (!link.bandwidth_bytes_per_s) {
          skip(fmt::format("{}: {} states no {} bandwidth", table_name(table), c.system.id,
                           up ? "scale-up" : "scale-out"));
          continue;
        }
        // As StepCostModel's link(): per-direction bandwidth; a full mesh gives n - 1 of D - 1 links.
        double bw = link.bandwidth_bytes_per_s->value;
        if (up && link.topology == hardware::Topology::full_mesh && domain > 1)
          bw *= std::min(n - 1, domain - 1) / (domain - 1);
        const double bytes = 2 * elems;
        Sample s;
        s.tm = 2 * (n - 1) / n * bytes / bw;
        s.axis = bytes;
        s.axis2 = n;
        s.gpus = static_cast<uint16_t>(n);
        push(s, ms);
      }
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Fitting: least squares on log latency, Levenberg-Marquardt in log-parameters
// ---------------------------------------------------------------------------------------------

constexpr size_t kMinRows = 10;       // rows a parameter needs to count as identified
constexpr double kRegimeRatio = 2.0;  // fit set: one roofline term at least twice the other

struct Params {
  double c = 1, m = 1;
  std::vector<double> floor;  // per group, s
};

double predict(const Sample& s, const Params& p) {
  const double a = s.tc > 0 ? s.tc / p.c : 0;
  const double b = s.tm / p.m;
  return std::max(a, b) + s.tx / p.m + p.floor[s.group];
}

bool solve(std::vector<double> a, std::vector<double> b, size_t d, std::vector<double>& x) {
  for (size_t col = 0; col < d; ++col) {
    size_t piv = col;
    for (size_t r = col + 1; r < d; ++r)
      if (std::abs(a[r * d + col]) > std::abs(a[piv * d + col])) piv = r;
    if (std::abs(a[piv * d + col]) < 1e-300) return false;
    if (piv != col) {
      for (size_t k = 0; k < d; ++k) std::swap(a[col * d + k], a[piv * d + k]);
      std::swap(b[col], b[piv]);
    }
    for (size_t r = col + 1; r < d; ++r) {
      const double f = a[r * d + col] / a[col * d + col];
      for (size_t k = col; k < d; ++k) a[r * d + k] -= f * a[col * d + k];
      b[r] -= f * b[col];
    }
  }
  x.assign(d, 0);
  for (size_t i = d; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < d; ++k) s -= a[i * d + k] * x[k];
    x[i] = s / a[i * d + i];
  }
  return true;
}

// Fits the free parameters (log c, log m, log floor_g) to rows[idx]; returns the loss.
double levenberg_marquardt(const std::vector<Sample>& rows, const std::vector<size_t>& idx, Params& p, bool free_c,
                           bool free_m, const std::vector<char>& free_floor) {
  std::vector<int> floor_param(p.floor.size(), -1);
  size_t d = 0;
  const int ic = free_c ? static_cast<int>(d++) : -1;
  const int im = free_m ? static_cast<int>(d++) : -1;
  for (size_t g = 0; g < p.floor.size(); ++g)
    if (free_floor[g]) floor_param[g] = static_cast<int>(d++);
  auto loss_of = [&](const Params& q) {
    double s = 0;
    for (const size_t i : idx) {
      const double r = std::log(predict(rows[i], q)) - rows[i].lt;
      s += r * r;
    }
    return s;
  };
  double loss = loss_of(p);
  if (d == 0 || idx.empty()) return loss;
  auto clamp = [](double v, double lo, double hi) { return std::min(hi, std::max(lo, v)); };
  double lambda = 1e-3;
  std::vector<double> jtj(d * d), jtr(d), grad(d), delta;
  for (int iter = 0; iter < 300; ++iter) {
    std::fill(jtj.begin(), jtj.end(), 0.0);
    std::fill(jtr.begin(), jtr.end(), 0.0);
    for (const size_t i : idx) {
      const auto& s = rows[i];
      const double a = s.tc > 0 ? s.tc / p.c : 0, b = s.tm / p.m, x = s.tx / p.m, f = p.floor[s.group];
      const double pred = std::max(a, b) + x + f;
      const double r = std::log(pred) - s.lt;
      std::fill(grad.begin(), grad.end(), 0.0);
      if (ic >= 0 && a >= b && a > 0) grad[static_cast<size_t>(ic)] = -a / pred;
      if (im >= 0) grad[static_cast<size_t>(im)] = -((b > a ? b : 0) + x) / pred;
      if (const int k = floor_param[s.group]; k >= 0) grad[static_cast<size_t>(k)] = f / pred;
      for (size_t u = 0; u < d; ++u) {
        if (grad[u] == 0) continue;
        jtr[u] += grad[u] * r;
        for (size_t v = 0; v < d; ++v) jtj[u * d + v] += grad[u] * grad[v];
      }
    }
    bool accepted = false;
    while (lambda < 1e12) {
      auto a = jtj;
      for (size_t u = 0; u < d; ++u) a[u * d + u] += lambda * (jtj[u * d + u] + 1e-12);
      std::vector<double> rhs(d);
      for (size_t u = 0; u < d; ++u) rhs[u] = -jtr[u];
      if (!solve(a, rhs, d, delta)) {
        lambda *= 4;
        continue;
      }
      Params q = p;
      if (ic >= 0) q.c = std::exp(clamp(std::log(p.c) + delta[static_cast<size_t>(ic)], std::log(1e-4), std::log(10.0)));
      if (im >= 0) q.m = std::exp(clamp(std::log(p.m) + delta[static_cast<size_t>(im)], std::log(1e-4), std::log(10.0)));
      for (size_t g = 0; g < p.floor.size(); ++g)
        if (floor_param[g] >= 0)
          q.floor[g] = std::exp(clamp(std::log(p.floor[g]) + delta[static_cast<size_t>(floor_param[g])],
                                      std::log(1e-10), std::log(10.0)));
      const double ql = loss_of(q);
      if (ql < loss) {
        const double gain = loss - ql;
        p = std::move(q);
        loss = ql;
        lambda = std::max(lambda / 3, 1e-12);
        accepted = true;
        if (gain <= 1e-12 * loss) return loss;
        break;
      }
      lambda *= 4;
    }
    if (!accepted) break;
  }
  return loss;
}

Quality quality_from(std::vector<double> ape) {
  Quality q;
  q.rows = ape.size();
  if (ape.empty()) return q;
  std::sort(ape.begin(), ape.end());
  q.median_ape_pct = percentile_sorted(ape, 0.5);
  q.p90_ape_pct = percentile_sorted(ape, 0.9);
  return q;
}

double ape_pct(const Sample& s, const Params& p) { return std::abs(predict(s, p) / s.t - 1) * 100; }

struct FitSpec {
  std::optional<double> compute, memory;  // held fixed when set
  std::vector<std::string> group_names;   // floor groups
  const std::vector<char>* mask = nullptr;  // fit set given (else: the clearly bound rows)
  double min_peak_s = 0;                  // fit set: roofline time at peak at least this
  const std::vector<double>* floors = nullptr;  // floors held fixed (per group) when set
};

double peak_time(const Sample& s) { return std::max(s.tc, s.tm) + s.tx; }

double median_of(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  return percentile_sorted(v, 0.5);
}

struct Fitted {
  RoofFit fit;
  Params params;
};

Fitted fit_roofline(const std::vector<Sample>& rows, const FitSpec& spec) {
  Fitted out;
  auto& f = out.fit;
  f.rows = rows.size();
  if (rows.size() < kMinRows) {
    f.note = fmt::format("{} rows: too few to fit", rows.size());
    return out;
  }
  Params p;
  p.floor.assign(spec.group_names.size(), 0);
  {
    // Start: median achieved fractions of the peak-bound rows, floors half the fastest 5%.
    std::vector<double> c0, m0;
    std::vector<std::vector<double>> t0(spec.group_names.size());
    for (const auto& s : rows) {
      if (s.tc >= s.tm && s.tc > 0) c0.push_back(s.tc / s.t);
      if (s.tm > s.tc) m0.push_back((s.tm + s.tx) / s.t);
      t0[s.group].push_back(s.t);
    }
    p.c = spec.compute.value_or(c0.empty() ? 0.5 : std::clamp(median_of(c0), 1e-3, 1.0));
    p.m = spec.memory.value_or(m0.empty() ? 0.5 : std::clamp(median_of(m0), 1e-3, 1.0));
    for (size_t g = 0; g < t0.size(); ++g) p.floor[g] = t0[g].empty() ? 1e-6 : 0.5 * percentile(t0[g], 0.05);
    if (spec.floors) p.floor = *spec.floors;
  }
  std::vector<char> in(rows.size(), 0), prev;
  std::vector<size_t> idx;
  bool free_c = false, free_m = false;
  for (int round = 0; round < 10; ++round) {
    for (size_t i = 0; i < rows.size(); ++i) {
      if (spec.mask) {
        in[i] = (*spec.mask)[i];
        continue;
      }
      const double a = rows[i].tc > 0 ? rows[i].tc / p.c : 0, b = rows[i].tm / p.m;
      in[i] = (a >= kRegimeRatio * b || b >= kRegimeRatio * a) && peak_time(rows[i]) >= spec.min_peak_s;
    }
    if (in == prev) break;
    prev = in;
    idx.clear();
    size_t nc = 0, nm = 0;
    std::vector<size_t> per_group(p.floor.size(), 0);
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!in[i]) continue;
      idx.push_back(i);
      const double a = rows[i].tc > 0 ? rows[i].tc / p.c : 0, b = rows[i].tm / p.m;
      (a >= b && a > 0 ? nc : nm) += 1;
      ++per_group[rows[i].group];
    }
    free_c = !spec.compute && nc >= kMinRows;
    free_m = !spec.memory && nm >= kMinRows;
    std::vector<char> free_floor(p.floor.size());
    for (size_t g = 0; g < p.floor.size(); ++g) free_floor[g] = per_group[g] > 0 && !spec.floors;
    levenberg_marquardt(rows, idx, p, free_c, free_m, free_floor);
    if (spec.mask) break;
  }
  f.fitted = true;
  f.compute_fraction = p.c;
  f.memory_fraction = p.m;
  f.compute_fixed = spec.compute.has_value();
  f.memory_fixed = spec.memory.has_value();
  f.compute_identified = free_c;
  f.memory_identified = free_m;
  f.fit_rows = idx.size();
  std::vector<double> all, fit;
  std::vector<size_t> per_group(p.floor.size(), 0);
  for (size_t i = 0; i < rows.size(); ++i) {
    const double e = ape_pct(rows[i], p);
    all.push_back(e);
    ++per_group[rows[i].group];
    if (!in[i]) continue;
    fit.push_back(e);
    const double a = rows[i].tc > 0 ? rows[i].tc / p.c : 0, b = rows[i].tm / p.m;
    (a >= b && a > 0 ? f.compute_rows : f.memory_rows) += 1;
  }
  f.all = quality_from(std::move(all));
  f.fit = quality_from(std::move(fit));
  for (size_t g = 0; g < p.floor.size(); ++g)
    if (per_group[g]) f.floors_s.emplace_back(spec.group_names[g], p.floor[g]);
  out.params = std::move(p);
  return out;
}

std::vector<std::string> dtype_groups(const KernelConfig& c) {
  std::vector<std::string> g;
  for (const auto& d : c.dtypes) g.push_back(d.name);
  return g;
}

const std::vector<std::string> kOneGroup{"all"};

std::vector<Sample> where(const std::vector<Sample>& rows, const std::function<bool(const Sample&)>& keep) {
  std::vector<Sample> out;
  for (const auto& s : rows)
    if (keep(s)) out.push_back(s);
  return out;
}

LinkFit fit_link(const std::vector<Sample>& rows, int gpus) {
  LinkFit l;
  l.num_gpus = gpus;
  l.rows = rows.size();
  if (rows.size() < 4) return l;
  // Latency from small messages, bandwidth from large ones, fitted jointly on those rows.
  std::vector<char> ends(rows.size()), every(rows.size(), 1);
  size_t small = 0, large = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const bool s = rows[i].axis <= 64.0 * 1024, b = rows[i].axis >= 64.0 * 1024 * 1024;
    small += s;
    large += b;
    ends[i] = s || b;
  }
  if (small < 2 || large < 2) return l;
  FitSpec spec;
  spec.compute = 1.0;  // no compute term
  spec.group_names = kOneGroup;
  spec.mask = &ends;
  const auto e = fit_roofline(rows, spec);
  spec.mask = &every;
  const auto a = fit_roofline(rows, spec);
  l.fitted = e.fit.fitted;
  l.latency_s = e.params.floor[0];
  l.network_fraction = e.params.m;
  l.ends = e.fit.fit;
  l.all = e.fit.all;
  l.latency_all_s = a.params.floor[0];
  l.network_fraction_all = a.params.m;
  l.all_fit = a.fit.all;
  return l;
}

struct FittedTables {
  TableFits fits;
  Params gemm, context, generation, moe, allreduce;
};

struct RoofSet {
  RoofFit gemm, context, generation, moe;
  std::vector<std::pair<std::string, RoofFit>> gemm_by_dtype;
  Params gemm_p, context_p, generation_p, moe_p;
};

// GEMM, then prefill attention (bandwidth held at the GEMM's), then decode attention (compute held
// at the prefill's), then MoE, with fit sets limited to kernels of at least `min_peak_s` at peak;
// with `floors_from`, every floor is held at that fit's (a floor fitted to large kernels alone is
// an intercept of their ramp, not the fixed cost of a small kernel).
RoofSet fit_roofs(const BackendSets& sets, const KernelConfig& config, double min_peak_s, bool by_dtype,
                  const RoofSet* floors_from) {
  RoofSet out;
  auto rows_of = [&](Table t) -> const std::vector<Sample>* {
    const auto it = sets.find(t);
    return it == sets.end() ? nullptr : &it->second.rows;
  };
  const auto groups = dtype_groups(config);
  std::optional<double> gemm_memory;
  if (const auto* rows = rows_of(Table::gemm)) {
    FitSpec spec;
    spec.group_names = groups;
    spec.min_peak_s = min_peak_s;
    if (floors_from && floors_from->gemm.fitted) spec.floors = &floors_from->gemm_p.floor;
    auto g = fit_roofline(*rows, spec);
    out.gemm = g.fit;
    out.gemm_p = g.params;
    if (g.fit.fitted && g.fit.memory_identified) gemm_memory = g.params.m;
    for (size_t d = 0; by_dtype && d < config.dtypes.size(); ++d) {
      const auto sub = where(*rows, [&](const Sample& s) { return s.group == d; });
      if (sub.empty()) continue;
      out.gemm_by_dtype.emplace_back(config.dtypes[d].name, fit_roofline(sub, spec).fit);
    }
  }
  std::optional<double> attention_compute;
  if (const auto* rows = rows_of(Table::context_attention)) {
    FitSpec spec;
    spec.group_names = kOneGroup;
    spec.min_peak_s = min_peak_s;
    // The KV written by a prefill is small next to its FLOPs: held at the GEMM bandwidth fraction.
    spec.memory = gemm_memory.value_or(1.0);
    if (floors_from && floors_from->context.fitted) spec.floors = &floors_from->context_p.floor;
    auto c = fit_roofline(*rows, spec);
    out.context = c.fit;
    out.context.note = gemm_memory ? "memory fraction held at the GEMM fit's" : "memory fraction held at 1 (no GEMM fit)";
    out.context_p = c.params;
    if (c.fit.fitted && c.fit.compute_identified) attention_compute = c.params.c;
  }
  if (const auto* rows = rows_of(Table::generation_attention)) {
    FitSpec spec;
    spec.group_names = kOneGroup;
    spec.min_peak_s = min_peak_s;
    spec.compute = attention_compute.value_or(1.0);
    if (floors_from && floors_from->generation.fitted) spec.floors = &floors_from->generation_p.floor;
    auto g = fit_roofline(*rows, spec);
    out.generation = g.fit;
    out.generation.note = attention_compute ? "compute fraction held at the prefill-attention fit's"
                                            : "compute fraction held at 1 (no prefill-attention fit)";
    out.generation_p = g.params;
  }
  if (const auto* rows = rows_of(Table::moe)) {
    const auto balanced = where(*rows, [](const Sample& s) { return !(s.flags & kPowerLaw); });
    FitSpec spec;
    spec.group_names = groups;
    spec.min_peak_s = min_peak_s;
    if (floors_from && floors_from->moe.fitted) spec.floors = &floors_from->moe_p.floor;
    auto m = fit_roofline(balanced, spec);
    out.moe = m.fit;
    out.moe_p = m.params;
  }
  return out;
}

FittedTables fit_tables(const BackendSets& sets, const KernelConfig& config, bool table_wide) {
  FittedTables out;
  auto& f = out.fits;
  std::map<std::string, size_t> excluded;
  auto rows_of = [&](Table t) -> const std::vector<Sample>* {
    const auto it = sets.find(t);
    return it == sets.end() ? nullptr : &it->second.rows;
  };
  for (const auto& [t, s] : sets) {
    for (const auto& [k, v] : s.excluded) excluded[k] += v;
    f.sources.insert(f.sources.end(), s.sources.begin(), s.sources.end());
  }
  std::sort(f.sources.begin(), f.sources.end());
  f.sources.erase(std::unique(f.sources.begin(), f.sources.end()), f.sources.end());
  f.excluded.assign(excluded.begin(), excluded.end());
  for (const auto& [t, s] : sets) {
    std::set<uint16_t> systems;
    for (const auto& row : s.rows) systems.insert(row.system);
    std::vector<std::string> ids, folders(s.sources.begin(), s.sources.end());
    for (const auto i : systems) ids.push_back(config.systems[i].system_id);
    f.provenance[std::string(table_name(t))] = fmt::format("{} {}", join(ids, "+"), join(folders, "+"));
  }

  // Floors from every clearly bound row (the plateau of the smallest kernels), then the fractions
  // from the large kernels with those floors held.
  const auto w = fit_roofs(sets, config, 0, false, nullptr);
  const auto r = fit_roofs(sets, config, kLargeKernelS, true, &w);
  f.gemm = r.gemm;
  f.gemm_by_dtype = r.gemm_by_dtype;
  f.context_attention = r.context;
  f.generation_attention = r.generation;
  f.moe = r.moe;
  out.gemm = r.gemm_p;
  out.context = r.context_p;
  out.generation = r.generation_p;
  out.moe = r.moe_p;
  if (const auto* rows = rows_of(Table::context_attention); rows && w.context.fitted) {
    auto io = *rows;
    for (auto& x : io) x.tm += x.tq;
    FitSpec spec;
    spec.group_names = kOneGroup;
    spec.min_peak_s = kLargeKernelS;
    spec.floors = &w.context_p.floor;
    f.context_attention_io = fit_roofline(io, spec).fit;
    f.context_attention_io.note = "diagnostic: Q/K/V/O activation traffic added to the memory term";
  }
  if (table_wide) {
    f.gemm_table = w.gemm;
    f.context_attention_table = w.context;
    f.generation_attention_table = w.generation;
    f.moe_table = w.moe;
  }
  if (const auto* rows = rows_of(Table::moe); rows && f.moe.fitted) {
    std::vector<double> ape, ratio;
    for (const auto& s : *rows) {
      if (!(s.flags & kPowerLaw)) continue;
      ape.push_back(ape_pct(s, out.moe));
      ratio.push_back(s.t / predict(s, out.moe));
    }
    if (!ape.empty()) {
      f.moe_power_law = quality_from(std::move(ape));
      f.moe_power_law_ratio = median_of(std::move(ratio));
    }
  }
  const auto* ar = rows_of(Table::custom_allreduce);
  if (!ar) ar = rows_of(Table::nccl);
  if (ar) {
    std::set<uint16_t> sizes;
    for (const auto& s : *ar) sizes.insert(s.gpus);
    for (const auto n : sizes) f.allreduce.push_back(fit_link(where(*ar, [&](const Sample& s) { return s.gpus == n; }), n));
    f.allreduce_pooled = fit_link(*ar, 0);
    out.allreduce.c = 1;
    out.allreduce.m = f.allreduce_pooled.network_fraction;
    out.allreduce.floor = {f.allreduce_pooled.latency_s};
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Shape tables
// ---------------------------------------------------------------------------------------------

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double pow2_floor(double x) { return std::exp2(std::floor(std::log2(x) + 1e-9)); }

struct Bucketed {
  std::map<double, std::vector<const Sample*>> by;
};

Bucketed bucket(const std::vector<Sample>& rows, const std::function<double(const Sample&)>& key,
                const std::function<bool(const Sample&)>& keep = nullptr) {
  Bucketed b;
  for (const auto& s : rows)
    if (!keep || keep(s)) b.by[key(s)].push_back(&s);
  return b;
}

template <class F>
double median_over(const std::vector<const Sample*>& v, F value, const std::function<bool(const Sample&)>& keep = nullptr) {
  std::vector<double> x;
  for (const auto* s : v)
    if (!keep || keep(*s)) x.push_back(value(*s));
  return median_of(std::move(x));
}

std::vector<ShapeTable> shape_tables(const BackendSets& sets, const FittedTables& ft, const KernelConfig& config) {
  std::vector<ShapeTable> out;
  auto rows_of = [&](Table t) -> const std::vector<Sample>* {
    const auto it = sets.find(t);
    return it == sets.end() || it->second.rows.empty() ? nullptr : &it->second.rows;
  };
  if (const auto* rows = rows_of(Table::gemm); rows && ft.fits.gemm.fitted) {
    const auto& p = ft.gemm;
    std::set<uint16_t> present;
    for (const auto& s : *rows) present.insert(s.group);
    ShapeTable t;
    t.title = "GEMM achieved compute fraction 2mnk / (peak x latency) by m (median over n, k >= 1024)";
    t.axis = "m";
    t.columns.push_back("rows");
    for (const auto g : present) t.columns.push_back(config.dtypes[g].name);
    t.columns.insert(t.columns.end(), {"all dtypes", "achieved memory fraction", "compute-bound %", "median APE %"});
    const auto b = bucket(*rows, [](const Sample& s) { return s.axis; });
    for (const auto& [m, v] : b.by) {
      std::vector<double> r;
      const auto large = [](const Sample& s) { return (s.flags & kLarge) != 0; };
      r.push_back(static_cast<double>(std::count_if(v.begin(), v.end(), [&](const Sample* s) { return large(*s); })));
      for (const auto g : present)
        r.push_back(median_over(v, [](const Sample& s) { return s.tc / s.t; },
                                [&](const Sample& s) { return large(s) && s.group == g; }));
      r.push_back(median_over(v, [](const Sample& s) { return s.tc / s.t; }, large));
      r.push_back(median_over(v, [](const Sample& s) { return s.tm / s.t; }, large));
      double nb = 0, nl = 0;
      for (const auto* s : v) {
        if (!large(*s)) continue;
        ++nl;
        nb += s->tc / p.c >= s->tm / p.m ? 1 : 0;
      }
      r.push_back(nl > 0 ? 100 * nb / nl : kNaN);
      r.push_back(median_over(v, [&](const Sample& s) { return ape_pct(s, p); }));
      t.axis_values.push_back(m);
      t.rows.push_back(std::move(r));
    }
    out.push_back(std::move(t));

    ShapeTable w;
    w.title = "GEMM achieved memory fraction bytes / (HBM x latency) by weight bytes, m <= 16";
    w.axis = "weight MiB >=";
    w.columns = {"rows", "achieved memory fraction", "median latency us", "median APE %"};
    const auto bw = bucket(*rows, [](const Sample& s) { return pow2_floor(s.axis2); },
                           [](const Sample& s) { return s.axis <= 16; });
    for (const auto& [bytes, v] : bw.by) {
      w.axis_values.push_back(bytes / (1024.0 * 1024.0));
      w.rows.push_back({static_cast<double>(v.size()), median_over(v, [](const Sample& s) { return s.tm / s.t; }),
                        median_over(v, [](const Sample& s) { return s.t * 1e6; }),
                        median_over(v, [&](const Sample& s) { return ape_pct(s, p); })});
    }
    out.push_back(std::move(w));
  }
  if (const auto* rows = rows_of(Table::generation_attention); rows && ft.fits.generation_attention.fitted) {
    ShapeTable t;
    t.title = "Decode attention achieved KV bandwidth fraction by KV tokens read per call (batch x attended length)";
    t.axis = "KV tokens >=";
    t.columns = {"rows", "achieved memory fraction", "median latency us", "median APE %"};
    const auto b = bucket(*rows, [](const Sample& s) { return pow2_floor(s.axis); });
    for (const auto& [k, v] : b.by) {
      t.axis_values.push_back(k);
      t.rows.push_back({static_cast<double>(v.size()), median_over(v, [](const Sample& s) { return s.tm / s.t; }),
                        median_over(v, [](const Sample& s) { return s.t * 1e6; }),
                        median_over(v, [&](const Sample& s) { return ape_pct(s, ft.generation); })});
    }
    out.push_back(std::move(t));
  }
  if (const auto* rows = rows_of(Table::context_attention); rows && ft.fits.context_attention.fitted) {
    ShapeTable t;
    t.title = "Prefill attention achieved compute fraction (causal FLOPs / (peak x latency)) by isl";
    t.axis = "isl";
    t.columns = {"rows", "achieved compute fraction", "batch 1", "batch >= 16", "median APE %"};
    const auto b = bucket(*rows, [](const Sample& s) { return s.axis; });
    for (const auto& [k, v] : b.by) {
      const auto cf = [](const Sample& s) { return s.tc / s.t; };
      t.axis_values.push_back(k);
      t.rows.push_back({static_cast<double>(v.size()), median_over(v, cf),
                        median_over(v, cf, [](const Sample& s) { return s.axis2 == 1; }),
                        median_over(v, cf, [](const Sample& s) { return s.axis2 >= 16; }),
                        median_over(v, [&](const Sample& s) { return ape_pct(s, ft.context); })});
    }
    out.push_back(std::move(t));
  }
  if (const auto* rows = rows_of(Table::moe); rows && ft.fits.moe.fitted) {
    ShapeTable t;
    t.title =
        "MoE (balanced) achieved compute fraction and expert-weight read fraction by tokens per expert (T k / E)";
    t.axis = "tokens/expert >=";
    t.columns = {"rows",           "achieved compute fraction", "achieved weight-read fraction", "median APE %",
                 "power-law rows", "power-law measured/predicted"};
    const auto b = bucket(*rows, [](const Sample& s) { return pow2_floor(s.axis); });
    for (const auto& [k, v] : b.by) {
      const auto bal = [](const Sample& s) { return !(s.flags & kPowerLaw); };
      const auto pl = [](const Sample& s) { return (s.flags & kPowerLaw) != 0; };
      const double nb = static_cast<double>(std::count_if(v.begin(), v.end(), [&](const Sample* s) { return bal(*s); }));
      t.axis_values.push_back(k);
      t.rows.push_back({nb, median_over(v, [](const Sample& s) { return s.tc / s.t; }, bal),
                        median_over(v, [](const Sample& s) { return s.tm / s.t; }, bal),
                        median_over(v, [&](const Sample& s) { return ape_pct(s, ft.moe); }, bal),
                        static_cast<double>(v.size()) - nb,
                        median_over(v, [&](const Sample& s) { return s.t / predict(s, ft.moe); }, pl)});
    }
    out.push_back(std::move(t));
  }
  const auto* ar = rows_of(Table::custom_allreduce);
  if (!ar) ar = rows_of(Table::nccl);
  if (ar && ft.fits.allreduce_pooled.fitted) {
    ShapeTable t;
    t.title = "All-reduce achieved bus bandwidth / catalog link bandwidth by message size (median over systems)";
    t.axis = "message KiB";
    std::set<uint16_t> sizes;
    for (const auto& s : *ar) sizes.insert(s.gpus);
    for (const auto n : sizes) t.columns.push_back(fmt::format("{} GPUs", n));
    for (const auto n : sizes) t.columns.push_back(fmt::format("{} GPUs latency us", n));
    t.columns.push_back("median APE % (pooled fit)");
    const auto b = bucket(*ar, [](const Sample& s) { return s.axis; });
    for (const auto& [k, v] : b.by) {
      std::vector<double> r;
      for (const auto n : sizes)
        r.push_back(median_over(v, [](const Sample& s) { return s.tm / s.t; }, [&](const Sample& s) { return s.gpus == n; }));
      for (const auto n : sizes)
        r.push_back(median_over(v, [](const Sample& s) { return s.t * 1e6; }, [&](const Sample& s) { return s.gpus == n; }));
      r.push_back(median_over(v, [&](const Sample& s) { return ape_pct(s, ft.allreduce); }));
      t.axis_values.push_back(k / 1024);
      t.rows.push_back(std::move(r));
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

Quality quality_of(const std::vector<double>& ape_pct) { return quality_from(ape_pct); }

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

KernelCalibration calibrate_kernels(const fs::path& dir, const KernelConfig& config, const hardware::Catalog& catalog,
                                    const Options& options) {
  if (std::error_code ec; !fs::is_directory(dir, ec))
    fail_at(dir.string(), 0, "", "kernel tables folder not found",
            "pass the folder holding <system>/<backend>-<version>/<table>.csv, e.g. ../shared/calibration/kernels");
  KernelCalibration cal;
  cal.primary_backend = options.primary_backend;
  {
    auto norm = dir.lexically_normal();
    if (norm.filename().empty()) norm = norm.parent_path();
    cal.dir_name = norm.filename().string();
  }
  Constants constants;
  if (const auto manifest = dir / "MANIFEST.csv"; fs::is_regular_file(manifest)) {
    const auto text = io::read_text_file(manifest);
    cal.manifest_fnv1a64 = fnv1a64_hex(text);
    constants = read_manifest(manifest, text);
  }

  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) entries.push_back(e.path());
  std::sort(entries.begin(), entries.end());

  // Primary-backend and NCCL samples per family, pooled after every system is read.
  std::map<std::string, BackendSets> family_primary, family_nccl;
  std::map<std::string, std::vector<std::string>> family_systems, family_apart;
  std::map<std::string, std::vector<double>> family_wire;
  std::vector<std::string> family_order;
  const std::set<std::string> known_backends{"trtllm", "vllm", "sglang", "nccl"};

  // Folder order of the config, so the output does not depend on directory listing order.
  std::vector<std::pair<const SystemMapping*, fs::path>> systems;
  for (const auto& path : entries) {
    const auto folder = path.filename().string();
    const auto* m = config.system_for_folder(folder);
    if (!m) {
      cal.skipped.emplace_back(folder + "/", fmt::format("system folder not mapped in {}; not guessed",
                                                         fs::path(config.file).filename().string()));
      continue;
    }
    systems.emplace_back(m, path);
  }
  std::sort(systems.begin(), systems.end(),
            [&](const auto& a, const auto& b) { return a.first - config.systems.data() < b.first - config.systems.data(); });

  for (const auto& [mapping, path] : systems) {
    const auto& spec = catalog.get(mapping->system_id);
    const auto sys_index = static_cast<uint16_t>(mapping - config.systems.data());
    if (std::find(family_order.begin(), family_order.end(), mapping->family) == family_order.end())
      family_order.push_back(mapping->family);
    family_systems[mapping->family].push_back(mapping->system_id);
    if (!mapping->pool_collectives) family_apart[mapping->family].push_back(mapping->system_id);
    if (spec.scale_up.latency_s && mapping->pool_collectives)
      family_wire[mapping->family].push_back(spec.scale_up.latency_s->value);

    std::vector<fs::path> versions;
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_directory()) versions.push_back(e.path());
    std::sort(versions.begin(), versions.end());
    std::map<std::string, BackendSets> by_backend;
    for (const auto& vdir : versions) {
      const auto name = vdir.filename().string();
      const auto dash = name.find('-');
      const auto backend = name.substr(0, dash);
      const auto rel = mapping->folder + "/" + name + "/";
      if (dash == std::string::npos || !known_backends.count(backend)) {
        cal.skipped.emplace_back(rel, "not a <backend>-<version> folder of trtllm, vllm, sglang or nccl");
        continue;
      }
      if (!options.other_backends && backend != options.primary_backend && backend != "nccl") continue;
      for (const auto& [table, stem] : kTables) {
        const auto file = vdir / (std::string(stem) + ".csv");
        if (!fs::is_regular_file(file)) continue;
        const auto key = rel + std::string(stem) + ".csv";
        const auto it = constants.find(key);
        CsvReader reader(io::read_text_file(file), file.string(), it == constants.end() ? nullptr : &it->second);
        ReadContext ctx{config, spec, sys_index, backend, name, {}};
        for (const auto& x : config.exclusions)
          if ((x.backend.empty() || x.backend == backend) && (x.table.empty() || x.table == stem))
            ctx.exclusions.push_back(&x);
        auto& set = by_backend[backend][table];
        set.sources.insert(name);
        read_table(table, reader, ctx, set);
        ++cal.read.files;
        cal.read.rows += reader.rows();
        cal.read.bytes += reader.bytes();
      }
    }
    // Backends in a fixed order within a system: primary, the others alphabetically, nccl last.
    std::vector<std::string> order;
    for (const auto& [backend, sets] : by_backend) order.push_back(backend);
    auto rank = [&](const std::string& b) { return b == options.primary_backend ? 0 : b == "nccl" ? 2 : 1; };
    std::sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
      return std::make_pair(rank(a), a) < std::make_pair(rank(b), b);
    });
    for (const auto& backend : order) {
      const auto& sets = by_backend.at(backend);
      SystemBackend sb{mapping->folder, mapping->system_id, mapping->family, backend,
                       fit_tables(sets, config, false).fits};
      cal.systems.push_back(std::move(sb));
      const auto collective = [](Table t) { return t == Table::custom_allreduce || t == Table::nccl; };
      if (backend == options.primary_backend || backend == "nccl") {
        auto& pooled = (backend == "nccl" ? family_nccl : family_primary)[mapping->family];
        for (const auto& [t, s] : sets)
          if (mapping->pool_collectives || !collective(t)) pooled[t].add(s);
      }
    }
  }

  for (const auto& family : family_order) {
    FamilyFits ff;
    ff.family = family;
    ff.systems = family_systems[family];
    ff.collectives_apart = family_apart[family];
    ff.backend = options.primary_backend;
    const auto& wires = family_wire[family];
    double wsum = 0;
    for (const double w : wires) wsum += w;
    ff.wire_latency_s = wires.empty() ? 0 : wsum / static_cast<double>(wires.size());
    if (auto it = family_primary.find(family); it != family_primary.end()) {
      const auto ft = fit_tables(it->second, config, true);
      ff.fits = ft.fits;
      ff.tables = shape_tables(it->second, ft, config);
    }
    if (auto it = family_nccl.find(family); it != family_nccl.end()) {
      const auto nt = fit_tables(it->second, config, false);
      ff.nccl_allreduce = nt.fits.allreduce_pooled;
      ff.nccl_by_gpus = nt.fits.allreduce;
    }
    cal.families.push_back(std::move(ff));
  }
  return cal;
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

namespace {

std::string g6(double v) { return fmt::format("{:.6g}", v); }
std::string us6(double s) { return fmt::format("{:.6g} us", s * 1e6); }

std::string join_plus(const std::vector<std::string>& v) { return join(v, "+"); }

std::string sources_text(const FamilyFits& f, const char* table) {
  const auto it = f.fits.provenance.find(table);
  return it != f.fits.provenance.end() ? it->second : fmt::format("{} {}", join_plus(f.systems), f.backend);
}

void emit_quality(YAML::Emitter& y, const char* key, const Quality& all, const Quality* fit) {
  y << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap;
  y << YAML::Key << "rows" << YAML::Value << all.rows;
  y << YAML::Key << "median_ape_pct" << YAML::Value << g6(all.median_ape_pct);
  y << YAML::Key << "p90_ape_pct" << YAML::Value << g6(all.p90_ape_pct);
  if (fit) {
    y << YAML::Key << "fit_rows" << YAML::Value << fit->rows;
    y << YAML::Key << "fit_median_ape_pct" << YAML::Value << g6(fit->median_ape_pct);
  }
  y << YAML::EndMap;
}

void emit_value(YAML::Emitter& y, const char* key, const std::string& value, bool quoted, const std::string& source) {
  io::emit_sourced(y, key, value, quoted, source);
}

}  // namespace

std::string family_yaml(const FamilyFits& ff, const KernelCalibration& cal) {
  const auto& f = ff.fits;
  const std::string from_gemm = sources_text(ff, "gemm_perf"), from_ctx = sources_text(ff, "context_attention_perf"),
                    from_gen = sources_text(ff, "generation_attention_perf"), from_moe = sources_text(ff, "moe_perf"),
                    from_ar = sources_text(ff, "custom_allreduce_perf");
  std::vector<std::string> notes;
  YAML::Emitter y;
  y << YAML::BeginMap;
  y << YAML::Key << "family" << YAML::Value << ff.family;
  y << YAML::Key << "systems" << YAML::Value << YAML::Flow << ff.systems;

  if (f.gemm.fitted && f.gemm.memory_identified)
    emit_value(y, "memory_bandwidth_fraction", g6(f.gemm.memory_fraction), false,
               fmt::format("calibrate-kernels: gemm_perf weight-read-bound kernels >= {:.0f} us at peak (roofline max + "
                           "per-dtype floor), {}, {} memory-bound of {} fit rows, median APE {:.1f}% (all {} rows: "
                           "{:.1f}%)",
                           kLargeKernelS * 1e6, from_gemm, f.gemm.memory_rows, f.gemm.fit_rows, f.gemm.fit.median_ape_pct, f.gemm.all.rows,
                           f.gemm.all.median_ape_pct));
  else
    notes.push_back("memory_bandwidth_fraction: no GEMM table with weight-read-bound rows");
  if (f.generation_attention.fitted && f.generation_attention.memory_identified)
    emit_value(y, "attention_memory_fraction", g6(f.generation_attention.memory_fraction), false,
               fmt::format("calibrate-kernels: generation_attention_perf KV reads (batch x (step+1) x 2 x kv_heads x "
                           "head_dim x kv bytes) >= {:.0f} us at peak, {}, {} fit rows, median APE {:.1f}% (all {} "
                           "rows: {:.1f}%)",
                           kLargeKernelS * 1e6, from_gen, f.generation_attention.fit_rows,
                           f.generation_attention.fit.median_ape_pct, f.generation_attention.all.rows,
                           f.generation_attention.all.median_ape_pct));
  if (f.gemm.fitted && f.gemm.compute_identified)
    emit_value(y, "compute_fraction", g6(f.gemm.compute_fraction), false,
               fmt::format("calibrate-kernels: gemm_perf compute-bound kernels >= {:.0f} us at peak (2mnk / dense peak "
                           "of the math format), {}, {} compute-bound of {} fit rows, median APE {:.1f}%",
                           kLargeKernelS * 1e6, from_gemm, f.gemm.compute_rows, f.gemm.fit_rows, f.gemm.fit.median_ape_pct));
  if (f.context_attention.fitted && f.context_attention.compute_identified)
    emit_value(y, "attention_compute_fraction", g6(f.context_attention.compute_fraction), false,
               fmt::format("calibrate-kernels: context_attention_perf causal FLOPs (4 x batch x heads x head_dim x "
                           "isl x mean keys) >= {:.0f} us at peak, {}, {} fit rows, median APE {:.1f}% (all {} rows: "
                           "{:.1f}%)",
                           kLargeKernelS * 1e6, from_ctx, f.context_attention.fit_rows,
                           f.context_attention.fit.median_ape_pct, f.context_attention.all.rows,
                           f.context_attention.all.median_ape_pct));
  if (f.moe.fitted && f.moe.compute_identified)
    emit_value(y, "moe_compute_fraction", g6(f.moe.compute_fraction), false,
               fmt::format("calibrate-kernels: moe_perf balanced rows >= {:.0f} us at peak (2 x 3 x hidden x inter/tp x "
                           "tokens x topk / ep vs dense peak), {}, {} compute-bound of {} fit rows, median APE {:.1f}%",
                           kLargeKernelS * 1e6, from_moe, f.moe.compute_rows, f.moe.fit_rows, f.moe.fit.median_ape_pct));
  else
    notes.push_back("moe_compute_fraction: no balanced MoE rows that are compute-bound (power-law rows measure the "
                    "straggler rank and are not used for the fit)");
  // The fixed device time of one MoE layer's kernels (routing, permutation, grouped GEMMs, combine)
  // beyond their roofline: one value per family, the median of the per-dtype floors, read by the
  // efficiency table as a kernel-measured hardware term (cost::Efficiency::moe_floor_s).
  if (f.moe.fitted && !f.moe.floors_s.empty()) {
    std::vector<double> fl;
    std::string per;
    for (const auto& [d, v] : f.moe.floors_s) {
      fl.push_back(v);
      per += fmt::format("{}{} {:.1f}", per.empty() ? "" : ", ", d, v * 1e6);
    }
    emit_value(y, "moe_floor", us6(median_of(fl)), true,
               fmt::format("calibrate-kernels: moe_perf balanced rows, median of the per-dtype floors ({} us), {}",
                           per, from_moe));
  }
  const auto& ar = f.allreduce_pooled;
  if (ar.fitted) {
    emit_value(y, "network_fraction", g6(ar.network_fraction), false,
               fmt::format("calibrate-kernels: custom_allreduce_perf graph mode, messages >= 64 MiB (bandwidth) fitted "
                           "jointly with <= 64 KiB (latency), 2(n-1)/n x bytes / (catalog per-direction scale-up "
                           "bandwidth x f), {}, {} rows, median APE {:.1f}% (all sizes {:.1f}%)",
                           from_ar, ar.ends.rows, ar.ends.median_ape_pct, ar.all.median_ape_pct));
    const double coll = ar.latency_s - ff.wire_latency_s;
    emit_value(y, "collective_latency", us6(std::max(0.0, coll)), true,
               coll >= 0
                   ? fmt::format("calibrate-kernels: all-reduce latency {:.3g} us (small messages) minus the catalog "
                                 "scale-up wire latency {:.3g} us, {}",
                                 ar.latency_s * 1e6, ff.wire_latency_s * 1e6, from_ar)
                   : fmt::format("calibrate-kernels: all-reduce latency {:.3g} us (small messages) is below the "
                                 "catalog scale-up wire latency {:.3g} us alone: {:.3g} us, clamped at 0; see "
                                 "details.allreduce_latency",
                                 ar.latency_s * 1e6, ff.wire_latency_s * 1e6, coll * 1e6));
    if (coll < 0)
      notes.push_back(fmt::format("collective_latency: the measured all-reduce ({:.3g} us) is faster than the "
                                  "catalog's {:.3g} us link latency; the link latency (aiconfigurator p2p_latency) "
                                  "looks too high for NVLink all-reduce",
                                  ar.latency_s * 1e6, ff.wire_latency_s * 1e6));
  }

  y << YAML::Key << "fit_quality" << YAML::Value << YAML::BeginMap;
  if (f.gemm.fitted) emit_quality(y, "gemm", f.gemm.all, &f.gemm.fit);
  if (f.generation_attention.fitted)
    emit_quality(y, "generation_attention", f.generation_attention.all, &f.generation_attention.fit);
  if (f.context_attention.fitted) emit_quality(y, "context_attention", f.context_attention.all, &f.context_attention.fit);
  if (f.moe.fitted) emit_quality(y, "moe", f.moe.all, &f.moe.fit);
  if (f.moe_power_law.rows) emit_quality(y, "moe_power_law", f.moe_power_law, nullptr);
  if (ar.fitted) emit_quality(y, "allreduce", ar.all, &ar.ends);
  if (ff.nccl_allreduce.fitted) emit_quality(y, "nccl_allreduce", ff.nccl_allreduce.all, &ff.nccl_allreduce.ends);
  y << YAML::EndMap;

  y << YAML::Key << "details" << YAML::Value << YAML::BeginMap;
  if (!f.gemm_by_dtype.empty()) {
    y << YAML::Key << "gemm_by_dtype" << YAML::Value << YAML::BeginMap;
    for (const auto& [d, g] : f.gemm_by_dtype) {
      if (!g.fitted) continue;
      y << YAML::Key << d << YAML::Value << YAML::Flow << YAML::BeginMap;
      if (g.compute_identified) y << YAML::Key << "compute_fraction" << YAML::Value << g6(g.compute_fraction);
      if (g.memory_identified) y << YAML::Key << "memory_fraction" << YAML::Value << g6(g.memory_fraction);
      if (!g.floors_s.empty()) y << YAML::Key << "floor" << YAML::Value << YAML::DoubleQuoted << us6(g.floors_s[0].second);
      y << YAML::Key << "rows" << YAML::Value << g.rows;
      y << YAML::Key << "median_ape_pct" << YAML::Value << g6(g.all.median_ape_pct);
      y << YAML::EndMap;
    }
    y << YAML::EndMap;
  }
  if (f.gemm.fitted) {
    y << YAML::Key << "gemm_floor" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [d, s] : f.gemm.floors_s) y << YAML::Key << d << YAML::Value << YAML::DoubleQuoted << us6(s);
    y << YAML::EndMap;
  }
  if (f.context_attention.fitted && !f.context_attention.floors_s.empty())
    y << YAML::Key << "context_attention_floor" << YAML::Value << YAML::DoubleQuoted
      << us6(f.context_attention.floors_s[0].second);
  if (f.generation_attention.fitted && !f.generation_attention.floors_s.empty())
    y << YAML::Key << "generation_attention_floor" << YAML::Value << YAML::DoubleQuoted
      << us6(f.generation_attention.floors_s[0].second);
  if (f.moe.fitted) {
    if (f.moe.memory_identified) y << YAML::Key << "moe_memory_fraction" << YAML::Value << g6(f.moe.memory_fraction);
    y << YAML::Key << "moe_floor" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [d, s] : f.moe.floors_s) y << YAML::Key << d << YAML::Value << YAML::DoubleQuoted << us6(s);
    y << YAML::EndMap;
    if (f.moe_power_law.rows)
      y << YAML::Key << "moe_power_law_measured_over_predicted" << YAML::Value << g6(f.moe_power_law_ratio);
  }
  if (ar.fitted) {
    y << YAML::Key << "allreduce_latency" << YAML::Value << YAML::DoubleQuoted << us6(ar.latency_s);
    y << YAML::Key << "wire_latency" << YAML::Value << YAML::DoubleQuoted << us6(ff.wire_latency_s);
    y << YAML::Key << "allreduce_all_sizes" << YAML::Value << YAML::Flow << YAML::BeginMap;
    y << YAML::Key << "network_fraction" << YAML::Value << g6(ar.network_fraction_all);
    y << YAML::Key << "latency" << YAML::Value << YAML::DoubleQuoted << us6(ar.latency_all_s);
    y << YAML::Key << "median_ape_pct" << YAML::Value << g6(ar.all_fit.median_ape_pct) << YAML::EndMap;
    y << YAML::Key << "allreduce_by_gpus" << YAML::Value << YAML::BeginMap;
    for (const auto& l : f.allreduce) {
      if (!l.fitted) continue;
      y << YAML::Key << l.num_gpus << YAML::Value << YAML::Flow << YAML::BeginMap;
      y << YAML::Key << "network_fraction" << YAML::Value << g6(l.network_fraction);
      y << YAML::Key << "latency" << YAML::Value << YAML::DoubleQuoted << us6(l.latency_s);
      y << YAML::Key << "median_ape_pct" << YAML::Value << g6(l.all.median_ape_pct) << YAML::EndMap;
    }
    y << YAML::EndMap;
  }
  {
    // The same fits without the kernel-size limit (every clearly bound row, tiny shapes included).
    y << YAML::Key << "table_wide" << YAML::Value << YAML::Flow << YAML::BeginMap;
    auto put = [&](const char* key, const RoofFit& r, bool compute) {
      if (!r.fitted || !(compute ? r.compute_identified : r.memory_identified)) return;
      y << YAML::Key << key << YAML::Value << g6(compute ? r.compute_fraction : r.memory_fraction);
    };
    put("memory_bandwidth_fraction", f.gemm_table, false);
    put("attention_memory_fraction", f.generation_attention_table, false);
    put("compute_fraction", f.gemm_table, true);
    put("attention_compute_fraction", f.context_attention_table, true);
    put("moe_compute_fraction", f.moe_table, true);
    y << YAML::EndMap;
  }
  if (const auto& io = f.context_attention_io; io.fitted && io.compute_identified) {
    // Diagnostic, not a cost-model term: prefill attention with Q/K/V/O activation traffic.
    y << YAML::Key << "context_attention_with_activation_io" << YAML::Value << YAML::Flow << YAML::BeginMap;
    y << YAML::Key << "compute_fraction" << YAML::Value << g6(io.compute_fraction);
    if (io.memory_identified) y << YAML::Key << "memory_fraction" << YAML::Value << g6(io.memory_fraction);
    y << YAML::Key << "fit_median_ape_pct" << YAML::Value << g6(io.fit.median_ape_pct);
    y << YAML::Key << "median_ape_pct" << YAML::Value << g6(io.all.median_ape_pct) << YAML::EndMap;
  }
  if (!ff.collectives_apart.empty()) {
    // Systems of the family whose all-reduce runs over another kind of link: their own fits.
    y << YAML::Key << "allreduce_apart" << YAML::Value << YAML::BeginMap;
    for (const auto& id : ff.collectives_apart)
      for (const auto& sb : cal.systems) {
        if (sb.system_id != id || sb.backend != ff.backend || !sb.fits.allreduce_pooled.fitted) continue;
        const auto& l = sb.fits.allreduce_pooled;
        y << YAML::Key << id << YAML::Value << YAML::Flow << YAML::BeginMap;
        y << YAML::Key << "network_fraction" << YAML::Value << g6(l.network_fraction);
        y << YAML::Key << "latency" << YAML::Value << YAML::DoubleQuoted << us6(l.latency_s);
        y << YAML::Key << "median_ape_pct" << YAML::Value << g6(l.all.median_ape_pct) << YAML::EndMap;
      }
    y << YAML::EndMap;
  }
  if (ff.nccl_allreduce.fitted) {
    y << YAML::Key << "nccl_allreduce" << YAML::Value << YAML::Flow << YAML::BeginMap;
    y << YAML::Key << "network_fraction" << YAML::Value << g6(ff.nccl_allreduce.network_fraction);
    y << YAML::Key << "latency" << YAML::Value << YAML::DoubleQuoted << us6(ff.nccl_allreduce.latency_s);
    y << YAML::EndMap;
  }
  y << YAML::EndMap;

  if (!notes.empty()) {
    y << YAML::Key << "notes" << YAML::Value << YAML::BeginSeq;
    for (const auto& n : notes) y << YAML::DoubleQuoted << n;
    y << YAML::EndSeq;
  }
  y << YAML::Key << "input" << YAML::Value << YAML::Flow << YAML::BeginMap;
  y << YAML::Key << "dir" << YAML::Value << cal.dir_name;
  y << YAML::Key << "manifest_fnv1a64" << YAML::Value << YAML::DoubleQuoted
    << (cal.manifest_fnv1a64.empty() ? std::string("absent") : cal.manifest_fnv1a64);
  y << YAML::EndMap;
  y << YAML::EndMap;
  return "# Generated by `tokenfactory calibrate-kernels` from the aiconfigurator kernel tables (input below); do not "
         "edit by hand.\n# Bottom-up priors for `tokenfactory calibrate`; not read by the efficiency loader. See "
         "docs/kernels.md.\n" +
         std::string(y.c_str()) + "\n";
}

namespace {

std::string cell(double v, int decimals = 3) {
  if (std::isnan(v)) return "-";
  return fmt::format("{:.{}f}", v, decimals);
}

std::string axis_cell(double v) {
  if (v >= 1 && v == std::floor(v)) return fmt::format("{:.0f}", v);
  return fmt::format("{:.4g}", v);
}

std::string q_cell(const Quality& q) {
  if (!q.rows) return "-";
  return fmt::format("{} | {:.1f} | {:.1f}", q.rows, q.median_ape_pct, q.p90_ape_pct);
}

std::string frac(const RoofFit& f, bool compute) {
  if (!f.fitted) return "-";
  const bool ok = compute ? f.compute_identified : f.memory_identified;
  const bool fixed = compute ? f.compute_fixed : f.memory_fixed;
  const double v = compute ? f.compute_fraction : f.memory_fraction;
  if (fixed) return fmt::format("({:.3f})", v);
  return ok ? fmt::format("{:.3f}", v) : "-";
}

std::string floors(const RoofFit& f) {
  std::vector<std::string> v;
  for (const auto& [g, s] : f.floors_s) v.push_back(f.floors_s.size() == 1 ? fmt::format("{:.1f}", s * 1e6)
                                                                         : fmt::format("{} {:.1f}", g, s * 1e6));
  return v.empty() ? "-" : join(v, ", ");
}

void shape_markdown(std::string& md, const ShapeTable& t) {
  md += fmt::format("*{}*\n\n| {} |", t.title, t.axis);
  for (const auto& c : t.columns) md += fmt::format(" {} |", c);
  md += "\n|---:|";
  for (size_t i = 0; i < t.columns.size(); ++i) md += "---:|";
  md += "\n";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    md += fmt::format("| {} |", axis_cell(t.axis_values[r]));
    for (size_t c = 0; c < t.rows[r].size(); ++c) {
      const auto& name = t.columns[c];
      const double v = t.rows[r][c];
      const bool count = name == "rows" || name == "power-law rows";
      const bool pct = name.find('%') != std::string::npos || name.find("us") != std::string::npos;
      md += " " + (count ? cell(v, 0) : pct ? cell(v, 1) : cell(v, 3)) + " |";
    }
    md += "\n";
  }
  md += "\n";
}

std::string link_cell(const LinkFit& l) {
  if (!l.fitted) return "- | - | - | - | - | -";
  return fmt::format("{:.3f} | {:.2f} | {:.1f} | {:.1f} | {:.3f} | {:.2f}", l.network_fraction, l.latency_s * 1e6,
                     l.ends.median_ape_pct, l.all.median_ape_pct, l.network_fraction_all, l.latency_all_s * 1e6);
}

}  // namespace

std::string kernels_markdown(const KernelCalibration& cal, const Comparison& e2e) {
  std::string md;
  md += fmt::format(
      "Input: `{}/` (MANIFEST.csv fnv1a64 `{}`), {} CSV files, {} rows, {:.1f} MB read; primary backend `{}` "
      "(others reported apart).\n\n",
      cal.dir_name, cal.manifest_fnv1a64.empty() ? "absent" : cal.manifest_fnv1a64, cal.read.files, cal.read.rows,
      static_cast<double>(cal.read.bytes) / 1e6, cal.primary_backend);
  if (!cal.skipped.empty()) {
    md += "Skipped:\n\n";
    for (const auto& [p, why] : cal.skipped) md += fmt::format("- `{}`: {}\n", p, why);
    md += "\n";
  }

  md += "### Fitted values per family\n\n";
  md += "Primary backend, the family's systems pooled; in brackets the end-to-end calibration "
        "(`data/calibration/<family>.yaml`) for comparison.\n\n";
  md += "| family | systems | memory bw | decode attn bw | compute | prefill attn compute | MoE compute | network | "
        "all-reduce latency us | collective latency us |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& ff : cal.families) {
    const auto& f = ff.fits;
    const auto it = e2e.find(ff.family);
    auto with = [&](const std::string& v, const char* key, double scale = 1, int decimals = 3) {
      if (it == e2e.end()) return v;
      const auto k = it->second.find(key);
      if (k == it->second.end()) return v;
      return fmt::format("{} ({:.{}f})", v, k->second * scale, decimals);
    };
    const auto& ar = f.allreduce_pooled;
    const auto systems = join(ff.systems, ", ") + (ff.collectives_apart.empty()
                                                       ? std::string()
                                                       : fmt::format(" (all-reduce without {})",
                                                                     join(ff.collectives_apart, ", ")));
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", ff.family, systems,
                      with(frac(f.gemm, false), "memory_bandwidth_fraction"), frac(f.generation_attention, false),
                      with(frac(f.gemm, true), "compute_fraction"),
                      with(frac(f.context_attention, true), "attention_compute_fraction"), frac(f.moe, true),
                      with(ar.fitted ? fmt::format("{:.3f}", ar.network_fraction) : "-", "network_fraction"),
                      ar.fitted ? fmt::format("{:.2f}", ar.latency_s * 1e6) : "-",
                      with(ar.fitted ? fmt::format("{:.2f}", ar.latency_s * 1e6 - ff.wire_latency_s * 1e6) : "-",
                           "collective_latency_s", 1e6, 2));
  }
  md += "\nCollective latency = all-reduce latency - the catalog's scale-up wire latency (the cost model adds both); "
        "a negative value means the catalog wire latency alone exceeds the measured all-reduce.\n\n";

  md += "### Fit quality per table (primary backend, family pooled)\n\n";
  md += fmt::format(
      "APE of the fitted model over every row of the table, and over its fit set: rows clearly on one side of the "
      "roofline (one term at least 2x the other) with at least {:.0f} us of roofline time at catalog peak. "
      "*Table-wide* fits drop the size limit (tiny shapes included).\n\n",
      kLargeKernelS * 1e6);
  md += "| family | table | rows | median APE % | p90 APE % | fit rows | fit median APE % | compute | memory | floor "
        "us |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& ff : cal.families) {
    const auto& f = ff.fits;
    auto row = [&](const char* name, const RoofFit& r) {
      if (!r.fitted) return;
      md += fmt::format("| {} | {} | {} | {} | {:.1f} | {} | {} | {} |\n", ff.family, name, q_cell(r.all), r.fit.rows,
                        r.fit.median_ape_pct, frac(r, true), frac(r, false), floors(r));
    };
    row("gemm", f.gemm);
    for (const auto& [d, g] : f.gemm_by_dtype) row(("gemm " + d).c_str(), g);
    row("context_attention", f.context_attention);
    row("generation_attention", f.generation_attention);
    row("moe (balanced)", f.moe);
    row("gemm, table-wide", f.gemm_table);
    row("context_attention, table-wide", f.context_attention_table);
    row("generation_attention, table-wide", f.generation_attention_table);
    row("moe (balanced), table-wide", f.moe_table);
    row("context_attention + Q/K/V/O traffic (diagnostic)", f.context_attention_io);
    if (f.moe_power_law.rows)
      md += fmt::format("| {} | moe power-law (balanced fit) | {} | - | - | - | - | - |\n", ff.family,
                        q_cell(f.moe_power_law));
  }
  md += "\nBrackets: held fixed (context attention: memory at the GEMM fit; decode attention: compute at the prefill "
        "fit).\n\n";

  md += "### All-reduce fits\n\n";
  md += "latency = alpha + 2(n-1)/n x bytes / (catalog per-direction scale-up bandwidth x f); (f, alpha) fitted to "
        "messages <= 64 KiB and >= 64 MiB, then the same model fitted to every size for comparison.\n\n";
  md += "| family | system | backend | GPUs | f | alpha us | APE % (ends) | APE % (all sizes) | f (all-size fit) | "
        "alpha us (all-size fit) |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& ff : cal.families) {
    md += fmt::format("| {} | pooled | {} | all | {} |\n", ff.family, ff.backend, link_cell(ff.fits.allreduce_pooled));
    if (ff.nccl_allreduce.fitted)
      md += fmt::format("| {} | pooled | nccl | all | {} |\n", ff.family, link_cell(ff.nccl_allreduce));
  }
  for (const auto& sb : cal.systems)
    for (const auto& l : sb.fits.allreduce)
      md += fmt::format("| {} | {} | {} | {} | {} |\n", sb.family, sb.system_id, sb.backend, l.num_gpus, link_cell(l));
  md += "\n";

  md += "### Shape tables (primary backend, family pooled)\n\n";
  for (const auto& ff : cal.families) {
    if (ff.tables.empty()) continue;
    md += fmt::format("#### {}\n\n", ff.family);
    for (const auto& t : ff.tables) shape_markdown(md, t);
  }

  md += "### Per system and backend\n\n";
  md += "| system | backend | sources | gemm compute | gemm memory | gemm APE % | prefill attn compute | prefill APE % "
        "| decode attn bw | decode APE % | MoE compute | MoE memory | MoE APE % | all-reduce f | all-reduce alpha us "
        "|\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  auto ape = [](const RoofFit& r) { return r.fitted ? fmt::format("{:.1f}", r.all.median_ape_pct) : "-"; };
  for (const auto& sb : cal.systems) {
    const auto& f = sb.fits;
    const auto& ar = f.allreduce_pooled;
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", sb.system_id,
                      sb.backend, join(f.sources, ", "), frac(f.gemm, true), frac(f.gemm, false), ape(f.gemm),
                      frac(f.context_attention, true), ape(f.context_attention),
                      frac(f.generation_attention, false), ape(f.generation_attention), frac(f.moe, true),
                      frac(f.moe, false), ape(f.moe), ar.fitted ? fmt::format("{:.3f}", ar.network_fraction) : "-",
                      ar.fitted ? fmt::format("{:.2f}", ar.latency_s * 1e6) : "-");
  }
  md += "\n| system | backend | GEMM dtype | compute | memory | floor us | rows | median APE % |\n"
        "|---|---|---|---:|---:|---:|---:|---:|\n";
  for (const auto& sb : cal.systems)
    for (const auto& [d, g] : sb.fits.gemm_by_dtype)
      if (g.fitted)
        md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {:.1f} |\n", sb.system_id, sb.backend, d,
                          frac(g, true), frac(g, false), floors(g), g.rows, g.all.median_ape_pct);
  md += "\n";

  md += "### Rows left out\n\n| system | backend | reason | rows |\n|---|---|---|---:|\n";
  for (const auto& sb : cal.systems)
    for (const auto& [why, n] : sb.fits.excluded)
      md += fmt::format("| {} | {} | {} | {} |\n", sb.system_id, sb.backend, why, n);
  md += "\n";
  return md;
}

}  // namespace tf::validate::kernels
