#pragma once
// Serving-engine profiles as data (data/engines/<engine>.yaml): step policy, memory policy,
// default token budget and sequence cap, with citations; and the alias table that maps the
// words a measured run uses for its engine to a profile. Hardware efficiencies stay per hardware
// family (cost::Efficiency); what the software decides lives here.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cost/deployment.hpp"
#include "serving/engine/engine.hpp"

namespace tf::serving {

struct EngineProfile {
  std::string id, name, versions, citation, file;
  Scheduler scheduler = Scheduler::mixed;
  std::string scheduler_source;
  std::vector<std::string> mixed_when;  // phrases that switch a prefill-first engine to mixed steps
  cost::MemoryPolicy memory;
  double token_budget = 8192;
  std::string token_budget_source;
  double max_sequences = 0;             // per engine instance; 0 = the KV memory decides
  std::string max_sequences_source;
  // recompute | swap | none: engines that preempt allocate paged KV on demand (KvAdmission::paged;
  // swap copies a preempted request's KV to host swap space and back, EngineConfig::preemption),
  // engines that never evict reserve the whole context.
  std::string preemption;
  bool graphs = true;                   // steps as captured graphs (false: eager, cost::Launch::eager)
  // Precision its expert-parallel all-to-all dispatches hidden states in (the combine is 16-bit).
  Precision moe_dispatch = Precision::bf16;
  std::string moe_dispatch_source = "default: 16-bit activations on the wire";
  // Attention in mixed steps: one kernel per phase, or one launch over every query.
  cost::AttentionKernels attention_kernels = cost::AttentionKernels::unified;
  std::string attention_kernels_source = "default: one launch per step, as the default engine";
};

// What an engine decides about a deployment: its memory policy and, unless the user chose them,
// its MoE dispatch precision, attention kernels and launch mode (graphs or eager).
void apply_engine(const EngineProfile& p, cost::DeploymentSpec& spec);

// What the alias table says about a run described by `text` (notes and source).
struct EngineMatch {
  const EngineProfile* profile = nullptr;  // the matched profile, or the default one
  bool recognised = false;                 // false: no alias matched (the default is used)
  std::string phrase;                      // the phrase that matched
  std::optional<std::string> unsupported;  // a run the model cannot represent, with the reason
};

class EngineProfiles {
 public:
  // Loads every <engine>.yaml and aliases.yaml in `dir`; default.yaml is required. Unknown keys,
  // bad values, an alias naming an unknown engine are DiagnosticErrors naming the file and line.
  static EngineProfiles load(const std::filesystem::path& dir);
  [[nodiscard]] const EngineProfile& get(const std::string& id) const;  // DiagnosticError listing ids
  [[nodiscard]] const EngineProfile& fallback() const { return profiles_.at("default"); }
  [[nodiscard]] const std::map<std::string, EngineProfile>& all() const { return profiles_; }
  // Case-insensitive phrase search, first alias entry that matches wins. `pools_stated`: the
  // run states the pools of a disaggregated deployment, so unsupported entries marked
  // `except_when: pools_stated` do not apply.
  [[nodiscard]] EngineMatch match(const std::string& text, bool pools_stated = false) const;

 private:
  struct Alias {
    std::vector<std::string> phrases;
    std::string engine;
  };
  struct Unsupported {
    std::vector<std::string> phrases;
    std::string reason;
    bool except_when_pools_stated = false;
  };
  std::map<std::string, EngineProfile> profiles_;
  std::vector<Alias> aliases_;
  std::vector<Unsupported> unsupported_;
};

EngineProfile load_engine_profile(const std::filesystem::path& path);

// How the engine gives KV memory to requests: paged on demand when it preempts, else the whole
// context at admission.
KvAdmission kv_admission_for(const EngineProfile& p);

// The engine's step policy for a run: the profile's, switched to mixed when the run's text holds
// one of the profile's `mixed_when` phrases. `reason` says which.
Scheduler scheduler_for(const EngineProfile& p, const std::string& text, std::string* reason = nullptr);

}  // namespace tf::serving
