#!/usr/bin/env bash
# Layering is enforced, not only drawn (ARCHITECTURE.md): every file under src/<layer>/ may include
# headers of its own layer and of the layers listed for it here, never of a layer above it.
set -euo pipefail
src="$(cd "$(dirname "$0")/../src" && pwd)"
declare -A allowed=(
  [core]="core"
  [io]="io core"
  [hardware]="hardware io core"
  [model]="model io core"
  [cost]="cost hardware model io core"
  [frontier]="frontier cost hardware model io core"
  [serving]="serving cost hardware model io core"
  [economics]="economics frontier serving cost hardware model io core"
  [validate]="validate serving cost hardware model io core"
  [report]="report economics validate frontier serving cost hardware model io core"
  [cli]="cli report economics validate frontier serving cost hardware model io core"
)
bad=0
for dir in "$src"/*/; do
  layer="$(basename "$dir")"
  if [[ -z "${allowed[$layer]+x}" ]]; then
    echo "src/$layer: a folder with no place in the layer list of tests/layers.sh" >&2
    bad=1
    continue
  fi
  while IFS= read -r hit; do
    file="${hit%%:*}"
    used="$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<< "${hit#*:}")"
    [[ " ${allowed[$layer]} " == *" $used "* ]] && continue
    echo "${file#"$src"/}: includes a header of '$used', a layer '$layer' may not use (allowed: ${allowed[$layer]})" >&2
    bad=1
  done < <(grep -rHE --include='*.cpp' --include='*.hpp' '^#include "[a-z_]+/' "$dir" 2>/dev/null || true)
done
# Inside the serving layer, one folder per component, each using only the ones below it
# (metrics <- workload <- kv <- engine <- cluster); serving/serving.hpp includes them all and is
# for the layers above.
declare -A components=(
  [metrics]="metrics"
  [workload]="workload metrics"
  [kv]="kv workload metrics"
  [engine]="engine kv workload metrics"
  [cluster]="cluster engine kv workload metrics"
)
for dir in "$src"/serving/*/; do
  component="$(basename "$dir")"
  if [[ -z "${components[$component]+x}" ]]; then
    echo "src/serving/$component: a folder with no place in the component list of tests/layers.sh" >&2
    bad=1
    continue
  fi
  while IFS= read -r hit; do
    file="${hit%%:*}"
    used="$(sed -E 's/.*#include "serving\/([a-z_.]+)[\/"].*/\1/' <<< "${hit#*:}")"
    [[ " ${components[$component]} " == *" $used "* ]] && continue
    echo "${file#"$src"/}: includes serving/$used, which serving/$component may not use (allowed: ${components[$component]})" >&2
    bad=1
  done < <(grep -rHE --include='*.cpp' --include='*.hpp' '^#include "serving/' "$dir" 2>/dev/null || true)
done
((bad == 0)) && echo "layers: every include points down (layers, and the serving layer's components)"
exit "$bad"
