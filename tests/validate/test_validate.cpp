// validate / calibrate: the CSV reader, row prediction against hand-computed estimates, error
// messages for malformed input, recovery of known efficiencies from engine-generated data, the
// calibration override of the efficiency table, and (when ../shared is present) the real data.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/diagnostic.hpp"
#include "cost/estimate.hpp"
#include "serving/cluster/disaggregated.hpp"
#include "serving/serving.hpp"
#include "io/text.hpp"
#include "support/fixtures.hpp"
#include "validate/calibrate.hpp"
#include "validate/validate.hpp"

namespace tf::validate {
namespace {

using nlohmann::json;
using test::efficiency_table;
using test::hardware_catalog;
using test::model_catalog;
using test::run_cli;

const std::string kHeader =
    "id,hardware,num_chips,model,weight_dtype,act_dtype,kv_dtype,tp,pp,ep,dp,attention_dp,scenario,isl,osl,"
    "concurrency,request_rate,spec_decode,metric,value,unit,trust,source,notes\n";

// One CSV line of the schema; `notes` is quoted (it may hold commas and quotes).
std::string row(const std::string& id, const std::string& hw, int tp, const std::string& model, const std::string& w,
                const std::string& kv, const std::string& scenario, double isl, double osl, const std::string& conc,
                const std::string& metric, double value, const std::string& unit, const std::string& notes = "n",
                int dp = 1, const std::string& spec = "none", const std::string& rate = "") {
  std::string quoted;
  for (char ch : notes) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return fmt::format("{},{},{},{},{},{},{},{},1,1,{},false,{},{},{},{},{},{},{},{:.10g},{},B,test,\"{}\"\n", id, hw,
                     tp * dp, model, w, w, kv, tp, dp, scenario, isl, osl, conc, rate, spec, metric, value, unit,
                     quoted);
}

// ---------------------------------------------------------------- CSV
TEST(ValidateCsv, QuotedFieldsCommasEscapedQuotesNewlinesAndCrlf) {
  const std::string text = "a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\r\n\r\n2,\"two\nlines\",\n3,,\"\"";
  const auto r = parse_csv(text, "t.csv");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].fields, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r[1].fields, (std::vector<std::string>{"1", "x, y", "say \"hi\""}));
  EXPECT_EQ(r[1].line, 2);
  EXPECT_EQ(r[2].fields, (std::vector<std::string>{"2", "two\nlines", ""}));
  EXPECT_EQ(r[2].line, 4);
  EXPECT_EQ(r[3].fields, (std::vector<std::string>{"3", "", ""}));
  EXPECT_EQ(r[3].line, 6);
}

TEST(ValidateCsv, UnterminatedQuoteNamesFileAndLine) {
  try {
    parse_csv("a,b\n1,\"open\n2,3\n", "bad.csv");
    FAIL() << "expected an error";
  } catch (const DiagnosticError& e) {
    EXPECT_EQ(e.diagnostic().file, "bad.csv");
    EXPECT_EQ(e.diagnostic().line, 2);
    EXPECT_NE(e.diagnostic().message.find("unterminated"), std::string::npos);
  }
  EXPECT_THROW(parse_csv("a,b\n1,\"x\"y\n", "bad.csv"), DiagnosticError);
  EXPECT_THROW(parse_csv("a,b\n1,x\"y\n", "bad.csv"), DiagnosticError);
}

TEST(ValidateNotes, EngineCapsAndRequestCounts) {
  const auto f = parse_notes("vLLM: 500 reqs at t=0; engine cap: max-num-seqs 256, \"quoted\"");
  ASSERT_TRUE(f.max_batch && f.requests);
  EXPECT_EQ(*f.max_batch, 256);
  EXPECT_EQ(*f.requests, 500);
  EXPECT_FALSE(parse_notes("no caps here").max_batch);
  EXPECT_EQ(parse_notes("no caps here").length_spread, 0);
}

EngineFacts facts(const std::string& notes, const std::string& source = "") {
  MeasuredRow r;
  r.notes = notes;
  r.source = source;
  return engine_facts(r, test::engine_profiles());
}

TEST(ValidateNotes, TokenBudgetLengthSpreadAndStepPolicy) {
  auto f = facts("InferenceMAX (sglang, v0.5); random ISL/OSL U[0.8,1]x1024/1024 (mean shown), 160 prompts");
  EXPECT_EQ(f.scheduler, serving::Scheduler::prefill_first);
  EXPECT_EQ(f.engine->id, "sglang");
  EXPECT_NEAR(f.length_spread, 0.2 / 1.8, 1e-12);  // [0.8 L, L] = 0.9 L +- 0.1 L
  ASSERT_TRUE(f.requests);
  EXPECT_EQ(*f.requests, 160);
  f = facts("vllm bench serve: 150 reqs at max concurrency 8, ISL ~20000 and OSL ~2000 (+-15%)");
  EXPECT_EQ(f.scheduler, serving::Scheduler::mixed);
  EXPECT_EQ(f.engine->id, "vllm-v1");
  EXPECT_NEAR(f.length_spread, 0.15, 1e-12);
  f = facts("vLLM ~0.6.3 benchmark_serving: 1000 ShareGPT prompts; chunked prefill on, max-num-batched-tokens 512");
  EXPECT_EQ(f.engine->id, "vllm-v0");
  EXPECT_EQ(f.scheduler, serving::Scheduler::mixed);  // the V0 profile's mixed_when phrase
  ASSERT_TRUE(f.step_tokens && f.requests);
  EXPECT_EQ(*f.step_tokens, 512);
  EXPECT_EQ(*f.requests, 1000);
  EXPECT_EQ(facts("vLLM ~0.6.3 benchmark_throughput: 8 prompts").scheduler, serving::Scheduler::prefill_first);
  f = facts("Triton+TRT-LLM v0.14: all 500 reqs at once");
  EXPECT_EQ(f.scheduler, serving::Scheduler::mixed);
  EXPECT_EQ(f.engine->id, "tensorrt-llm");
  EXPECT_EQ(f.engine->memory.kind, cost::MemoryPolicy::Kind::fraction_of_free);
}

// Engines are data: an engine the alias table does not know is flagged and gets the default
// profile, never a silent guess; disaggregated runs are unsupported with a reason; caps stated
// per rank and stated memory fractions are read.
TEST(ValidateNotes, EngineProfilesFromTheAliasTable) {
  auto f = facts("MyServe 2.0 offline, 1000 reqs");
  EXPECT_FALSE(f.engine_recognised);
  EXPECT_EQ(f.engine->id, "default");
  EXPECT_NE(f.scheduler_reason.find("not recognised"), std::string::npos) << f.scheduler_reason;
  f = facts("offline run", "github:sgl-project/sglang-jax/docs/performance/x.md");  // the source names it
  EXPECT_TRUE(f.engine_recognised);
  EXPECT_EQ(f.engine->id, "sglang-jax");
  f = facts("InferenceMAX nightly (sglang-disagg, ...); PD-disagg 8P+16D GPUs");
  ASSERT_TRUE(f.unsupported.has_value());
  EXPECT_NE(f.unsupported->find("disaggregated"), std::string::npos);
  f = facts("TRT-LLM: max_batch_size 128/rank, attention DP");
  ASSERT_TRUE(f.max_batch);
  EXPECT_EQ(*f.max_batch, 128);
  EXPECT_TRUE(f.max_batch_per_rank);
  EXPECT_FALSE(facts("vLLM: max-num-seqs 256").max_batch_per_rank);
  f = facts("trtllm-bench v1.0 offline: 30000 reqs at t=0; KV frac 0.95");
  ASSERT_TRUE(f.memory_fraction);
  EXPECT_DOUBLE_EQ(*f.memory_fraction, 0.95);
  EXPECT_DOUBLE_EQ(*facts("vllm serve --gpu-memory-utilization 0.85").memory_fraction, 0.85);
}

// The memory policy is the engine's: TensorRT-LLM gives KV a share of what the weights leave,
// vLLM a share of the whole memory (hand-computed on one H100, Llama-3.1-8B BF16).
TEST(ValidateNotes, MemoryPolicyIsTheEnginesByHand) {
  const auto& hw = hardware_catalog().get("h100-sxm");
  const auto m = model_catalog().resolve("meta-llama/Llama-3.1-8B-Instruct");
  const auto& eff = efficiency_table().for_family(hw.family);
  cost::DeploymentSpec spec;
  spec.memory_policy = test::engine_profiles().get("tensorrt-llm").memory;
  const cost::StepCostModel trt(cost::resolve_deployment(spec, m, hw, eff));
  spec.memory_policy = test::engine_profiles().get("vllm-v1").memory;
  const cost::StepCostModel vllm(cost::resolve_deployment(spec, m, hw, eff));
  const auto& b = trt.memory();
  const double cap = 80.0 * (1ULL << 30);
  const double fixed = b.weights_bytes + b.activation_bytes + b.reserve_bytes;
  EXPECT_NEAR(b.kv_free_bytes, 0.9 * (cap - fixed), 1);
  EXPECT_NEAR(vllm.memory().kv_free_bytes, 0.9 * cap - fixed, 1);
  EXPECT_GT(b.kv_free_bytes, vllm.memory().kv_free_bytes);
}

// ---------------------------------------------------------------- validate, hand-checked
TEST(Validate, FixtureErrorsMatchHandComputedEstimates) {
  const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  const auto& sys = hardware_catalog().get("h100-sxm");
  const auto spec = model_catalog().resolve(model);
  const auto& eff = efficiency_table().for_family(sys.family);
  cost::DeploymentSpec ds;
  ds.weights = Precision::bf16;
  ds.kv = Precision::bf16;
  ds.activations = Precision::bf16;
  // Rows whose engine the alias table does not recognise run as the default engine.
  serving::apply_engine(test::engine_profiles().fallback(), ds);
  const auto d = cost::resolve_deployment(ds, spec, sys, eff);
  const cost::StepCostModel m(d);
  // Single stream: decode steps at batch 1, mean context isl + osl / 2.
  cost::Batch one;
  one.decode_seqs = 1;
  one.decode_context = 1024 + 128;
  const double tpot_ms = m.step(one).time_s * 1e3;
  // Fixed concurrency: 16 closed-loop clients sending the 160 stated requests of 1024 / 256
  // tokens, prompt chunks mixed into decode steps under the default token budget.
  serving::Workload w;
  w.clients = 16;
  w.requests = serving::make_requests(160, {1024, 0}, {256, 0}, 0, 1);
  serving::EngineConfig engine;
  engine.step_tokens = eff.activation_tokens;
  const double tput = serving::simulate(m, engine, w).output_tok_s;
  // Measured values 10% above and 20% below the model: APE = 100 x |p - v| / v.
  test::TempDir dir;
  const auto csv =
      dir.write("m.csv", kHeader +
                             row("FIX-0001", "h100-sxm", 1, model, "bf16", "bf16", "single_stream", 1024, 256, "1",
                                 "tpot_ms", tpot_ms * 1.1, "ms", "a, \"quoted\" note") +
                             row("FIX-0002", "h100-sxm", 1, model, "bf16", "bf16", "fixed_concurrency", 1024, 256, "16",
                                 "output_tok_s", tput * 0.8, "tok/s", "160 prompts") +
                             row("FIX-0003", "h100-sxm", 1, model, "bf16", "bf16", "poisson_rate", 1024, 256, "",
                                 "output_tok_s", 1000, "tok/s", "200 reqs", 1, "none", "2") +
                             row("OTHER-0001", "h100-sxm", 1, model, "bf16", "bf16", "single_stream", 1024, 256, "1",
                                 "tpot_ms", 5, "ms", "n", 1, "mtp"));
  const auto r = run_cli({"validate", "--measured", csv.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  ASSERT_EQ(j["rows"].size(), 4u);
  const auto& r1 = j["rows"][0];
  EXPECT_EQ(r1["id"], "FIX-0001");
  EXPECT_EQ(r1["metric"], "tpot_ms");
  EXPECT_TRUE(r1["supported"].get<bool>());
  EXPECT_NEAR(r1["predicted"].get<double>(), tpot_ms, 1e-9 * tpot_ms);
  EXPECT_NEAR(r1["ape"].get<double>(), 100 * 0.1 / 1.1, 1e-6);  // 9.0909 %
  const auto& r2 = j["rows"][1];
  EXPECT_NEAR(r2["predicted"].get<double>(), tput, 1e-9 * tput);
  EXPECT_NEAR(r2["ape"].get<double>(), 25.0, 1e-6);  // 0.2 / 0.8
  // Open loop well below capacity: every request is served, so the output rate is the arrival
  // rate x output length: 200 Poisson arrivals at 2/s span 100 s +- 7 s (one standard
  // deviation), plus the last request's few seconds of service.
  const auto& r3 = j["rows"][2];
  ASSERT_TRUE(r3["supported"].get<bool>()) << r3["reason"];
  const double p3 = r3["predicted"].get<double>();
  EXPECT_NEAR(p3, 2 * 256, 0.2 * 2 * 256);
  EXPECT_FALSE(j["rows"][3]["supported"].get<bool>());
  EXPECT_NE(j["rows"][3]["reason"].get<std::string>().find("MTP"), std::string::npos);
  const auto& s = j["summary"];
  EXPECT_EQ(s["n"], 4);
  EXPECT_EQ(s["supported"], 3);
  std::vector<double> apes{100 * 0.1 / 1.1, 25.0, 100 * std::abs(p3 - 1000) / 1000};
  std::sort(apes.begin(), apes.end());
  EXPECT_NEAR(s["median_ape"].get<double>(), apes[1], 1e-6);
  EXPECT_NEAR(s["coverage"].get<double>(), 2.0 / 3.0, 1e-12);  // 3 rows outside poisson_rate
  EXPECT_EQ(s["by_hardware"]["h100-sxm"]["supported"], 3);
  EXPECT_EQ(s["by_metric"]["tpot_ms"]["n"], 2);
  EXPECT_EQ(s["by_scenario"]["poisson_rate"]["supported"], 1);
  EXPECT_EQ(s["by_model"][model]["n"], 4);
  EXPECT_EQ(s["by_source_group"]["FIX"]["n"], 3);
  // The text report carries the same rows.
  const auto t = run_cli({"validate", "--measured", csv.string()});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("FIX-0002"), std::string::npos);
  EXPECT_NE(t.out.find("+25.0"), std::string::npos);  // (predicted - measured) / measured
  EXPECT_NE(t.out.find("-9.1"), std::string::npos);
}

// A prefill/decode-disaggregated run whose notes state its pools is predicted as those two pools
// on one clock with the KV moved over the system's scale-out link (the disaggregated simulation
// of that service, built here by hand); a run whose notes do not state the pools, whose pools do
// not add up to the row's chips, or that measured one pool alone is unsupported, saying why.
TEST(Validate, DisaggregatedRowsAreTwoPoolsWhenTheNotesStateThem) {
  const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  const auto& sys = hardware_catalog().get("h100-sxm");
  const auto spec = model_catalog().resolve(model);
  const auto& eff = efficiency_table().for_family(sys.family);
  const auto& engine = test::engine_profiles().fallback();  // no engine named: the default profile
  cost::DeploymentSpec ds;
  ds.weights = ds.kv = ds.activations = Precision::bf16;
  serving::apply_engine(engine, ds);
  ds.chips = 1;
  const auto pd = cost::resolve_deployment(ds, spec, sys, eff);
  ds.chips = 2;
  ds.dp = 2;
  const auto dd = cost::resolve_deployment(ds, spec, sys, eff);
  const cost::StepCostModel pm(pd), dm(dd);
  serving::DisaggregatedService service;
  service.prefill = &pm;
  service.decode = &dm;
  serving::EngineConfig e;
  e.scheduler = engine.scheduler;
  e.kv_admission = serving::kv_admission_for(engine);
  e.step_tokens = engine.token_budget;
  service.prefill_engine = service.decode_engine = e;
  ASSERT_TRUE(sys.scale_out.bandwidth_bytes_per_s);
  service.link.bandwidth_bytes_per_s = sys.scale_out.bandwidth_bytes_per_s->value;
  service.link.latency_s = sys.scale_out.latency_s ? sys.scale_out.latency_s->value : 0;
  serving::Workload w;
  w.clients = 8;
  w.requests = serving::make_requests(80, {1000, 0}, {200, 0}, 0, 1);
  const auto sim = serving::simulate_disaggregated(service, w);

  const std::string pools = "PD-disagg 1P+2D GPUs: P 1x(tp1), D 2x(tp1); 80 requests";
  test::TempDir dir;
  auto line = [&](const std::string& id, const std::string& metric, double value, const std::string& unit,
                  const std::string& notes) {
    return row(id, "h100-sxm", 1, model, "bf16", "bf16", "fixed_concurrency", 1000, 200, "8", metric, value, unit,
               notes, 3);
  };
  const auto csv = dir.write(
      "pd.csv", kHeader + line("PD-0001", "output_tok_s", 1000, "tok/s", pools) +
                    line("PD-0002", "ttft_ms", 100, "ms", pools) + line("PD-0003", "tpot_ms", 10, "ms", pools) +
                    line("PD-0004", "tpot_ms", 10, "ms", "PD-disagg 1P+2D GPUs, pools not given") +
                    line("PD-0005", "tpot_ms", 10, "ms", "PD-disagg 1P+1D GPUs: P 1x(tp1), D 1x(tp1)") +
                    line("PD-0006", "tpot_ms", 10, "ms", "[PD decode-only] the decode instance alone"));
  const auto r = run_cli({"validate", "--measured", csv.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  ASSERT_EQ(j["rows"].size(), 6u);
  const auto& rows = j["rows"];
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(rows[k]["supported"].get<bool>()) << rows[k]["reason"];
  EXPECT_NEAR(rows[0]["predicted"].get<double>(), sim.output_tok_s, 1e-9 * sim.output_tok_s);
  EXPECT_NEAR(rows[1]["predicted"].get<double>(), sim.ttft_s.mean * 1e3, 1e-9 * sim.ttft_s.mean * 1e3);
  EXPECT_NEAR(rows[2]["predicted"].get<double>(), sim.tpot_s.mean * 1e3, 1e-9 * sim.tpot_s.mean * 1e3);
  EXPECT_NE(rows[0]["notes"].dump().find("disaggregated"), std::string::npos) << rows[0]["notes"];
  // The KV crossed the link: TTFT is more than one prompt's prefill alone.
  EXPECT_GT(sim.ttft_s.mean, 0);
  EXPECT_EQ(sim.disaggregation.transfers, 80u);
  auto reason = [&](int k) { return rows[k]["reason"].get<std::string>(); };
  // A service of two identical slices (2 prefill + 4 decode replicas, 16 clients) is predicted
  // from one slice with half the clients: within 5% of the whole service simulated.
  ds.chips = 2;
  ds.dp = 2;
  const auto pd2 = cost::resolve_deployment(ds, spec, sys, eff);
  ds.chips = 4;
  ds.dp = 4;
  const auto dd4 = cost::resolve_deployment(ds, spec, sys, eff);
  const cost::StepCostModel pm2(pd2), dm4(dd4);
  auto whole = service;
  whole.prefill = &pm2;
  whole.decode = &dm4;
  w.clients = 16;
  w.requests = serving::make_requests(160, {1000, 0}, {200, 0}, 0, 1);
  const auto big = serving::simulate_disaggregated(whole, w);
  const std::string two = "PD-disagg 2P+4D GPUs: P 2x(tp1), D 4x(tp1); 160 requests";
  auto line16 = [&](const std::string& id, const std::string& metric, const std::string& unit) {
    return row(id, "h100-sxm", 1, model, "bf16", "bf16", "fixed_concurrency", 1000, 200, "16", metric, 1, unit, two, 6);
  };
  const auto csv2 = dir.write("pd2.csv", kHeader + line16("PD-0011", "output_tok_s", "tok/s") +
                                             line16("PD-0012", "tpot_ms", "ms"));
  const auto r2 = run_cli({"validate", "--measured", csv2.string(), "--json"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  const auto j2 = json::parse(r2.out);
  ASSERT_TRUE(j2["rows"][0]["supported"].get<bool>()) << j2["rows"][0]["reason"];
  EXPECT_NE(j2["rows"][0]["notes"].dump().find("1 of 2 identical slices"), std::string::npos) << j2["rows"][0]["notes"];
  EXPECT_NEAR(j2["rows"][0]["predicted"].get<double>(), big.output_tok_s, 0.05 * big.output_tok_s);
  EXPECT_NEAR(j2["rows"][1]["predicted"].get<double>(), big.tpot_s.mean * 1e3, 0.05 * big.tpot_s.mean * 1e3);
  EXPECT_FALSE(rows[3]["supported"].get<bool>());
  EXPECT_NE(reason(3).find("pools the notes do not state"), std::string::npos) << reason(3);
  EXPECT_FALSE(rows[4]["supported"].get<bool>());
  EXPECT_NE(reason(4).find("1 prefill + 1 decode chips, the row 3 chips"), std::string::npos) << reason(4);
  EXPECT_FALSE(rows[5]["supported"].get<bool>());
  EXPECT_NE(reason(5).find("measured alone"), std::string::npos) << reason(5);
}

TEST(Validate, StaticBatchIsPrefillPlusDecodeSteps) {
  const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  const auto& sys = hardware_catalog().get("h100-sxm");
  const auto spec = model_catalog().resolve(model);
  const auto& eff = efficiency_table().for_family(sys.family);
  cost::DeploymentSpec ds;
  ds.weights = Precision::fp8;
  ds.kv = Precision::fp8;
  const auto d = cost::resolve_deployment(ds, spec, sys, eff);
  const cost::StepCostModel m(d);
  // 4 requests of 1000 in / 100 out: one 4000-token prefill (within the activation budget when
  // it is >= 4000) then 99 decode steps at batch 4, mean context 1050.
  ASSERT_GE(eff.activation_tokens, 4000);
  cost::Batch pre;
  pre.prefill_tokens = 4000;
  pre.prefill_prompt = 1000;
  pre.prefill_seqs = 4;
  cost::Batch dec;
  dec.decode_seqs = 4;
  dec.decode_context = 1050;
  // The engine's request overhead (outside its steps) once, then the batch's prefill and decode.
  const double e2e = eff.request_overhead_s + m.step(pre).time_s + 99 * m.step(dec).time_s;
  MeasuredSet set = parse_measured(
      kHeader + row("SB-1", "h100-sxm", 1, model, "fp8", "fp8", "static_batch", 1000, 100, "4", "e2e_s", 1.0, "s"),
      "sb.csv", hardware_catalog(), model_catalog());
  Predictor p(hardware_catalog(), model_catalog(), test::engine_profiles());
  const auto rows = p.prepare(set, efficiency_table());
  const auto pr = predict(rows[0], eff);
  ASSERT_TRUE(pr.supported) << pr.reason;
  EXPECT_NEAR(pr.predicted, e2e, 1e-12 * e2e);
}

// ---------------------------------------------------------------- malformed input
struct BadCase {
  std::string name, csv, expect_key, expect_text;
  int line;
};

TEST(Validate, MalformedRowsNameFileLineAndColumnWithExitCode2) {
  const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  const std::string good =
      row("OK-1", "h100-sxm", 1, model, "bf16", "bf16", "offline", 128, 128, "", "output_tok_s", 100, "tok/s");
  std::string no_unit_header = kHeader;
  no_unit_header.replace(no_unit_header.find(",unit,"), 6, ",");
  const std::vector<BadCase> cases{
      {"hardware",
       kHeader + good +
           row("B-1", "h100-sxn", 1, model, "bf16", "bf16", "offline", 128, 128, "", "output_tok_s", 100, "tok/s"),
       "hardware", "unknown hardware id 'h100-sxn'", 3},
      {"model",
       kHeader + row("B-1", "h100-sxm", 1, "meta-llama/Llama-9", "bf16", "bf16", "offline", 128, 128, "",
                     "output_tok_s", 100, "tok/s"),
       "model", "unknown model id", 2},
      {"scenario",
       kHeader + row("B-1", "h100-sxm", 1, model, "bf16", "bf16", "burst", 128, 128, "", "output_tok_s", 100, "tok/s"),
       "scenario", "unknown scenario 'burst'", 2},
      {"metric",
       kHeader + row("B-1", "h100-sxm", 1, model, "bf16", "bf16", "offline", 128, 128, "", "goodput", 100, "tok/s"),
       "metric", "unknown metric 'goodput'", 2},
      {"missing column", no_unit_header, "unit", "missing column 'unit'", 1},
      {"poisson without rate",
       kHeader + row("B-1", "h100-sxm", 1, model, "bf16", "bf16", "poisson_rate", 128, 128, "", "output_tok_s", 100,
                     "tok/s"),
       "request_rate", "needs a request_rate", 2},
  };
  for (const auto& c : cases) {
    test::TempDir dir;
    const auto path = dir.write("bad.csv", c.csv);
    const auto r = run_cli({"validate", "--measured", path.string()});
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.out;
    EXPECT_NE(r.err.find(path.string() + ":" + std::to_string(c.line) + ":"), std::string::npos)
        << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect_key), std::string::npos) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect_text), std::string::npos) << c.name << ": " << r.err;
  }
}

TEST(Validate, BadNumberNamesTheColumn) {
  const std::string model = "meta-llama/Llama-3.1-8B-Instruct";
  std::string bad =
      row("B-1", "h100-sxm", 1, model, "bf16", "bf16", "offline", 128, 128, "", "output_tok_s", 100, "tok/s");
  bad.replace(bad.find(",128,128,"), 9, ",12x8,128,");
  try {
    parse_measured(kHeader + bad, "x.csv", hardware_catalog(), model_catalog());
    FAIL() << "expected an error";
  } catch (const DiagnosticError& e) {
    EXPECT_EQ(e.diagnostic().file, "x.csv");
    EXPECT_EQ(e.diagnostic().line, 2);
    EXPECT_EQ(e.diagnostic().key, "isl");
    EXPECT_EQ(e.diagnostic().column, 14);
    EXPECT_NE(e.diagnostic().message.find("'12x8' is not a number"), std::string::npos);
  }
}

// ---------------------------------------------------------------- calibration
// Rows generated by the engine itself with known efficiencies (closed-loop runs through the
// serving simulator, as `validate` predicts them); calibrate must recover the efficiencies.
std::string synthetic_csv(const cost::Efficiency& truth) {
  std::string csv = kHeader;
  int n = 0;
  for (const std::string model : {"meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"}) {
    for (int tp : {1, 2, 4, 8}) {
      if (model.find("70B") != std::string::npos && tp < 2) continue;
      for (double isl : {128.0, 2048.0, 16000.0}) {
        for (double conc : {1.0, 8.0, 64.0, 256.0}) {
          const auto c = fmt::format("{:.0f}", conc);
          const auto notes = fmt::format("{:.0f} prompts", 3 * conc);
          for (const auto& [metric, unit] : {std::pair{"tpot_ms", "ms"}, {"output_tok_s", "tok/s"}, {"ttft_ms", "ms"}})
            csv += row(fmt::format("SYN{}-{:04d}", tp, ++n), "h100-sxm", tp, model, "fp8", "fp8", "fixed_concurrency",
                       isl, 256, c, metric, 1.0, unit, notes);
        }
      }
    }
  }
  // Replace every value by the engine's own prediction under `truth`.
  const auto set = parse_measured(csv, "syn.csv", hardware_catalog(), model_catalog());
  Predictor p(hardware_catalog(), model_catalog(), test::engine_profiles());
  const auto rows = p.prepare(set, efficiency_table());
  std::string out = kHeader;
  for (const auto& r : rows) {
    const auto pr = predict(r, truth);
    if (!pr.supported) continue;  // does not fit: not a row
    const auto& m = *r.row;
    out += row(m.id, m.hardware, m.tp, m.model, "fp8", "fp8", "fixed_concurrency", m.isl, m.osl,
               fmt::format("{:.0f}", *m.concurrency), std::string(to_string(m.metric)), pr.predicted, m.unit, m.notes);
  }
  return out;
}

TEST(Calibrate, RecoversKnownEfficienciesFromEngineGeneratedRows) {
  const auto base = cost::EfficiencyTable::load_uncalibrated(test::data_dir() / "efficiency");
  auto truth = base.for_family("hopper");
  truth.memory_bandwidth_fraction = 0.62;
  truth.compute_fraction = 0.48;
  truth.step_overhead_s = 2.2e-3;
  truth.layer_overhead_s = 15e-6;
  const auto text = synthetic_csv(truth);
  const auto set = parse_measured(text, "syn.csv", hardware_catalog(), model_catalog());
  ASSERT_GE(set.rows.size(), 100u);
  Predictor p(hardware_catalog(), model_catalog(), test::engine_profiles());
  const auto rows = p.prepare(set, base);
  FitOptions o;
  o.prior_weight = 0;  // exact data: nothing for the prior to decide
  const auto cal = calibrate(rows, base, o);
  ASSERT_EQ(cal.families.size(), 1u);
  const auto& f = cal.families[0];
  EXPECT_EQ(f.family, "hopper");
  EXPECT_EQ(f.kind, "family");
  EXPECT_EQ(f.rows, set.rows.size());
  EXPECT_LT(f.loss, 1e-4 * f.start_loss);
  EXPECT_LT(f.in_sample.p90_ape, 1.0);
  EXPECT_NEAR(f.efficiency.memory_bandwidth_fraction, 0.62, 0.62 * 0.02);
  EXPECT_NEAR(f.efficiency.compute_fraction, 0.48, 0.48 * 0.03);
  EXPECT_NEAR(f.efficiency.step_overhead_s, 2.2e-3, 2.2e-3 * 0.03);
}

// Two hardware families x two engines, each cell with rows generated under its family's hardware
// terms and its engine's software terms: calibrate must recover both halves (the software terms
// across families, not absorbed by the hardware).
// Rows measured on h100-sxm (hopper) and b200 (blackwell) under TensorRT-LLM and vLLM V1, three
// layouts of two models, generated by the engine itself with the hardware terms `hw` per family
// and the software terms `sw` per engine: the recovery tests' data. Source groups (id prefixes)
// are per engine and family. The rows point into `set` and `p`.
std::vector<PreparedRow> engine_generated_rows(const cost::EfficiencyTable& base,
                                               const std::map<std::string, cost::Efficiency>& hw,
                                               const std::map<std::string, std::pair<double, double>>& sw,
                                               MeasuredSet& set, Predictor& p) {
  // Two models with different layer counts separate the per-step from the per-layer overhead.
  std::string csv = kHeader;
  int n = 0;
  for (const auto& [hardware, family] : {std::pair{"h100-sxm", "hopper"}, {"b200", "blackwell"}})
    for (const auto& [engine, note] : {std::pair{"tensorrt-llm", "trtllm-bench"}, {"vllm-v1", "vllm serve"}})
      for (const auto& [model, tp] : {std::pair{"meta-llama/Llama-3.1-8B-Instruct", 1},
                                      {"meta-llama/Llama-3.1-8B-Instruct", 2},
                                      {"meta-llama/Llama-3.1-70B-Instruct", 4}})
        for (double isl : {128.0, 4096.0})
          for (double conc : {1.0, 16.0, 128.0})
            for (const auto& [metric, unit] : {std::pair{"tpot_ms", "ms"}, {"output_tok_s", "tok/s"}, {"ttft_ms", "ms"}})
              csv += row(fmt::format("{}{}-{:04d}", engine == std::string("vllm-v1") ? "V" : "T", family[0], ++n),
                         hardware, tp, model, "fp8", "fp8", "fixed_concurrency", isl, 256, fmt::format("{:.0f}", conc),
                         metric, 1.0, unit, fmt::format("{} {:.0f} prompts", note, 3 * conc));
  const auto set0 = parse_measured(csv, "syn.csv", hardware_catalog(), model_catalog());
  Predictor p0(hardware_catalog(), model_catalog(), test::engine_profiles());
  const auto rows0 = p0.prepare(set0, base);
  std::string out = kHeader;
  for (const auto& r : rows0) {
    EXPECT_TRUE(r.facts.engine_recognised) << r.row->notes;
    auto truth = hw.at(r.family);
    const auto& [step, layer] = sw.at(r.facts.engine->id);
    truth.step_overhead_s = step;
    truth.layer_overhead_s = layer;
    const auto pr = predict(r, truth);
    EXPECT_TRUE(pr.supported) << r.row->id;
    const auto& m = *r.row;
    out += row(m.id, m.hardware, m.tp, m.model, "fp8", "fp8", "fixed_concurrency", m.isl, m.osl,
               fmt::format("{:.0f}", *m.concurrency), std::string(to_string(m.metric)), pr.predicted, m.unit, m.notes);
  }
  set = parse_measured(out, "syn.csv", hardware_catalog(), model_catalog());
  return p.prepare(set, base);
}

TEST(Calibrate, RecoversHardwarePerFamilyAndSoftwarePerEngine) {
  const auto base = cost::EfficiencyTable::load_uncalibrated(test::data_dir() / "efficiency");
  std::map<std::string, cost::Efficiency> hw;
  hw["hopper"] = base.for_family("hopper");
  hw["hopper"].memory_bandwidth_fraction = 0.64;
  hw["hopper"].compute_fraction = 0.52;
  hw["blackwell"] = base.for_family("blackwell");
  hw["blackwell"].memory_bandwidth_fraction = 0.80;
  hw["blackwell"].compute_fraction = 0.40;
  const std::map<std::string, std::pair<double, double>> sw{{"tensorrt-llm", {1.2e-3, 8e-6}},
                                                            {"vllm-v1", {3.5e-3, 20e-6}}};
  MeasuredSet set;
  Predictor p(hardware_catalog(), model_catalog(), test::engine_profiles());
  const auto rows = engine_generated_rows(base, hw, sw, set, p);
  ASSERT_FALSE(HasFailure());
  FitOptions o;
  o.prior_weight = 0;  // exact data: nothing for the prior to decide
  o.min_rows = 10;
  const auto cal = calibrate(rows, base, o);
  ASSERT_EQ(cal.families.size(), 2u);
  for (const auto& f : cal.families) {
    SCOPED_TRACE(f.family);
    EXPECT_EQ(f.kind, "family");
    EXPECT_NEAR(f.efficiency.memory_bandwidth_fraction, hw.at(f.family).memory_bandwidth_fraction, 0.03);
    EXPECT_NEAR(f.efficiency.compute_fraction, hw.at(f.family).compute_fraction, 0.04);
  }
  size_t own = 0;
  for (const auto& g : cal.engines) {
    if (g.kind != "engine") continue;
    SCOPED_TRACE(g.engine);
    ++own;
    EXPECT_EQ(g.families.size(), 2u);
    EXPECT_NEAR(g.value("step_overhead"), sw.at(g.engine).first, sw.at(g.engine).first * 0.1);
    EXPECT_NEAR(g.value("layer_overhead"), sw.at(g.engine).second, sw.at(g.engine).second * 0.15);
    EXPECT_LT(g.in_sample.median_ape, 2.0);
  }
  EXPECT_EQ(own, 2u);
  // Every row is predicted with its family's hardware and its engine's software terms.
  for (const auto& r : rows) {
    const auto pr = predict(r, cal.efficiency_for(r, base));
    ASSERT_TRUE(pr.supported);
    EXPECT_NEAR(pr.predicted / r.row->value, 1.0, 0.05) << r.row->id;
  }
}

// Leaving one hardware family out predicts it with the pooled terms of the others, as an
// unmeasured chip is predicted: exact when both families share their hardware terms, and an honest
// error when they do not (while leaving one source group out, which keeps each family's own rows
// in every fold, stays exact).
TEST(Calibrate, LeaveOneFamilyOutPredictsTheHeldOutFamilyFromTheOthers) {
  const auto base = cost::EfficiencyTable::load_uncalibrated(test::data_dir() / "efficiency");
  const std::map<std::string, std::pair<double, double>> sw{{"tensorrt-llm", {1.2e-3, 8e-6}},
                                                            {"vllm-v1", {3.5e-3, 20e-6}}};
  FitOptions o;
  o.prior_weight = 0;
  o.min_rows = 10;
  auto median_ape = [](const std::vector<RowResult>& rr) {
    std::vector<double> a;
    for (const auto& r : rr) {
      EXPECT_TRUE(r.prediction.supported) << r.row->id;
      a.push_back(r.ape);
    }
    std::sort(a.begin(), a.end());
    return a[a.size() / 2];
  };
  auto truth = [&](double bw_hopper, double bw_blackwell) {
    std::map<std::string, cost::Efficiency> hw;
    hw["hopper"] = base.for_family("hopper");
    hw["blackwell"] = base.for_family("blackwell");
    hw["hopper"].memory_bandwidth_fraction = bw_hopper;
    hw["blackwell"].memory_bandwidth_fraction = bw_blackwell;
    for (auto& [f, e] : hw) e.compute_fraction = 0.5;
    return hw;
  };
  {
    MeasuredSet set;
    Predictor p(hardware_catalog(), model_catalog(), test::engine_profiles());
    const auto rows = engine_generated_rows(base, truth(0.7, 0.7), sw, set, p);
    ASSERT_FALSE(HasFailure());
    EXPECT_LT(median_ape(cross_validate(rows, base, o, 2, HoldOut::family)), 2.0);
  }
  {
    MeasuredSet set;
    Predictor p(hardware_catalog(), model_catalog(), test::engine_profiles());
    const auto rows = engine_generated_rows(base, truth(0.55, 0.85), sw, set, p);
    ASSERT_FALSE(HasFailure());
    // Each family is predicted from the other's bandwidth: memory-bound rows off by about
    // 0.85 / 0.55 - 1 (55%) one way and 1 - 0.55 / 0.85 (35%) the other.
    EXPECT_GT(median_ape(cross_validate(rows, base, o, 2, HoldOut::family)), 10.0);
    EXPECT_LT(median_ape(cross_validate(rows, base, o, 2, HoldOut::source_group)), 3.0);
  }
}

// syn.csv in `dir`: synthetic_csv under hopper's uncalibrated terms with this bandwidth fraction.
std::filesystem::path hopper_csv(const test::TempDir& dir, const cost::EfficiencyTable& base, double bandwidth) {
  auto truth = base.for_family("hopper");
  truth.memory_bandwidth_fraction = bandwidth;
  return dir.write("syn.csv", synthetic_csv(truth));
}

TEST(Calibrate, WritesReproducibleFilesThatOverrideTheEfficiencyTable) {
  const auto base = cost::EfficiencyTable::load_uncalibrated(test::data_dir() / "efficiency");
  test::TempDir dir;
  const auto csv = hopper_csv(dir, base, 0.7);
  const auto out1 = dir.path() / "a", out2 = dir.path() / "b";
  for (const auto& out : {out1, out2}) {
    const auto r = run_cli({"calibrate", "--measured", csv.string(), "--out", out.string(), "--no-cross-validation",
                            "--date", "2026-01-02", "--prior-weight", "0", "--kernel-priors", "none"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const auto a = io::read_text_file(out1 / "hopper.yaml");
  EXPECT_EQ(a, io::read_text_file(out2 / "hopper.yaml"));
  EXPECT_NE(a.find("date: \"2026-01-02\""), std::string::npos);
  EXPECT_NE(a.find("input_fnv1a64"), std::string::npos);
  EXPECT_NE(a.find("SYN1: "), std::string::npos);
  // A data folder whose calibration/ holds the file: the table reports and uses it.
  std::filesystem::create_directories(dir.path() / "data" / "efficiency");
  for (const auto& e : std::filesystem::directory_iterator(test::data_dir() / "efficiency"))
    std::filesystem::copy(e.path(), dir.path() / "data" / "efficiency" / e.path().filename());
  std::filesystem::create_directories(dir.path() / "data" / "calibration");
  std::filesystem::copy(out1 / "hopper.yaml", dir.path() / "data" / "calibration" / "hopper.yaml");
  const auto t = cost::EfficiencyTable::load(dir.path() / "data" / "efficiency");
  EXPECT_EQ(t.for_family("hopper").file, (dir.path() / "data" / "calibration" / "hopper.yaml").string());
  EXPECT_NEAR(t.for_family("hopper").memory_bandwidth_fraction, 0.7, 0.02);
  const auto u = cost::EfficiencyTable::load_uncalibrated(dir.path() / "data" / "efficiency");
  EXPECT_EQ(u.for_family("hopper").memory_bandwidth_fraction, base.for_family("hopper").memory_bandwidth_fraction);
}

// Every fitted parameter (the one table, fitted_parameters()) reaches the JSON and the files:
// each family entry and each engine entry states every term, an engine entry how many rows
// identify each software term, and the engine file it writes loads back to the same values.
TEST(Calibrate, JsonAndFilesCarryEveryFittedParameter) {
  const auto base = cost::EfficiencyTable::load_uncalibrated(test::data_dir() / "efficiency");
  test::TempDir dir;
  // Near the top of its range [0.40, 0.95], so the fit ends within 10% of a bound.
  const auto csv = hopper_csv(dir, base, 0.93);
  const auto out = dir.path() / "cal";
  const auto r = run_cli({"calibrate", "--measured", csv.string(), "--out", out.string(), "--no-cross-validation",
                          "--kernel-priors", "none", "--prior-weight", "0", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  auto key = [](const ParamSpec& s) { return std::string(s.key) + (*s.unit ? "_s" : ""); };
  ASSERT_FALSE(j["families"].empty());
  for (const auto& f : j["families"]) {
    for (const auto& spec : fitted_parameters()) EXPECT_TRUE(f.contains(key(spec))) << f["family"] << " " << spec.key;
    // The terms left at a bound are flagged in words and listed for the loader, which reads them.
    const auto file = cost::load_efficiency_file(f["file"].get<std::string>());
    EXPECT_EQ(json(file.provenance.at_bound), f["at_bound"]) << f["family"];
    for (const auto& k : f["at_bound"]) {
      const auto& flags = f["flags"];
      EXPECT_TRUE(std::any_of(flags.begin(), flags.end(), [&](const json& fl) {
        return fl.get<std::string>().starts_with(k.get<std::string>() + " within 10% of a bound");
      })) << k;
    }
  }
  const auto hopper = std::find_if(j["families"].begin(), j["families"].end(),
                                   [](const json& f) { return f["family"] == "hopper"; });
  ASSERT_NE(hopper, j["families"].end());
  EXPECT_EQ((*hopper)["at_bound"], json::array({"memory_bandwidth_fraction"})) << (*hopper).dump();
  ASSERT_FALSE(j["engines"].empty());
  const auto sw = software_indices();
  ASSERT_EQ(sw.size(), cost::software_terms().size());
  for (const auto& g : j["engines"]) {
    SCOPED_TRACE(g["engine"].get<std::string>());
    const auto file = cost::load_software_file(g["file"].get<std::string>());
    ASSERT_EQ(file.values.size(), sw.size());
    for (size_t k = 0; k < sw.size(); ++k) {
      const auto& spec = fitted_parameters()[sw[k]];
      ASSERT_TRUE(g.contains(key(spec))) << spec.key;
      ASSERT_TRUE(g["identifying_rows"].contains(spec.key)) << spec.key;
      // The file writes six significant digits.
      EXPECT_NEAR(file.values[k], g[key(spec)].get<double>(), 1e-5 * std::abs(g[key(spec)].get<double>()) + 1e-12)
          << spec.key;
    }
    // The synthetic rows ran as graphs: nothing identifies eager dispatch, which stays at its prior.
    EXPECT_EQ(g["identifying_rows"]["eager_launch"].get<int>(), 0);
    EXPECT_DOUBLE_EQ(g["eager_launch_s"].get<double>(), base.for_family("default").eager_launch_s);
    EXPECT_GT(g["identifying_rows"]["step_overhead"].get<int>(), 0);
  }
}

// calibrate writes only where --out says (it is required: the bundled data/calibration is never
// the silent default), refuses a --date that is not a calendar date before it fits anything, and
// leaves an existing folder byte-for-byte as it was when it refuses; no staging folder is left.
TEST(Calibrate, WritesOnlyToAnExplicitOutAndRefusesABadDateBeforeWriting) {
  const auto base = cost::EfficiencyTable::load_uncalibrated(test::data_dir() / "efficiency");
  test::TempDir dir;
  const auto csv = hopper_csv(dir, base, 0.7);
  const auto no_out = run_cli({"calibrate", "--measured", csv.string(), "--no-cross-validation"});
  EXPECT_EQ(no_out.exit_code, 2);
  EXPECT_NE(no_out.err.find("--out"), std::string::npos) << no_out.err;
  const auto out = dir.path() / "cal";
  const auto ok = run_cli({"calibrate", "--measured", csv.string(), "--out", out.string(), "--no-cross-validation",
                           "--kernel-priors", "none"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  std::map<std::string, std::string> before;
  for (const auto& e : std::filesystem::recursive_directory_iterator(out))
    if (e.is_regular_file()) before[e.path().string()] = io::read_text_file(e.path());
  ASSERT_TRUE(before.count((out / "hopper.yaml").string()));
  ASSERT_TRUE(before.count((out / "engines" / "default.yaml").string()));
  for (const char* bad : {"2026-02-30", "2026-13-01", "yesterday", "2026-01-02\" broken: \"", "20260102"}) {
    const auto r = run_cli({"calibrate", "--measured", csv.string(), "--out", out.string(), "--no-cross-validation",
                            "--kernel-priors", "none", "--date", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("--date"), std::string::npos) << r.err;
    std::map<std::string, std::string> after;
    for (const auto& e : std::filesystem::recursive_directory_iterator(out))
      if (e.is_regular_file()) after[e.path().string()] = io::read_text_file(e.path());
    EXPECT_EQ(after, before) << bad;
  }
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find("staging"), std::string::npos) << e.path();
  // A leap day is a date.
  const auto leap = run_cli({"calibrate", "--measured", csv.string(), "--out", out.string(), "--no-cross-validation",
                             "--kernel-priors", "none", "--date", "2028-02-29"});
  EXPECT_EQ(leap.exit_code, 0) << leap.err;
  EXPECT_NE(io::read_text_file(out / "hopper.yaml").find("date: \"2028-02-29\""), std::string::npos);
}

// ---------------------------------------------------------------- the shared measured data
TEST(ValidateShared, MeasuredCalibrationCoverageAndReasons) {
  const auto path = test::shared_dir() / "calibration" / "measured-calibration.csv";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "../shared/calibration/measured-calibration.csv not present";
  const auto r = run_cli({"validate", "--measured", path.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_GT(j["summary"]["coverage"].get<double>(), 0.9);
  for (const auto& row : j["rows"]) {
    if (row["supported"].get<bool>()) continue;
    EXPECT_FALSE(row["reason"].get<std::string>().empty()) << row["id"];
  }
}

}  // namespace
}  // namespace tf::validate
