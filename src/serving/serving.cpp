#include "serving/serving.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <queue>
#include <limits>
#include <random>

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
  }
}

}  // namespace

namespace {

void summarise(Result& res) {
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

  // Sequences whose prompt is being processed, first come first served (prompt tokens done).
  std::deque<std::pair<size_t, double>> prefilling;
  // Decoding sequences all advance one token per decode step ("tick"), so one that starts
  // decoding at tick g with r tokens to go finishes at tick g + r: a min-heap on that tick.
  using Finish = std::pair<double, size_t>;
  std::priority_queue<Finish, std::vector<Finish>, std::greater<>> finishing;
  double tick = 0, decoding = 0, context_sum = 0;  // context_sum: cached tokens of the decoders
  std::deque<size_t> waiting;
  size_t next = 0, done = 0;
  double t = 0, reserved = 0;
  auto in_flight = [&] { return decoding + static_cast<double>(prefilling.size()); };
  auto complete = [&](size_t id) {
    res.requests[id].finish_s = t;
    reserved -= need[id];
    ++done;
    if (closed && issued < n) arrival[issued++] = t;  // the client sends its next request
  };
  std::vector<double> chunk;  // tokens per prefilling entry this step (a prefix of the queue)

  while (done < n) {
    while (next < issued && arrival[next] <= t) waiting.push_back(next++);
    // Admission: first come, first served; a request that does not fit blocks the ones behind it.
    while (!waiting.empty()) {
      const size_t i = waiting.front();
      if (in_flight() + 1 > cap_running + 1e-9) break;
      if (reserved + need[i] > cap_kv + 1e-9) break;
      prefilling.emplace_back(i, 0.0);
      reserved += need[i];
      waiting.pop_front();
    }
    if (in_flight() == 0) {
      if (next >= issued) fail("simulation: internal error: no request can make progress");
      t = std::max(t, arrival[next]);
      continue;
    }
    res.peak_running = std::max(res.peak_running, in_flight());
    res.peak_kv_bytes = std::max(res.peak_kv_bytes, reserved);

    const bool with_decodes = !(!prefilling.empty() && engine.scheduler == Scheduler::prefill_first);
    cost::Batch b;
    if (with_decodes) b.decode_seqs = decoding;
    // Prompt chunks, first come first served, in what the token budget leaves.
    double budget = std::max(0.0, engine.step_tokens - b.decode_seqs);
    chunk.clear();
    double prompt_weighted = 0;
    for (size_t k = 0; k < prefilling.size() && budget > 0; ++k) {
      const auto& r = w.requests[prefilling[k].first];
      const double left = r.input_tokens - prefilling[k].second;
      const double c = std::min(left, budget);
      budget -= c;
      chunk.push_back(c);
      b.prefill_tokens += c;
      prompt_weighted += c * r.input_tokens;
      if (c >= left) b.prefill_seqs += 1;
    }
    if (b.prefill_tokens > 0) b.prefill_prompt = prompt_weighted / b.prefill_tokens;

    // Steps this iteration: one when prompts are in it; a pure-decode stretch otherwise, up to
    // the next completion or the next arrival that could be admitted.
    double steps = 1;
    if (chunk.empty() && b.decode_seqs > 0) {
      steps = std::max(1.0, finishing.top().first - tick);
      const bool admissible = waiting.empty() && next < issued && in_flight() + 1 <= cap_running + 1e-9 &&
                              reserved + need[next] <= cap_kv + 1e-9;
      if (admissible) {
        b.decode_context = context_sum / decoding;
        const double tau = model.step(b).time_s;
        ++res.step_evaluations;
        if (tau > 0) steps = std::min(steps, std::max(1.0, std::ceil((arrival[next] - t) / tau)));
      }
    }
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
      while (!finishing.empty() && finishing.top().first <= tick + 1e-9) {
        const size_t id = finishing.top().second;
        finishing.pop();
        decoding -= 1;
        context_sum -= w.requests[id].input_tokens + w.requests[id].output_tokens;
        complete(id);
      }
    }
    // Prompts whose last chunk ran emit their first token and start decoding (or complete).
    for (size_t k = 0; k < chunk.size(); ++k) prefilling[k].second += chunk[k];
    while (!prefilling.empty() && prefilling.front().second >= w.requests[prefilling.front().first].input_tokens) {
      const size_t id = prefilling.front().first;
      prefilling.pop_front();
      res.requests[id].first_token_s = t;
      const auto& r = w.requests[id];
      if (r.output_tokens <= 1) {
        complete(id);
        continue;
      }
      decoding += 1;
      context_sum += r.input_tokens + 1;
      finishing.emplace(tick + r.output_tokens - 1, id);
    }
  }

  for (size_t i = 0; i < n; ++i) res.requests[i].arrival_s = arrival[i];
  summarise(res);
  return res;
}

Result simulate_deployment(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w) {
  const size_t dp = static_cast<size_t>(std::max(1, model.deployment().dp));
  if (dp == 1) return simulate(model, engine, w);
  if (w.requests.empty()) fail("simulation: the workload has no requests");
  const size_t n = w.requests.size();
  std::vector<Workload> parts(dp);
  std::vector<std::vector<size_t>> index(dp);  // workload index of each replica's requests
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
  }
  summarise(res);
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

}  // namespace tf::serving
