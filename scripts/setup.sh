#!/usr/bin/env bash
# Installs everything tokenfactory needs to build and test on Debian 12 (run as root).
# Idempotent: packages already present are left alone. `--fuzz` adds clang and libFuzzer for the
# fuzz preset (scripts/fuzz.sh).
#   - C++ toolchain and libraries (Debian packages);
#   - Node.js and npm (Debian packages, unless a node/npm is already installed), and the
#     front-end packages pinned in web/package-lock.json (npm registry): ECharts, compiled into
#     the binary for the HTML report, and playwright-core for the browser tests;
#   - Debian's Chromium, which the browser tests drive headless.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(g++ cmake make git ca-certificates
  nlohmann-json3-dev libyaml-cpp-dev libfmt-dev libcli11-dev libcpp-httplib-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev chromium)
if [[ "${1:-}" == "--fuzz" ]]; then packages+=(clang libclang-rt-14-dev); fi
# A Node.js from elsewhere (e.g. NodeSource, which bundles npm) conflicts with Debian's npm package.
command -v node > /dev/null || packages+=(nodejs)
command -v npm > /dev/null || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Front-end packages, exactly as locked; reinstalled only when the lock file changed.
if [[ ! -f web/node_modules/.package-lock.json || web/package-lock.json -nt web/node_modules/.package-lock.json ]]; then
  npm ci --prefix web --no-audit --no-fund --loglevel=error
fi
