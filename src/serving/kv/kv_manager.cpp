#include "serving/kv/kv_manager.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tf::serving {

KvManager::KvManager(const cost::StepCostModel& model, const std::vector<const Request*>& requests, double capacity,
                     double admit_capacity, double swap_capacity)
    : model_(model),
      reqs_(requests),
      cap_(capacity),
      admit_cap_(admit_capacity),
      slack_(1e-9 * capacity),  // KV sums in bytes: compare with a relative tolerance
      swap_cap_(swap_capacity) {}

void KvManager::admit(size_t /*id*/, double need) { reserved_ += need; }

bool KvManager::swap_out(size_t id, double bytes) {
  if (!(swap_cap_ > 0) || swap_used_ + bytes > swap_cap_ * (1 + 1e-12)) return false;
  if (swapped_.size() <= id) swapped_.resize(reqs_.size(), 0);
  swapped_[id] = bytes;
  swap_used_ += bytes;
  return true;
}

double KvManager::swap_in(size_t id) {
  if (id >= swapped_.size() || !(swapped_[id] > 0)) return 0;
  const double bytes = swapped_[id];
  swap_used_ -= bytes;
  swapped_[id] = 0;
  return bytes;
}

namespace {

// Whole-context reservation: admission reserves input + output, completion frees it; the
// decoders hold nothing beyond their reservations and nothing is preempted.
class WholeContextKv final : public KvManager {
 public:
  using KvManager::KvManager;
  [[nodiscard]] KvAdmission admission() const override { return KvAdmission::whole_context; }
  [[nodiscard]] double need(const Request& r, double /*prompt*/, double /*generated*/) const override {
    const double context = r.input_tokens + r.output_tokens;
    return r.streams == 1 ? kv(context) : streams_kv(model_, r, context);
  }
  [[nodiscard]] double decoders(const DecodeState& /*s*/, double& growth) const override {
    growth = 0;
    return 0;
  }
  [[nodiscard]] double decoder(const Request& /*r*/, double /*context*/, double& growth) const override {
    growth = 0;
    return 0;
  }
  [[nodiscard]] double steps_that_fit(double /*held*/, double /*growth*/) const override {
    return std::numeric_limits<double>::infinity();
  }
  void prompt_done(size_t /*id*/, double /*need*/) override {}
  void start_decoding(size_t /*id*/, double /*tick*/, double /*generated*/) override {}
  void complete(size_t /*id*/, double need) override { reserved_ -= need; }
  std::optional<PreemptedDecoder> preempt(double /*tick*/) override { return std::nullopt; }
};

// Paged KV on demand: the prompt's blocks are reserved while it runs; decoders hold their
// context, a token more each step, in admission order (the newest is preempted first).
class PagedKv final : public KvManager {
 public:
  PagedKv(const cost::StepCostModel& model, const std::vector<const Request*>& requests, double capacity,
          double admit_capacity, double swap_capacity)
      : KvManager(model, requests, capacity, admit_capacity, swap_capacity),
        linear_(model.kv_is_linear()),
        per_token_(model.kv_bytes_per_chip(1, 1)) {}
  [[nodiscard]] KvAdmission admission() const override { return KvAdmission::paged; }
  [[nodiscard]] double need(const Request& r, double prompt, double generated) const override {
    if (r.streams == 1) return kv(prompt + 1);
    return streams_kv(model_, r, r.input_tokens + generated + 1);
  }
  // KV linear in context: from the decoders' summed context, in constant time; else per decoder.
  [[nodiscard]] double decoders(const DecodeState& s, double& growth) const override {
    if (linear_) {
      growth = s.streams * per_token_;
      return (s.context_sum - s.shared_extra) * per_token_;
    }
    double held = 0;
    growth = 0;
    for (const auto& [order, id] : decoders_) {
      const auto& r = *reqs_[id];
      const double ctx = r.input_tokens + start_generated_[id] + (s.tick - start_tick_[id]);
      held += streams_kv(model_, r, ctx);
      growth += r.streams * (kv(ctx + 1) - kv(ctx));
    }
    return held;
  }
  [[nodiscard]] double decoder(const Request& r, double context, double& growth) const override {
    growth = r.streams * (kv(context + 1) - kv(context));
    return streams_kv(model_, r, context);
  }
  [[nodiscard]] double steps_that_fit(double held, double growth) const override {
    if (!(growth > 0)) return std::numeric_limits<double>::infinity();
    return std::max(1.0, std::floor((cap_ + slack_ - reserved_ - held) / growth));
  }
  void add(size_t /*id*/) override {
    admitted_as_.push_back(0);
    start_tick_.push_back(0);
    start_generated_.push_back(0);
  }
  void reserve(size_t requests) override {
    admitted_as_.reserve(requests);
    start_tick_.reserve(requests);
    start_generated_.reserve(requests);
  }
  void admit(size_t id, double need) override {
    KvManager::admit(id, need);
    admitted_as_[id] = admissions_++;
  }
  void prompt_done(size_t /*id*/, double need) override { reserved_ -= need; }
  void start_decoding(size_t id, double tick, double generated) override {
    start_tick_[id] = tick;
    start_generated_[id] = generated;
    decoders_.emplace(admitted_as_[id], id);
  }
  void complete(size_t id, double /*need*/) override { decoders_.erase({admitted_as_[id], id}); }
  std::optional<PreemptedDecoder> preempt(double tick) override {
    if (decoders_.empty()) return std::nullopt;
    const auto last = std::prev(decoders_.end());
    const size_t id = last->second;
    decoders_.erase(last);
    return PreemptedDecoder{id, start_generated_[id] + (tick - start_tick_[id])};
  }

 private:
  bool linear_;       // KV linear in context
  double per_token_;  // KV bytes per chip of one token's context (when linear)
  std::set<std::pair<uint64_t, size_t>> decoders_;  // (admission order, id)
  std::vector<uint64_t> admitted_as_;
  std::vector<double> start_tick_, start_generated_;  // when each started decoding, and its tokens then
  uint64_t admissions_ = 0;
};

}  // namespace

std::unique_ptr<KvManager> make_kv_manager(KvAdmission admission, const cost::StepCostModel& model,
                                           const std::vector<const Request*>& requests, double capacity,
                                           double watermark, double swap_capacity) {
  if (admission == KvAdmission::paged)
    return std::make_unique<PagedKv>(model, requests, capacity, capacity * (1 - watermark), swap_capacity);
  return std::make_unique<WholeContextKv>(model, requests, capacity, capacity);
}

}  // namespace tf::serving
