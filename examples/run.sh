#!/usr/bin/env bash
# Runs every example in README.md; used as a test (ctest -R examples). Usage: run.sh TOKENFACTORY
set -euo pipefail
tf="$1"
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
run() { echo "+ tokenfactory $*"; "$tf" "$@" > "$out/last.txt"; }

# 1. Any Hugging Face config.json works where a model is named.
run catalog show "$here/tiny-moe/config.json"
run estimate --model "$here/tiny-moe/config.json" --hardware l40s --weights fp8 --concurrency 32 --isl 2048 --osl 256
# 2. Frontier of a large MoE on three systems, per MW, with CSV.
run frontier --model deepseek-r1 --hardware h200-sxm,b200,mi355x --per mw --csv "$out/r1.csv"
test -s "$out/r1.csv"
# 3. A custom economics preset file.
run tco --hardware h100-sxm --economics "$here/economics-colo.yaml"
run plan --model llama-3.1-70b-instruct --hardware h100-sxm,b200,mi300x --demand-output-tok-s 200000 \
    --isl 4096 --osl 512 --min-tok-s-per-user 40 --economics "$here/economics-colo.yaml"
# 4. The generational chart.
run generations --model llama-3.1-70b-instruct --tok-s-per-user 50
# 5. The serving simulator on a bursty synthetic trace, under both step policies.
run simulate --model llama-3.1-8b-instruct --hardware l40s --trace "$here/bursty-trace.csv"
grep -q "TTFT ms" "$out/last.txt"
run simulate --model llama-3.1-8b-instruct --hardware l40s --trace "$here/bursty-trace.csv" --scheduler prefill-first \
    --requests-csv "$out/requests.csv"
test "$(wc -l < "$out/requests.csv")" -eq 201
# 6. A scenario file: routers, prefix caching and the bursty trace side by side.
run simulate --scenario "$here/scenario-routers.yaml"
grep -q "prefix-affinity" "$out/last.txt"
run config expand "$here/scenario-routers.yaml"
grep -q "tokenfactory simulate --model llama-3.1-8b-instruct --hardware l40s" "$out/last.txt"
# 7. Prefill/decode disaggregation at 128k context: VR200 colocated, split two ways, and a Rubin CPX prefill pool.
run simulate --scenario "$here/disagg-cpx.yaml"
grep -q "2-cpx-prefill-2-vr200-decode" "$out/last.txt"
# 8. KV offload: the prefix cache in device memory, host DRAM and SSD.
run simulate --scenario "$here/kv-offload.yaml" --json
grep -q '"name": "ssd"' "$out/last.txt"
# 9. Agent sessions from a session trace, their tool calls on the host's cores.
run simulate --scenario "$here/agent-sessions.yaml"
grep -q "8-cores" "$out/last.txt"
# 10. Parallel reasoning streams: 1, 4 and 8 streams per question over its shared prompt.
run simulate --scenario "$here/parallel-reasoning.yaml"
grep -q "8-streams" "$out/last.txt"
# 11. An SRAM (LPU) decode pool behind an H100 prefill pool, against colocated H100s.
run simulate --scenario "$here/lpu-decode.yaml"
grep -q "h100-prefill-64-lpu-decode" "$out/last.txt"
# 12. KV-cache tiers on a multi-turn chat trace in the Mooncake format: HBM, + DRAM, + DRAM and SSD.
run simulate --scenario "$here/kv-tiering-mooncake.yaml" --json
grep -q '"name": "hbm+8gb-dram+ssd"' "$out/last.txt"
grep -q '"name": "ssd"' "$out/last.txt"
# 13. Agent tool calls on the host's cores: 1 against 4 cores per accelerator.
run simulate --scenario "$here/agentic-coding.yaml" --json
grep -q '"name": "4-cores-per-gpu"' "$out/last.txt"
grep -q '"cpu_share_of_service_energy"' "$out/last.txt"
echo "examples: 18 passed, 0 failed"
