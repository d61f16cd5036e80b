#!/usr/bin/env bash
# Moves the accuracy ratchet (tests/validate/accuracy_ratchet.json) to the current
# cross-validated errors. A reviewed commit with its reason: pass the reason as the argument.
#   scripts/ratchet.sh "reason for the new bounds"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
reason="${1:?usage: scripts/ratchet.sh \"reason for the new bounds\"}"
bin="$root/build/release/tests/test_ratchet"
[[ -x "$bin" ]] || { echo "ratchet test not built: $bin (cmake --build --preset release)" >&2; exit 2; }
TF_RATCHET_UPDATE="$reason" "$bin"
