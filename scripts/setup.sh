#!/usr/bin/env bash
# Installs everything tokenfactory needs to build and test on Debian 12 (run as root).
# Idempotent: packages already present are left alone. `--fuzz` adds clang and libFuzzer for the
# fuzz preset (scripts/fuzz.sh).
set -euo pipefail
packages=(g++ cmake make git ca-certificates
  nlohmann-json3-dev libyaml-cpp-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev)
if [[ "${1:-}" == "--fuzz" ]]; then packages+=(clang libclang-rt-14-dev); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
