#pragma once
#pragma once
// The request-level serving simulator (fidelity 3): one engine replica serving a stream of
// requests with continuous batching, chunked prefill under a per-step token budget and a KV
// cache that either reserves a request's whole context (prompt + output) at admission, so nothing
// is ever evicted, or allocates it on demand and preempts (KvAdmission). Each engine step is
// priced by cost::StepCostModel, so the simulator and the steady-state estimate share one cost
// model.
//
// Time advances step by step while prompts are being prefilled; stretches of pure decode in
// which no request arrives, finishes or can be admitted are advanced in one jump (their steps
// are priced at the stretch's mid-point context), so a run costs O(events), not O(tokens).
//
// Arrivals are open loop (each request's arrival time is given: Poisson, a trace) or closed
// loop (`clients` users, each sending its next request when the previous one completes, as
// benchmark clients at a fixed concurrency do).
//
// The simulator's components, one folder each, with one-way dependencies (metrics <- workload
// <- kv <- engine <- cluster; tests/layers.sh enforces it): this header includes them all.
#include "serving/cluster/cluster.hpp"
#include "serving/engine/engine.hpp"
#include "serving/kv/kv.hpp"
#include "serving/metrics/metrics.hpp"
#include "serving/workload/workload.hpp"
