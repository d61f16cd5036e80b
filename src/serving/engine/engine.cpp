#include "serving/engine/engine.hpp"

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

}  // namespace tf::serving
