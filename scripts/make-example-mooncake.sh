#!/usr/bin/env bash
# Writes examples/conversation-trace.jsonl: a small synthetic multi-turn chat trace in the Mooncake
# trace format ({"timestamp": ms, "input_length", "output_length", "hash_ids": 512-token prefix
# blocks}), shaped like the Mooncake FAST'25 conversation workload (long prompts, a shared system
# prompt, later turns extending earlier ones). 160 conversations start as a Poisson process at
# 0.4 per second; each has 2-9 turns 20-120 s apart. Turn 1 is a 1,024-token system prompt shared
# by every conversation (blocks 0 and 1) and a 2,000-12,000-token document; each later turn's
# prompt is the previous prompt, its answer and 100-1,500 new tokens, so it reuses the previous
# prompt's full blocks and gets new ids for the rest. Answers are 100-800 tokens. A fixed linear
# congruential generator makes the file the same on every machine.
# Usage: scripts/make-example-mooncake.sh > examples/conversation-trace.jsonl
set -euo pipefail
awk 'function rnd() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
BEGIN {
  seed = 2025; next_id = 2; start = 0
  for (s = 0; s < 160; s++) {
    start += -log(1 - rnd()) / 0.4
    turns = 2 + int(8 * rnd())
    t = start; prev_in = 0; prev_out = 0; nb = 0
    for (k = 0; k < turns; k++) {
      if (k == 0) {
        input = 1024 + 2000 + int(10000 * rnd())
        nb = 2; ids[0] = 0; ids[1] = 1
      } else {
        t += 20 + 100 * rnd()
        input = prev_in + prev_out + 100 + int(1400 * rnd())
        nb = int(prev_in / 512)  # full blocks of the previous prompt continue
      }
      blocks = int((input + 511) / 512)
      for (b = nb; b < blocks; b++) ids[b] = next_id++
      output = 100 + int(700 * rnd())
      line = sprintf("{\"timestamp\": %d, \"input_length\": %d, \"output_length\": %d, \"hash_ids\": [", int(t * 1000), input, output)
      for (b = 0; b < blocks; b++) line = line (b ? ", " : "") ids[b]
      printf "%d\t%s]}\n", int(t * 1000), line
      prev_in = input; prev_out = output
    }
  }
}' | sort -s -n -k1,1 | cut -f2-
