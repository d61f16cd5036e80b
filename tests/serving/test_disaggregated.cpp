// Prefill/decode disaggregation against hand-computed hand-offs and invariants: a request's TTFT
// is its prefill plus its KV transfer, its decode the decode pool's steps; with a free link and
// negligible load the split equals the colocated run; requests, tokens and bytes are conserved;
// transfers queue on the links; each pool's memory bounds it.
#include "serving/cluster/disaggregated.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/diagnostic.hpp"
#include "serving/fixture.hpp"

namespace tf::serving {
namespace {

const Fixture& llama8b_dp(int dp) {
  static const Fixture one("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 1, 1);
  static const Fixture two("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 1, 2);
  static const Fixture three("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 1, 3);
  return dp == 1 ? one : dp == 2 ? two : three;
}

DisaggregatedService service(const cost::StepCostModel& p, const cost::StepCostModel& d, double bw, double latency) {
  DisaggregatedService s;
  s.prefill = &p;
  s.decode = &d;
  s.prefill_engine.step_tokens = s.decode_engine.step_tokens = 8192;
  s.link = {bw, latency};
  return s;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// One request of 1000 + 101 tokens: its prefill on the prefill pool, its 1000-token KV over a
// 50 GB/s link with 20 us latency, then 100 decode steps on the decode pool.
TEST(Disaggregation, OneRequestIsItsPrefillItsTransferAndItsDecodeSteps) {
  const auto pm = llama8b_dp(1).cost_model();
  const auto dm = llama8b_dp(1).cost_model();
  const double bw = 50e9, latency = 20e-6;
  Workload w;
  w.requests = {{0.0, 1000, 101}};
  const auto r = simulate_disaggregated(service(pm, dm, bw, latency), w);
  ASSERT_EQ(r.requests.size(), 1u);
  const double bytes = pm.kv_bytes_per_chip(1, 1000);  // one chip per replica
  const double transfer = latency + bytes / bw;
  // The prefill pool's engine takes the request overhead once; the decode pool's requests come
  // from it, not from a client.
  const double overhead = pm.deployment().efficiency->request_overhead_s;
  ASSERT_GT(overhead, 0);
  EXPECT_NEAR(r.requests[0].ttft_s(), overhead + prefill_time(pm, 1000, 1000) + transfer, 1e-12);
  double decode = 0;
  for (int k = 1; k <= 100; ++k) decode += decode_time(dm, 1, 1000 + k);
  EXPECT_NEAR(r.requests[0].e2e_s() - r.requests[0].ttft_s(), decode, 1e-4 * decode);
  const auto& dis = r.disaggregation;
  EXPECT_TRUE(dis.enabled);
  EXPECT_EQ(dis.transfers, 1u);
  EXPECT_DOUBLE_EQ(dis.transferred_bytes, bytes);
  EXPECT_NEAR(dis.transfer_s.mean, transfer, 1e-15);
  EXPECT_DOUBLE_EQ(dis.decode_wait_s.max, 0);  // the decode replica was idle: admitted on arrival
  EXPECT_DOUBLE_EQ(r.steps, 101);              // one prefill step, 100 decode steps
}

// A free link and requests far apart: every request's TTFT and E2E are the colocated engine's
// (its prefill alone, then its decode steps alone), the work split between the pools.
TEST(Disaggregation, WithAFreeLinkAndNegligibleLoadItEqualsTheColocatedRun) {
  const auto pm = llama8b_dp(2).cost_model();
  const auto dm = llama8b_dp(2).cost_model();
  const auto colocated = llama8b_dp(1).cost_model();
  Workload w;
  for (int i = 0; i < 20; ++i) w.requests.push_back({100.0 * i, 500.0 + 50 * i, 64.0 + i});
  const auto r = simulate_disaggregated(service(pm, dm, kInf, 0), w);
  EngineConfig e;
  e.step_tokens = 8192;
  const auto c = simulate(colocated, e, w);
  ASSERT_EQ(r.requests.size(), c.requests.size());
  for (size_t i = 0; i < r.requests.size(); ++i) {
    EXPECT_NEAR(r.requests[i].ttft_s(), c.requests[i].ttft_s(), 1e-12) << i;
    EXPECT_NEAR(r.requests[i].e2e_s(), c.requests[i].e2e_s(), 1e-9 * c.requests[i].e2e_s()) << i;
  }
  EXPECT_DOUBLE_EQ(r.disaggregation.transfer_s.max, 0);
  // Least-outstanding routing over idle replicas: all go to the first of each pool.
  EXPECT_EQ(r.disaggregation.per_prefill[0] + r.disaggregation.per_prefill[1], 20u);
  EXPECT_NEAR(r.disaggregation.prefill_busy_s + r.disaggregation.decode_busy_s, c.busy_s, 1e-9 * c.busy_s);
}

// Two prompts prefilled in one step leave together; the second transfer waits for the first on
// the prefill replica's link: transfer times W + L and 2 W + L. The decode replica, busy with the
// first, takes the second at its next step.
TEST(Disaggregation, TransfersQueueOnTheLinks) {
  const auto pm = llama8b_dp(1).cost_model();
  const auto dm = llama8b_dp(1).cost_model();
  const double bw = 1e9, latency = 1e-3;
  Workload w;
  w.requests = {{0.0, 2000, 50}, {0.0, 2000, 50}};
  const auto r = simulate_disaggregated(service(pm, dm, bw, latency), w);
  const double wire = pm.kv_bytes_per_chip(1, 2000) / bw;
  const auto& t = r.disaggregation.transfer_s;
  EXPECT_NEAR(t.max, 2 * wire + latency, 1e-12);
  EXPECT_NEAR(t.mean, 1.5 * wire + latency, 1e-12);
  EXPECT_NEAR(r.disaggregation.link_busy_s, 2 * wire, 1e-12);
  // The second is admitted at the first decode step boundary after its KV lands.
  const double gap = r.requests[1].first_token_s - r.requests[0].first_token_s;
  EXPECT_GE(gap, wire - 1e-12);
  EXPECT_LE(gap, wire + decode_time(dm, 1, 2050));
  EXPECT_LE(r.disaggregation.decode_wait_s.max, decode_time(dm, 1, 2050));
}

// A decode replica in the middle of a long decode stretch takes a request whose KV lands during it
// at the next step, not when the stretch would have ended (its first completion).
TEST(Disaggregation, ADecodeStretchEndsWhereAnotherRequestsKvLands) {
  const auto pm = llama8b_dp(1).cost_model();
  const auto dm = llama8b_dp(1).cost_model();
  Workload w;
  w.requests = {{0.0, 1000, 2000}, {1.0, 1000, 10}};
  const auto r = simulate_disaggregated(service(pm, dm, 50e9, 1e-5), w);
  EXPECT_LE(r.disaggregation.decode_wait_s.max, decode_time(dm, 1, 3000));
  EXPECT_LT(r.requests[1].finish_s, r.requests[0].finish_s);
}

// Closed loop over two decode replicas: a completion on one replica releases its client's next
// prompt, whose KV may land on the other replica in the middle of that replica's decode stretch;
// the stretch ends there (no KV waits for a request on the other replica to finish). The decode
// pool has memory and slots for every client, so a landed KV waits at most one decode step.
TEST(Disaggregation, ClosedLoopKvLandingOnAnotherDecodeReplicaIsAdmittedAtTheNextStep) {
  const auto pm = llama8b_dp(1).cost_model();
  const auto dm = llama8b_dp(2).cost_model();
  Workload w;
  w.requests = make_requests(120, {500, 0.2}, {2000, 0.9}, 0, 3);
  w.clients = 8;
  const auto r = simulate_disaggregated(service(pm, dm, 50e9, 1e-5), w);
  ASSERT_EQ(r.requests.size(), 120u);
  EXPECT_LE(r.disaggregation.decode_wait_s.max, decode_time(dm, 8, 3000)) << r.disaggregation.decode_wait_s.mean;
}

// Think times on a disaggregated service: one client sends each request its pause after the
// previous one completes.
TEST(Disaggregation, ThinkTimesPauseTheClients) {
  const auto pm = llama8b_dp(1).cost_model();
  const auto dm = llama8b_dp(1).cost_model();
  Workload w;
  w.requests = make_requests(10, {500, 0.2}, {40, 0.2}, 0, 3);
  w.clients = 1;
  w.think_s = make_think_times(10, 2.0, ThinkTime::fixed, 3);
  const auto r = simulate_disaggregated(service(pm, dm, 50e9, 1e-5), w);
  for (size_t i = 1; i < r.requests.size(); ++i)
    EXPECT_NEAR(r.requests[i].arrival_s, r.requests[i - 1].finish_s + 2.0, 1e-12) << i;
  w.think_s.pop_back();
  EXPECT_THROW((void)simulate_disaggregated(service(pm, dm, 50e9, 1e-5), w), DiagnosticError);
}

// Parallel streams on a disaggregated service: the prefill pool computes each prompt once and
// its KV moves once; the decode pool runs every stream (paged, short of memory: it preempts),
// emits every stream's tokens and never holds more KV than it has.
TEST(Disaggregation, StreamsPrefillOnceMoveTheirKvOnceAndDecodeEveryStream) {
  const auto pm = llama8b_dp(1).cost_model();
  const auto dm = llama8b_dp(2).cost_model();
  auto s = service(pm, dm, 25e9, 5e-6);
  s.decode_engine.kv_admission = KvAdmission::paged;
  s.decode_engine.kv_capacity_bytes = 12 * dm.kv_bytes_per_chip(1, 2000);
  Workload w;
  w.requests = make_requests(200, {1200, 0.3}, {300, 0.5}, 20.0, 13);
  for (size_t i = 0; i < w.requests.size(); ++i) w.requests[i].streams = 1 + static_cast<uint32_t>(i % 3);
  const auto r = simulate_disaggregated(s, w);
  ASSERT_EQ(r.requests.size(), 200u);
  double bytes = 0, out = 0;
  for (size_t i = 0; i < r.requests.size(); ++i) {
    EXPECT_EQ(r.requests[i].streams, w.requests[i].streams) << i;
    EXPECT_GE(r.requests[i].finish_s, r.requests[i].first_token_s) << i;
    bytes += pm.kv_bytes_per_chip(1, w.requests[i].input_tokens);
    out += w.requests[i].output_tokens * w.requests[i].streams;
  }
  EXPECT_EQ(r.disaggregation.transfers, 200u);
  EXPECT_NEAR(r.disaggregation.transferred_bytes, bytes, 1e-9 * bytes);
  EXPECT_NEAR(r.output_tok_s * r.duration_s, out, 1e-6 * out);
  EXPECT_GT(r.preemptions, 0u);
  EXPECT_LE(r.peak_kv_bytes, *s.decode_engine.kv_capacity_bytes * (1 + 1e-9));
}

// Under load, with a decode pool short of KV memory (paged, so it preempts): every request
// completes once, in order of its phases; each pool served every request; bytes moved are the
// prompts' KV; the decode pool never holds more KV than it has; the same inputs repeat to the bit.
TEST(Disaggregation, UnderLoadRequestsTokensAndBytesAreConservedAndCapacityHolds) {
  const auto pm = llama8b_dp(2).cost_model();
  const auto dm = llama8b_dp(3).cost_model();
  auto s = service(pm, dm, 25e9, 5e-6);
  s.decode_engine.kv_admission = KvAdmission::paged;
  s.decode_engine.kv_capacity_bytes = 24 * dm.kv_bytes_per_chip(1, 2500);
  Workload w;
  w.requests = make_requests(600, {1500, 0.4}, {400, 0.5}, 30.0, 11);
  const auto r = simulate_disaggregated(s, w);
  ASSERT_EQ(r.requests.size(), 600u);
  double bytes = 0, out = 0;
  for (size_t i = 0; i < r.requests.size(); ++i) {
    const auto& q = r.requests[i];
    EXPECT_DOUBLE_EQ(q.arrival_s, w.requests[i].arrival_s) << i;
    EXPECT_GT(q.first_token_s, q.arrival_s) << i;
    EXPECT_GE(q.finish_s, q.first_token_s) << i;
    EXPECT_DOUBLE_EQ(q.output_tokens, w.requests[i].output_tokens) << i;
    bytes += pm.kv_bytes_per_chip(1, w.requests[i].input_tokens);
    out += q.output_tokens;
  }
  const auto& dis = r.disaggregation;
  EXPECT_EQ(dis.transfers, 600u);
  EXPECT_NEAR(dis.transferred_bytes, bytes, 1e-9 * bytes);
  EXPECT_EQ(dis.per_prefill[0] + dis.per_prefill[1], 600u);
  EXPECT_EQ(r.per_replica[0] + r.per_replica[1] + r.per_replica[2], 600u);
  EXPECT_GT(r.preemptions, 0u);
  EXPECT_LE(r.peak_kv_bytes, *s.decode_engine.kv_capacity_bytes * (1 + 1e-9));
  EXPECT_LE(dis.prefill_peak_kv_bytes, dis.prefill_kv_capacity_bytes * (1 + 1e-9));
  EXPECT_GE(dis.transfer_s.mean, 5e-6);
  EXPECT_NEAR(r.output_tok_s * r.duration_s, out, 1e-6 * out);
  const auto again = simulate_disaggregated(s, w);
  for (size_t i = 0; i < r.requests.size(); ++i) {
    EXPECT_EQ(r.requests[i].first_token_s, again.requests[i].first_token_s) << i;
    EXPECT_EQ(r.requests[i].finish_s, again.requests[i].finish_s) << i;
  }
}

// Closed-loop clients: never more requests in the service than clients; a one-token request ends
// at its prefill with no transfer.
TEST(Disaggregation, ClosedLoopKeepsClientsAndOneTokenRequestsEndAtThePrefill) {
  const auto pm = llama8b_dp(1).cost_model();
  const auto dm = llama8b_dp(2).cost_model();
  Workload w;
  w.requests = make_requests(200, {800, 0.5}, {100, 0.9}, 0, 5);
  w.requests[7].output_tokens = 1;
  w.clients = 8;
  const auto r = simulate_disaggregated(service(pm, dm, 50e9, 1e-5), w);
  ASSERT_EQ(r.requests.size(), 200u);
  EXPECT_EQ(r.disaggregation.transfers, 199u);
  EXPECT_GE(r.requests[7].first_token_s, r.requests[7].arrival_s);
  EXPECT_DOUBLE_EQ(r.requests[7].finish_s, r.requests[7].first_token_s);
  // In the system at each arrival: requests arrived before and not yet finished (clients bound).
  for (const auto& q : r.requests) {
    size_t in = 0;
    for (const auto& o : r.requests)
      if (o.arrival_s <= q.arrival_s && o.finish_s > q.arrival_s) ++in;
    EXPECT_LE(in, 8u);
  }
}

// Multi-turn sessions with prefix caching: the prefill pool reuses each session's earlier turns;
// the decode pool, which computes no prompt, caches nothing even when its engine asks to (before:
// the run was refused, the decode pool being checked for block hashes it is never given).
TEST(Disaggregation, SessionsReusePrefixesOnThePrefillPoolOnly) {
  const auto pm = llama8b_dp(1).cost_model();
  const auto dm = llama8b_dp(2).cost_model();
  auto w = make_sessions(40, 4, 512, {200, 0.5}, {64, 0.5}, 16, 3);
  w.clients = 8;
  auto cached = service(pm, dm, 50e9, 1e-5);
  cached.prefill_engine.prefix_caching = cached.decode_engine.prefix_caching = true;
  const auto r = simulate_disaggregated(cached, w);
  const auto plain = simulate_disaggregated(service(pm, dm, 50e9, 1e-5), w);
  ASSERT_EQ(r.requests.size(), w.requests.size());
  EXPECT_TRUE(r.prefix_cache.enabled);
  EXPECT_GT(r.prefix_cache.hit_tokens, 0.5 * r.prefix_cache.lookup_tokens);
  EXPECT_LT(r.ttft_s.mean, plain.ttft_s.mean);
  double out = 0, out_plain = 0;
  for (size_t i = 0; i < w.requests.size(); ++i) {
    out += r.requests[i].emitted_tokens();
    out_plain += plain.requests[i].emitted_tokens();
  }
  EXPECT_DOUBLE_EQ(out, out_plain);
}

TEST(Disaggregation, RefusesWhatCannotWork) {
  const auto pm = llama8b_dp(1).cost_model();
  const auto dm = llama8b_dp(1).cost_model();
  Workload w;
  w.requests = {{0.0, 1000, 100}};
  auto expect_error = [&](const DisaggregatedService& s, const Workload& wl, const std::string& part) {
    try {
      simulate_disaggregated(s, wl);
      ADD_FAILURE() << "expected an error with: " << part;
    } catch (const DiagnosticError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error(service(pm, dm, 0, 0), w, "bandwidth must be > 0");
  expect_error(service(pm, dm, 1e9, -1), w, "latency must be finite and >= 0");
  auto s = service(pm, dm, 1e9, 0);
  s.decode_router = Router::prefix_affinity;
  expect_error(s, w, "decode pool does not compute");
  s = service(pm, dm, 1e9, 0);
  s.decode_engine.kv_capacity_bytes = dm.kv_bytes_per_chip(1, 1050);  // the prompt fits, not its output
  expect_error(s, w, "decode pool: simulation: request 0 needs");
  s = service(pm, dm, 1e9, 0);
  s.prefill_engine.kv_capacity_bytes = pm.kv_bytes_per_chip(1, 500);
  expect_error(s, w, "prefill pool: simulation: request 0 needs");
  s = service(pm, dm, 1e9, 0);
  s.decode_router = Router::session_sticky;
  expect_error(s, w, "needs closed-loop clients");
}

// The replica counts a service states replace its deployments' dp, run for run.
TEST(Disaggregation, ReplicaCountsOverrideTheDeployments) {
  const auto p1 = llama8b_dp(1).cost_model(), d1 = llama8b_dp(1).cost_model();
  const auto p2 = llama8b_dp(2).cost_model(), d3 = llama8b_dp(3).cost_model();
  Workload w;
  w.requests = make_requests(300, {3000, 0.5}, {200, 0.5}, 12.0, 5);
  auto over = service(p1, d1, 50e9, 10e-6);
  over.prefill_replicas = 2;
  over.decode_replicas = 3;
  const auto a = simulate_disaggregated(over, w);
  const auto b = simulate_disaggregated(service(p2, d3, 50e9, 10e-6), w);
  ASSERT_EQ(a.requests.size(), b.requests.size());
  for (size_t i = 0; i < a.requests.size(); ++i) {
    EXPECT_DOUBLE_EQ(a.requests[i].first_token_s, b.requests[i].first_token_s) << i;
    EXPECT_DOUBLE_EQ(a.requests[i].finish_s, b.requests[i].finish_s) << i;
    EXPECT_EQ(a.requests[i].replica, b.requests[i].replica) << i;
  }
  EXPECT_EQ(a.disaggregation.per_prefill.size(), 2u);
  EXPECT_EQ(a.per_replica.size(), 3u);
}

// Splits of 11 chips into 2-chip prefill and 4-chip decode replicas: P = 1, D = 2 (10 chips) and
// P = 3, D = 1 (10 chips); P = 2, D = 1 leaves 3 chips, room for a third prefill replica, so
// the next split dominates it. Each split's rate is the rate search over that service.
TEST(Disaggregation, SplitSearchTriesEverySplitThatLeavesLessThanAReplicaIdle) {
  static const Fixture prefill("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 2);
  static const Fixture decode("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", 4);
  const auto pm = prefill.cost_model(), dm = decode.cost_model();
  const auto s = service(pm, dm, 50e9, 10e-6);
  RateSearchSpec spec;
  spec.input = {4000, 0.3};
  spec.output = {300, 0.3};
  spec.requests = 300;
  spec.limits.p99_ttft_s = 1.0;
  spec.limits.p99_tpot_s = 0.03;
  const auto options = search_splits(s, 11, spec);
  ASSERT_EQ(options.size(), 2u);
  const size_t want[2][2] = {{1, 2}, {3, 1}};
  for (size_t k = 0; k < 2; ++k) {
    const auto& o = options[k];
    EXPECT_EQ(o.prefill_replicas, want[k][0]);
    EXPECT_EQ(o.decode_replicas, want[k][1]);
    EXPECT_DOUBLE_EQ(o.chips, 10);
    auto sv = s;
    sv.prefill_replicas = o.prefill_replicas;
    sv.decode_replicas = o.decode_replicas;
    const auto direct = find_max_rate([&](const Workload& w) { return simulate_disaggregated(sv, w); }, spec);
    ASSERT_TRUE(o.rate.found);
    EXPECT_DOUBLE_EQ(o.rate.rate, direct.rate);
    EXPECT_EQ(o.rate.probes.size(), direct.probes.size());
  }
  // More prefill replicas relieve the bottleneck of a prompt-heavy workload.
  EXPECT_GT(options[1].rate.rate, options[0].rate.rate);
  try {
    search_splits(s, 5, spec);
    ADD_FAILURE() << "5 chips hold no split";
  } catch (const DiagnosticError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot hold one prefill replica (2 chips) and one decode replica (4 chips)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tf::serving
