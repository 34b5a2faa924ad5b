#!/usr/bin/env bash
# Build istioctl for the benchmark's `istioctl analyze --use-kube=false` row (bench/check/run.mjs), with
# `go install` through the Go module proxy, cached beside helm and kubeconform in
# $MESHOPS_TOOLS_DIR/bin (default ~/.cache/meshops/tools/bin) with a version stamp, so re-runs are instant.
#
# Bench-only and opt-in: neither npm test, .ci/run nor scripts/setup-tools.sh builds it. The first build
# downloads ~100 modules and compiles ~2,000 packages: 10-20+ minutes on a 2-core machine.
#
# stdout (and nothing else goes there):
#   istioctl <version> <path>
#   export PATH=<bin dir>:$PATH        <- always the last line
# Progress and errors go to stderr.
#
# Environment:
#   MESHOPS_TOOLS_DIR  cache root (default: $HOME/.cache/meshops/tools); the binary goes to <root>/bin
# Options:
#   -f, --force        rebuild even if the cached binary matches the pinned version
#   -h, --help         show this help
set -euo pipefail

# --- pinned version (bump here; the stamp makes the next run rebuild) ------------------------------
# istio.io/istio publishes no semver tags to the module proxy, only pseudo-versions of its master branch.
# This one (2026-08-27) declares `go 1.26.0` and has no replace directives, so `go install pkg@version`
# works as is (no wrapper module needed).
ISTIO_MODULE="istio.io/istio"
ISTIOCTL_PKG="$ISTIO_MODULE/istioctl/cmd/istioctl"
ISTIO_VERSION="v0.0.0-20260827124520-eed52ebb66ad"
BUILD_REV="1"   # bump when the build flags below change, to rebuild the cached binary
# ----------------------------------------------------------------------------------------------------

log() { printf 'build-istioctl: %s\n' "$*" >&2; }
die() { printf 'build-istioctl: error: %s\n' "$*" >&2; exit 1; }

FORCE=0
for arg in "$@"; do
  case "$arg" in
    -f|--force) FORCE=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

# shellcheck source=scripts/lib/go-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/go-tools.sh"
tools_dir

STAMP="$ISTIO_VERSION r$BUILD_REV"

# What istio's release build stamps into pkg/version, so `istioctl version --remote=false` names the
# pseudo-version instead of "unknown" (the module zip carries the commit only in the version string).
istioctl_ldflags() {
  local pkg="istio.io/istio/pkg/version" rev="${ISTIO_VERSION##*-}"
  printf '%s' "-X $pkg.buildVersion=$ISTIO_VERSION -X $pkg.buildGitRevision=$rev -X $pkg.buildStatus=Clean -X $pkg.buildTag=$ISTIO_VERSION"
}

if ! up_to_date istioctl "$STAMP"; then
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$TOOLS_DIR/.lock"
    flock 9
  fi
  if ! up_to_date istioctl "$STAMP"; then
    find_go "istioctl (benchmark only)"
    log "building istioctl $ISTIO_VERSION ($ISTIOCTL_PKG) into $BIN_DIR; the first build takes 10-20+ minutes ..."
    start=$(date +%s)
    rm -f "$BIN_DIR/.istioctl.version"
    # go install writes $GOBIN/istioctl itself; build into a scratch GOBIN and move, so an interrupted
    # build never leaves a half-written binary under the cached name.
    scratch="$(mktemp -d "$BIN_DIR/.istioctl-build.XXXXXX")"
    trap 'rm -rf "$scratch"' EXIT
    GOBIN="$scratch" CGO_ENABLED=0 GOWORK=off GO111MODULE=on GOFLAGS="-buildvcs=false" \
      "$GO" install -trimpath -ldflags "-s -w $(istioctl_ldflags)" "$ISTIOCTL_PKG@$ISTIO_VERSION" >&2 \
      || die "go install $ISTIOCTL_PKG@$ISTIO_VERSION failed (see above)"
    [[ -x "$scratch/istioctl" ]] || die "go install succeeded but $scratch/istioctl is missing"
    mv -f "$scratch/istioctl" "$BIN_DIR/istioctl"
    printf '%s\n' "$STAMP" > "$BIN_DIR/.istioctl.version"
    log "built istioctl $ISTIO_VERSION in $(( $(date +%s) - start ))s"
  fi
fi

printf 'istioctl %s %s\n' "$ISTIO_VERSION" "$BIN_DIR/istioctl"
# shellcheck disable=SC2016  # $PATH is meant to be expanded by the caller's eval, not here
printf 'export PATH=%q:$PATH\n' "$BIN_DIR"
