#include "serving/engine/replica.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/diagnostic.hpp"

namespace tf::serving {

void check_workload(const cost::StepCostModel& m, const EngineConfig& e, double cap_kv, const Workload& w) {
  if (w.requests.empty()) fail("simulation: the workload has no requests");
  if (w.clients < 0) fail(fmt::format("simulation: clients must be >= 0, got {}", w.clients));
  if (!(e.step_tokens >= 1)) fail(fmt::format("simulation: step token budget must be >= 1, got {}", e.step_tokens));
  if (!(e.max_running >= 0)) fail(fmt::format("simulation: max running sequences must be >= 0, got {}", e.max_running));
  if (!(cap_kv > 0)) fail(fmt::format("simulation: KV capacity must be > 0 bytes per chip, got {}", cap_kv));
  if (!(e.kv_watermark >= 0 && e.kv_watermark < 1))
    fail(fmt::format("simulation: KV watermark must be in [0, 1), got {}", e.kv_watermark));
  double last = 0;
  for (size_t i = 0; i < w.requests.size(); ++i) {
    const auto& r = w.requests[i];
    if (!(r.input_tokens >= 1) || !(r.output_tokens >= 1))
      fail(fmt::format("simulation: request {} has {} input and {} output tokens (both must be >= 1)", i,
                       r.input_tokens, r.output_tokens));
    if (r.streams < 1 || r.streams > kMaxStreams)
      fail(fmt::format("simulation: request {} has {} parallel streams (1 to {})", i, r.streams, kMaxStreams));
    if (const double need = streams_kv(m, r, r.input_tokens + r.output_tokens); need > cap_kv)
      fail(fmt::format("simulation: request {} needs {:.3g} GB of KV per chip for {} tokens (input + output{}) but "
                       "the engine holds {:.3g} GB: it can never run",
                       i, need / 1e9, r.input_tokens + r.output_tokens,
                       r.streams > 1 ? fmt::format(", {} streams sharing the input", r.streams) : "", cap_kv / 1e9));
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
  if (!w.next_turn.empty()) {
    if (w.clients == 0) fail("simulation: sessions need closed-loop clients (an open-loop workload has arrival times)");
    if (w.next_turn.size() != w.requests.size())
      fail(fmt::format("simulation: {} session links for {} requests (one per request)", w.next_turn.size(),
                       w.requests.size()));
    std::vector<char> follows(w.requests.size(), 0);
    for (size_t i = 0; i < w.next_turn.size(); ++i) {
      const uint32_t j = w.next_turn[i];
      if (j == kLastTurn) continue;
      if (j <= i || j >= w.requests.size() || follows[j])
        fail(fmt::format("simulation: request {} names request {} as its session's next turn (it must be a later "
                         "request that no other turn names)",
                         i, j));
      follows[j] = 1;
    }
  }
  if (!w.session_start_s.empty()) {
    if (w.next_turn.empty() || w.session_start_s.size() != w.requests.size())
      fail(fmt::format("simulation: {} session starts for {} requests (one per request, with sessions)",
                       w.session_start_s.size(), w.requests.size()));
    for (size_t i = 0; i < w.session_start_s.size(); ++i)
      if (!(w.session_start_s[i] >= 0) || !std::isfinite(w.session_start_s[i]))
        fail(fmt::format("simulation: request {} starts its session at {} s (must be finite and >= 0)", i,
                         w.session_start_s[i]));
  }
  if (!w.tool_s.empty()) {
    if (w.clients == 0) fail("simulation: tool calls need closed-loop clients (an open-loop workload has arrival times)");
    if (w.tool_s.size() != w.requests.size())
      fail(fmt::format("simulation: {} tool times for {} requests (one per request)", w.tool_s.size(), w.requests.size()));
    for (size_t i = 0; i < w.tool_s.size(); ++i)
      if (!(w.tool_s[i] >= 0) || !std::isfinite(w.tool_s[i]))
        fail(fmt::format("simulation: request {} has a tool call of {} s (must be finite and >= 0)", i, w.tool_s[i]));
    if (!(w.tool_cores >= 1 && w.tool_cores <= 1e6) || w.tool_cores != std::floor(w.tool_cores))
      fail(fmt::format("simulation: tool calls need a whole number of host cores in [1, 1e6], got {}", w.tool_cores));
  }
  if (!w.think_s.empty()) {
    if (w.clients == 0) fail("simulation: think times need closed-loop clients (an open-loop workload has arrival times)");
    if (w.think_s.size() != w.requests.size())
      fail(fmt::format("simulation: {} think times for {} requests (one per request)", w.think_s.size(),
                       w.requests.size()));
    for (size_t i = 0; i < w.think_s.size(); ++i)
      if (!(w.think_s[i] >= 0) || !std::isfinite(w.think_s[i]))
        fail(fmt::format("simulation: request {} has a think time of {} s (must be finite and >= 0)", i, w.think_s[i]));
  }
  if (!w.block_hashes.empty() && !(w.block_tokens >= 1 && std::isfinite(w.block_tokens)))
    fail(fmt::format("simulation: the workload has block hashes but {} tokens per block (must be >= 1)", w.block_tokens));
}

// ---- replica ----

Replica::Replica(const cost::StepCostModel& model, const EngineConfig& engine, const Workload& w, double cap_kv,
                 size_t expected_requests, KvTierBlocks* shared_store)
    : model_(model),
      engine_(engine),
      w_(w),
      cap_kv_(cap_kv),
      cap_running_(engine.max_running > 0 ? engine.max_running : std::numeric_limits<double>::infinity()),
      closed_(w.clients > 0),
      paged_(engine.kv_admission == KvAdmission::paged),
      caching_(engine.prefix_caching && !w.block_hashes.empty()),
      clients_(static_cast<size_t>(std::max(0, w.clients))),
      frontend_s_(engine.request_overhead_s ? *engine.request_overhead_s
                                            : model.deployment().efficiency->request_overhead_s) {
  res_.kv_capacity_bytes = cap_kv;
  kv_ = make_kv_manager(engine.kv_admission, model, reqs_, cap_kv, engine.kv_watermark,
                        paged_ && engine.preemption == EngineConfig::Preemption::swap ? engine.swap_bytes : 0);
  res_.prefix_cache.enabled = engine.prefix_caching;
  // Prefix caching: a request's leading cached blocks are pinned at admission and skipped by its
  // prefill (at least one prompt token is computed, for the logits); its other prompt blocks are
  // cached when its prefill ends, the ones its output fills when it completes, and all are
  // unpinned when it completes or is preempted.
  std::vector<PrefixCache::Tier> tier_blocks;
  if (caching_) {
    for (const auto& t : engine.kv_offload) {
      Result::PrefixCache::Tier st;
      st.name = t.name;
      if (t.shared) {
        if (!shared_store) fail("simulation: internal error: a shared KV store tier without its store");
        st.capacity_blocks = shared_store->capacity;
      } else {
        tier_blocks.push_back({std::floor(t.capacity_bytes / kv(w.block_tokens)), t.eviction});
        st.capacity_blocks = tier_blocks.back().capacity_blocks;
      }
      res_.prefix_cache.tiers.push_back(st);
    }
  }
  cache_ = std::make_unique<PrefixCache>(w.block_hashes.data(), caching_ ? kv(w.block_tokens) : 0, res_.prefix_cache,
                                         tier_blocks, engine.eviction, caching_ ? shared_store : nullptr);
  // Per-request state kept to what this engine needs (paged KV and offload tiers add theirs):
  // docs/limits.md gives the bytes per request.
  for (auto* v : {&prompt_, &emitted_}) v->reserve(expected_requests);
  kv_->reserve(expected_requests);
  if (!engine.kv_offload.empty()) ready_at_.reserve(expected_requests), medium_free_.assign(engine.kv_offload.size(), 0);
  prefetching_ = caching_ && engine.prefetch == EngineConfig::Prefetch::on_arrival && engine.kv_offload.size() >= 2;
  if (prefetching_) prefetch_ready_.reserve(expected_requests), staged_.reserve(expected_requests);
  reqs_.reserve(expected_requests);
  res_.requests.reserve(expected_requests);
}

void Replica::add(const Request& r, std::optional<double> arrival_s) {
  reqs_.push_back(&r);
  RequestRecord rec;
  rec.input_tokens = r.input_tokens;
  rec.output_tokens = r.output_tokens;
  rec.streams = r.streams;
  res_.requests.push_back(rec);
  if (closed_) {
    // The first `clients` requests arrive at once; each later one when an earlier completes.
    const bool now = issued_ < clients_;
    res_.requests.back().arrival_s = now ? 0 : std::numeric_limits<double>::infinity();
    if (now) ++issued_;
  } else {
    res_.requests.back().arrival_s = arrival_s.value_or(r.arrival_s);
    ++issued_;
  }
  // KV bytes per chip a request holds while prefilling: its whole context (whole-context
  // admission), or its prompt and first token (paged; the prompt grows by the tokens it had
  // generated when it is preempted and recomputed).
  prompt_.push_back(r.input_tokens);
  emitted_.push_back(0);
  epoch_.push_back(0);
  kv_->add(reqs_.size() - 1);
  if (caching_) pinned_.push_back(0);
  if (!engine_.kv_offload.empty()) ready_at_.push_back(0);
  if (prefetching_) prefetch_ready_.push_back(0), staged_.emplace_back(0, 0);
  outstanding_ += (prefilled_ ? 0 : r.input_tokens) + r.output_tokens * r.streams;
}

double Replica::next_time() const {
  if (in_flight() > 0 || !waiting_.empty()) return t_;
  if (next_ < issued_) return std::max(t_, arrival(next_));
  return std::numeric_limits<double>::infinity();
}

void Replica::release(size_t id, bool finished) {
  if (!caching_) return;
  const auto& r = *reqs_[id];
  // A finished request's output continues its prompt's blocks (the next turn's prefix); the
  // streams of a parallel request diverge, so only their shared prompt stays cached.
  if (finished && r.streams == 1) cache_->pin(r.hash_begin, pinned_[id], r.context_blocks), pinned_[id] = r.context_blocks;
  cache_->unpin(r.hash_begin, pinned_[id]);
  pinned_[id] = 0;
}

void Replica::complete(size_t id) {
  release(id, true);
  res_.requests[id].finish_s = t_;
  kv_->complete(id, need(id));
  ++done_;
  just_completed_.push_back(id);
  if (closed_ && issued_ < reqs_.size()) res_.requests[issued_++].arrival_s = t_;  // the client sends its next request
}

// A prompt whose device-cached leading blocks end at `hit`: the blocks that continue in the
// offload tiers (`extra`, per tier in per_tier_ for transfer()), loaded unless recomputing them
// (their tokens as one prefill chunk, after the cached prefix) is faster than their load (per
// tier: latency + bytes per chip / read bandwidth; and no sooner than their staging ends) and the
// engine reloads only when faster: then extra = 0. The decision leaves out queueing on the link.
void Replica::offload_load(size_t i, uint32_t hit, uint32_t& extra) {
  const auto& r = *reqs_[i];
  auto& per_tier = per_tier_;
  extra = cache_->match_offloaded(r.hash_begin, hit, r.prompt_blocks, per_tier);
  if (extra == 0) return;
  const double block_bytes = kv(w_.block_tokens);
  double load = 0;
  for (size_t k = 0; k < per_tier.size(); ++k) {
    if (per_tier[k] == 0) continue;
    const auto& t = engine_.kv_offload[k];
    load += t.latency_s + per_tier[k] * block_bytes / t.read_bytes_per_s;
  }
  const double before = std::min(hit * w_.block_tokens, prompt_[i] - 1);
  const double tokens = std::max(0.0, std::min((hit + extra) * w_.block_tokens, prompt_[i] - 1) - before);
  bool reload = engine_.reload == EngineConfig::Reload::always;
  // A prefix still being staged into the first tier (prefetch) is ready no sooner than that.
  const double wait = prefetching_ ? std::max(load, prefetch_ready_[i] - t_) : load;
  if (!reload) {
    cost::Batch chunk;
    chunk.prefill_tokens = tokens;
    chunk.prefill_prompt = prompt_[i];
    chunk.prefill_pieces = 1;
    chunk.prefill_prior = before;
    ++res_.step_evaluations;
    reload = tokens > 0 && wait < model_.step(chunk).time_s;
  }
  auto& st = res_.prefix_cache.tiers;
  double offloaded = 0;
  for (const uint32_t n : per_tier) offloaded += n;
  for (size_t k = 0; k < per_tier.size(); ++k) {
    if (per_tier[k] == 0) continue;
    const double share = std::min(tokens, offloaded * w_.block_tokens) * per_tier[k] / offloaded;
    if (reload) {
      st[k].hit_tokens += share;
      st[k].loaded_bytes += per_tier[k] * block_bytes;
      st[k].load_s += engine_.kv_offload[k].latency_s + per_tier[k] * block_bytes / engine_.kv_offload[k].read_bytes_per_s;
    } else {
      st[k].recomputed_tokens += share;
    }
  }
  if (!reload) extra = 0;
}

double Replica::kv_in_use_bytes() const {
  double growth = 0;
  return kv_->reserved() + decoder_kv(growth);
}

uint32_t Replica::cached_blocks(const Request& r) const {
  return caching_ && r.prompt_blocks > 0 ? cache_->match(r.hash_begin, r.prompt_blocks) : 0;
}

// A request arriving with its prefix partly in tiers below the first, that cannot be admitted at
// once: those blocks are staged into the first, and held there until its admission (with the
// ones already there), while it queues, over each tier's link (latency + bytes per chip / its read
// bandwidth per chip), one staging at a time per replica from when it arrives; its admission
// waits for the staging to end, then loads from the first tier (the copy to the device streams
// behind the staging, so the load ends no sooner than the staging).
void Replica::prefetch(size_t i) {
  const auto& r = *reqs_[i];
  if (r.prompt_blocks == 0) return;
  const uint32_t hit = cache_->match(r.hash_begin, r.prompt_blocks);
  uint32_t end = hit;
  const uint32_t moved = cache_->stage(r.hash_begin, hit, r.prompt_blocks, per_tier_, end);
  staged_[i] = {hit, end};
  if (moved == 0) return;
  const double block_bytes = kv(w_.block_tokens);
  auto& st = res_.prefix_cache.tiers;
  for (size_t k = 1; k < per_tier_.size(); ++k) {
    if (per_tier_[k] == 0) continue;
    const auto& t = engine_.kv_offload[k];
    st[k].prefetched_blocks += per_tier_[k];
    st[k].prefetched_bytes += per_tier_[k] * block_bytes;
    st[k].prefetch_s += t.latency_s + per_tier_[k] * block_bytes / t.read_bytes_per_s;
  }
  prefetch_ready_[i] = prefetch_free_ = transfer(std::max(arrival(i), prefetch_free_), 1);
  ++res_.prefix_cache.prefetches;
}

double Replica::transfer(double start, size_t first) {
  const double block_bytes = kv(w_.block_tokens);
  auto& st = res_.prefix_cache.tiers;
  double parts = 0;  // summed in the order offload_load() sums them
  for (size_t k = first; k < per_tier_.size(); ++k) {
    if (per_tier_[k] == 0) continue;
    const auto& t = engine_.kv_offload[k];
    if (k > 0 && medium_free_[k] > start + parts) {  // the medium is still busy with an earlier read
      st[k].medium_wait_s += medium_free_[k] - (start + parts);
      start = medium_free_[k] - parts;
    }
    parts += t.latency_s + per_tier_[k] * block_bytes / t.read_bytes_per_s;
    if (k > 0) medium_free_[k] = start + parts;
  }
  return start + parts;
}

void Replica::iterate(const Arrival& external) {
  just_completed_.clear();
  size_t arrived = 0;
  while (next_ < issued_ && arrival(next_) <= t_) waiting_.push_back(next_++), ++arrived;
  double growth = 0;
  double held = decoder_kv(growth);
  // Admission: first come, first served; a request that does not fit blocks the ones behind it.
  // The paged watermark keeps room for running requests to grow: with none running, a request
  // that fits at all is admitted.
  while (!waiting_.empty()) {
    const size_t i = waiting_.front();
    if (in_flight() + reqs_[i]->streams > cap_running_ + 1e-9) break;
    if (!kv_->fits(held, 0, need(i), in_flight() > 0)) break;
    double cached = 0;
    if (!ready_at_.empty()) ready_at_[i] = 0;
    if (const double swapped = kv_->swap_in(i); swapped > 0) {
      // Its KV comes back from the host: the step carries the copy, and only its next token is
      // computed (a one-token "prompt" over the restored context).
      pending_swap_s_ += swap_copy_s(swapped);
      res_.swapped_bytes += swapped;
      cached = prompt_[i] - 1;
    } else if (caching_ && reqs_[i]->prompt_blocks > 0) {
      const auto& r = *reqs_[i];
      uint32_t hit = cache_->match(r.hash_begin, r.prompt_blocks);
      if (!engine_.kv_offload.empty()) {
        uint32_t extra = 0;
        offload_load(i, hit, extra);
        if (extra > 0) {
          // One load at a time over the host link; each part from a deeper tier also waits for
          // its medium (busy with another load or a staging).
          const double end = transfer(std::max(t_, load_free_), 0);
          ready_at_[i] = load_free_ = std::max(end, prefetching_ ? prefetch_ready_[i] : 0.0);
          res_.prefix_cache.load_wait_s += ready_at_[i] - t_;
          ++res_.prefix_cache.loads;
          hit += extra;
        }
      }
      cache_->pin(r.hash_begin, 0, hit);
      pinned_[i] = hit;
      if (prefetching_ && staged_[i].second > staged_[i].first) {  // what it held in the first tier is free again
        cache_->unstage(r.hash_begin, staged_[i].first, staged_[i].second);
        staged_[i] = {0, 0};
      }
      cached = std::min(hit * w_.block_tokens, prompt_[i] - 1);
      if (epoch_[i] == 0) {
        res_.prefix_cache.lookup_tokens += r.input_tokens;
        res_.prefix_cache.hit_tokens += cached;
      } else {
        res_.recomputed_tokens -= cached;  // a preempted request's cached prefix is not recomputed
      }
      outstanding_ -= cached;
    }
    kv_->admit(i, need(i));
    waiting_.pop_front();
    if (prefilled_ && epoch_[i] == 0) {  // its prompt's KV has arrived: it decodes from this step
      const auto& r = *reqs_[i];
      const double ctx = r.input_tokens + 1;
      prompt_done(i);
      double more = 0;
      held += kv_->decoder(r, ctx, more);
      growth += more;
    } else {
      prefilling_.emplace_back(i, cached);
      prefilling_streams_ += reqs_[i]->streams;
    }
  }
  // Unpinned cached blocks live in the KV memory running requests leave free.
  if (caching_) cache_->trim(std::max(0.0, cap_kv_ - kv_->reserved() - held));
  // The requests that arrived and must wait stage their prefixes (after the trim, so that what
  // the device gives up now is no longer counted on).
  if (prefetching_)
    for (size_t k = waiting_.size() - std::min(arrived, waiting_.size()); k < waiting_.size(); ++k) prefetch(waiting_[k]);
  if (in_flight() == 0) {
    if (next_ >= issued_) {
      if (external.request) return;  // idle until a request is routed here
      fail("simulation: internal error: no request can make progress");
    }
    t_ = std::max(t_, arrival(next_));
    return;
  }

  // Prompts waiting for their prefix to load from an offload tier take no tokens until it has.
  double next_ready = std::numeric_limits<double>::infinity();
  bool ready_prompts = !prefilling_.empty();
  if (!engine_.kv_offload.empty()) {
    ready_prompts = false;
    for (const auto& [id, done] : prefilling_) {
      if (ready_at_[id] > t_) next_ready = std::min(next_ready, ready_at_[id]);
      else ready_prompts = true;
    }
  }
  const bool with_decodes = !(ready_prompts && engine_.scheduler == Scheduler::prefill_first);
  // Paged KV: when the decoders' next tokens do not fit, preempt the most recently admitted
  // decoder (recompute: its KV is freed, it rejoins the queue at the front with the tokens it
  // had generated added to its prompt), until they do.
  if (with_decodes && kv_->overflows(held, growth)) {
    while (kv_->overflows(held, growth)) {
      const auto victim = kv_->preempt(tick_);
      if (!victim) break;
      const size_t id = victim->id;
      const auto& r = *reqs_[id];
      const double gen = victim->generated;
      const double ctx = r.input_tokens + gen;
      double less = 0;
      held -= kv_->decoder(r, ctx, less);
      growth -= less;
      decoding_ -= r.streams;
      context_sum_ -= r.streams * ctx;
      shared_extra_ -= (r.streams - 1.0) * r.input_tokens;
      emitted_[id] = gen;
      // Its context as one prompt: the shared input and every stream's generated tokens.
      prompt_[id] = r.input_tokens + r.streams * gen;
      release(id, false);
      ++epoch_[id];
      ++res_.preemptions;
      const double bytes = streams_kv(model_, r, ctx);
      if (kv_->swap_out(id, bytes)) {
        // Swapped out: the step carries the copy; readmitted, only its next token is computed.
        res_.peak_swap_bytes = std::max(res_.peak_swap_bytes, kv_->swap_used());
        pending_swap_s_ += swap_copy_s(bytes);
        res_.swapped_bytes += bytes;
        ++res_.swaps;
        outstanding_ += 1;
      } else {
        res_.recomputed_tokens += prompt_[id];
        outstanding_ += prompt_[id];
      }
      waiting_.push_front(id);
    }
    if (in_flight() == 0) return;
  }
  res_.peak_running = std::max(res_.peak_running, in_flight());

  cost::Batch b;
  if (with_decodes) {
    b.decode_seqs = decoding_;
    if (engine_.cascade_attention) b.decode_shared_tokens = shared_extra_;
  }
  // Prompt chunks, first come first served, in what the token budget leaves. Each pipeline
  // micro-batch is an engine iteration with a budget of its own (vLLM's virtual engines,
  // TensorRT-LLM's micro-batches), so a replica step of pp micro-batches has pp budgets.
  double budget = std::max(0.0, engine_.step_tokens * model_.deployment().pp - b.decode_seqs);
  chunk_.clear();
  double prompt_weighted = 0;
  for (size_t k = 0; k < prefilling_.size() && budget > 0; ++k) {
    if (ready_at(prefilling_[k].first) > t_) {
      chunk_.push_back(0);
      continue;
    }
    const double len = prompt_[prefilling_[k].first];
    const double left = len - prefilling_[k].second;
    const double c = std::min(left, budget);
    budget -= c;
    chunk_.push_back(c);
    b.prefill_tokens += c;
    prompt_weighted += c * len;
    if (c >= left) b.prefill_seqs += 1;
    if (c < len) {  // a chunk of a longer prompt: it re-reads the KV its earlier chunks left
      b.prefill_pieces += 1;
      b.prefill_prior += prefilling_[k].second;
    }
  }
  if (b.prefill_tokens > 0) b.prefill_prompt = prompt_weighted / b.prefill_tokens;

  // Steps this iteration: one when prompts are in it; a pure-decode stretch otherwise, up to the
  // next completion, the next arrival that could be admitted (its own, or one not yet routed
  // that may come here), or (paged KV) the step whose tokens would no longer fit.
  double steps = 1;
  if (b.prefill_tokens == 0 && b.decode_seqs == 0) {
    // Nothing can run until a prefix load ends (or a request arrives): the clock moves there.
    double until = next_ready;
    if (next_ < issued_) until = std::min(until, std::max(t_, arrival(next_)));
    if (external.request) until = std::min(until, std::max(t_, engine_time(external.time)));
    if (!std::isfinite(until)) fail("simulation: internal error: no request can make progress");
    t_ = std::max(t_, until);
    return;
  }
  if (b.prefill_tokens == 0 && b.decode_seqs > 0) {
    while (epoch_[finishing_.top().id] != finishing_.top().epoch) finishing_.pop();  // preempted
    steps = std::max(1.0, finishing_.top().tick - tick_);
    steps = std::min(steps, kv_->steps_that_fit(held, growth));
    double next_arrival = 0, next_need = 0, next_streams = 1;
    bool has_next = false;
    if (next_ < issued_ && !(external.request && engine_time(external.time) < arrival(next_))) {
      has_next = true;
      next_arrival = arrival(next_);
      next_need = need(next_);
      next_streams = reqs_[next_]->streams;
    } else if (external.request) {
      const auto& r = *external.request;
      has_next = true;
      next_arrival = engine_time(external.time);
      next_need = kv_->need(r, r.input_tokens, 0);
      next_streams = r.streams;
    }
    const bool admissible = waiting_.empty() && has_next && in_flight() + next_streams <= cap_running_ + 1e-9 &&
                            kv_->fits(held, growth * steps, next_need, true);
    if (admissible || std::isfinite(next_ready)) {
      // The stretch ends at the first step after an arrival it could admit, or after the end of
      // a prefix load (that prompt's prefill starts then).
      b.decode_context = context_sum_ / decoding_;
      const double tau = model_.step(b).time_s;
      ++res_.step_evaluations;
      const double until = std::min(admissible ? next_arrival : next_ready, next_ready);
      if (tau > 0) steps = std::min(steps, std::max(1.0, std::ceil((until - t_) / tau)));
    }
  }
  // The KV in use at the end of these steps (growth per step only falls as contexts pass their
  // windows, so this bounds it).
  res_.peak_kv_bytes = std::max(res_.peak_kv_bytes, kv_->reserved() + held + (b.decode_seqs > 0 ? growth * steps : 0));
  if (b.decode_seqs > 0) b.decode_context = context_sum_ / decoding_ + (steps - 1) / 2;
  // Swap copies (out at preemption, in at readmission) block the step they happen in.
  const double dt = steps * model_.step(b).time_s + pending_swap_s_;
  res_.swap_s += pending_swap_s_;
  pending_swap_s_ = 0;
  ++res_.step_evaluations;
  if (timeline_) {
    if (timeline_->recorded < timeline_->max_events) {
      timeline_->replicas[replica_].push_back({t_, dt, steps, b.decode_seqs, b.prefill_tokens,
                                               kv_->reserved() + held + (b.decode_seqs > 0 ? growth * steps : 0), in_flight()});
      ++timeline_->recorded;
    } else {
      ++timeline_->dropped;
    }
  }
  const double started = t_;
  t_ += dt;
  res_.busy_s += dt;
  res_.steps += steps;
  outstanding_ -= b.decode_seqs * steps + b.prefill_tokens;

  // Decoders advance; the ones whose last token this was complete.
  if (b.decode_seqs > 0) {
    tick_ += steps;
    context_sum_ += decoding_ * steps;
    while (!finishing_.empty() && finishing_.top().tick <= tick_ + 1e-9) {
      const auto f = finishing_.top();
      finishing_.pop();
      if (epoch_[f.id] != f.epoch) continue;  // preempted since
      const auto& r = *reqs_[f.id];
      decoding_ -= r.streams;
      context_sum_ -= r.streams * (r.input_tokens + r.output_tokens);
      shared_extra_ -= (r.streams - 1.0) * r.input_tokens;
      complete(f.id);
    }
  }
  // Prompts whose last chunk ran emit their next token (the first, unless recomputed after a
  // preemption) and start decoding (or complete).
  for (size_t k = 0; k < chunk_.size(); ++k) prefilling_[k].second += chunk_[k];
  // Budgets go first come first served, so the prompts that finished are the leading ones, but
  // for prompts skipped while their prefix loads.
  for (size_t k = 0; k < prefilling_.size();) {
    if (prefilling_[k].second < prompt_[prefilling_[k].first]) {
      if (ready_at(prefilling_[k].first) <= started) break;  // a ready prompt not finished: the rest got nothing
      ++k;
      continue;
    }
    const size_t id = prefilling_[k].first;
    prefilling_.erase(prefilling_.begin() + static_cast<std::ptrdiff_t>(k));
    prefilling_streams_ -= reqs_[id]->streams;
    prompt_done(id);
  }
}

// A request whose prompt has been computed (here, or by a prefill pool) emits its next token
// (the first, unless recomputed after a preemption) and starts decoding (or completes).
void Replica::prompt_done(size_t id) {
  kv_->prompt_done(id, need(id));
  const auto& r = *reqs_[id];
  if (caching_ && pinned_[id] < r.prompt_blocks) {
    cache_->pin(r.hash_begin, pinned_[id], r.prompt_blocks);
    pinned_[id] = r.prompt_blocks;
  }
  if (emitted_[id] == 0) res_.requests[id].first_token_s = t_;
  emitted_[id] += 1;  // every stream's
  outstanding_ -= r.streams;
  if (emitted_[id] >= r.output_tokens) {
    complete(id);
    return;
  }
  decoding_ += r.streams;
  context_sum_ += r.streams * (r.input_tokens + emitted_[id]);
  shared_extra_ += (r.streams - 1.0) * r.input_tokens;
  finishing_.push({tick_ + r.output_tokens - emitted_[id], id, epoch_[id]});
  kv_->start_decoding(id, tick_, emitted_[id]);
}

void Replica::record(Timeline* timeline, size_t replica) {
  timeline_ = timeline;
  replica_ = replica;
  if (timeline && timeline->replicas.size() <= replica) timeline->replicas.resize(replica + 1);
}

Result Replica::take() {
  return std::move(res_);
}

}  // namespace tf::serving
