#!/usr/bin/env bash
# The main job on the bundled examples: check every environment, then render one.
# Validates mesh objects against ../shared/crds when it is there (MESHOPS_CRDS overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
crds="${MESHOPS_CRDS:-../shared/crds}"
args=()
if [ -d "$crds" ]; then args=(--crds "$crds"); else echo "note: $crds not found: mesh objects get 'no schema' warnings (pass CRDs with MESHOPS_CRDS=DIR)" >&2; fi
set -x
node bin/meshops.js check examples/bookinfo "${args[@]}"
node bin/meshops.js check examples/emojivoto "${args[@]}"
node bin/meshops.js compare staging production examples/bookinfo
node bin/meshops.js render examples/bookinfo --env staging --origins
