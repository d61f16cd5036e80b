#!/usr/bin/env bash
# End-to-end checks of the built binary: exit codes, outputs and that nothing is written on error.
set -u
bin="$1"
fails=0; passes=0
check() {  # check NAME EXPECTED_CODE CMD...
  local name="$1" want="$2"; shift 2
  "$@" >/tmp/tf_e2e_out.$$ 2>/tmp/tf_e2e_err.$$
  local got=$?
  if [ "$got" -eq "$want" ]; then passes=$((passes+1)); else
    fails=$((fails+1)); echo "FAIL $name: exit $got, expected $want"; cat /tmp/tf_e2e_err.$$; fi
}
contains() {  # contains NAME FILE TEXT
  if grep -qF -- "$3" "$2"; then passes=$((passes+1)); else fails=$((fails+1)); echo "FAIL $1: '$3' not in output"; fi
}
check "catalog overview" 0 "$bin" catalog
contains "overview lists hardware" /tmp/tf_e2e_out.$$ "h100-sxm"
check "catalog hardware" 0 "$bin" catalog hardware
check "catalog models json" 0 "$bin" catalog models --json
contains "models json total_params" /tmp/tf_e2e_out.$$ '"total_params"'
check "show system" 0 "$bin" catalog show gb200-nvl72
check "show model short name" 0 "$bin" catalog show kimi-k2-instruct
check "help" 0 "$bin" --help
check "frontier default" 0 "$bin" frontier
contains "frontier lists b200" /tmp/tf_e2e_out.$$ "b200"
check "estimate" 0 "$bin" estimate --model llama-3.1-8b-instruct --hardware h100-sxm --concurrency 8
contains "estimate shows TPOT" /tmp/tf_e2e_out.$$ "TPOT"
check "estimate bad tp" 2 "$bin" estimate --model llama-3.1-70b-instruct --hardware h100-sxm --tp 3
contains "bad tp lists valid" /tmp/tf_e2e_err.$$ "valid TP: 1, 2, 4, 8"
check "estimate precision chip lacks" 2 "$bin" estimate --model llama-3.1-8b-instruct --hardware a100-sxm-80gb --activations fp8
check "frontier bad --per" 2 "$bin" frontier --per watts
csv=$(mktemp)
check "frontier csv" 0 "$bin" frontier --model qwen3-8b --hardware h100-sxm --csv "$csv"
contains "csv header" "$csv" "hardware,kind,output_tok_s_per_user"
rm -f "$csv"
check "simulate closed loop" 0 "$bin" simulate --model llama-3.1-8b-instruct --hardware h100-sxm --concurrency 8 --requests 40
contains "simulate prints TTFT" /tmp/tf_e2e_out.$$ "TTFT ms"
check "simulate needs an arrival mode" 2 "$bin" simulate --model llama-3.1-8b-instruct --hardware h100-sxm
check "simulate find max rate" 0 "$bin" simulate --model llama-3.1-8b-instruct --hardware h100-sxm --find-max-rate --max-p99-ttft-ms 500
contains "find max rate prints the rate" /tmp/tf_e2e_out.$$ "largest sustainable rate"
check "find max rate needs a limit" 2 "$bin" simulate --model llama-3.1-8b-instruct --hardware h100-sxm --find-max-rate
contains "find max rate names the limit flags" /tmp/tf_e2e_err.$$ "--max-p99-ttft-ms"
check "find max rate with --rate" 2 "$bin" simulate --model llama-3.1-8b-instruct --hardware h100-sxm --find-max-rate --max-p99-ttft-ms 500 --rate 3
check "list schedulers" 0 "$bin" list schedulers
contains "schedulers list prefill-first" /tmp/tf_e2e_out.$$ "prefill-first"
check "tco" 0 "$bin" tco --hardware h100-sxm,b200
check "capex arr" 0 "$bin" capex --arr 100e9 --gross-margin 0.5 --depreciation-years 5
contains "capex 250B" /tmp/tf_e2e_out.$$ "2.5e+11"
check "capex bad margin" 2 "$bin" capex --arr 100e9 --gross-margin 2 --depreciation-years 5
check "plan" 0 "$bin" plan --hardware h100-sxm,b200 --demand-output-tok-s 100000 --min-tok-s-per-user 30
check "plan infeasible" 2 "$bin" plan --hardware h100-sxm --demand-output-tok-s 1000 --min-tok-s-per-user 99999
check "generations" 0 "$bin" generations --model llama-3.1-8b-instruct
bad=$(mktemp --suffix=.csv)
printf 'id,hardware\nX-1,h100-sxm\n' > "$bad"
check "validate malformed csv" 2 "$bin" validate --measured "$bad"
contains "validate names the column" /tmp/tf_e2e_err.$$ "missing column"
rm -f "$bad"
shared_csv="$(dirname "$0")/../../../shared/calibration/measured-calibration.csv"
if [ -f "$shared_csv" ]; then
  check "validate shared" 0 "$bin" validate --measured "$shared_csv" --summary-only
else
  echo "skip: validate on the shared measured CSV ($shared_csv absent)"
fi
check "unknown id" 2 "$bin" catalog show no-such-thing
contains "unknown id message" /tmp/tf_e2e_err.$$ "is not a hardware id, a model id or a config.json path"
check "bad flag" 2 "$bin" catalog hardware --bogus
check "bad data dir" 2 "$bin" --data /nonexistent/dir catalog
if [ -s /tmp/tf_e2e_out.$$ ]; then fails=$((fails+1)); echo "FAIL bad data dir: wrote to stdout"; else passes=$((passes+1)); fi
tmp=$(mktemp -d)
mkdir -p "$tmp/hardware/x" "$tmp/models"
printf 'id: broken\nname: x\nchip:\n  power: 700\n' > "$tmp/hardware/x/broken.yaml"
check "malformed hardware data" 2 "$bin" --data "$tmp" catalog hardware
if [ -s /tmp/tf_e2e_out.$$ ]; then fails=$((fails+1)); echo "FAIL malformed data: wrote to stdout"; else passes=$((passes+1)); fi
contains "malformed names file and line" /tmp/tf_e2e_err.$$ "broken.yaml:4"
rm -rf "$tmp" /tmp/tf_e2e_out.$$ /tmp/tf_e2e_err.$$
echo "e2e: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
