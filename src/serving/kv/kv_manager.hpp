#pragma once
// The device KV memory of one replica (the kv component's manager): what a request needs to be
// admitted, what the running requests hold, and, when memory runs out, which decoder gives its
// blocks back and where they go (freed, or copied to the host's swap space). Two
// implementations behind one interface, chosen by KvAdmission:
// - whole context: a request reserves the KV of its input and output when admitted and frees it
//   when it completes; nothing is ever preempted (TensorRT-LLM GUARANTEED_NO_EVICT);
// - paged: a request holds its prompt's blocks and one token when admitted, its KV grows a token
//   per decode step, and the most recently admitted decoder is preempted when the next step's
//   tokens do not fit (vLLM's block manager, SGLang).
// The replica (serving/engine) owns the queue, the clock and the prefix cache; this owns the
// bytes. Every figure is KV bytes per chip.
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "cost/step_cost.hpp"
#include "serving/kv/kv.hpp"
#include "serving/workload/workload.hpp"

namespace tf::serving {

// KV bytes per chip of request r's streams when each holds `context` tokens: the shared input
// once and every stream's tokens beyond it (kv(context) for one stream).
inline double streams_kv(const cost::StepCostModel& m, const Request& r, double context) {
  if (r.streams == 1) return m.kv_bytes_per_chip(1, context);
  const double shared = m.kv_bytes_per_chip(1, r.input_tokens);
  return shared + r.streams * (m.kv_bytes_per_chip(1, context) - shared);
}

// The decoders as the replica tracks them (every decoding stream advances one token per tick).
struct DecodeState {
  double tick = 0;          // decode steps run so far
  double streams = 0;       // decoding streams
  double context_sum = 0;   // their summed context, tokens (a parallel request's input once per stream)
  double shared_extra = 0;  // input tokens counted once per stream beyond the first
};

// A decoder given back by preempt(): its local index and the tokens each of its streams had
// generated.
struct PreemptedDecoder {
  size_t id = 0;
  double generated = 0;
};

class KvManager {
 public:
  // `requests`: the replica's requests by local index (the vector outlives the manager; add()
  // is called for each as it is appended). `capacity`: KV bytes per chip the engine may fill;
  // `admit_capacity`: what admission may fill while other requests run (capacity less the paged
  // watermark). `swap_capacity`: host swap space per chip for preempted decoders (0: none).
  KvManager(const cost::StepCostModel& model, const std::vector<const Request*>& requests, double capacity,
            double admit_capacity, double swap_capacity = 0);
  virtual ~KvManager() = default;
  KvManager(const KvManager&) = delete;
  KvManager& operator=(const KvManager&) = delete;

  [[nodiscard]] virtual KvAdmission admission() const = 0;
  [[nodiscard]] double capacity() const { return cap_; }
  [[nodiscard]] double admit_capacity() const { return admit_cap_; }
  // Reserved by admitted requests (whole contexts, or the prompts of prefilling ones).
  [[nodiscard]] double reserved() const { return reserved_; }

  // KV a request needs while its prompt runs: `prompt` tokens computed (its input, or its
  // context after a preemption), `generated` tokens per stream it had generated before.
  [[nodiscard]] virtual double need(const Request& r, double prompt, double generated) const = 0;
  // KV the decoders hold beyond the reservations, and (`growth`) what their next step adds.
  [[nodiscard]] virtual double decoders(const DecodeState& s, double& growth) const = 0;
  // What one decoder with `context` tokens per stream adds to decoders() (0 for whole context),
  // and (`growth`) to its growth.
  [[nodiscard]] virtual double decoder(const Request& r, double context, double& growth) const = 0;
  // Whether `need` more fits beside `held` (decoders' KV) and `ahead` (their growth still to
  // come): under the admission capacity while others run, else under the whole capacity.
  [[nodiscard]] bool fits(double held, double ahead, double need, bool others_running) const {
    return reserved_ + held + ahead + need <= (others_running ? admit_cap_ : cap_) + slack_;
  }
  // Whether the decoders' next step overflows the capacity (a preemption is due).
  [[nodiscard]] bool overflows(double held, double growth) const { return reserved_ + held + growth > cap_ + slack_; }
  // Decode steps whose growth still fits (infinite when nothing grows or nothing is preempted).
  [[nodiscard]] virtual double steps_that_fit(double held, double growth) const = 0;

  virtual void add(size_t /*id*/) {}
  virtual void reserve(size_t /*requests*/) {}
  // Request id enters with `need` bytes (need() at admission).
  virtual void admit(size_t id, double need);
  // Its prompt has run (`need`: what admit() was given); then, unless it completed with its
  // first token, it decodes from `tick` with `generated` tokens per stream.
  virtual void prompt_done(size_t id, double need) = 0;
  virtual void start_decoding(size_t id, double tick, double generated) = 0;
  // It completed (`need`: what admit() was given).
  virtual void complete(size_t id, double need) = 0;
  // The next decoder to give its KV back (the most recently admitted), removed from the
  // decoders; none when no decoder can be preempted.
  virtual std::optional<PreemptedDecoder> preempt(double tick) = 0;

  // Host swap space: a preempted decoder's `bytes` go there when they fit (true), and come back
  // at readmission (swap_in returns them; 0 when the request is not swapped out).
  bool swap_out(size_t id, double bytes);
  double swap_in(size_t id);
  [[nodiscard]] double swap_used() const { return swap_used_; }

 protected:
  [[nodiscard]] double kv(double tokens) const { return model_.kv_bytes_per_chip(1, tokens); }
  const cost::StepCostModel& model_;
  const std::vector<const Request*>& reqs_;
  double cap_, admit_cap_, slack_, reserved_ = 0;
  double swap_cap_, swap_used_ = 0;
  std::vector<double> swapped_;  // bytes each request holds in swap space (empty without swap)
};

// The manager for `admission`: paged with `watermark` of the capacity kept free for running
// requests to grow into, and `swap_capacity` of host swap space (0: preemption recomputes).
std::unique_ptr<KvManager> make_kv_manager(KvAdmission admission, const cost::StepCostModel& model,
                                           const std::vector<const Request*>& requests, double capacity,
                                           double watermark, double swap_capacity);

}  // namespace tf::serving
