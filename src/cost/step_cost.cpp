#include "cost/step_cost.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <functional>
#include <tuple>
#include <fmt/format.h>

#include "model/accounting.hpp"

namespace tf::cost {

std::string_view to_string(OpGroup g) {
  static constexpr std::array<std::string_view, kOpGroups> names{
      "attention_proj", "attention_core", "ffn_dense", "moe_experts", "lm_head",
      "tp_collective",  "ep_collective",  "pp_transfer", "overhead"};
  return names[static_cast<size_t>(g)];
}

std::string_view to_string(Bound b) {
  switch (b) {
    case Bound::compute: return "compute";
    case Bound::memory: return "memory";
    case Bound::network: return "network";
    case Bound::overhead: return "overhead";
  }
  return "?";
}

std::string term_at_bound(const Efficiency& e, Bound b) {
  std::vector<std::string_view> terms;
  switch (b) {
    case Bound::network: terms = {"network_fraction", "collective_latency"}; break;
    case Bound::memory: terms = {"memory_bandwidth_fraction"}; break;
    case Bound::compute: terms = {"compute_fraction", "attention_compute_fraction"}; break;
    case Bound::overhead: break;
  }
  for (const auto t : terms)
    for (const auto& k : e.provenance.at_bound)
      if (k == t) return k;
  return {};
}

ChunkedPrefill chunked_prefill(double prompt, double chunk) {
  ChunkedPrefill c;
  if (!(prompt > 0) || !(chunk > 0) || prompt <= chunk) return c;
  c.chunks = std::ceil(prompt / chunk - 1e-9);
  c.prior_tokens = chunk * c.chunks * (c.chunks - 1) / 2;
  return c;
}

double StepCost::total_flops() const {
  double f = 0;
  for (const auto& g : groups) f += g.flops;
  return f;
}

double StepCost::total_bytes() const {
  double b = 0;
  for (const auto& g : groups) b += g.bytes;
  return b;
}

namespace {

using hardware::MemoryTier;
using hardware::MemoryTierKind;

const MemoryTier* tier_of(const hardware::SystemSpec& s, MemoryTierKind k) {
  for (const auto& t : s.memory)
    if (t.kind == k) return &t;
  return nullptr;
}

// Tiers fastest first.
std::vector<const MemoryTier*> by_speed(const hardware::SystemSpec& s) {
  std::vector<const MemoryTier*> v;
  for (const auto& t : s.memory) v.push_back(&t);
  std::stable_sort(v.begin(), v.end(), [](auto* a, auto* b) {
    return a->bandwidth_bytes_per_s.value > b->bandwidth_bytes_per_s.value;
  });
  return v;
}

std::string gb(double bytes) { return fmt::format("{:.1f} GB", bytes / 1e9); }

// E[max over `ranks` ranks of Binomial(n, q_T)] at integer T = 0, 1, ... until every expert is
// touched, q_T = 1 - (1 - p)^T (p = k/E): shared by every model built for the same (n, p, ranks),
// since calibration and sweeps build many models per layout.
std::shared_ptr<const std::vector<double>> busiest_rank_table(int n, double p, int ranks) {
  static std::mutex mu;
  static std::map<std::tuple<int, double, int>, std::shared_ptr<const std::vector<double>>> cache;
  const auto key = std::make_tuple(n, p, ranks);
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto table = std::make_shared<std::vector<double>>();
  std::vector<double> pmf(static_cast<size_t>(n) + 1);
  for (int t = 0; t < 65536; ++t) {
    const double q = 1 - std::pow(1 - p, t);
    double emax = 0;
    if (q >= 1) {
      emax = n;
    } else {
      pmf[0] = std::pow(1 - q, n);  // binomial pmf by recurrence, then the CDF
      for (int x = 1; x <= n; ++x) pmf[x] = pmf[x - 1] * (n - x + 1) / x * q / (1 - q);
      double cdf = 0;
      for (int x = 0; x < n; ++x) {
        cdf += pmf[x];
        emax += 1 - std::pow(std::min(1.0, cdf), ranks);
      }
    }
    table->push_back(emax);
    if (emax >= n * (1 - 1e-9)) break;
  }
  std::lock_guard<std::mutex> lock(mu);
  return cache.emplace(key, std::move(table)).first->second;
}

}  // namespace

// Expected load of the busiest of `ranks` expert-parallel ranks over the mean when a layer's
// `experts` have popularities drawn from a log-normal of coefficient of variation `cv`. The
// static placement holds experts by id (popularity is unrelated to the id, so a rank holds a
// random draw of them); EPLB (`redundant` >= 0, DeepSeek EPLB's replicate-then-pack) gives each
// of `redundant` extra slots to the expert with the most load per copy, then places the copies,
// heaviest first, on the least-loaded rank that has a free slot. Averaged over 128 draws of a
// fixed seed; shared per key, since calibration and sweeps build many models per layout.
double busiest_rank_load(int experts, int ranks, double cv, int redundant) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, double, int>, double> cache;
  const auto key = std::make_tuple(experts, ranks, cv, redundant);
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  constexpr int kDraws = 128;
  std::mt19937_64 rng(0x5eed0e9b);  // fully specified by the standard: the same draws everywhere
  const double s2 = std::log(1 + cv * cv);
  auto uniform = [&] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1p-53; };  // (0, 1)
  auto pop = [&] {  // log-normal of mean 1 (Box-Muller: std distributions differ between libraries)
    const double z = std::sqrt(-2 * std::log(uniform())) * std::cos(2 * M_PI * uniform());
    return std::exp(-s2 / 2 + std::sqrt(s2) * z);
  };
  const int slots = experts + std::max(0, redundant);
  const int per_rank = slots / ranks;
  std::vector<double> p(static_cast<size_t>(experts)), load(static_cast<size_t>(ranks));
  std::vector<int> copies(static_cast<size_t>(experts)), used(static_cast<size_t>(ranks));
  std::vector<double> weights;
  double sum_max = 0;
  for (int draw = 0; draw < kDraws; ++draw) {
    double total = 0;
    for (auto& x : p) total += x = pop();
    for (auto& x : p) x *= experts / total;  // mean 1 per expert
    std::fill(load.begin(), load.end(), 0.0);
    if (redundant < 0) {
      const int n = experts / ranks;
      for (int e = 0; e < experts; ++e) load[static_cast<size_t>(e / n)] += p[static_cast<size_t>(e)];
    } else {
      std::fill(copies.begin(), copies.end(), 1);
      std::priority_queue<std::pair<double, int>> hot;
      for (int e = 0; e < experts; ++e) hot.emplace(p[static_cast<size_t>(e)], e);
      for (int r = 0; r < redundant; ++r) {
        const int e = hot.top().second;
        hot.pop();
        const auto i = static_cast<size_t>(e);
        hot.emplace(p[i] / ++copies[i], e);
      }
      weights.clear();
      for (int e = 0; e < experts; ++e)
        for (int c = 0; c < copies[static_cast<size_t>(e)]; ++c)
          weights.push_back(p[static_cast<size_t>(e)] / copies[static_cast<size_t>(e)]);
      std::sort(weights.begin(), weights.end(), std::greater<>());
      std::fill(used.begin(), used.end(), 0);
      using Rank = std::pair<double, int>;  // (load, rank), lightest first
      std::priority_queue<Rank, std::vector<Rank>, std::greater<>> open;
      for (int r = 0; r < ranks; ++r) open.emplace(0.0, r);
      for (double w : weights) {
        auto [l, r] = open.top();
        open.pop();
        const auto i = static_cast<size_t>(r);
        load[i] = l + w;
        if (++used[i] < per_rank) open.emplace(load[i], r);
      }
    }
    sum_max += *std::max_element(load.begin(), load.end()) / (static_cast<double>(experts) / ranks);
  }
  const double v = sum_max / kDraws;
  std::lock_guard<std::mutex> lock(mu);
  return cache.emplace(key, v).first->second;
}

StepCostModel::StepCostModel(const Deployment& d) : d_(d) {
  const auto& m = *d.model;
  const auto& s = *d.system;
  const auto& e = *d.efficiency;
  const auto p = model::count_params(m);
  const double L = static_cast<double>(m.num_layers());
  const double tp = d.tp, pp = d.pp, ep = d.ep;
  const double h = static_cast<double>(m.hidden_size);

  stage_layers_ = std::ceil(L / pp);
  stage_fraction_ = stage_layers_ / L;
  const double fs = stage_fraction_;

  const double wb = info(d.weights).bytes_per_element;
  // Embeddings and LM head stay 16-bit in quantised checkpoints (ModelOpt exclude_modules lm_head;
  // gpt-oss modules_to_not_convert).
  const double embed_b = std::max(wb, 2.0);
  const double ab = info(d.activations).bytes_per_element;
  const double tp_attn = d.attention_dp ? 1.0 : tp;
  const double moe_group = std::max(tp, ep);  // chips the experts of one layer are spread over
  const double moe_tp = moe_group / ep;       // slices per expert

  w_attn_ = p.attention * fs / tp_attn * info(d.attention_weights).bytes_per_element;
  w_dense_ = (p.dense_ffn + p.shared_experts + p.router + p.norms) * fs / tp * wb;
  w_lm_ = p.lm_head / tp * embed_b;
  const double w_embed = p.embedding / tp * embed_b;

  const double n_moe = static_cast<double>(m.num_moe_layers());
  moe_layers_ = n_moe * fs;
  routed_experts_ = static_cast<double>(m.moe.routed_experts);
  top_k_ = static_cast<double>(m.moe.experts_per_token);
  const double expert_params = n_moe > 0 ? p.routed_experts / (routed_experts_ * n_moe) : 0;
  expert_slice_bytes_ = expert_params * wb / moe_tp;
  // EPLB's redundant experts are slots of their own on each rank (memory and weight reads).
  expert_slots_ = routed_experts_ + (d.eplb_redundant_experts ? *d.eplb_redundant_experts : 0);
  experts_per_chip_ = m.is_moe() ? expert_slots_ / ep : 0;
  ep_group_tokens_factor_ = ep > tp ? ep / tp : 1.0;
  // Per token copy per MoE layer on this chip: 4 passes of the hidden state in activation
  // precision, the copies spread over the EP group.
  moe_perm_bytes_per_copy_ = m.is_moe() ? 4 * h * info(d.activations).bytes_per_element / ep : 0;
  const double w_experts = moe_layers_ * experts_per_chip_ * expert_slice_bytes_;

  // FLOPs per replica token, per chip.
  flops_attn_proj_ = 2 * p.attention * fs / tp;
  flops_dense_ = 2 * (p.dense_ffn + p.shared_experts + p.router) * fs / tp;
  flops_lm_ = 2 * p.lm_head / tp;
  flops_expert_ = 2 * top_k_ * expert_params * moe_layers_ / moe_group;  // per EP-group token

  // Attention core.
  if (m.attention_type == model::AttentionType::mla) {
    const auto& a = m.mla;
    const double nh = static_cast<double>(m.num_heads);
    // Decode with weight absorption attends in the latent space (DeepSeek-V3 inference/model.py).
    per_key_decode_ = 2 * nh * static_cast<double>(a.kv_lora_rank + a.qk_rope_head_dim) +
                      2 * nh * static_cast<double>(a.kv_lora_rank);
    per_key_prefill_ = 2 * nh * static_cast<double>(a.qk_nope_head_dim + a.qk_rope_head_dim) +
                       2 * nh * static_cast<double>(a.v_head_dim);
  } else {
    per_key_decode_ = per_key_prefill_ = 4 * static_cast<double>(m.num_heads * m.head_dim);
  }
  per_key_decode_ /= tp;  // heads split over TP, or sequences split over attention-DP ranks
  per_key_prefill_ /= tp;
  const double nkv = static_cast<double>(m.num_kv_heads);
  kv_split_ = d.attention_dp ? tp
              : m.attention_type == model::AttentionType::mla ? 1.0  // latent replicated on every TP rank
                                                               : std::min(tp, nkv);
  kv_token_layer_bytes_ = model::kv_bytes_per_token_per_layer(m, info(d.kv).bytes_per_element) / kv_split_;
  {
    std::vector<Window> w;
    for (const auto& l : m.layers) {
      const double win = l.attention == model::AttentionKind::full ? 0 : static_cast<double>(l.window_tokens);
      const bool chunked = l.attention == model::AttentionKind::chunked;
      auto it = std::find_if(w.begin(), w.end(), [&](const Window& x) { return x.window == win && x.chunked == chunked; });
      if (it == w.end()) w.push_back({win, fs, chunked});
      else it->layers += fs;
    }
    windows_ = w;
  }

  // Activation traffic per token per chip: hidden in/out of attention and FFN, q/k/v, FFN inner.
  const double qkv = static_cast<double>(m.num_heads * m.head_dim + 2 * m.num_kv_heads * m.head_dim);
  const double ffn_active = p.dense_ffn + p.shared_experts + p.routed_experts_active;
  const double inter_avg = ffn_active / (3 * h * L);
  act_bytes_per_token_ = stage_layers_ * (4 * h + qkv / tp_attn + 3 * inter_avg / tp) * ab;

  // Communication: 16-bit activations on the wire.
  comm_bytes_per_token_ = h * 2;
  ep_pair_bytes_per_token_ = h * (info(d.moe_dispatch).bytes_per_element + 2);
  const double domain = s.scale_up_domain_chips.value;
  // One meaning of latency: a link's stated `latency` is what a collective step pays on the wire
  // (physical, part of the ceiling); the efficiency's `collective_latency` is the software cost
  // (launch, synchronisation) added on top of it. A group that spans more chips than the
  // scale-up domain runs over scale-out. A needed link without a bandwidth figure makes the
  // layout infeasible: never free.
  std::string link_problem;
  auto link = [&](double group, const char* what, hardware::Collective kind, double& bw, double& lat,
                  double& wire_lat) {
    bw = lat = wire_lat = 0;
    if (group <= 1) return;
    const bool up = group <= domain;
    const auto& l = up ? s.scale_up : s.scale_out;
    if (!l.bandwidth_bytes_per_s) {
      if (link_problem.empty())
        link_problem = fmt::format("{} over {} chips needs the {} link, and {} states no bandwidth for it", what,
                                   group, up ? "scale-up" : "scale-out", s.id);
      return;
    }
    double peak = l.bandwidth_bytes_per_s->value;
    // A full mesh gives a group of n chips its n - 1 direct peer links out of the domain's D - 1.
    if (up && l.topology == hardware::Topology::full_mesh && domain > 1)
      peak *= std::min(group - 1, domain - 1) / (domain - 1);
    bw = peak * e.network_fraction;
    wire_lat = l.latency_s ? l.latency_s->value : 0;
    // A multi-hop network states its latency per hop; a collective pays one per dependent round.
    if (l.topology == hardware::Topology::multi_hop) wire_lat *= hardware::collective_hops(kind, group);
    lat = wire_lat + e.collective_latency_s;
  };
  tp_group_ = tp;
  ep_group_ = moe_group;
  double tp_wire = 0, ep_wire = 0, pp_wire = 0;
  using hardware::Collective;
  link(tp, "tensor parallelism", Collective::all_reduce, tp_bw_, tp_lat_, tp_wire);
  if (m.is_moe() && (d.attention_dp || ep > tp))
    link(moe_group, "expert parallelism", Collective::all_to_all, ep_bw_, ep_lat_, ep_wire);
  if (pp > 1) link(tp * pp, "pipeline parallelism", Collective::point_to_point, pp_bw_, pp_lat_, pp_wire);
  const double dense_layers = stage_layers_ - moe_layers_;
  if (tp > 1) {
    if (!d.attention_dp) {
      tp_allreduces_ = 2 * stage_layers_;  // after attention and after the FFN / MoE
    } else {
      tp_allreduces_ = dense_layers;       // dense FFN layers still reduce over the group
    }
  }
  if (m.is_moe() && (d.attention_dp || ep > tp)) ep_alltoalls_ = 2 * moe_layers_;
  tokens_per_chip_factor_ = d.attention_dp ? 1.0 / tp : 1.0;
  // Wire latency on a token's path through every stage (the ceiling's communication floor).
  collective_floor_s_ = pp * (tp_allreduces_ * tp_wire + ep_alltoalls_ * ep_wire) + (pp - 1) * pp_wire;

  // Expected max over the EP ranks of distinct experts touched: each rank holds n = E/ep
  // experts, each touched by T tokens with probability q = 1 - (1 - k/E)^T (independent
  // approximation), so a rank's count is Binomial(n, q) and E[max of ep] = sum_x 1 - F(x)^ep.
  // A redundant copy takes its share of its expert's tokens: a slot is touched by a token with
  // probability k / slots on average.
  if (m.is_moe() && ep > 1)
    touched_max_ = busiest_rank_table(static_cast<int>(std::lround(experts_per_chip_)), top_k_ / expert_slots_,
                                      static_cast<int>(ep));
  // Routing skew: the busiest rank holds hot experts (static placement), or what EPLB's packing
  // leaves over (EPLB).
  if (m.is_moe() && ep > 1 && (d.expert_load_cv > 0 || d.eplb_redundant_experts))
    rank_skew_excess_ = std::max(0.0, busiest_rank_load(static_cast<int>(m.moe.routed_experts), static_cast<int>(ep),
                                                        d.expert_load_cv, d.eplb_redundant_experts.value_or(-1)) -
                                          1);

  // Rates.
  peak_gemm_ = peak_rate(s, d.gemm_class).value_or(0);
  peak_attn_ = peak_rate(s, d.attention_class).value_or(peak_gemm_);
  gemm_rate_ = peak_gemm_ * e.compute_fraction;
  peak_proj_ = peak_rate(s, d.attention_proj_class).value_or(peak_gemm_);
  proj_rate_ = peak_proj_ * e.compute_fraction;
  attn_rate_ = peak_attn_ * e.attention_compute_fraction;

  // Memory placement and budget.
  const double weights = w_attn_ + w_dense_ + w_experts + (pp == 1 ? w_lm_ + w_embed : std::max(w_lm_, w_embed));
  const double inter_max = std::max(inter_avg, static_cast<double>(m.moe.expert_intermediate) * top_k_);
  memory_.weights_bytes = weights;
  memory_.activation_bytes = e.activation_tokens * (6 * h + 3 * inter_max / tp) * ab;
  memory_.reserve_bytes = e.runtime_reserve_bytes;
  const double fixed = weights + memory_.activation_bytes + memory_.reserve_bytes;
  // The engine's memory policy: a share of the whole memory (vLLM, SGLang), or of what the
  // weights, workspace and runtime leave for KV (TensorRT-LLM).
  const bool of_free = d.memory_policy && d.memory_policy->kind == MemoryPolicy::Kind::fraction_of_free;
  const double util = d.memory_policy ? d.memory_policy->fraction : e.memory_utilization;
  const double cap_share = of_free ? 1.0 : util;  // share of capacity weights + workspace may use
  const MemoryTier* wt = nullptr;
  if (d.weight_tier) {
    wt = tier_of(s, *d.weight_tier);
  } else {
    for (const auto* t : by_speed(s)) {
      if (t->capacity_bytes.value * cap_share >= fixed) {
        wt = t;
        break;
      }
    }
    if (!wt) wt = &s.main_memory();
  }
  const MemoryTier* kt = d.kv_tier ? tier_of(s, *d.kv_tier) : wt;
  memory_.weight_tier = wt->kind;
  memory_.kv_tier = kt->kind;
  memory_.capacity_bytes = wt->capacity_bytes.value;
  memory_.usable_bytes = wt->capacity_bytes.value * cap_share;
  memory_.weight_tier_bandwidth_bytes_per_s = wt->bandwidth_bytes_per_s.value;
  memory_.kv_tier_bandwidth_bytes_per_s = kt->bandwidth_bytes_per_s.value;
  memory_.weights_fit = fixed <= memory_.usable_bytes;
  if (!memory_.weights_fit) {
    memory_.reason = fmt::format(
        "weights need {} per chip (+ {} activations and runtime) > {} usable {} on {}; "
        "spread over more chips (TP, PP or EP) or use a smaller weight precision",
        gb(weights), gb(memory_.activation_bytes + memory_.reserve_bytes), gb(memory_.usable_bytes),
        to_string(wt->kind), s.id);
  }
  memory_.link_problem = link_problem;
  if (memory_.weights_fit && !link_problem.empty()) {
    memory_.weights_fit = false;
    memory_.reason = link_problem + "; add the figure to the hardware file or choose a layout without it";
  }
  memory_.kv_free_bytes = kt == wt ? (memory_.usable_bytes - fixed) * (of_free ? util : 1.0)
                                   : kt->capacity_bytes.value * util;
  memory_.kv_physical_bytes = kt == wt ? wt->capacity_bytes.value - weights : kt->capacity_bytes.value;
  peak_w_bw_ = wt->bandwidth_bytes_per_s.value;
  peak_kv_bw_ = kt->bandwidth_bytes_per_s.value;
  w_bw_ = peak_w_bw_ * e.memory_bandwidth_fraction;
  kv_bw_ = peak_kv_bw_ * e.memory_bandwidth_fraction;
}

// Keys a decoding token at `context` attends: all of them, the last `window` (sliding), or the
// ones of its own chunk, context mod chunk (chunked attention, Llama 4).
double StepCostModel::keys(double context, const Window& w) const {
  if (w.window <= 0 || context <= w.window) return context;
  if (!w.chunked) return w.window;
  return std::max(1.0, std::fmod(context, w.window));
}

// Mean keys attended per prompt token for a causal prompt of `prompt` tokens.
double StepCostModel::mean_prefill_keys(double prompt, const Window& w) const {
  const double win = w.window;
  if (win <= 0 || prompt <= win) return prompt / 2;
  if (!w.chunked) return win - win * win / (2 * prompt);
  // Whole chunks average win/2 keys, the last partial chunk r/2: sum over chunks / prompt.
  const double whole = std::floor(prompt / win), rest = prompt - whole * win;
  return (whole * win * win / 2 + rest * rest / 2) / prompt;
}

double StepCostModel::kv_bytes_per_chip(double seqs, double context) const {
  // Capacity: a sliding or chunked layer holds at most its window (a chunk fills up to it).
  double tokens = 0;
  for (const auto& w : windows_) tokens += w.layers * (w.window > 0 ? std::min(context, w.window) : context);
  return seqs * tokens * kv_token_layer_bytes_;
}

bool StepCostModel::kv_is_linear() const {
  return std::all_of(windows_.begin(), windows_.end(), [](const Window& w) { return w.window <= 0; });
}

double StepCostModel::max_sequences(double context, bool physical) const {
  const double free = physical ? memory_.kv_physical_bytes : memory_.kv_free_bytes;
  if (free <= 0) return 0;
  const double one = kv_bytes_per_chip(1, context);
  if (one <= 0) return 0;
  // Attention-DP ranks each hold whole sequences: `one` is a sequence's KV spread over tp ranks.
  if (d_.attention_dp) return std::floor(free / (one * d_.tp)) * d_.tp;
  return std::floor(free / one);
}

double StepCostModel::experts_touched_max(double group_tokens) const {
  if (!touched_max_) return experts_per_chip_ * (1 - std::pow(1 - top_k_ / expert_slots_, group_tokens));
  const auto& tab = *touched_max_;
  const double last = static_cast<double>(tab.size() - 1);
  if (group_tokens >= last) return tab.back() >= experts_per_chip_ * (1 - 1e-9) ? experts_per_chip_ : tab.back();
  const double t = std::max(0.0, group_tokens);
  const auto i = static_cast<size_t>(t);
  const double f = t - static_cast<double>(i);
  return tab[i] * (1 - f) + tab[i + 1] * f;
}

double StepCostModel::expert_token_imbalance(double group_tokens) const {
  const double ep = d_.ep;
  if (ep <= 1 || group_tokens <= 0) return 1;
  // Token copies per rank ~ Binomial(T k, 1/ep); the busiest of ep ranks carries about
  // mean + sqrt(2 ln(ep) var) (Gaussian extreme value), never more than every copy. Routing
  // skew adds the busiest rank's expected excess share; the two excesses, each about the
  // Gaussian extreme of a per-rank deviation, combine as the root of their squares.
  const double mean = group_tokens * top_k_ / ep;
  const double var = mean * (1 - 1 / ep);
  const double noise = std::sqrt(2 * std::log(ep) * var) / mean;
  return std::min(ep, 1 + std::hypot(noise, rank_skew_excess_));
}

StepCostModel::Pipeline StepCostModel::pipeline(double seqs) const {
  Pipeline p;
  const double pp = d_.pp;
  if (pp <= 1) {
    p.largest = seqs;
    p.full = true;
    return p;
  }
  const double whole = std::floor(seqs + 1e-9);
  p.micro = std::clamp(whole, 1.0, pp);
  // Whole sequences: the largest micro-batch holds ceil(whole / micro) of them (a fractional
  // average batch is spread evenly).
  p.largest = std::max(seqs / p.micro, std::ceil(whole / p.micro - 1e-9));
  p.full = p.micro >= pp;
  return p;
}

void StepCostModel::pipeline_scale(const Pipeline& pl, StepCost& c) const {
  const double pp = d_.pp;
  // Every stage runs the micro-batch; the LM head runs on the last stage only. A micro-batch's
  // next token starts when its last one leaves the last stage, so each micro-batch waits the
  // longer of its own path through the stages (the sum of the stages, the LM head once) and the
  // time the slowest stage (the last, with the LM head) takes to serve every micro-batch in
  // flight (micro x its time). A full pipeline (micro = pp) is paced by the last stage; one
  // micro-batch by its path; in between, whichever is longer (an LM head heavier than a stage's
  // layers paces the pipeline before it fills).
  const double lm = c.groups[static_cast<size_t>(OpGroup::lm_head)].time_s;
  double rest = 0;
  for (size_t i = 0; i < kOpGroups; ++i)
    if (i != static_cast<size_t>(OpGroup::lm_head)) rest += c.groups[i].time_s;
  const bool paced = pl.full || pl.micro * (rest + lm) > pp * rest + lm;
  for (size_t i = 0; i < kOpGroups; ++i) {
    auto& g = c.groups[i];
    const bool is_lm = i == static_cast<size_t>(OpGroup::lm_head);
    g.time_s *= paced ? pl.micro : (is_lm ? 1.0 : pp);
  }
}

void StepCostModel::stage(const Batch& b, bool ideal, StepCost& out) const {
  const auto& e = *d_.efficiency;
  const double tokens = b.decode_seqs + b.prefill_tokens;  // replica tokens in this micro-batch
  const double logits = b.decode_seqs + b.prefill_seqs;
  const double gemm = ideal ? peak_gemm_ : gemm_rate_;
  const double attn = ideal ? peak_attn_ : attn_rate_;
  const double wbw = ideal ? peak_w_bw_ : w_bw_;
  const double kvbw = ideal ? peak_kv_bw_ : kv_bw_;
  auto roof = [&](GroupCost& g, double flops, double rate, double wbytes, double kvbytes) {
    g.flops = flops;
    g.bytes = wbytes + kvbytes;
    const double tc = rate > 0 ? flops / rate : 0;
    const double tm = wbytes / wbw + kvbytes / kvbw;
    g.time_s = std::max(tc, tm);
    g.bound = tc > tm ? Bound::compute : Bound::memory;
  };
  const double act = tokens * act_bytes_per_token_;
  auto& G = out.groups;
  roof(G[0], flops_attn_proj_ * tokens, ideal ? peak_proj_ : proj_rate_, w_attn_ + act * 0.5, 0);

  // Attention core: decode reads each sequence's cached keys; prefill attends causally, writes
  // the new tokens' KV and, for a prompt chunk, re-reads the KV its earlier chunks left (at
  // least once per chunk: the traffic floor of a flash kernel streaming the prefix). Decode and
  // prefill attention run as separate kernels with rooflines of their own (one memory-bound, the
  // other compute-bound) whose times add, unless the engine runs them in one launch.
  double keys_decode = 0, keys_prefill = 0, kv_decode_tokens = 0, kv_prefill_tokens = 0;
  const double prior_per_piece = b.prefill_pieces > 0 ? b.prefill_prior / b.prefill_pieces : 0;
  for (const auto& w : windows_) {
    const double kd = keys(b.decode_context, w);
    keys_decode += w.layers * b.decode_seqs * kd;
    const double kp = mean_prefill_keys(b.prefill_prompt, w);
    keys_prefill += w.layers * b.prefill_tokens * kp;
    // A shared prefix is read once, not once per sequence (full-attention layers: a windowed
    // layer's keys of a long context lie past the shared prompt).
    const double shared = w.window > 0 ? 0 : std::min(b.decode_shared_tokens, b.decode_seqs * kd);
    kv_decode_tokens += w.layers * (b.decode_seqs * kd - shared);
    const double reread = w.window > 0 ? b.prefill_pieces * std::min(prior_per_piece, w.window) : b.prefill_prior;
    kv_prefill_tokens += w.layers * (b.prefill_tokens + reread);
  }
  {
    GroupCost dec, pre;
    roof(dec, per_key_decode_ * keys_decode, attn, 0, kv_decode_tokens * kv_token_layer_bytes_);
    roof(pre, per_key_prefill_ * keys_prefill, attn, 0, kv_prefill_tokens * kv_token_layer_bytes_);
    G[1].flops = dec.flops + pre.flops;
    G[1].bytes = dec.bytes + pre.bytes;
    G[1].time_s = dec.time_s + pre.time_s;
    if (d_.attention_kernels == AttentionKernels::unified)
      roof(G[1], dec.flops + pre.flops, attn, 0, dec.bytes + pre.bytes);
    G[1].bound = dec.time_s >= pre.time_s ? dec.bound : pre.bound;
  }

  roof(G[2], flops_dense_ * tokens, gemm, w_dense_ + act * 0.5, 0);

  if (moe_layers_ > 0) {
    const double group_tokens = tokens * ep_group_tokens_factor_;
    // Expected distinct experts a layer's tokens touch under uniform routing:
    // E x (1 - (1 - k/E)^T); this chip holds E/ep of them.
    // The ideal (ceiling) takes the mean over ranks; a real step waits for the busiest rank:
    // the most distinct experts, and the most token copies in its GEMMs.
    const double mean_touched = experts_per_chip_ * (1 - std::pow(1 - top_k_ / expert_slots_, group_tokens));
    const double touched = ideal ? mean_touched : experts_touched_max(group_tokens);
    const double imbalance = ideal ? 1.0 : expert_token_imbalance(group_tokens);
    const double bytes = moe_layers_ * touched * expert_slice_bytes_;
    roof(G[3], flops_expert_ * group_tokens * imbalance, gemm, bytes, 0);
    // Token dispatch around the grouped expert GEMMs (permute in, unpermute and weighted
    // combine out): each of a token's k copies of the hidden state is written and read twice
    // by memory-bound kernels of their own, not hidden under the GEMMs.
    // (A fused kernel could avoid it: not part of the peak-only ceiling.)
    if (!ideal) {
      const double perm = moe_layers_ * group_tokens * top_k_ * moe_perm_bytes_per_copy_ * imbalance;
      G[3].bytes += perm;
      G[3].time_s += perm / wbw;
      // The fixed device time of a layer's MoE kernels (routing, permutation, grouped GEMMs,
      // combine) beyond their roofline, measured on kernels (Efficiency::moe_floor_s).
      if (group_tokens > 0) G[3].time_s += moe_layers_ * e.moe_floor_s;
    }
  } else {
    G[3] = GroupCost{};
  }
  roof(G[4], flops_lm_ * logits, gemm, logits > 0 ? w_lm_ : 0, 0);

  if (ideal) {
    for (size_t i = 5; i < kOpGroups; ++i) G[i] = GroupCost{};
    return;
  }
  // Tensor-parallel all-reduce (ring): latency + 2(n-1)/n x message / bandwidth.
  {
    auto& g = G[5];
    g = GroupCost{};
    g.bound = Bound::network;
    if (tp_allreduces_ > 0 && tokens > 0) {
      const double msg = tokens * comm_bytes_per_token_;
      const double per = tp_lat_ + (tp_bw_ > 0 ? 2 * (tp_group_ - 1) / tp_group_ * msg / tp_bw_ : 0);
      g.time_s = tp_allreduces_ * per;
      g.net_bytes = tp_allreduces_ * 2 * (tp_group_ - 1) / tp_group_ * msg;
    }
  }
  // Expert-parallel all-to-all: each token's hidden state goes to k experts (dispatch, in the
  // engine's dispatch precision) and comes back (combine, 16-bit); (n-1)/n of it leaves the chip.
  {
    auto& g = G[6];
    g = GroupCost{};
    g.bound = Bound::network;
    if (ep_alltoalls_ > 0 && tokens > 0) {
      const double pairs = ep_alltoalls_ / 2;  // one dispatch + one combine per MoE layer
      const double per_chip = tokens * tokens_per_chip_factor_ * top_k_ * ep_pair_bytes_per_token_ *
                              (ep_group_ - 1) / ep_group_;
      // The exchange ends when the busiest receiver (the rank with the most token copies) has
      // its share; the mean is what crosses the network per chip.
      const double busiest = per_chip * expert_token_imbalance(tokens * ep_group_tokens_factor_);
      g.time_s = ep_alltoalls_ * ep_lat_ + pairs * (ep_bw_ > 0 ? busiest / ep_bw_ : 0);
      g.net_bytes = pairs * per_chip;
    }
  }
  G[7] = GroupCost{};
  G[7].bound = Bound::network;
  G[8] = GroupCost{};
  G[8].bound = Bound::overhead;
  G[8].time_s = e.layer_overhead_s * stage_layers_;
  // Eager launch: the host issues every layer's kernels itself while the device runs those
  // already issued, so a stage's layers take the longer of their device time and the host's
  // dispatch time; the LM head, issued last, runs after them. What the device cannot hide is
  // charged as overhead. (A step with no tokens launches nothing.)
  if (d_.launch == Launch::eager && tokens > 0) {
    double device = 0;
    for (size_t i = 0; i < kOpGroups; ++i)
      if (i != static_cast<size_t>(OpGroup::lm_head)) device += G[i].time_s;
    const double host = e.eager_launch_s * stage_layers_;
    if (host > device) G[8].time_s += host - device;
  }
}

StepCost StepCostModel::step(const Batch& b) const {
  StepCost out;
  const double pp = d_.pp;
  // Micro-batches hold whole sequences (a prompt chunk is one), at most one per stage.
  const double seqs = b.decode_seqs + (b.prefill_tokens > 0 ? std::max(1.0, b.prefill_seqs) : b.prefill_seqs);
  const auto pl = pipeline(seqs);
  const double share = seqs > 0 ? pl.largest / seqs : 1.0;  // of the step's work in one micro-batch
  Batch mb = b;
  if (share < 1) {
    mb.decode_seqs *= share;
    mb.prefill_tokens *= share;
    mb.prefill_seqs *= share;
    mb.prefill_pieces *= share;
    mb.prefill_prior *= share;
    mb.decode_shared_tokens *= share;
  }
  stage(mb, false, out);
  pipeline_scale(pl, out);
  const double work = share > 0 ? 1 / share : 1.0;  // micro-batches' worth of work per chip
  for (auto& g : out.groups) {
    g.flops *= work;
    g.bytes *= work;
    g.net_bytes *= work;
  }
  if (pp > 1) {
    const double msg = (mb.decode_seqs + mb.prefill_tokens) * comm_bytes_per_token_;
    auto& g = out.groups[static_cast<size_t>(OpGroup::pp_transfer)];
    g.time_s = (pp - 1) * (pp_lat_ + (pp_bw_ > 0 ? msg / pp_bw_ : 0));
    g.net_bytes = msg * work;
  }
  // Each micro-batch in flight is an engine iteration of its own (vLLM virtual engines,
  // TensorRT-LLM micro-batches): the host schedules them one after another, so a pipelined step
  // pays the per-step overhead once per micro-batch.
  out.groups[static_cast<size_t>(OpGroup::overhead)].time_s += d_.efficiency->step_overhead_s * pl.micro;
  std::array<double, 4> by_bound{};
  for (const auto& g : out.groups) {
    out.time_s += g.time_s;
    by_bound[static_cast<size_t>(g.bound)] += g.time_s;
  }
  out.bound_by = static_cast<Bound>(std::max_element(by_bound.begin(), by_bound.end()) - by_bound.begin());
  return out;
}

double StepCostModel::ceiling_step_time(double decode_seqs, double context) const {
  const double pp = d_.pp;
  const auto pl = pipeline(decode_seqs);
  Batch b;
  b.decode_seqs = pl.largest;
  b.decode_context = context;
  StepCost c;
  stage(b, true, c);
  // One stage's bound, with or without the LM head (which only the last stage runs).
  auto bound = [&](bool with_lm) {
    double w_bytes = 0, kv_bytes = 0, gemm_flops = 0, attn_flops = 0;
    for (size_t i = 0; i < 5; ++i) {
      if (i == static_cast<size_t>(OpGroup::lm_head) && !with_lm) continue;
      (i == 1 ? kv_bytes : w_bytes) += c.groups[i].bytes;
      (i == 1 ? attn_flops : gemm_flops) += c.groups[i].flops;
    }
    const double t_mem = w_bytes / peak_w_bw_ + kv_bytes / peak_kv_bw_;
    const double t_cmp =
        (peak_gemm_ > 0 ? gemm_flops / peak_gemm_ : 0) + (peak_attn_ > 0 ? attn_flops / peak_attn_ : 0);
    return std::max(t_mem, t_cmp);
  };
  const double t_last = bound(true);
  // As the step's pipeline (pipeline_scale): the longer of a micro-batch's path and the last
  // stage serving every micro-batch.
  const double t = std::max((pp - 1) * bound(false) + t_last, pl.micro * t_last);
  return t + collective_floor_s_;
}

}  // namespace tf::cost
