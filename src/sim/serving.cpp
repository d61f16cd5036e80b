#include "sim/serving.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <random>

#include "core/diagnostic.hpp"

namespace tf::sim {

std::string_view to_string(Scheduler s) {
  switch (s) {
    case Scheduler::mixed:
      return "mixed";
    case Scheduler::prefill_first:
      return "prefill-first";
  }
  return "?";
}

std::optional<Scheduler> parse_scheduler(std::string_view s) {
  if (s == "mixed") return Scheduler::mixed;
  if (s == "prefill-first" || s == "prefill_first") return Scheduler::prefill_first;
  return std::nullopt;
}

Distribution distribution(std::vector<double> v) {
  Distribution d;
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  auto q = [&](double p) {
    const double pos = p * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
  };
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

struct Seq {
  size_t id = 0;
  double prefilled = 0;  // prompt tokens already processed
  double generated = 0;  // output tokens emitted (the first comes with the prompt's last chunk)
};

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
  }
}

}  // namespace

Result simulate(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w) {
  const double cap_kv = engine.kv_capacity_bytes ? *engine.kv_capacity_bytes : model.memory().kv_free_bytes;
  check_workload(model, engine, cap_kv, w);
  const size_t n = w.requests.size();
  const bool closed = w.clients > 0;
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
  std::vector<double> need(n);  // KV bytes per chip each request reserves
  for (size_t i = 0; i < n; ++i)
    need[i] = model.kv_bytes_per_chip(1, w.requests[i].input_tokens + w.requests[i].output_tokens);
  res.kv_capacity_bytes = cap_kv;

  std::deque<size_t> waiting;
  std::vector<Seq> running;
  size_t next = 0, done = 0;
  double t = 0, reserved = 0;

  while (done < n) {
    while (next < issued && arrival[next] <= t) waiting.push_back(next++);
    // Admission: first come, first served; a request that does not fit blocks the ones behind it.
    while (!waiting.empty()) {
      const size_t i = waiting.front();
      if (static_cast<double>(running.size()) + 1 > cap_running + 1e-9) break;
      if (reserved + need[i] > cap_kv + 1e-9) break;
      running.push_back({i, 0, 0});
      reserved += need[i];
      waiting.pop_front();
    }
    if (running.empty()) {
      if (next >= issued) fail("simulation: internal error: no request can make progress");
      t = std::max(t, arrival[next]);
      continue;
    }
    res.peak_running = std::max(res.peak_running, static_cast<double>(running.size()));
    res.peak_kv_bytes = std::max(res.peak_kv_bytes, reserved);

    bool prefill_pending = false;
    for (const auto& s : running)
      if (s.prefilled < w.requests[s.id].input_tokens) prefill_pending = true;
    const bool with_decodes = !(prefill_pending && engine.scheduler == Scheduler::prefill_first);

    cost::Batch b;
    double context_sum = 0, min_left = std::numeric_limits<double>::infinity();
    if (with_decodes) {
      for (const auto& s : running) {
        const auto& r = w.requests[s.id];
        if (s.prefilled < r.input_tokens) continue;
        b.decode_seqs += 1;
        context_sum += r.input_tokens + s.generated;
        min_left = std::min(min_left, r.output_tokens - s.generated);
      }
    }
    // Prompt chunks, first come first served, in what the token budget leaves.
    double budget = std::max(0.0, engine.step_tokens - b.decode_seqs);
    std::vector<std::pair<size_t, double>> chunks;  // index into running, tokens
    double prompt_weighted = 0;
    if (prefill_pending) {
      for (size_t k = 0; k < running.size() && budget > 0; ++k) {
        const auto& r = w.requests[running[k].id];
        const double left = r.input_tokens - running[k].prefilled;
        if (left <= 0) continue;
        const double c = std::min(left, budget);
        budget -= c;
        chunks.emplace_back(k, c);
        b.prefill_tokens += c;
        prompt_weighted += c * r.input_tokens;
        if (c >= left) b.prefill_seqs += 1;
      }
      if (b.prefill_tokens > 0) b.prefill_prompt = prompt_weighted / b.prefill_tokens;
    }

    // Steps this iteration: one when prompts are in it; a pure-decode stretch otherwise, up to
    // the next completion or the next arrival that could be admitted.
    double steps = 1;
    if (chunks.empty() && b.decode_seqs > 0) {
      steps = std::max(1.0, min_left);
      const bool admissible = waiting.empty() && next < issued &&
                              static_cast<double>(running.size()) + 1 <= cap_running + 1e-9 &&
                              reserved + need[next] <= cap_kv + 1e-9;
      if (admissible) {
        b.decode_context = context_sum / b.decode_seqs;
        const double tau = model.step(b).time_s;
        ++res.step_evaluations;
        if (tau > 0) steps = std::min(steps, std::max(1.0, std::ceil((arrival[next] - t) / tau)));
      }
    }
    if (b.decode_seqs > 0) b.decode_context = context_sum / b.decode_seqs + (steps - 1) / 2;
    const double dt = steps * model.step(b).time_s;
    ++res.step_evaluations;
    t += dt;
    res.busy_s += dt;
    res.steps += steps;

    // Tokens: decodes advance by `steps`; a prompt whose last chunk ran emits its first token.
    if (with_decodes)
      for (auto& s : running)
        if (s.prefilled >= w.requests[s.id].input_tokens) s.generated += steps;
    for (const auto& [k, c] : chunks) {
      auto& s = running[k];
      s.prefilled += c;
      if (s.prefilled >= w.requests[s.id].input_tokens) {
        s.generated = 1;
        res.requests[s.id].first_token_s = t;
      }
    }
    // Completions free their KV reservation; a closed-loop client sends its next request.
    size_t kept = 0;
    for (size_t k = 0; k < running.size(); ++k) {
      const auto& s = running[k];
      const auto& r = w.requests[s.id];
      if (s.prefilled >= r.input_tokens && s.generated >= r.output_tokens) {
        res.requests[s.id].finish_s = t;
        reserved -= need[s.id];
        ++done;
        if (closed && issued < n) arrival[issued++] = t;
      } else {
        running[kept++] = s;
      }
    }
    running.resize(kept);
  }

  double first = std::numeric_limits<double>::infinity(), last = 0, out_tokens = 0, in_tokens = 0;
  std::vector<double> ttft, tpot, e2e;
  for (size_t i = 0; i < n; ++i) {
    auto& r = res.requests[i];
    r.arrival_s = arrival[i];
    first = std::min(first, r.arrival_s);
    last = std::max(last, r.finish_s);
    out_tokens += r.output_tokens;
    in_tokens += r.input_tokens;
    ttft.push_back(r.ttft_s());
    e2e.push_back(r.e2e_s());
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());
  }
  res.duration_s = last - first;
  if (res.duration_s > 0) {
    res.output_tok_s = out_tokens / res.duration_s;
    res.input_tok_s = in_tokens / res.duration_s;
  }
  res.ttft_s = distribution(std::move(ttft));
  res.tpot_s = distribution(std::move(tpot));
  res.e2e_s = distribution(std::move(e2e));
  return res;
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

}  // namespace tf::sim
