#!/usr/bin/env bash
# Build the pinned external tools that meshops' tests and benchmarks shell out to
# (helm v3, kubeconform) with `go install` through the Go module proxy, and cache
# them outside the repository so re-runs are instant.
#
# stdout (and nothing else goes there):
#   helm <version> <path>
#   kubeconform <version> <path>
#   export PATH=<bin dir>:$PATH        <- always the last line
# so a caller can do:   eval "$(scripts/setup-tools.sh | tail -1)"
# Progress and errors go to stderr.
#
# Environment:
#   MESHOPS_TOOLS_DIR  cache root (default: $HOME/.cache/meshops/tools); binaries go to <root>/bin
# Options:
#   -f, --force        rebuild even if the cached binaries match the pinned versions
#   -h, --help         show this help
set -euo pipefail

# --- pinned versions (bump here; the version stamp makes the next run rebuild) ---
HELM_MODULE="helm.sh/helm/v3"
HELM_PKG="$HELM_MODULE/cmd/helm"
HELM_VERSION="v3.22.0"

KUBECONFORM_MODULE="github.com/yannh/kubeconform"
KUBECONFORM_PKG="$KUBECONFORM_MODULE/cmd/kubeconform"   # the main package is not at the module root
KUBECONFORM_VERSION="v0.8.0"
# ----------------------------------------------------------------------------------

log() { printf 'setup-tools: %s\n' "$*" >&2; }
die() { printf 'setup-tools: error: %s\n' "$*" >&2; exit 1; }

FORCE=0
for arg in "$@"; do
  case "$arg" in
    -f|--force) FORCE=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

# shellcheck source=scripts/lib/go-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tools.sh"
tools_dir

# go_install NAME PKG VERSION [LDFLAGS]
go_install() {
  local name="$1" pkg="$2" version="$3" ldflags="${4:-}" start end
  log "building $name $version ($pkg) into $BIN_DIR ..."
  start=$(date +%s)
  rm -f "$BIN_DIR/.$name.version"
  GOBIN="$BIN_DIR" CGO_ENABLED=0 GOWORK=off GO111MODULE=on \
    "$GO" install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version" >&2 \
    || die "go install $pkg@$version failed (see above)"
  [[ -x "$BIN_DIR/$name" ]] || die "go install succeeded but $BIN_DIR/$name is missing"
  printf '%s\n' "$version" > "$BIN_DIR/.$name.version"
  end=$(date +%s)
  log "built $name $version in $((end - start))s"
}

# Helm's release Makefile also stamps the default Kubernetes version that `helm template`
# reports as .Capabilities.KubeVersion (1.<client-go minor>); without it the default is v1.20.
helm_ldflags() {
  local gomod client_go minor flags
  flags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  flags+=" -X helm.sh/helm/v3/internal/version.metadata="
  flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  gomod="$(GOWORK=off "$GO" mod download -json "$HELM_MODULE@$HELM_VERSION" 2>/dev/null \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' || true)"
  client_go=""
  if [[ -n "$gomod" && -f "$gomod" ]]; then
    client_go="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$gomod")"
  fi
  if [[ "$client_go" =~ ^v0\.([0-9]+)\. ]]; then
    minor="${BASH_REMATCH[1]}"
    flags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
    flags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
  else
    log "warning: could not read k8s.io/client-go from helm's go.mod; default kube version stays at helm's built-in value"
  fi
  printf '%s' "$flags"
}

ensure_helm() {
  up_to_date helm "$HELM_VERSION" && return 0
  find_go "helm and kubeconform"
  go_install helm "$HELM_PKG" "$HELM_VERSION" "$(helm_ldflags)"
}

ensure_kubeconform() {
  up_to_date kubeconform "$KUBECONFORM_VERSION" && return 0
  find_go "helm and kubeconform"
  go_install kubeconform "$KUBECONFORM_PKG" "$KUBECONFORM_VERSION" "-X main.version=$KUBECONFORM_VERSION"
}

if ! { up_to_date helm "$HELM_VERSION" && up_to_date kubeconform "$KUBECONFORM_VERSION"; }; then
  # Something must be built: serialise concurrent runs (parallel test jobs) on one cache dir.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$TOOLS_DIR/.lock"
    flock 9
  fi
  ensure_helm
  ensure_kubeconform
fi

printf 'helm %s %s\n' "$HELM_VERSION" "$BIN_DIR/helm"
printf 'kubeconform %s %s\n' "$KUBECONFORM_VERSION" "$BIN_DIR/kubeconform"
# shellcheck disable=SC2016  # $PATH is meant to be expanded by the caller's eval, not here
printf 'export PATH=%q:$PATH\n' "$BIN_DIR"
