// The KV manager's two implementations, driven by hand: what admission needs, what decoders
// hold and add per step, who is preempted, and the swap space.
#include "serving/kv/kv_manager.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "serving/fixture.hpp"

namespace tf::serving {
namespace {

Request request(double input, double output, uint32_t streams = 1) {
  Request r;
  r.input_tokens = input;
  r.output_tokens = output;
  r.streams = streams;
  return r;
}

TEST(KvManager, WholeContextReservesInputAndOutputAndNeverPreempts) {
  const auto m = llama8b().cost_model();
  const auto kv = [&](double t) { return m.kv_bytes_per_chip(1, t); };
  const Request a = request(1000, 500), b = request(200, 100, 4);
  const std::vector<const Request*> reqs{&a, &b};
  const double cap = kv(1500) + streams_kv(m, b, 300) + 1;
  auto mgr = make_kv_manager(KvAdmission::whole_context, m, reqs, cap, 0.5, 1e12);
  EXPECT_EQ(mgr->admission(), KvAdmission::whole_context);
  EXPECT_EQ(mgr->admit_capacity(), cap);  // the watermark is a paged setting
  for (size_t i = 0; i < reqs.size(); ++i) mgr->add(i);
  // The whole context, whatever the prompt has reached; four streams share the input once.
  EXPECT_EQ(mgr->need(a, 1000, 0), kv(1500));
  EXPECT_EQ(mgr->need(a, 1200, 200), kv(1500));
  EXPECT_DOUBLE_EQ(mgr->need(b, 200, 0), kv(200) + 4 * (kv(300) - kv(200)));
  mgr->admit(0, mgr->need(a, 1000, 0));
  EXPECT_TRUE(mgr->fits(0, 0, mgr->need(b, 200, 0), true));
  mgr->admit(1, mgr->need(b, 200, 0));
  EXPECT_FALSE(mgr->fits(0, 0, kv(10), true));
  mgr->prompt_done(0, mgr->need(a, 1000, 0));
  mgr->start_decoding(0, 0, 1);
  // Decoders hold nothing beyond their reservations, grow nothing, and nobody is preempted.
  double growth = -1;
  EXPECT_EQ(mgr->decoders({10, 1, 1011, 0}, growth), 0);
  EXPECT_EQ(growth, 0);
  EXPECT_TRUE(std::isinf(mgr->steps_that_fit(0, 0)));
  EXPECT_FALSE(mgr->overflows(0, 0));
  EXPECT_FALSE(mgr->preempt(10).has_value());
  mgr->complete(0, mgr->need(a, 1000, 0));
  EXPECT_DOUBLE_EQ(mgr->reserved(), mgr->need(b, 200, 0));
}

TEST(KvManager, PagedHoldsThePromptGrowsATokenPerStepAndPreemptsTheNewestDecoder) {
  const auto m = llama8b().cost_model();
  ASSERT_TRUE(m.kv_is_linear());
  const auto kv = [&](double t) { return m.kv_bytes_per_chip(1, t); };
  const Request a = request(1000, 500), b = request(2000, 500), c = request(100, 50);
  const std::vector<const Request*> reqs{&a, &b, &c};
  const double cap = kv(3400);
  auto mgr = make_kv_manager(KvAdmission::paged, m, reqs, cap, 0.1, 0);
  EXPECT_EQ(mgr->admission(), KvAdmission::paged);
  EXPECT_DOUBLE_EQ(mgr->admit_capacity(), 0.9 * cap);
  for (size_t i = 0; i < reqs.size(); ++i) mgr->add(i);
  // The prompt and its next token; after a preemption, the recomputed context.
  EXPECT_EQ(mgr->need(a, 1000, 0), kv(1001));
  EXPECT_EQ(mgr->need(a, 1100, 100), kv(1101));
  // Admission keeps the watermark free while others run, not for the first request.
  EXPECT_TRUE(mgr->fits(0, 0, kv(3100), false));
  EXPECT_FALSE(mgr->fits(0, 0, kv(3100), true));
  mgr->admit(0, kv(1001));
  mgr->admit(1, kv(2001));
  EXPECT_DOUBLE_EQ(mgr->reserved(), kv(1001) + kv(2001));
  // Both prompts run; they decode from tick 0 (a) and tick 5 (b) with their first token.
  mgr->prompt_done(0, kv(1001));
  mgr->start_decoding(0, 0, 1);
  mgr->prompt_done(1, kv(2001));
  mgr->start_decoding(1, 5, 1);
  EXPECT_NEAR(mgr->reserved(), 0, 1e-6 * cap);
  // At tick 105: a has 1 + 105 tokens generated, b 1 + 100; linear KV from the summed context.
  const DecodeState s{105, 2, 1106 + 2101, 0};
  double growth = 0;
  const double held = mgr->decoders(s, growth);
  EXPECT_DOUBLE_EQ(held, kv(1106) + kv(2101));
  EXPECT_DOUBLE_EQ(growth, 2 * kv(1));
  double one = 0;
  EXPECT_DOUBLE_EQ(mgr->decoder(b, 2101, one), kv(2101));
  EXPECT_DOUBLE_EQ(one, kv(2102) - kv(2101));
  // Steps that still fit: the free bytes over the growth per step, at least one.
  EXPECT_EQ(mgr->steps_that_fit(held, growth), std::floor((cap + 1e-9 * cap - mgr->reserved() - held) / growth));
  EXPECT_NEAR(mgr->steps_that_fit(held, growth), 96, 1);  // kv(193) free, two tokens a step
  EXPECT_TRUE(mgr->overflows(held, cap));
  // The newest decoder (b, admitted second) goes first, with the tokens it had generated.
  const auto v = mgr->preempt(105);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->id, 1u);
  EXPECT_DOUBLE_EQ(v->generated, 101);
  // Completing a removes the last decoder: nothing left to preempt.
  mgr->complete(0, 0);
  EXPECT_FALSE(mgr->preempt(105).has_value());
  // Without swap space a preempted request's KV cannot go to the host.
  EXPECT_FALSE(mgr->swap_out(1, kv(2101)));
  EXPECT_EQ(mgr->swap_in(1), 0);
}

TEST(KvManager, SwapSpaceHoldsWhatFitsAndGivesItBackOnce) {
  const auto m = llama8b().cost_model();
  const auto kv = [&](double t) { return m.kv_bytes_per_chip(1, t); };
  const Request a = request(1000, 10), b = request(1000, 10);
  const std::vector<const Request*> reqs{&a, &b};
  auto mgr = make_kv_manager(KvAdmission::paged, m, reqs, kv(4000), 0.01, 1.5 * kv(1000));
  for (size_t i = 0; i < reqs.size(); ++i) mgr->add(i);
  EXPECT_TRUE(mgr->swap_out(0, kv(1000)));
  EXPECT_FALSE(mgr->swap_out(1, kv(1000)));  // 2 x kv(1000) > 1.5 x kv(1000)
  EXPECT_EQ(mgr->swap_used(), kv(1000));
  EXPECT_EQ(mgr->swap_in(1), 0);
  EXPECT_EQ(mgr->swap_in(0), kv(1000));
  EXPECT_EQ(mgr->swap_in(0), 0);
  EXPECT_EQ(mgr->swap_used(), 0);
  EXPECT_TRUE(mgr->swap_out(1, kv(1000)));
}

}  // namespace
}  // namespace tf::serving
