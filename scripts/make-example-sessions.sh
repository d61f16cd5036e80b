#!/usr/bin/env bash
# Writes examples/agent-sessions.jsonl: a small synthetic session trace (docs/serving.md, session
# traces) of 60 coding-agent sessions arriving about every 2 s. Each session starts with a
# 6,000-token task (system prompt, repository context, the request) and runs 4-10 further turns:
# a tool call of 0.5-6 core-seconds (tests, searches, builds), then 150-1,500 new tokens (the tool's
# output) and an answer of 100-600 tokens. A fixed linear congruential generator makes the file
# the same on every machine. Usage: scripts/make-example-sessions.sh > examples/agent-sessions.jsonl
set -euo pipefail
awk 'function u() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
BEGIN {
  seed = 4242
  t = 0
  for (s = 0; s < 60; s++) {
    t += -log(1 - u()) * 2
    turns = 5 + int(7 * u())
    printf "{\"session\": \"agent-%02d\", \"turn\": 0, \"input_tokens\": 6000, \"output_tokens\": %d, \"arrival_s\": %.3f}\n", s, 100 + int(500 * u()), t
    for (k = 1; k < turns; k++)
      printf "{\"session\": \"agent-%02d\", \"turn\": %d, \"input_tokens\": %d, \"output_tokens\": %d, \"tool_s\": %.2f}\n", s, k, 150 + int(1350 * u()), 100 + int(500 * u()), 0.5 + 5.5 * u()
  }
}'
