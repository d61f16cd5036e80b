#!/usr/bin/env bash
# Writes examples/bursty-trace.csv: a small synthetic request trace in the vidur CSV format
# (arrived_at, num_prefill_tokens, num_decode_tokens). Two bursts of chat-like requests (prompts
# 200-3000 tokens, outputs 50-600) over about a minute, from a fixed linear congruential generator, so the
# file is the same on every machine. Usage: scripts/make-example-trace.sh > examples/bursty-trace.csv
set -euo pipefail
awk 'BEGIN {
  seed = 12345
  print "arrived_at,num_prefill_tokens,num_decode_tokens"
  t = 0
  for (i = 0; i < 200; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648; u = seed / 2147483648
    # 2 requests/s outside the bursts, 12/s within 10-15 s and 40-45 s.
    rate = ((t >= 10 && t < 15) || (t >= 40 && t < 45)) ? 12 : 2
    t += -log(1 - u) / rate
    seed = (seed * 1103515245 + 12345) % 2147483648; a = seed / 2147483648
    seed = (seed * 1103515245 + 12345) % 2147483648; b = seed / 2147483648
    printf "%.3f,%d,%d\n", t, 200 + int(2800 * a * a), 50 + int(550 * b)
  }
}'
