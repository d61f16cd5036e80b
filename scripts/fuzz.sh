#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 30) on a corpus seeded from the project's
# own data and examples:   scripts/fuzz.sh [SECONDS]
# Builds the `fuzz` preset first (clang; scripts/setup.sh --fuzz installs it). A crash stops the
# run with exit code 1 and leaves the input as build/fuzz/crash-* (turn it into a regression test).
# The long run: scripts/fuzz.sh 3600 (docs/limits.md, "Fuzzing").
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-30}"
cd "$root"
cmake --preset fuzz > /dev/null
cmake --build --preset fuzz > /dev/null
corpus="$root/build/fuzz/corpus"
seed() {  # seed TARGET FILE...: copies the files into the target's corpus
  local target="$1"
  shift
  mkdir -p "$corpus/$target"
  for f in "$@"; do cp "$f" "$corpus/$target/seed-$(basename "$(dirname "$f")")-$(basename "$f")"; done
}
text() {  # text TARGET NAME CONTENT: one seed written from a string (printf escapes)
  mkdir -p "$corpus/$1"
  printf "$3" > "$corpus/$1/seed-$2"
}
text quantity bandwidth '3.35 TB/s'
text quantity power '700 W'
text quantity capacity '80 GiB'
text quantity time '1.5 ms'
seed yaml data/hardware/nvidia/h100-sxm.yaml data/economics/default.yaml data/engines/vllm-v1.yaml
seed hardware data/hardware/nvidia/*.yaml data/hardware/amd/*.yaml
seed economics data/economics/*.yaml
seed efficiency data/efficiency/default.yaml data/calibration/hopper.yaml
seed engine data/engines/*.yaml
seed hf_config data/models/meta-llama/Llama-3.1-8B-Instruct/config.json data/models/deepseek-ai/DeepSeek-V3/config.json \
  data/models/Qwen/Qwen3-30B-A3B/config.json data/models/openai/gpt-oss-20b/config.json
# Traces: the first byte picks the format (0 Azure, 1 BurstGPT, 2 vidur, 3 Mooncake, 4 a session trace).
text trace azure '\x00TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n'
text trace burstgpt '\x01Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n'
text trace vidur '\x02arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,512,128\n0.25,1024,64\n'
text trace mooncake '\x03{"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, 2]}\n'
text trace sessions '\x04{"session": "a", "turn": 0, "input_tokens": 900, "output_tokens": 80, "arrival_s": 0}\n{"session": "a", "turn": 1, "prompt_tokens": 1200, "output_tokens": 60, "think_s": 2, "tool_s": 1}\n'
text measured rows 'id,hardware,num_chips,model,weight_dtype,act_dtype,kv_dtype,tp,pp,ep,dp,attention_dp,scenario,isl,osl,concurrency,request_rate,spec_decode,metric,value,unit,trust,source,notes\nA-1,h100-sxm,1,meta-llama/Llama-3.1-8B-Instruct,fp8,fp8,fp8,1,1,1,1,false,offline,128,128,,,none,output_tok_s,1000,tok/s,B,test,"vllm: 500 reqs, max-num-seqs 256, U[0.8,1]x"\n'
seed scenario examples/scenario-routers.yaml
text api_body frontier '{"model": "meta-llama/Llama-3.1-8B-Instruct", "hardware": ["h100-sxm", "b200"], "isl": 1024, "precisions": "fp8"}'
text api_body switches '{"attention-dp": true, "prefix_caching": false, "rate": 2.5e1, "seed": null}'
total=0
for t in quantity yaml hardware economics efficiency engine hf_config measured trace scenario api_body; do
  log="$root/build/fuzz/fuzz_$t.log"
  (cd "$root/build/fuzz" && "./fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
     -print_final_stats=1 "$corpus/$t" > "$log" 2>&1) || { echo "fuzz_$t: crash (see $log)"; tail -30 "$log"; exit 1; }
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  total=$((total + runs))
  echo "fuzz_$t: $runs executions in ${seconds} s, no crash"
done
echo "fuzz: $total executions in all, no crash"
