#include "serving/serving.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <list>
#include <queue>
#include <limits>
#include <random>
#include <set>
#include <tuple>
#include <unordered_map>

#include "core/diagnostic.hpp"
#include "core/stats.hpp"

namespace tf::serving {

const std::vector<SchedulerInfo>& schedulers() {
  static const std::vector<SchedulerInfo> v{
      {Scheduler::mixed, "mixed",
       "prompt chunks ride in the decode steps: decodes first, the rest of the token budget to prompts, first "
       "come first served",
       "Agrawal et al., Sarathi-Serve (OSDI 2024); vLLM V1 chunked prefill; TensorRT-LLM in-flight batching"},
      {Scheduler::prefill_first, "prefill-first",
       "a step runs prompts only (up to the token budget) while any are waiting, else decodes only",
       "Yu et al., Orca (OSDI 2022) iteration-level scheduling; SGLang default scheduler; vLLM V0 without chunked "
       "prefill"},
  };
  return v;
}

std::string_view to_string(Scheduler s) {
  for (const auto& i : schedulers())
    if (i.scheduler == s) return i.name;
  return "?";
}

std::optional<Scheduler> parse_scheduler(std::string_view s) {
  for (const auto& i : schedulers())
    if (i.name == s) return i.scheduler;
  return std::nullopt;
}

Distribution distribution(std::vector<double> v) {
  Distribution d;
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  auto q = [&](double p) { return percentile_sorted(v, p); };
  double s = 0;
  for (double x : v) s += x;
  d.mean = s / static_cast<double>(v.size());
  d.median = q(0.5);
  d.p90 = q(0.9);
  d.p99 = q(0.99);
  d.max = v.back();
  return d;
}

namespace {


void check_workload(const cost::StepCostModel& m, const EngineConfig& e, double cap_kv, const Workload& w) {
  if (w.requests.empty()) fail("simulation: the workload has no requests");
  if (w.clients < 0) fail(fmt::format("simulation: clients must be >= 0, got {}", w.clients));
  if (!(e.step_tokens >= 1)) fail(fmt::format("simulation: step token budget must be >= 1, got {}", e.step_tokens));
  if (!(e.max_running >= 0)) fail(fmt::format("simulation: max running sequences must be >= 0, got {}", e.max_running));
  if (!(cap_kv > 0)) fail(fmt::format("simulation: KV capacity must be > 0 bytes per chip, got {}", cap_kv));
  double last = 0;
  for (size_t i = 0; i < w.requests.size(); ++i) {
    const auto& r = w.requests[i];
    if (!(r.input_tokens >= 1) || !(r.output_tokens >= 1))
      fail(fmt::format("simulation: request {} has {} input and {} output tokens (both must be >= 1)", i,
                       r.input_tokens, r.output_tokens));
    if (m.kv_bytes_per_chip(1, r.input_tokens + r.output_tokens) > cap_kv)
      fail(fmt::format("simulation: request {} needs {:.3g} GB of KV per chip for {} tokens (input + output) but the "
                       "engine holds {:.3g} GB: it can never run",
                       i, m.kv_bytes_per_chip(1, r.input_tokens + r.output_tokens) / 1e9,
                       r.input_tokens + r.output_tokens, cap_kv / 1e9));
    if (w.clients == 0) {
      if (!(r.arrival_s >= 0) || !std::isfinite(r.arrival_s))
        fail(fmt::format("simulation: request {} arrives at {} s (must be finite and >= 0)", i, r.arrival_s));
      if (r.arrival_s < last)
        fail(fmt::format("simulation: request {} arrives at {} s, before request {} ({} s): arrivals must be sorted", i,
                         r.arrival_s, i - 1, last));
      last = r.arrival_s;
    }
    if (r.context_blocks > 0 || r.prompt_blocks > 0) {
      if (r.prompt_blocks > r.context_blocks || static_cast<size_t>(r.hash_begin) + r.context_blocks > w.block_hashes.size())
        fail(fmt::format("simulation: request {} names prefix blocks [{}, {} + {}) (prompt {}) outside the workload's {} "
                         "block hashes",
                         i, r.hash_begin, r.hash_begin, r.context_blocks, r.prompt_blocks, w.block_hashes.size()));
    }
  }
  if (!w.block_hashes.empty() && !(w.block_tokens >= 1 && std::isfinite(w.block_tokens)))
    fail(fmt::format("simulation: the workload has block hashes but {} tokens per block (must be >= 1)", w.block_tokens));
}

// Cached KV blocks by hash: pinned while running requests use them, else on a least-recently-used
// list, evicted from its front when the KV memory they occupy is needed.
class PrefixCache {
 public:
  PrefixCache(const uint64_t* hashes, double block_bytes, Result::PrefixCache& stats)
      : h_(hashes), block_bytes_(block_bytes), stats_(stats) {}
  // Leading blocks of [begin, begin + count) that are cached (pinned or not).
  [[nodiscard]] uint32_t match(uint32_t begin, uint32_t count) const {
    uint32_t k = 0;
    while (k < count && map_.count(h_[begin + k])) ++k;
    return k;
  }
  // Pins blocks [begin + from, begin + to), inserting the ones not cached.
  void pin(uint32_t begin, uint32_t from, uint32_t to) {
    for (uint32_t k = from; k < to; ++k) {
      auto [it, added] = map_.try_emplace(h_[begin + k]);
      if (!added && it->second.refs == 0) lru_.erase(it->second.lru);
      ++it->second.refs;
    }
    stats_.peak_blocks = std::max(stats_.peak_blocks, map_.size());
  }
  // Unpins blocks [begin, begin + count): the last user gone, a block joins the LRU list's back.
  void unpin(uint32_t begin, uint32_t count) {
    for (uint32_t k = 0; k < count; ++k) {
      auto it = map_.find(h_[begin + k]);
      if (it == map_.end() || it->second.refs == 0) continue;
      if (--it->second.refs == 0) it->second.lru = lru_.insert(lru_.end(), it->first);
    }
  }
  // Evicts least recently used unpinned blocks until they fit in `room` bytes.
  void trim(double room) {
    while (!lru_.empty() && static_cast<double>(lru_.size()) * block_bytes_ > room) {
      map_.erase(lru_.front());
      lru_.pop_front();
      ++stats_.evicted_blocks;
    }
  }

 private:
  struct Entry {
    uint32_t refs = 0;
    std::list<uint64_t>::iterator lru;
  };
  const uint64_t* h_;
  double block_bytes_;
  Result::PrefixCache& stats_;
  std::unordered_map<uint64_t, Entry> map_;
  std::list<uint64_t> lru_;
};

}  // namespace

namespace {

void check_window(const WindowSpec& w) {
  if (!(w.warmup_fraction >= 0) || !(w.drain_fraction >= 0) || !(w.warmup_fraction + w.drain_fraction < 1))
    fail(fmt::format("simulation: the steady window's warm-up ({}) and drain ({}) fractions must be >= 0 and sum "
                     "to less than 1",
                     w.warmup_fraction, w.drain_fraction));
}

void summarise(Result& res, const WindowSpec& window) {
  double first = std::numeric_limits<double>::infinity(), last = 0, out_tokens = 0, in_tokens = 0, e2e_sum = 0;
  std::vector<double> ttft, tpot, e2e;
  for (const auto& r : res.requests) {
    e2e_sum += r.e2e_s();
    first = std::min(first, r.arrival_s);
    last = std::max(last, r.finish_s);
    out_tokens += r.output_tokens;
    in_tokens += r.input_tokens;
    ttft.push_back(r.ttft_s());
    e2e.push_back(r.e2e_s());
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());
  }
  res.duration_s = last - first;
  res.output_tok_s = res.duration_s > 0 ? out_tokens / res.duration_s : 0;
  res.input_tok_s = res.duration_s > 0 ? in_tokens / res.duration_s : 0;
  res.mean_in_system = res.duration_s > 0 ? e2e_sum / res.duration_s : 0;
  res.ttft_s = distribution(std::move(ttft));
  res.tpot_s = distribution(std::move(tpot));
  res.e2e_s = distribution(std::move(e2e));
  res.steady = steady_window(res.requests, window);
}

// Output tokens a request emits in [a, b): its first at first_token_s, the others evenly over
// (first_token_s, finish_s].
double tokens_in(const RequestRecord& r, double a, double b) {
  double n = 0;
  const double f = r.first_token_s, e = r.finish_s;
  if (e <= f) return (f >= a && f < b) ? r.output_tokens : 0;
  if (f >= a && f < b) n += 1;
  const double overlap = std::min(e, b) - std::max(f, a);
  if (overlap > 0) n += (r.output_tokens - 1) * overlap / (e - f);
  return n;
}

}  // namespace

SteadyWindow steady_window(const std::vector<RequestRecord>& requests, const WindowSpec& spec) {
  check_window(spec);
  SteadyWindow s;
  if (requests.empty()) return s;
  double a0 = std::numeric_limits<double>::infinity(), a1 = -a0, last = -a0;
  for (const auto& r : requests) {
    a0 = std::min(a0, r.arrival_s);
    a1 = std::max(a1, r.arrival_s);
    last = std::max(last, r.finish_s);
  }
  const double span = a1 - a0;
  if (!(span > 0)) return s;  // a queued batch: no window
  const double ts = a0 + spec.warmup_fraction * span, te = a1 - spec.drain_fraction * span;
  const double inf = std::numeric_limits<double>::infinity();
  // Phase k spans [lo[k], hi[k]) for counting; the outer phases are open-ended so that every
  // token and completion falls in exactly one.
  const double lo[3] = {-inf, ts, te}, hi[3] = {ts, te, inf};
  Phase* phase[3] = {&s.warmup, &s.window, &s.drain};
  s.warmup.start_s = a0;
  s.warmup.end_s = ts;
  s.window.start_s = ts;
  s.window.end_s = te;
  s.drain.start_s = te;
  s.drain.end_s = std::max(te, last);
  std::vector<double> ttft[3], tpot[3], e2e[3];
  double in_system = 0;  // request-seconds in the system within the window
  for (const auto& r : requests) {
    const int k = r.arrival_s < ts ? 0 : r.arrival_s < te ? 1 : 2;
    phase[k]->requests += 1;
    ttft[k].push_back(r.ttft_s());
    e2e[k].push_back(r.e2e_s());
    if (r.output_tokens > 1) tpot[k].push_back(r.tpot_s());
    for (int j = 0; j < 3; ++j) {
      phase[j]->output_tokens += tokens_in(r, lo[j], hi[j]);
      if (r.finish_s >= lo[j] && r.finish_s < hi[j]) phase[j]->completed += 1;
    }
    in_system += std::max(0.0, std::min(r.finish_s, te) - std::max(r.arrival_s, ts));
  }
  for (int k = 0; k < 3; ++k) {
    Phase& p = *phase[k];
    const double len = p.end_s - p.start_s;
    p.output_tok_s = len > 0 ? p.output_tokens / len : 0;
    p.ttft_s = distribution(std::move(ttft[k]));
    p.tpot_s = distribution(std::move(tpot[k]));
    p.e2e_s = distribution(std::move(e2e[k]));
  }
  s.measured = te > ts && s.window.requests > 0;
  s.mean_in_system = te > ts ? in_system / (te - ts) : 0;
  return s;
}

std::string_view to_string(KvAdmission k) {
  switch (k) {
    case KvAdmission::whole_context: return "whole-context";
    case KvAdmission::paged: return "paged";
  }
  return "?";
}

Result simulate(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w) {
  const double cap_kv = engine.kv_capacity_bytes ? *engine.kv_capacity_bytes : model.memory().kv_free_bytes;
  check_workload(model, engine, cap_kv, w);
  check_window(w.window);
  if (!(engine.kv_watermark >= 0 && engine.kv_watermark < 1))
    fail(fmt::format("simulation: KV watermark must be in [0, 1), got {}", engine.kv_watermark));
  const size_t n = w.requests.size();
  const bool closed = w.clients > 0;
  const bool paged = engine.kv_admission == KvAdmission::paged;
  const double cap_running = engine.max_running > 0 ? engine.max_running : std::numeric_limits<double>::infinity();

  Result res;
  res.requests.resize(n);
  std::vector<double> arrival(n, std::numeric_limits<double>::infinity());
  for (size_t i = 0; i < n; ++i) {
    res.requests[i].input_tokens = w.requests[i].input_tokens;
    res.requests[i].output_tokens = w.requests[i].output_tokens;
  }
  size_t issued = 0;  // requests whose arrival time is known; they arrive in index order
  if (closed) {
    issued = std::min<size_t>(static_cast<size_t>(w.clients), n);
    for (size_t i = 0; i < issued; ++i) arrival[i] = 0;
  } else {
    issued = n;
    for (size_t i = 0; i < n; ++i) arrival[i] = w.requests[i].arrival_s;
  }
  // KV bytes per chip a request holds while prefilling: its whole context (whole-context
  // admission), or its prompt and first token (paged; the prompt grows by the tokens it had
  // generated when it is preempted and recomputed).
  std::vector<double> prompt(n), emitted(n, 0), need(n);
  auto kv = [&](double tokens) { return model.kv_bytes_per_chip(1, tokens); };
  for (size_t i = 0; i < n; ++i) {
    prompt[i] = w.requests[i].input_tokens;
    need[i] = paged ? kv(prompt[i] + 1) : kv(w.requests[i].input_tokens + w.requests[i].output_tokens);
  }
  res.kv_capacity_bytes = cap_kv;
  const double admit_cap = paged ? cap_kv * (1 - engine.kv_watermark) : cap_kv;
  const double slack = 1e-9 * cap_kv;  // KV sums in bytes: compare with a relative tolerance

  // Sequences whose prompt is being processed, first come first served (prompt tokens done).
  std::deque<std::pair<size_t, double>> prefilling;
  // Decoding sequences all advance one token per decode step ("tick"), so one that starts
  // decoding at tick g with r tokens to go finishes at tick g + r: a min-heap on that tick
  // (entries of preempted sequences are stale: their epoch has moved on).
  struct Finish {
    double tick;
    size_t id;
    uint32_t epoch;
    bool operator>(const Finish& o) const { return std::tie(tick, id) > std::tie(o.tick, o.id); }
  };
  std::priority_queue<Finish, std::vector<Finish>, std::greater<>> finishing;
  std::vector<uint32_t> epoch(n, 0);
  // Paged KV: decoding sequences in admission order (the last is preempted first), with the tick
  // and tokens emitted when each started decoding.
  std::set<std::pair<uint64_t, size_t>> decoders;
  std::vector<uint64_t> admitted_as(n, 0);
  std::vector<double> start_tick(n, 0), start_emitted(n, 0);
  uint64_t admissions = 0;
  double tick = 0, decoding = 0, context_sum = 0;  // context_sum: cached tokens of the decoders
  std::deque<size_t> waiting;
  size_t next = 0, done = 0;
  double t = 0, reserved = 0;  // reserved: whole-context reservations, or paged prefill blocks
  auto in_flight = [&] { return decoding + static_cast<double>(prefilling.size()); };
  // Prefix caching: a request's leading cached blocks are pinned at admission and skipped by
  // its prefill (at least one prompt token is computed, for the logits); its other prompt
  // blocks are cached when its prefill ends, the ones its output fills when it completes, and
  // all are unpinned when it completes or is preempted.
  const bool caching = engine.prefix_caching && !w.block_hashes.empty();
  res.prefix_cache.enabled = engine.prefix_caching;
  PrefixCache cache(w.block_hashes.data(), caching ? kv(w.block_tokens) : 0, res.prefix_cache);
  std::vector<uint32_t> pinned(caching ? n : 0, 0);  // leading blocks each request has pinned
  auto release = [&](size_t id, bool finished) {
    if (!caching) return;
    const auto& r = w.requests[id];
    if (finished) cache.pin(r.hash_begin, pinned[id], r.context_blocks), pinned[id] = r.context_blocks;
    cache.unpin(r.hash_begin, pinned[id]);
    pinned[id] = 0;
  };
  auto complete = [&](size_t id) {
    release(id, true);
    res.requests[id].finish_s = t;
    if (!paged) reserved -= need[id];
    ++done;
    if (closed && issued < n) arrival[issued++] = t;  // the client sends its next request
  };
  // Paged KV held by the decoders, and how much the next decode step adds to it.
  auto decoder_kv = [&](double& growth) {
    double held = 0;
    growth = 0;
    for (const auto& [order, id] : decoders) {
      const double ctx = w.requests[id].input_tokens + start_emitted[id] + (tick - start_tick[id]);
      const double now = kv(ctx);
      held += now;
      growth += kv(ctx + 1) - now;
    }
    return held;
  };
  std::vector<double> chunk;  // tokens per prefilling entry this step (a prefix of the queue)

  while (done < n) {
    while (next < issued && arrival[next] <= t) waiting.push_back(next++);
    double growth = 0;
    double held = paged ? decoder_kv(growth) : 0;
    // Admission: first come, first served; a request that does not fit blocks the ones behind it.
    // The paged watermark keeps room for running requests to grow: with none running, a request
    // that fits at all is admitted.
    while (!waiting.empty()) {
      const size_t i = waiting.front();
      if (in_flight() + 1 > cap_running + 1e-9) break;
      if (reserved + held + need[i] > (in_flight() > 0 ? admit_cap : cap_kv) + slack) break;
      double cached = 0;
      if (caching && w.requests[i].prompt_blocks > 0) {
        const auto& r = w.requests[i];
        const uint32_t hit = cache.match(r.hash_begin, r.prompt_blocks);
        cache.pin(r.hash_begin, 0, hit);
        pinned[i] = hit;
        cached = std::min(hit * w.block_tokens, prompt[i] - 1);
        if (epoch[i] == 0) {
          res.prefix_cache.lookup_tokens += r.input_tokens;
          res.prefix_cache.hit_tokens += cached;
        } else {
          res.recomputed_tokens -= cached;  // a preempted request's cached prefix is not recomputed
        }
      }
      prefilling.emplace_back(i, cached);
      reserved += need[i];
      admitted_as[i] = admissions++;
      waiting.pop_front();
    }
    // Unpinned cached blocks live in the KV memory running requests leave free.
    if (caching) cache.trim(std::max(0.0, cap_kv - reserved - held));
    if (in_flight() == 0) {
      if (next >= issued) fail("simulation: internal error: no request can make progress");
      t = std::max(t, arrival[next]);
      continue;
    }

    const bool with_decodes = !(!prefilling.empty() && engine.scheduler == Scheduler::prefill_first);
    // Paged KV: when the decoders' next tokens do not fit, preempt the most recently admitted
    // decoder (recompute: its KV is freed, it rejoins the queue at the front with the tokens it
    // had generated added to its prompt), until they do.
    if (paged && with_decodes) {
      while (!decoders.empty() && reserved + held + growth > cap_kv + slack) {
        const auto last = std::prev(decoders.end());
        const size_t id = last->second;
        decoders.erase(last);
        const double gen = start_emitted[id] + (tick - start_tick[id]);
        const double ctx = w.requests[id].input_tokens + gen;
        held -= kv(ctx);
        growth -= kv(ctx + 1) - kv(ctx);
        decoding -= 1;
        context_sum -= ctx;
        emitted[id] = gen;
        prompt[id] = ctx;
        release(id, false);
        need[id] = kv(prompt[id] + 1);
        ++epoch[id];
        ++res.preemptions;
        res.recomputed_tokens += prompt[id];
        waiting.push_front(id);
      }
      if (in_flight() == 0) continue;
    }
    res.peak_running = std::max(res.peak_running, in_flight());

    cost::Batch b;
    if (with_decodes) b.decode_seqs = decoding;
    // Prompt chunks, first come first served, in what the token budget leaves.
    double budget = std::max(0.0, engine.step_tokens - b.decode_seqs);
    chunk.clear();
    double prompt_weighted = 0;
    for (size_t k = 0; k < prefilling.size() && budget > 0; ++k) {
      const double len = prompt[prefilling[k].first];
      const double left = len - prefilling[k].second;
      const double c = std::min(left, budget);
      budget -= c;
      chunk.push_back(c);
      b.prefill_tokens += c;
      prompt_weighted += c * len;
      if (c >= left) b.prefill_seqs += 1;
      if (c < len) {  // a chunk of a longer prompt: it re-reads the KV its earlier chunks left
        b.prefill_pieces += 1;
        b.prefill_prior += prefilling[k].second;
      }
    }
    if (b.prefill_tokens > 0) b.prefill_prompt = prompt_weighted / b.prefill_tokens;

    // Steps this iteration: one when prompts are in it; a pure-decode stretch otherwise, up to
    // the next completion, the next arrival that could be admitted, or (paged KV) the step whose
    // tokens would no longer fit.
    double steps = 1;
    if (chunk.empty() && b.decode_seqs > 0) {
      while (epoch[finishing.top().id] != finishing.top().epoch) finishing.pop();  // preempted
      steps = std::max(1.0, finishing.top().tick - tick);
      if (paged && growth > 0)
        steps = std::min(steps, std::max(1.0, std::floor((cap_kv + slack - reserved - held) / growth)));
      const bool admissible = waiting.empty() && next < issued && in_flight() + 1 <= cap_running + 1e-9 &&
                              reserved + held + growth * steps + need[next] <= admit_cap + slack;
      if (admissible) {
        b.decode_context = context_sum / decoding;
        const double tau = model.step(b).time_s;
        ++res.step_evaluations;
        if (tau > 0) steps = std::min(steps, std::max(1.0, std::ceil((arrival[next] - t) / tau)));
      }
    }
    // The KV in use at the end of these steps (growth per step only falls as contexts pass
    // their windows, so this bounds it).
    res.peak_kv_bytes = std::max(res.peak_kv_bytes, reserved + held + (b.decode_seqs > 0 ? growth * steps : 0));
    if (b.decode_seqs > 0) b.decode_context = context_sum / decoding + (steps - 1) / 2;
    const double dt = steps * model.step(b).time_s;
    ++res.step_evaluations;
    t += dt;
    res.busy_s += dt;
    res.steps += steps;

    // Decoders advance; the ones whose last token this was complete.
    if (b.decode_seqs > 0) {
      tick += steps;
      context_sum += decoding * steps;
      while (!finishing.empty() && finishing.top().tick <= tick + 1e-9) {
        const auto f = finishing.top();
        finishing.pop();
        if (epoch[f.id] != f.epoch) continue;  // preempted since
        decoding -= 1;
        context_sum -= w.requests[f.id].input_tokens + w.requests[f.id].output_tokens;
        if (paged) decoders.erase({admitted_as[f.id], f.id});
        complete(f.id);
      }
    }
    // Prompts whose last chunk ran emit their next token (the first, unless recomputed after a
    // preemption) and start decoding (or complete).
    for (size_t k = 0; k < chunk.size(); ++k) prefilling[k].second += chunk[k];
    while (!prefilling.empty() && prefilling.front().second >= prompt[prefilling.front().first]) {
      const size_t id = prefilling.front().first;
      prefilling.pop_front();
      if (paged) reserved -= need[id];
      const auto& r = w.requests[id];
      if (caching && pinned[id] < r.prompt_blocks) {
        cache.pin(r.hash_begin, pinned[id], r.prompt_blocks);
        pinned[id] = r.prompt_blocks;
      }
      if (emitted[id] == 0) res.requests[id].first_token_s = t;
      emitted[id] += 1;
      if (emitted[id] >= r.output_tokens) {
        complete(id);
        continue;
      }
      decoding += 1;
      context_sum += r.input_tokens + emitted[id];
      finishing.push({tick + r.output_tokens - emitted[id], id, epoch[id]});
      if (paged) {
        start_tick[id] = tick;
        start_emitted[id] = emitted[id];
        decoders.emplace(admitted_as[id], id);
      }
    }
  }

  for (size_t i = 0; i < n; ++i) res.requests[i].arrival_s = arrival[i];
  summarise(res, w.window);
  return res;
}

Result simulate_deployment(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w) {
  const size_t dp = static_cast<size_t>(std::max(1, model.deployment().dp));
  if (dp == 1) return simulate(model, engine, w);
  if (w.requests.empty()) fail("simulation: the workload has no requests");
  check_window(w.window);
  const size_t n = w.requests.size();
  std::vector<Workload> parts(dp);
  std::vector<std::vector<size_t>> index(dp);  // workload index of each replica's requests
  for (auto& p : parts) {
    p.block_hashes = w.block_hashes;  // each replica keeps a prefix cache of its own
    p.block_tokens = w.block_tokens;
    p.window = w.window;
  }
  if (w.clients > 0) {
    // Clients c = 0..C-1 go to replica c mod DP; request i belongs to client i mod C.
    const size_t c = static_cast<size_t>(w.clients);
    for (size_t r = 0; r < dp; ++r) parts[r].clients = static_cast<int>(c / dp + (r < c % dp ? 1 : 0));
    for (size_t i = 0; i < n; ++i) {
      const size_t r = (i % c) % dp;
      parts[r].requests.push_back(w.requests[i]);
      index[r].push_back(i);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      parts[i % dp].requests.push_back(w.requests[i]);
      index[i % dp].push_back(i);
    }
  }
  Result res;
  res.requests.resize(n);
  for (size_t r = 0; r < dp; ++r) {
    if (parts[r].requests.empty() || (w.clients > 0 && parts[r].clients == 0)) continue;
    const auto one = simulate(model, engine, parts[r]);
    for (size_t k = 0; k < one.requests.size(); ++k) res.requests[index[r][k]] = one.requests[k];
    res.steps += one.steps;
    res.step_evaluations += one.step_evaluations;
    res.busy_s += one.busy_s;
    res.peak_running = std::max(res.peak_running, one.peak_running);
    res.peak_kv_bytes = std::max(res.peak_kv_bytes, one.peak_kv_bytes);
    res.kv_capacity_bytes = one.kv_capacity_bytes;
    res.preemptions += one.preemptions;
    res.recomputed_tokens += one.recomputed_tokens;
    res.prefix_cache.enabled = one.prefix_cache.enabled;
    res.prefix_cache.lookup_tokens += one.prefix_cache.lookup_tokens;
    res.prefix_cache.hit_tokens += one.prefix_cache.hit_tokens;
    res.prefix_cache.evicted_blocks += one.prefix_cache.evicted_blocks;
    res.prefix_cache.peak_blocks = std::max(res.prefix_cache.peak_blocks, one.prefix_cache.peak_blocks);
  }
  summarise(res, w.window);
  return res;
}

bool Slo::met_by(const RequestRecord& r) const {
  if (ttft_s && r.ttft_s() > *ttft_s) return false;
  if (tpot_s && r.output_tokens > 1 && r.tpot_s() > *tpot_s) return false;
  return true;
}

BenchMetrics bench_metrics(const std::vector<RequestRecord>& requests, double duration_s, const Slo& slo) {
  for (const auto* v : {&slo.ttft_s, &slo.tpot_s})
    if (*v && (!(**v > 0) || !std::isfinite(**v))) fail(fmt::format("SLO limits must be finite and > 0 s, got {}", **v));
  BenchMetrics m;
  m.completed = requests.size();
  m.duration_s = duration_s;
  m.slo_given = slo.any();
  std::vector<double> ttft, tpot, incl, e2e;
  // ITL: each request's TPOT, once per gap; percentiles over the pooled gaps (token-weighted).
  std::vector<std::pair<double, double>> gaps;  // (gap, count)
  double in_tokens = 0, out_tokens = 0, gap_count = 0, gap_sum = 0;
  for (const auto& r : requests) {
    in_tokens += r.input_tokens;
    out_tokens += r.output_tokens;
    ttft.push_back(r.ttft_s());
    e2e.push_back(r.e2e_s());
    incl.push_back(r.e2e_s() / r.output_tokens);
    if (r.output_tokens > 1) {
      tpot.push_back(r.tpot_s());
      gaps.emplace_back(r.tpot_s(), r.output_tokens - 1);
      gap_count += r.output_tokens - 1;
      gap_sum += r.tpot_s() * (r.output_tokens - 1);
    }
    if (slo.met_by(r)) ++m.slo_met;
  }
  m.ttft_s = distribution(std::move(ttft));
  m.tpot_s = distribution(std::move(tpot));
  m.tpot_incl_first_s = distribution(std::move(incl));
  m.e2el_s = distribution(std::move(e2e));
  if (gap_count > 0) {
    std::sort(gaps.begin(), gaps.end());
    auto weighted = [&](double p) {  // smallest gap with at least p of the gaps at or below it
      double seen = 0;
      for (const auto& [g, c] : gaps) {
        seen += c;
        if (seen >= p * gap_count) return g;
      }
      return gaps.back().first;
    };
    m.itl_s.mean = gap_sum / gap_count;
    m.itl_s.median = weighted(0.5);
    m.itl_s.p90 = weighted(0.9);
    m.itl_s.p99 = weighted(0.99);
    m.itl_s.max = gaps.back().first;
  }
  if (duration_s > 0) {
    m.request_throughput = static_cast<double>(m.completed) / duration_s;
    m.output_throughput = out_tokens / duration_s;
    m.total_token_throughput = (in_tokens + out_tokens) / duration_s;
    m.goodput = static_cast<double>(m.slo_met) / duration_s;
  }
  m.slo_attainment = m.completed > 0 ? static_cast<double>(m.slo_met) / static_cast<double>(m.completed) : 0;
  return m;
}

std::vector<Request> requests_from_trace(const io::Trace& t, size_t n) {
  if (n == 0 || n > t.requests.size()) n = t.requests.size();
  std::vector<Request> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& r = t.requests[i];
    out.push_back({r.arrival_s, static_cast<double>(std::max(1LL, r.input_tokens)),
                   static_cast<double>(std::max(1LL, r.output_tokens))});
  }
  return out;
}

bool add_trace_prefixes(const io::Trace& t, Workload& w) {
  std::vector<uint64_t> pool;
  const size_t n = std::min(w.requests.size(), t.requests.size());
  for (size_t i = 0; i < n; ++i) {
    const auto& h = t.requests[i].block_hashes;
    if (pool.size() + h.size() > std::numeric_limits<uint32_t>::max())
      fail(fmt::format("{}: more than {} prefix-block hashes", t.file, std::numeric_limits<uint32_t>::max()));
    auto& r = w.requests[i];
    r.hash_begin = static_cast<uint32_t>(pool.size());
    r.prompt_blocks = r.context_blocks = static_cast<uint32_t>(h.size());
    pool.insert(pool.end(), h.begin(), h.end());
  }
  if (pool.empty()) {
    for (size_t i = 0; i < n; ++i) w.requests[i].hash_begin = w.requests[i].prompt_blocks = w.requests[i].context_blocks = 0;
    return false;
  }
  w.block_hashes = std::move(pool);
  w.block_tokens = kMooncakeBlockTokens;
  return true;
}

void add_shared_prefixes(Workload& w, double tokens, int groups, double block_tokens) {
  if (!(tokens >= 1 && std::isfinite(tokens)))
    fail(fmt::format("shared prefix: must be >= 1 token, got {}", tokens));
  if (groups < 1 || groups > (1 << 20)) fail(fmt::format("shared prefix: groups must be in [1, 2^20], got {}", groups));
  if (!(block_tokens >= 1)) fail(fmt::format("shared prefix: block size must be >= 1 token, got {}", block_tokens));
  for (size_t i = 0; i < w.requests.size(); ++i)
    if (w.requests[i].input_tokens <= tokens)
      fail(fmt::format("shared prefix of {} tokens: request {} has a prompt of only {} tokens (the prefix must be "
                       "shorter than every prompt)",
                       tokens, i, w.requests[i].input_tokens));
  const auto blocks = static_cast<uint32_t>(std::floor(tokens / block_tokens));
  if (static_cast<double>(blocks) * groups > 1e8)
    fail(fmt::format("shared prefix: {} groups x {} blocks is more than 1e8 hashes", groups, blocks));
  // Chained hashes: block k of group g stands for that group's first k + 1 blocks.
  w.block_hashes.clear();
  for (int g = 0; g < groups; ++g)
    for (uint32_t k = 0; k < blocks; ++k)
      w.block_hashes.push_back((static_cast<uint64_t>(g) << 32) | k);
  w.block_tokens = block_tokens;
  for (size_t i = 0; i < w.requests.size(); ++i) {
    auto& r = w.requests[i];
    r.hash_begin = static_cast<uint32_t>((i % static_cast<size_t>(groups)) * blocks);
    r.prompt_blocks = r.context_blocks = blocks;
  }
}

std::vector<Request> make_requests(size_t n, const LengthSpec& input, const LengthSpec& output, double rate_per_s,
                                   uint64_t seed) {
  for (const auto* l : {&input, &output}) {
    if (!(l->mean >= 1)) fail(fmt::format("request lengths: mean must be >= 1 token, got {}", l->mean));
    if (!(l->spread >= 0 && l->spread < 1))
      fail(fmt::format("request lengths: spread must be in [0, 1), got {}", l->spread));
  }
  if (!(rate_per_s >= 0) || !std::isfinite(rate_per_s))
    fail(fmt::format("request rate must be finite and >= 0, got {}", rate_per_s));
  std::mt19937_64 rng(seed);
  // Uniform in [0, 1) from the top 53 bits: the same sequence on every platform.
  auto u01 = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  auto draw = [&](const LengthSpec& l) {
    if (l.spread == 0) return std::max(1.0, std::round(l.mean));
    return std::max(1.0, std::round(l.mean * (1 - l.spread + 2 * l.spread * u01())));
  };
  std::vector<Request> out(n);
  double t = 0;
  for (auto& r : out) {
    if (rate_per_s > 0) {
      t += -std::log(1 - u01()) / rate_per_s;
      r.arrival_s = t;
    }
    r.input_tokens = draw(input);
    r.output_tokens = draw(output);
  }
  return out;
}

size_t open_loop_requests(double rate_per_s, std::optional<double> stated_requests,
                          std::optional<double> stated_duration_s, size_t cap) {
  if (stated_requests) {
    if (!(*stated_requests >= 1) || !std::isfinite(*stated_requests))
      fail(fmt::format("requests to simulate must be >= 1, got {}", *stated_requests));
    return static_cast<size_t>(std::ceil(*stated_requests));
  }
  if (!(rate_per_s > 0) || !std::isfinite(rate_per_s))
    fail(fmt::format("request rate must be finite and > 0, got {}", rate_per_s));
  if (stated_duration_s && (!(*stated_duration_s > 0) || !std::isfinite(*stated_duration_s)))
    fail(fmt::format("run duration must be finite and > 0 s, got {}", *stated_duration_s));
  const double seconds = std::max(stated_duration_s.value_or(0.0), kSettleSeconds);
  const double n = std::ceil(rate_per_s * seconds);
  return static_cast<size_t>(std::clamp(n, 1.0, static_cast<double>(std::max<size_t>(cap, 1))));
}

std::string rate_violation(const Result& r, const RateLimits& limits) {
  const auto& s = r.steady;
  if (!s.measured) return "no steady window (too few requests)";
  const auto& w = s.window;
  if (limits.p99_ttft_s && w.ttft_s.p99 > *limits.p99_ttft_s)
    return fmt::format("p99 TTFT {:.1f} ms > {:.1f} ms", w.ttft_s.p99 * 1e3, *limits.p99_ttft_s * 1e3);
  if (limits.p99_tpot_s && w.tpot_s.p99 > *limits.p99_tpot_s)
    return fmt::format("p99 TPOT {:.2f} ms > {:.2f} ms", w.tpot_s.p99 * 1e3, *limits.p99_tpot_s * 1e3);
  const double arrived = static_cast<double>(w.requests), completed = static_cast<double>(w.completed);
  // In the system when the window opens: arrived during warm-up, not completed in it.
  const double at_start = static_cast<double>(s.warmup.requests) - static_cast<double>(s.warmup.completed);
  const double allowance = 0.02 * arrived + 3 * std::sqrt(2 * at_start + 1);
  if (arrived - completed > allowance)
    return fmt::format("falls behind its arrivals: {:.0f} arrived in the steady window, {:.0f} completed in it",
                       arrived, completed);
  return {};
}

namespace {

// Fewest requests a rate probe simulates, so that a low rate still has a window with a tail.
constexpr size_t kMinProbeRequests = 200;

void check_limit(const std::optional<double>& v, const char* what) {
  if (v && (!(*v > 0) || !std::isfinite(*v)))
    fail(fmt::format("rate search: the {} limit must be finite and > 0, got {}", what, *v));
}

}  // namespace

MaxRate find_max_rate(const cost::StepCostModel& model, const EngineConfig& engine, const RateSearchSpec& spec) {
  if (!spec.limits.p99_ttft_s && !spec.limits.p99_tpot_s)
    fail("rate search: no latency limit given (p99 TTFT and / or p99 TPOT)");
  check_limit(spec.limits.p99_ttft_s, "p99 TTFT");
  check_limit(spec.limits.p99_tpot_s, "p99 TPOT");
  if (!(spec.tolerance > 0) || !std::isfinite(spec.tolerance))
    fail(fmt::format("rate search: tolerance must be finite and > 0, got {}", spec.tolerance));
  if (spec.max_probes < 2) fail(fmt::format("rate search: at least 2 probes are needed, got {}", spec.max_probes));
  if (!(spec.start_rate > 0) || !std::isfinite(spec.start_rate))
    fail(fmt::format("rate search: start rate must be finite and > 0 req/s, got {}", spec.start_rate));
  check_window(spec.window);

  MaxRate out;
  double lo = 0, hi = 0;  // largest rate meeting the limits, smallest above it violating them
  double last_in_system = 0;
  auto probe = [&](double rate) {
    size_t n = open_loop_requests(rate, spec.requests, spec.duration_s);
    if (!spec.requests) n = std::max(n, kMinProbeRequests);
    Workload w;
    w.requests = make_requests(n, spec.input, spec.output, rate, spec.seed);
    w.window = spec.window;
    auto r = simulate_deployment(model, engine, w);
    RateProbe p;
    p.rate = rate;
    p.requests = n;
    p.violation = rate_violation(r, spec.limits);
    p.meets = p.violation.empty();
    p.output_tok_s = r.steady.window.output_tok_s;
    p.p99_ttft_s = r.steady.window.ttft_s.p99;
    p.p99_tpot_s = r.steady.window.tpot_s.p99;
    last_in_system = r.steady.mean_in_system;
    out.probes.push_back(p);
    if (p.meets && rate > lo) {
      lo = rate;
      out.at_rate = std::move(r);
    } else if (!p.meets && (hi == 0 || rate < hi)) {
      hi = rate;
    }
    return p.meets;
  };
  auto budget = [&] { return static_cast<int>(out.probes.size()) < spec.max_probes; };

  // Bracket: double while the limits hold, halve while they do not (until requests run alone).
  double rate = spec.start_rate;
  if (probe(rate)) {
    while (budget() && probe(rate *= 2)) {
    }
  } else {
    while (budget() && last_in_system >= 0.01 && !probe(rate /= 2)) {
    }
  }
  // Bisect the bracket at its geometric mid-point.
  while (lo > 0 && hi > lo && (hi - lo) / lo > spec.tolerance && budget()) probe(std::sqrt(lo * hi));

  out.found = lo > 0;
  out.rate = lo;
  out.upper = hi > lo ? hi : 0;
  out.converged = out.found && out.upper > 0 && (out.upper - lo) / lo <= spec.tolerance;
  if (!out.found) {
    const auto& last = out.probes.back();
    out.reason = fmt::format("no rate meets the limits; at the lowest probed, {:.4g} req/s{}: {}", last.rate,
                             last_in_system < 0.01 ? " (requests run alone)" : "", last.violation);
  } else if (out.upper == 0) {
    out.reason = fmt::format("the limits hold up to {:.4g} req/s, the largest rate probed in {} simulations", lo,
                             out.probes.size());
  } else if (!out.converged) {
    out.reason = fmt::format("bracket [{:.4g}, {:.4g}] req/s not narrowed to {:g} within {} simulations", lo, hi,
                             spec.tolerance, spec.max_probes);
  }
  return out;
}

}  // namespace tf::serving
