#!/usr/bin/env bash
# A real Kubernetes API for meshops' tests and for developers: one etcd and two
# kube-apiservers (kubeconfig contexts "staging" and "production") on loopback ports,
# with the CRDs from ../shared/crds installed, and one Prometheus (Debian's `prometheus`
# package) that scrapes whatever tests register in DIR/prometheus/targets, and one Jaeger
# (v2, in-memory) that receives OTLP spans. No mocks: the binaries are the upstream ones,
# built with Go through the module proxy and cached outside the repository (Prometheus
# comes from apt: apt-get install prometheus).
#
# Usage:
#   scripts/testenv.sh build [-f|--force]   build/cache kube-apiserver and etcd (pinned below)
#   scripts/testenv.sh up    [--dir DIR]    start everything (builds first if needed); idempotent
#   scripts/testenv.sh down  [--dir DIR]    stop everything started in DIR and remove DIR
#   scripts/testenv.sh status [--dir DIR]   exit 0 if the environment in DIR is up and healthy
#   scripts/testenv.sh apiserver start|stop|kill NAME [--dir DIR] [--port PORT] [--purge]
#       an extra kube-apiserver NAME on the running environment's etcd (prefix /registry-NAME,
#       the same CA, certificates and tokens), for tests that must kill a server without
#       touching staging/production. start: starts it (on the port it had before, else PORT,
#       else a free one; its objects survive a restart), waits until ready, writes
#       DIR/kubeconfig-NAME (context NAME, user admin) and prints URL, PID, KUBECONFIG,
#       CONTEXT and ETCD_PREFIX lines. kill: SIGKILL, no shutdown (a crash). stop: SIGTERM,
#       then SIGKILL after 10s; with --purge it also forgets the port and kubeconfig and
#       deletes the server's keys from etcd. `down` stops every extra server in DIR.
#   scripts/testenv.sh prometheus start|stop|reload [--dir DIR]
#       the environment's Prometheus alone (`up` starts it and `down` stops it with the rest):
#       start adds it to a running environment that has none (or restarts a dead one) and
#       records PROMETHEUS_URL, PROMETHEUS_TARGETS_DIR, PROMETHEUS_RULES_DIR, PROMETHEUS_PID
#       in DIR/env; reload
#       re-reads DIR/prometheus/prometheus.yml (POST /-/reload).
#   scripts/testenv.sh jaeger start|stop [--dir DIR]
#       the environment's Jaeger alone (`up` starts it and `down` stops it with the rest):
#       start adds it to a running environment that has none (or restarts a dead one; it
#       builds it first if needed) and records JAEGER_QUERY_URL, JAEGER_OTLP_URL, JAEGER_PID
#       in DIR/env.
#
# Jaeger (v2, built with Go like the API servers; an OpenTelemetry-collector distribution):
# in-memory storage (max_traces 100000), configuration DIR/jaeger/config.yaml, three free
# loopback ports: the OTLP/HTTP receiver (JAEGER_OTLP_URL, http://127.0.0.1:PORT: POST
# /v1/traces, protobuf or JSON), the query API/UI (JAEGER_QUERY_URL: GET /api/services,
# /api/traces?service=...) and the query gRPC API (JAEGER_QUERY_GRPC). No other receivers,
# no OTLP/gRPC, no internal metrics endpoint; none of Jaeger's fixed default ports are bound.
#
# Prometheus: listens on a free loopback port, configuration DIR/prometheus/prometheus.yml
# (scrape and evaluation interval 1s), data in DIR/prometheus/data, flags
# --web.enable-lifecycle and --web.enable-remote-write-receiver. Its one scrape job
# ("testenv") reads file_sd target files DIR/prometheus/targets/*.json (re-read within a
# second; Prometheus then needs up to 5s more to start scraping a new target), in the format
#   [{"targets": ["127.0.0.1:PORT"], "labels": {"job": "meshsim", ...}}]
# so a test registers a scrape target by writing one file and removes it by deleting it.
# Rule files: DIR/prometheus/rules/*.yml (PROMETHEUS_RULES_DIR), read on start and on
# POST /-/reload (a test writes its file, then reloads).
#
# stdout (and nothing else goes there):
#   build:  kube-apiserver <version> <path> / etcd <version> <path> / jaeger <version> <path>
#   up:     the contents of DIR/env, then `export KUBECONFIG=DIR/kubeconfig` as the LAST line,
#           so a caller can do:   eval "$(scripts/testenv.sh up | tail -1)"
# Progress and errors go to stderr; server logs go to DIR/logs.
#
# Kubeconfig contexts (all in DIR/kubeconfig):
#   staging, production   user "admin" (group system:masters)
#   staging-limited, production-limited   user "limited" (no RBAC bindings: 403 Forbidden)
#
# Environment:
#   MESHOPS_TOOLS_DIR    binary cache root (default: $HOME/.cache/meshops/tools); binaries in <root>/bin
#   MESHOPS_TESTENV_DIR  default DIR (default: /tmp/meshops-testenv)
#   MESHOPS_SHARED_DIR   shared folder holding crds/ (default: <repo>/../shared)
#   MESHOPS_TESTENV_TIMEOUT  seconds to wait for readiness (default: 120)
#   MESHOPS_PROMETHEUS   the prometheus binary (default: `prometheus` on PATH)
set -euo pipefail

# --- pinned versions (bump here and in tools/testenv/**/go.mod; the stamp makes the next run rebuild) ---
KUBE_VERSION="v1.34.4"        # k8s.io/kubernetes in tools/testenv/go.mod
ETCD_VERSION="v3.6.16"        # go.etcd.io/etcd/server/v3 in tools/testenv/etcd/go.mod
JAEGER_VERSION="v1.76.0"      # github.com/jaegertracing/jaeger (Jaeger v2's cmd/jaeger) in tools/testenv/jaeger/go.mod
BUILD_REV="2"                 # bump when the build flags below change, to rebuild cached binaries
# ---------------------------------------------------------------------------------------------------------

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: error: %s\n' "$*" >&2; exit 1; }

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
MOD_DIR="$REPO_DIR/tools/testenv"

usage() { awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0" >&2; }

# ------------------------------------------------------------------ build ----------

# The stamp records the pinned version, a hash of the build module's go.mod/go.sum and
# BUILD_REV, so a bumped dependency, a new replace or changed build flags trigger a rebuild.
stamp_of() {  # stamp_of VERSION MODULE_DIR
  local sum
  sum="$(cat "$2/go.mod" "$2/go.sum" | sha256sum | cut -c1-16)"
  printf '%s %s r%s' "$1" "$sum" "$BUILD_REV"
}

FORCE=0
# shellcheck source=scripts/lib/go-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-tools.sh"

# go_build NAME MODULE_DIR PKG STAMP LDFLAGS: build PKG from the module in MODULE_DIR.
# The binary is written next to its final name and moved into place, so a running
# server or an interrupted build never sees a half-written file.
go_build() {
  local name="$1" dir="$2" pkg="$3" stamp="$4" ldflags="$5" start end
  log "building $name (${stamp%% *}) from $pkg into $BIN_DIR; the first build takes several minutes ..."
  start=$(date +%s)
  rm -f "$BIN_DIR/.$name.version" "$BIN_DIR/.$name.tmp"
  (cd "$dir" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 GO111MODULE=on \
    "$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$BIN_DIR/.$name.tmp" "$pkg") >&2 \
    || { rm -f "$BIN_DIR/.$name.tmp"; die "go build $pkg failed (see above)"; }
  mv -f "$BIN_DIR/.$name.tmp" "$BIN_DIR/$name"
  printf '%s\n' "$stamp" > "$BIN_DIR/.$name.version"
  end=$(date +%s)
  log "built $name in $((end - start))s"
}

# The module's publication time from the proxy: a reproducible build date.
module_time() {  # module_time MODULE_DIR MODULE
  (cd "$1" && GOWORK=off "$GO" mod download -json "$2" 2>/dev/null) \
    | sed -n 's/^[[:space:]]*"Info": "\(.*\)",\{0,1\}$/\1/p' | head -1 \
    | xargs -r sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' || true
}

# What kubernetes' hack/lib/version.sh stamps into both version packages, so that
# /version (and `kubectl version`) report the pinned release instead of v0.0.0-master.
kube_ldflags() {
  local v="$KUBE_VERSION" major minor date flags="" pkg
  [[ "$v" =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "KUBE_VERSION=$v is not vMAJOR.MINOR.PATCH"
  major="${BASH_REMATCH[1]}"; minor="${BASH_REMATCH[2]}"
  date="$(module_time "$MOD_DIR" "k8s.io/kubernetes")"
  [[ -n "$date" ]] || date="1970-01-01T00:00:00Z"
  date="$(date -u -d "$date" +%Y-%m-%dT%H:%M:%SZ)"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    # gitCommit: the module zip carries no commit id; empty beats the "$Format:%H$" default.
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit="
  done
  printf '%s' "$flags"
}

# The go.mod files must agree with the pins above, or the stamp would lie.
check_pins() {
  grep -Eq "^require k8s.io/kubernetes $KUBE_VERSION\$|^[[:space:]]+k8s.io/kubernetes $KUBE_VERSION\$" "$MOD_DIR/go.mod" \
    || die "tools/testenv/go.mod does not require k8s.io/kubernetes $KUBE_VERSION (KUBE_VERSION in $0)"
  grep -Eq "^require go.etcd.io/etcd/server/v3 $ETCD_VERSION\$|^[[:space:]]+go.etcd.io/etcd/server/v3 $ETCD_VERSION\$" "$MOD_DIR/etcd/go.mod" \
    || die "tools/testenv/etcd/go.mod does not require go.etcd.io/etcd/server/v3 $ETCD_VERSION (ETCD_VERSION in $0)"
}

# Jaeger is built on its own (`build`, `up`, `jaeger start`): `apiserver start` and the rest
# never wait for it.
JAEGER_STAMP=""
ensure_jaeger() {
  tools_dir
  grep -Eq "^[[:space:]]+github.com/jaegertracing/jaeger $JAEGER_VERSION( // indirect)?\$" "$MOD_DIR/jaeger/go.mod" \
    || die "tools/testenv/jaeger/go.mod does not require github.com/jaegertracing/jaeger $JAEGER_VERSION (JAEGER_VERSION in $0)"
  JAEGER_STAMP="$(stamp_of "$JAEGER_VERSION" "$MOD_DIR/jaeger")"
  if ! up_to_date jaeger "$JAEGER_STAMP"; then
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$TOOLS_DIR/.lock"
      flock 9
    fi
    if ! up_to_date jaeger "$JAEGER_STAMP"; then
      find_go "jaeger"
      go_build jaeger "$MOD_DIR/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger "$JAEGER_STAMP" ""
    fi
    if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
  fi
  JAEGER="$BIN_DIR/jaeger"
}

KUBE_STAMP="" ETCD_STAMP=""
compute_stamps() {
  check_pins
  KUBE_STAMP="$(stamp_of "$KUBE_VERSION" "$MOD_DIR")"
  ETCD_STAMP="$(stamp_of "$ETCD_VERSION" "$MOD_DIR/etcd")"
}

binaries_ready() { up_to_date kube-apiserver "$KUBE_STAMP" && up_to_date etcd "$ETCD_STAMP"; }

ensure_binaries() {
  tools_dir
  compute_stamps
  if ! binaries_ready; then
    # Serialise concurrent runs (parallel test jobs, setup-tools.sh) on one cache dir.
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$TOOLS_DIR/.lock"
      flock 9
    fi
    find_go "kube-apiserver and etcd"
    if ! up_to_date etcd "$ETCD_STAMP"; then
      go_build etcd "$MOD_DIR/etcd" go.etcd.io/etcd/server/v3 "$ETCD_STAMP" \
        "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
    fi
    if ! up_to_date kube-apiserver "$KUBE_STAMP"; then
      go_build kube-apiserver "$MOD_DIR" k8s.io/kubernetes/cmd/kube-apiserver "$KUBE_STAMP" "$(kube_ldflags)"
    fi
    if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
  fi
  KUBE_APISERVER="$BIN_DIR/kube-apiserver"
  ETCD="$BIN_DIR/etcd"
}

cmd_build() {
  for arg in "$@"; do
    case "$arg" in
      -f|--force) FORCE=1 ;;
      -h|--help) usage; exit 0 ;;
      *) die "build: unknown argument: $arg (try --help)" ;;
    esac
  done
  ensure_binaries
  ensure_jaeger
  printf 'kube-apiserver %s %s\n' "$KUBE_VERSION" "$KUBE_APISERVER"
  printf 'etcd %s %s\n' "$ETCD_VERSION" "$ETCD"
  printf 'jaeger %s %s\n' "$JAEGER_VERSION" "$JAEGER"
}

# ------------------------------------------------------------------ up/down --------

TIMEOUT="${MESHOPS_TESTENV_TIMEOUT:-120}"
MARKER=".meshops-testenv"          # in DIR: proves DIR is ours before `down` removes it
SERVERS=(etcd staging production)  # all must be alive for the environment to be healthy
SERVICE_CIDR="10.96.0.0/16"

parse_dir_args() {
  DIR="${MESHOPS_TESTENV_DIR:-/tmp/meshops-testenv}"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --dir) [[ $# -ge 2 && -n "$2" ]] || die "--dir needs a value"; DIR="$2"; shift 2 ;;
      --dir=*) DIR="${1#--dir=}"; [[ -n "$DIR" ]] || die "--dir needs a value"; shift ;;
      -h|--help) usage; exit 0 ;;
      *) die "unknown argument: $1 (try --help)" ;;
    esac
  done
  mkdir -p "$(dirname "$DIR")"
  DIR="$(cd "$(dirname "$DIR")" && pwd -P)/$(basename "$DIR")"
  case "$DIR" in
    /|/tmp|/var/tmp|/root|/home|/work|"${HOME:-/}"|"$REPO_DIR"|"$REPO_DIR"/*)
      die "refusing to use $DIR as the test environment directory" ;;
  esac
}

# One lock per DIR (next to it, since `down` removes DIR) so that concurrent up/down on
# the same DIR do not interleave.
lock_dir() {
  if command -v flock >/dev/null 2>&1; then
    exec 8>"$DIR.lock"
    flock 8
  fi
}

is_zombie() { [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == "Z" ]]; }

# The pid of a server we started, if that process is still alive and is still ours: its
# command line must mention DIR (pids are reused).
live_pid() {  # live_pid NAME
  local f="$DIR/run/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(<"$f")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$DIR/" || return 1
  ! is_zombie "$pid" || return 1
  printf '%s' "$pid"
}

running() { kill -0 "$1" 2>/dev/null && ! is_zombie "$1"; }

# Stop servers: SIGTERM to each one's process group (each server leads its own session
# and group, started with setsid), then SIGKILL to those still running after 10s.
stop_servers() {  # stop_servers NAME...
  local name pid i pids=() names=()
  for name in "$@"; do
    if pid="$(live_pid "$name")"; then
      log "stopping $name (pid $pid)"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
    fi
    rm -f "$DIR/run/$name.pid"
  done
  for ((i = 0; i < 100; i++)); do
    local any=0
    for pid in "${pids[@]}"; do running "$pid" && any=1; done
    [[ $any == 1 ]] || return 0
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    pid="${pids[$i]}"
    if running "$pid"; then
      log "${names[$i]} did not stop within 10s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for ((i = 0; i < 50; i++)); do
    local any=0
    for pid in "${pids[@]}"; do running "$pid" && any=1; done
    [[ $any == 1 ]] || return 0
    sleep 0.1
  done
}

# Extra API servers started in DIR by `apiserver start` (each leaves DIR/run/NAME.extra).
extra_names() {
  local f
  for f in "$DIR"/run/*.extra; do
    if [[ -e "$f" ]]; then basename "$f" .extra; fi
  done
}

# The API servers first (together, with any extra ones), then the etcd they use.
stop_all() {
  local extras=()
  mapfile -t extras < <(extra_names)
  stop_servers production staging prometheus jaeger ${extras[@]+"${extras[@]}"}
  stop_servers etcd
}

# Free loopback TCP ports, chosen by the kernel: N listeners are opened at once (so the
# ports are distinct) and closed again. A port may still be taken before the server
# binds it; the start_* functions notice "address already in use" and retry.
free_ports() {  # free_ports N -> N lines
  node -e '
    const net = require("net"); const n = Number(process.argv[1]); const servers = [];
    let done = 0;
    for (let i = 0; i < n; i++) {
      const s = net.createServer(); servers.push(s);
      s.listen(0, "127.0.0.1", () => {
        if (++done === n) {
          console.log(servers.map((x) => x.address().port).join("\n"));
          servers.forEach((x) => x.close());
        }
      });
    }' "$1"
}

# Start a server in its own session/process group, detached from the caller: stdin from
# /dev/null, output to DIR/logs/NAME.log, no inherited lock fds. In a non-interactive
# script the background child is not a group leader, so setsid execs in place and $! is
# the server's pid (and its process group id).
launch() {  # launch NAME CMD...
  local name="$1"; shift
  : > "$DIR/logs/$name.log"
  setsid "$@" < /dev/null >> "$DIR/logs/$name.log" 2>&1 7>&- 8>&- 9>&- &
  printf '%s\n' "$!" > "$DIR/run/$name.pid"
}

T0_MS=$(date +%s%3N)
elapsed() { local ms=$(( $(date +%s%3N) - T0_MS )); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

log_tail() {  # log_tail NAME
  log "last lines of $DIR/logs/$1.log:"
  tail -n 25 "$DIR/logs/$1.log" | sed 's/^/    /' >&2 || true
}

# wait_ready NAME CHECK...: poll CHECK until it succeeds, the server dies or TIMEOUT passes.
# Returns 0 ready, 1 died/timeout, 2 died because its port was taken (retry).
wait_ready() {
  local name="$1"; shift
  local deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! live_pid "$name" >/dev/null; then
      if grep -qi 'address already in use' "$DIR/logs/$name.log"; then return 2; fi
      log "$name exited during start-up"; log_tail "$name"; return 1
    fi
    sleep 0.2
  done
  log "$name was not ready after ${TIMEOUT}s"; log_tail "$name"
  return 1
}

# start_on_free_ports NAME LAUNCH CHECK: runs LAUNCH (it picks free ports, then starts NAME), waits until CHECK
# (a function: it reads the ports LAUNCH picked) succeeds, and logs the start-up time. A port taken before NAME
# could bind it is retried with new ports, 3 attempts in all; any other failure returns 1.
start_on_free_ports() {
  local name="$1" launch_fn="$2" check_fn="$3" rc
  for _ in 1 2 3; do
    "$launch_fn"
    rc=0; wait_ready "$name" "$check_fn" || rc=$?
    if [[ $rc == 0 ]]; then log "$name ready after $(elapsed)"; return 0; fi
    [[ $rc == 2 ]] || return 1
    log "a port of $name was taken before it could bind it; retrying with other ports"
  done
  return 1
}

# A CA, one serving certificate for both API servers (127.0.0.1, ::1, localhost and the
# in-cluster names), the service-account signing key pair, and the static tokens.
gen_pki() {
  local pki="$DIR/pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -keyout ca.key -out ca.crt -subj "/CN=meshops-testenv-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    {
      echo "basicConstraints=critical,CA:FALSE"
      echo "keyUsage=critical,digitalSignature,keyEncipherment"
      echo "extendedKeyUsage=serverAuth"
      echo "subjectAltName=IP:127.0.0.1,IP:::1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    } > apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
      -days 3650 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
    openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
    openssl rand -hex 24 | tr -d '\n' > admin.token
    openssl rand -hex 24 | tr -d '\n' > limited.token
    # token,user,uid,"group1,group2" -- "limited" has no groups and no RBAC bindings.
    printf '%s,admin,meshops-testenv-admin,"system:masters"\n%s,limited,meshops-testenv-limited\n' \
      "$(<admin.token)" "$(<limited.token)" > tokens.csv
    chmod 644 ca.crt apiserver.crt sa.pub
  ) || die "generating certificates with openssl failed"
  [[ -s "$pki/admin.token" && -s "$pki/limited.token" && -s "$pki/apiserver.crt" ]] \
    || die "generating certificates with openssl failed"
  ADMIN_TOKEN="$(<"$pki/admin.token")"
  LIMITED_TOKEN="$(<"$pki/limited.token")"
}

etcd_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }

launch_etcd() {
  local ports
  mapfile -t ports < <(free_ports 2)
  ETCD_PORT="${ports[0]}"; ETCD_PEER_PORT="${ports[1]}"
  rm -rf "$DIR/etcd"
  log "starting etcd $ETCD_VERSION on 127.0.0.1:$ETCD_PORT"
  launch etcd "$ETCD" --name testenv --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "testenv=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --unsafe-no-fsync --log-level warn
}

start_etcd() { start_on_free_ports etcd launch_etcd etcd_healthy; }

apiserver_ready() {  # apiserver_ready PORT
  [[ "$(curl -fsS --max-time 3 --cacert "$DIR/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
    "https://127.0.0.1:$1/readyz")" == ok ]]
}

launch_apiserver() {  # launch_apiserver NAME PORT -> sets PORT_<NAME> ('-' in NAME becomes '_')
  local name="$1" port="$2"
  printf -v "PORT_${name//-/_}" '%s' "$port"
  log "starting kube-apiserver $KUBE_VERSION '$name' on https://127.0.0.1:$port (etcd prefix /registry-$name)"
  # ServiceAccount admission is off: no kube-controller-manager runs to create the
  # "default" service accounts it requires for every Pod. The endpoint reconciler is off:
  # a loopback advertise address is not a valid Endpoints IP.
  launch "$name" "$KUBE_APISERVER" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$port" \
    --tls-cert-file="$DIR/pki/apiserver.crt" --tls-private-key-file="$DIR/pki/apiserver.key" \
    --client-ca-file="$DIR/pki/ca.crt" \
    --token-auth-file="$DIR/pki/tokens.csv" --anonymous-auth=false \
    --authorization-mode=RBAC \
    --service-account-issuer="https://kubernetes.default.svc.cluster.local" \
    --service-account-key-file="$DIR/pki/sa.pub" \
    --service-account-signing-key-file="$DIR/pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" --etcd-prefix="/registry-$name" \
    --disable-admission-plugins=ServiceAccount \
    --endpoint-reconciler-type=none \
    --allow-privileged=true --profiling=false \
    --v=1
}

# Both API servers start at once and are awaited together (most of their start-up is
# waiting on post-start hooks). One whose port was taken before it bound it is restarted
# on another port, up to 3 times.
start_apiservers() {
  local -A tries=()
  local ports name pending next port_var deadline=$((SECONDS + TIMEOUT))
  mapfile -t ports < <(free_ports 2)
  launch_apiserver staging "${ports[0]}"; tries[staging]=1
  launch_apiserver production "${ports[1]}"; tries[production]=1
  pending=(staging production)
  while ((${#pending[@]} > 0)); do
    next=()
    for name in "${pending[@]}"; do
      port_var="PORT_$name"
      if apiserver_ready "${!port_var}" >/dev/null 2>&1; then
        log "$name ready after $(elapsed)"
        continue
      fi
      if ! live_pid "$name" >/dev/null; then
        if grep -qi 'address already in use' "$DIR/logs/$name.log" && ((tries[$name] < 3)); then
          log "$name's port was taken before it could bind it; retrying with another port"
          tries[$name]=$((tries[$name] + 1))
          launch_apiserver "$name" "$(free_ports 1)"
        else
          log "kube-apiserver '$name' exited during start-up"; log_tail "$name"; return 1
        fi
      fi
      next+=("$name")
    done
    pending=("${next[@]}")
    ((${#pending[@]} > 0)) || break
    if ((SECONDS >= deadline)); then
      for name in "${pending[@]}"; do log "kube-apiserver '$name' was not ready after ${TIMEOUT}s"; log_tail "$name"; done
      return 1
    fi
    sleep 0.2
  done
}

write_kubeconfig() {
  local ca
  ca="$(base64 -w0 < "$DIR/pki/ca.crt")"
  (
    umask 077
    cat > "$DIR/kubeconfig" <<KUBECONFIG_EOF
apiVersion: v1
kind: Config
# Written by scripts/testenv.sh up; removed by scripts/testenv.sh down.
clusters:
- name: staging
  cluster:
    server: https://127.0.0.1:$PORT_staging
    certificate-authority-data: $ca
- name: production
  cluster:
    server: https://127.0.0.1:$PORT_production
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $ADMIN_TOKEN
- name: limited
  user:
    token: $LIMITED_TOKEN
contexts:
- name: staging
  context: {cluster: staging, user: admin, namespace: default}
- name: production
  context: {cluster: production, user: admin, namespace: default}
- name: staging-limited
  context: {cluster: staging, user: limited, namespace: default}
- name: production-limited
  context: {cluster: production, user: limited, namespace: default}
current-context: staging
KUBECONFIG_EOF
  )
}

write_env() {
  {
    printf '# meshops test environment (scripts/testenv.sh); a shell can source this file\n'
    printf 'KUBECONFIG=%q\n' "$DIR/kubeconfig"
    printf 'MESHOPS_TESTENV_DIR=%q\n' "$DIR"
    printf 'KUBE_VERSION=%q\n' "$KUBE_VERSION"
    printf 'ETCD_VERSION=%q\n' "$ETCD_VERSION"
    printf 'ETCD_URL=%q\n' "http://127.0.0.1:$ETCD_PORT"
    printf 'ETCD_PID=%q\n' "$(<"$DIR/run/etcd.pid")"
    printf 'STAGING_URL=%q\n' "https://127.0.0.1:$PORT_staging"
    printf 'STAGING_PID=%q\n' "$(<"$DIR/run/staging.pid")"
    printf 'STAGING_ETCD_PREFIX=%q\n' "/registry-staging"
    printf 'PRODUCTION_URL=%q\n' "https://127.0.0.1:$PORT_production"
    printf 'PRODUCTION_PID=%q\n' "$(<"$DIR/run/production.pid")"
    printf 'PRODUCTION_ETCD_PREFIX=%q\n' "/registry-production"
    printf 'CA_FILE=%q\n' "$DIR/pki/ca.crt"
    printf 'ADMIN_TOKEN_FILE=%q\n' "$DIR/pki/admin.token"
    printf 'LIMITED_TOKEN_FILE=%q\n' "$DIR/pki/limited.token"
    printf 'LOG_DIR=%q\n' "$DIR/logs"
    prometheus_env_lines
    jaeger_env_lines
  } > "$DIR/env.tmp"
  mv -f "$DIR/env.tmp" "$DIR/env"
}

# ------------------------------------------------------------------ prometheus -----

PROM_PORT=""
prometheus_bin() {
  PROMETHEUS="${MESHOPS_PROMETHEUS:-$(command -v prometheus || true)}"
  [[ -n "$PROMETHEUS" && -x "$PROMETHEUS" ]] || die "'prometheus' is required but was not found on PATH (Debian: apt-get install -y --no-install-recommends prometheus; or set MESHOPS_PROMETHEUS)"
}

prometheus_ready() {  # prometheus_ready PORT
  curl -fsS --max-time 2 "http://127.0.0.1:$1/-/ready" >/dev/null
}

prometheus_env_lines() {
  [[ -n "$PROM_PORT" ]] || return 0
  printf 'PROMETHEUS_URL=%q\n' "http://127.0.0.1:$PROM_PORT"
  printf 'PROMETHEUS_PID=%q\n' "$(<"$DIR/run/prometheus.pid")"
  printf 'PROMETHEUS_TARGETS_DIR=%q\n' "$DIR/prometheus/targets"
  printf 'PROMETHEUS_RULES_DIR=%q\n' "$DIR/prometheus/rules"
  printf 'PROMETHEUS_CONFIG=%q\n' "$DIR/prometheus/prometheus.yml"
}

# Replaces the PROMETHEUS_* lines of DIR/env (for `prometheus start` on a running environment).
update_env_prometheus() {
  { grep -v '^PROMETHEUS_' "$DIR/env" || true; prometheus_env_lines; } > "$DIR/env.tmp"
  mv -f "$DIR/env.tmp" "$DIR/env"
}

write_prometheus_config() {
  mkdir -p "$DIR/prometheus/targets" "$DIR/prometheus/rules" "$DIR/prometheus/data"
  cat > "$DIR/prometheus/prometheus.yml.tmp" <<PROMETHEUS_EOF
# Written by scripts/testenv.sh for the test environment in $DIR; reload with POST /-/reload.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
# Rule files tests drop in (then POST /-/reload; Prometheus does not watch them).
rule_files: ["$DIR/prometheus/rules/*.yml"]
scrape_configs:
  # Scrape targets are registered at run time by writing file_sd JSON files here
  # (meshsim --targets-dir does); a target's labels may override job.
  - job_name: testenv
    file_sd_configs:
      - files: ["$DIR/prometheus/targets/*.json"]
        refresh_interval: 1s
PROMETHEUS_EOF
  mv -f "$DIR/prometheus/prometheus.yml.tmp" "$DIR/prometheus/prometheus.yml"
}

launch_prometheus() {
  PROM_PORT="$(free_ports 1)"
  log "starting $("$PROMETHEUS" --version 2>&1 | head -1) on http://127.0.0.1:$PROM_PORT"
  launch prometheus "$PROMETHEUS" \
    --config.file="$DIR/prometheus/prometheus.yml" \
    --storage.tsdb.path="$DIR/prometheus/data" \
    --storage.tsdb.retention.time=1d \
    --web.listen-address="127.0.0.1:$PROM_PORT" \
    --web.enable-lifecycle --web.enable-remote-write-receiver \
    --log.level=warn
}

prometheus_started() { prometheus_ready "$PROM_PORT"; }

# Starts Prometheus on a free loopback port and waits until /-/ready answers; sets PROM_PORT.
start_prometheus() {
  prometheus_bin
  write_prometheus_config
  start_on_free_ports prometheus launch_prometheus prometheus_started
}

# Is the Prometheus recorded in DIR/env alive and ready? Sets PROM_PORT.
prometheus_healthy() {
  local url
  live_pid prometheus >/dev/null || return 1
  url="$(env_value PROMETHEUS_URL)"; [[ -n "$url" ]] || return 1
  PROM_PORT="${url##*:}"
  prometheus_ready "$PROM_PORT"
}

# open_running_env "$@" (ACTION [--dir DIR]): usage without an action; else sets DIR from the flags, requires an
# environment there and takes its lock. For the commands that act on one server of a running environment.
open_running_env() {
  [[ $# -ge 1 && "$1" != -h && "$1" != --help ]] || { usage; exit 0; }
  shift
  parse_dir_args "$@"
  [[ -f "$DIR/env" ]] || die "no test environment in $DIR (start one with: scripts/testenv.sh up --dir $DIR)"
  lock_dir
}

cmd_prometheus() {
  open_running_env "$@"
  local action="$1"
  case "$action" in
    start)
      need curl; need node "used to pick a free port"; need setsid
      if prometheus_healthy; then log "prometheus is already running on http://127.0.0.1:$PROM_PORT"; else
        stop_servers prometheus
        mkdir -p "$DIR/logs" "$DIR/run"
        T0_MS=$(date +%s%3N)
        start_prometheus || die "prometheus did not start (see $DIR/logs/prometheus.log)"
        update_env_prometheus
      fi
      prometheus_env_lines
      ;;
    stop) stop_servers prometheus; PROM_PORT=""; update_env_prometheus ;;
    reload)
      prometheus_healthy || die "prometheus is not running in $DIR"
      write_prometheus_config
      curl -fsS --max-time 10 -X POST "http://127.0.0.1:$PROM_PORT/-/reload" >/dev/null || die "POST /-/reload failed"
      log "prometheus reloaded its configuration"
      ;;
    *) die "prometheus: unknown action '$action' (start, stop or reload)" ;;
  esac
}

# ------------------------------------------------------------------ jaeger ---------

JAEGER_OTLP_PORT="" JAEGER_QUERY_PORT="" JAEGER_GRPC_PORT=""

jaeger_ready() {  # jaeger_ready QUERY_PORT: the query API answers (storage and query extension up)
  curl -fsS --max-time 2 "http://127.0.0.1:$1/api/services" | grep -q '"data"'
}

jaeger_env_lines() {
  [[ -n "$JAEGER_QUERY_PORT" ]] || return 0
  printf 'JAEGER_VERSION=%q\n' "$JAEGER_VERSION"
  printf 'JAEGER_QUERY_URL=%q\n' "http://127.0.0.1:$JAEGER_QUERY_PORT"
  printf 'JAEGER_QUERY_GRPC=%q\n' "127.0.0.1:$JAEGER_GRPC_PORT"
  printf 'JAEGER_OTLP_URL=%q\n' "http://127.0.0.1:$JAEGER_OTLP_PORT"
  printf 'JAEGER_PID=%q\n' "$(<"$DIR/run/jaeger.pid")"
  printf 'JAEGER_CONFIG=%q\n' "$DIR/jaeger/config.yaml"
}

# Replaces the JAEGER_* lines of DIR/env (for `jaeger start|stop` on a running environment).
update_env_jaeger() {
  { grep -v '^JAEGER_' "$DIR/env" || true; jaeger_env_lines; } > "$DIR/env.tmp"
  mv -f "$DIR/env.tmp" "$DIR/env"
}

# Jaeger v2's all-in-one (cmd/jaeger/internal/all-in-one.yaml) cut down to what the tests use,
# on the chosen loopback ports: OTLP/HTTP in, memory storage, the query API out.
write_jaeger_config() {
  mkdir -p "$DIR/jaeger"
  cat > "$DIR/jaeger/config.yaml.tmp" <<JAEGER_EOF
# Written by scripts/testenv.sh for the test environment in $DIR.
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    # no self-tracing: it would export Jaeger's own spans to the fixed default 127.0.0.1:4317 and
    # make every shutdown wait 10s for that export to time out
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$JAEGER_QUERY_PORT
    grpc:
      endpoint: 127.0.0.1:$JAEGER_GRPC_PORT
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$JAEGER_OTLP_PORT
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
JAEGER_EOF
  mv -f "$DIR/jaeger/config.yaml.tmp" "$DIR/jaeger/config.yaml"
}

launch_jaeger() {
  local ports
  mapfile -t ports < <(free_ports 3)
  JAEGER_QUERY_PORT="${ports[0]}" JAEGER_GRPC_PORT="${ports[1]}" JAEGER_OTLP_PORT="${ports[2]}"
  write_jaeger_config
  log "starting jaeger $JAEGER_VERSION: query http://127.0.0.1:$JAEGER_QUERY_PORT, OTLP/HTTP http://127.0.0.1:$JAEGER_OTLP_PORT"
  launch jaeger "$JAEGER" --config "$DIR/jaeger/config.yaml"
}

jaeger_started() { jaeger_ready "$JAEGER_QUERY_PORT"; }

# Starts Jaeger on free loopback ports and waits until its query API answers; sets JAEGER_*_PORT.
start_jaeger() {
  [[ -n "${JAEGER:-}" ]] || ensure_jaeger
  start_on_free_ports jaeger launch_jaeger jaeger_started
}

# Is the Jaeger recorded in DIR/env alive and ready? Sets JAEGER_*_PORT.
jaeger_healthy() {
  local url
  live_pid jaeger >/dev/null || return 1
  url="$(env_value JAEGER_QUERY_URL)"; [[ -n "$url" ]] || return 1
  JAEGER_QUERY_PORT="${url##*:}"
  url="$(env_value JAEGER_OTLP_URL)"; JAEGER_OTLP_PORT="${url##*:}"
  url="$(env_value JAEGER_QUERY_GRPC)"; JAEGER_GRPC_PORT="${url##*:}"
  jaeger_ready "$JAEGER_QUERY_PORT"
}

# Adds Jaeger to a running environment (no-op when it is healthy).
ensure_jaeger_running() {
  if jaeger_healthy; then return 0; fi
  stop_servers jaeger
  mkdir -p "$DIR/logs" "$DIR/run"
  ensure_jaeger
  T0_MS=$(date +%s%3N)
  start_jaeger || die "jaeger did not start (see $DIR/logs/jaeger.log)"
  update_env_jaeger
}

cmd_jaeger() {
  open_running_env "$@"
  local action="$1"
  case "$action" in
    start)
      need curl; need node "used to pick free ports"; need setsid
      if jaeger_healthy; then log "jaeger is already running, query API http://127.0.0.1:$JAEGER_QUERY_PORT"; else
        ensure_jaeger_running
      fi
      jaeger_env_lines
      ;;
    stop) stop_servers jaeger; JAEGER_QUERY_PORT=""; update_env_jaeger ;;
    *) die "jaeger: unknown action '$action' (start or stop)" ;;
  esac
}

shared_dir() {
  local d="${MESHOPS_SHARED_DIR:-$REPO_DIR/../shared}"
  [[ -d "$d/crds" ]] || die "CRD folder $d/crds not found (set MESHOPS_SHARED_DIR to the folder that holds crds/)"
  CRD_DIR="$(cd "$d/crds" && pwd -P)"
}

# Every CRD in the cluster that is not yet Established (one request for all of them).
crds_not_established() {  # crds_not_established CONTEXT
  kubectl --kubeconfig "$DIR/kubeconfig" --context "$1" get crd -o \
    'jsonpath={range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.type=="Established")].status}{"\n"}{end}' \
    | awk 'NF > 0 && $2 != "True" { print $1 }'
}

install_crds() {  # install_crds CONTEXT
  local ctx="$1" pending deadline
  log "installing the CRDs from $CRD_DIR into $ctx"
  kubectl --kubeconfig "$DIR/kubeconfig" --context "$ctx" apply --server-side \
    --field-manager=meshops-testenv -R -f "$CRD_DIR" >> "$DIR/logs/crds-$ctx.log" 2>&1 \
    || { log "kubectl apply of the CRDs into $ctx failed"; log_tail "crds-$ctx"; return 1; }
  log "CRDs applied to $ctx after $(elapsed); waiting until they are Established"
  # What `kubectl wait --for condition=established crd --all` checks, in one list request
  # per poll instead of one request per CRD (which costs kubectl wait ~5s for 36 CRDs).
  deadline=$((SECONDS + TIMEOUT))
  while :; do
    if pending="$(crds_not_established "$ctx" 2>> "$DIR/logs/crds-$ctx.log")" && [[ -z "$pending" ]]; then
      break
    fi
    if ((SECONDS >= deadline)); then
      log "the CRDs in $ctx did not become Established within ${TIMEOUT}s: ${pending:-(kubectl failed)}"
      log_tail "crds-$ctx"
      return 1
    fi
    sleep 0.2
  done
  echo "all CRDs Established" >> "$DIR/logs/crds-$ctx.log"
  log "CRDs Established in $ctx after $(elapsed)"
}

env_value() {  # env_value KEY: read one value back from DIR/env
  # shellcheck disable=SC1090,SC1091
  (. "$DIR/env" && eval "printf '%s' \"\${$1:-}\"")
}

# Healthy: every recorded server is alive and ours, etcd and both API servers answer.
healthy() {
  [[ -f "$DIR/env" && -f "$DIR/kubeconfig" && -f "$DIR/pki/admin.token" ]] || return 1
  local name url
  for name in "${SERVERS[@]}"; do live_pid "$name" >/dev/null || return 1; done
  url="$(env_value ETCD_URL)"; ETCD_PORT="${url##*:}"
  url="$(env_value STAGING_URL)"; PORT_staging="${url##*:}"
  url="$(env_value PRODUCTION_URL)"; PORT_production="${url##*:}"
  ADMIN_TOKEN="$(<"$DIR/pki/admin.token")"
  etcd_healthy && apiserver_ready "$PORT_staging" && apiserver_ready "$PORT_production"
}

# The Kubernetes part is healthy but Prometheus is missing or dead (an environment started


print_env() {
  cat "$DIR/env"
  printf 'export KUBECONFIG=%q\n' "$DIR/kubeconfig"
}

# Remove what `up` creates in DIR (not DIR itself, which may be a caller's temp dir).
clean_dir() {
  local d="${DIR:?}"
  rm -rf "$d/pki" "$d/etcd" "$d/prometheus" "$d/jaeger" "$d/run" "$d/logs" "$d/kubeconfig" "$d"/kubeconfig-* "$d/env" "$d/env.tmp" "$d/${MARKER:?}"
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but was not found on PATH${2:+ ($2)}"; }

UP_OK=0
P_PROMETHEUS=""   # the subshell starting Prometheus during `up`
P_JAEGER=""       # the subshell starting Jaeger during `up`
# shellcheck disable=SC2317  # invoked by the EXIT trap
on_up_exit() {
  local rc=$?
  # A signal may arrive inside a command whose stderr goes to /dev/null (a readiness
  # probe); the trap then runs with that redirection, so restore the caller's stderr.
  exec 2>&7
  if [[ "$UP_OK" != 1 ]]; then
    # let a Prometheus start in progress finish first, so stop_all finds its pid
    if [[ -n "$P_PROMETHEUS" ]]; then wait "$P_PROMETHEUS" 2>/dev/null || true; fi
    if [[ -n "$P_JAEGER" ]]; then wait "$P_JAEGER" 2>/dev/null || true; fi
    log "up failed; stopping what it started (logs are kept in $DIR/logs)"
    stop_all
  fi
  return "$rc"
}

cmd_up() {
  parse_dir_args "$@"
  need openssl; need curl; need node "used to pick free ports"; need setsid
  need kubectl "used to install the CRDs"
  prometheus_bin
  shared_dir
  mkdir -p "$DIR"
  lock_dir
  if healthy; then
    if ! prometheus_healthy; then
      # an environment started before Prometheus was part of it: add only Prometheus
      log "up in $DIR but without a running Prometheus; starting it"
      stop_servers prometheus
      T0_MS=$(date +%s%3N)
      start_prometheus || die "prometheus did not start (see $DIR/logs/prometheus.log)"
      update_env_prometheus
    fi
    if ! jaeger_healthy; then
      # likewise for an environment started before Jaeger was part of it
      log "up in $DIR but without a running Jaeger; starting it"
      ensure_jaeger_running
    fi
    log "already up in $DIR"
    print_env
    return 0
  fi
  ensure_binaries
  ensure_jaeger
  T0_MS=$(date +%s%3N)
  # Whatever an earlier, broken run left in DIR is stopped and cleared first.
  stop_all
  clean_dir
  mkdir -p "$DIR/logs" "$DIR/run"
  : > "$DIR/$MARKER"
  exec 7>&2
  trap on_up_exit EXIT
  trap 'exit 130' INT TERM HUP
  gen_pki
  # Prometheus starts beside etcd and the API servers (a few seconds on a busy machine); its port comes back
  # through a file since the subshell cannot set PROM_PORT here.
  ( start_prometheus && printf '%s\n' "$PROM_PORT" > "$DIR/run/prometheus.port" ) & P_PROMETHEUS=$!
  ( start_jaeger && printf '%s %s %s\n' "$JAEGER_QUERY_PORT" "$JAEGER_GRPC_PORT" "$JAEGER_OTLP_PORT" > "$DIR/run/jaeger.ports" ) & P_JAEGER=$!
  start_etcd || die "etcd did not start"
  start_apiservers || die "the kube-apiservers did not start"
  write_kubeconfig
  # Both clusters at once: most of the time goes to each server rebuilding its OpenAPI.
  local p_staging p_production rc=0
  install_crds staging & p_staging=$!
  install_crds production & p_production=$!
  wait "$p_staging" || rc=1
  wait "$p_production" || rc=1
  [[ $rc == 0 ]] || die "installing the CRDs failed"
  wait "$P_PROMETHEUS" || { P_PROMETHEUS=""; die "prometheus did not start (see $DIR/logs/prometheus.log)"; }
  P_PROMETHEUS=""
  PROM_PORT="$(<"$DIR/run/prometheus.port")"
  wait "$P_JAEGER" || { P_JAEGER=""; die "jaeger did not start (see $DIR/logs/jaeger.log)"; }
  P_JAEGER=""
  read -r JAEGER_QUERY_PORT JAEGER_GRPC_PORT JAEGER_OTLP_PORT < "$DIR/run/jaeger.ports"
  write_env
  UP_OK=1
  trap - EXIT INT TERM HUP
  log "up in $(elapsed): staging https://127.0.0.1:$PORT_staging," \
    "production https://127.0.0.1:$PORT_production, etcd http://127.0.0.1:$ETCD_PORT," \
    "prometheus http://127.0.0.1:$PROM_PORT, jaeger http://127.0.0.1:$JAEGER_QUERY_PORT"
  print_env
}

cmd_down() {
  parse_dir_args "$@"
  if [[ ! -e "$DIR" ]]; then log "nothing to stop in $DIR"; rm -f "$DIR.lock"; return 0; fi
  lock_dir
  stop_all
  if [[ -f "$DIR/$MARKER" || -z "$(ls -A "$DIR" 2>/dev/null)" ]]; then
    rm -rf "$DIR"
  else
    log "$DIR has no $MARKER file; removing only what up creates"
    clean_dir
    rmdir "$DIR" 2>/dev/null || true
  fi
  rm -f "$DIR.lock"
  log "down: stopped and removed $DIR"
}

cmd_status() {
  parse_dir_args "$@"
  if healthy && prometheus_healthy && jaeger_healthy; then print_env; else log "not up (or not healthy) in $DIR"; return 1; fi
}

# ------------------------------------------------------------------ extra API servers --

write_extra_kubeconfig() {  # write_extra_kubeconfig NAME PORT
  local name="$1" port="$2" ca
  ca="$(base64 -w0 < "$DIR/pki/ca.crt")"
  (
    umask 077
    cat > "$DIR/kubeconfig-$name.tmp" <<KUBECONFIG_EOF
apiVersion: v1
kind: Config
# Written by scripts/testenv.sh apiserver start $name; removed by stop --purge and by down.
clusters:
- name: $name
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: $name
  context: {cluster: $name, user: admin, namespace: default}
current-context: $name
KUBECONFIG_EOF
  )
  mv -f "$DIR/kubeconfig-$name.tmp" "$DIR/kubeconfig-$name"
}

# The running environment's etcd and admin token, read back from DIR.
attach_env() {
  [[ -f "$DIR/env" && -f "$DIR/pki/admin.token" && -f "$DIR/pki/tokens.csv" ]] \
    || die "no test environment in $DIR (start one with: scripts/testenv.sh up --dir $DIR)"
  local url
  url="$(env_value ETCD_URL)"; ETCD_PORT="${url##*:}"
  ADMIN_TOKEN="$(<"$DIR/pki/admin.token")"
  etcd_healthy || die "the etcd of $DIR ($url) is not healthy"
}

print_extra() {  # print_extra NAME PORT
  printf 'URL=%q\n' "https://127.0.0.1:$2"
  printf 'PID=%q\n' "$(<"$DIR/run/$1.pid")"
  printf 'KUBECONFIG=%q\n' "$DIR/kubeconfig-$1"
  printf 'CONTEXT=%q\n' "$1"
  printf 'ETCD_PREFIX=%q\n' "/registry-$1"
}

extra_start() {  # extra_start NAME PORT
  local name="$1" port="$2" fixed=0 rc tries
  attach_env
  mkdir -p "$DIR/logs" "$DIR/run"
  if [[ -z "$port" && -f "$DIR/run/$name.port" ]]; then port="$(<"$DIR/run/$name.port")"; fi
  if live_pid "$name" >/dev/null && [[ -n "$port" ]] && apiserver_ready "$port" >/dev/null 2>&1; then
    log "$name is already running on https://127.0.0.1:$port"
    write_extra_kubeconfig "$name" "$port"
    print_extra "$name" "$port"
    return 0
  fi
  stop_servers "$name"
  ensure_binaries
  [[ -z "$port" ]] || fixed=1
  for ((tries = 1; ; tries++)); do
    [[ -n "$port" ]] || port="$(free_ports 1)"
    : > "$DIR/run/$name.extra"
    printf '%s\n' "$port" > "$DIR/run/$name.port"
    launch_apiserver "$name" "$port"
    rc=0; wait_ready "$name" apiserver_ready "$port" || rc=$?
    [[ $rc != 0 ]] || break
    if [[ $rc == 2 && $tries -lt 10 ]]; then
      # a fixed port may still be held for a moment by a server that was just killed
      log "$name: port $port is in use; retrying"
      if [[ $fixed == 1 ]]; then sleep 1; else port=""; fi
      continue
    fi
    stop_servers "$name"
    die "kube-apiserver '$name' did not start (see $DIR/logs/$name.log)"
  done
  log "$name ready after $(elapsed)"
  write_extra_kubeconfig "$name" "$port"
  print_extra "$name" "$port"
}

# SIGKILL to the server's process group, then wait until it is gone: the hard crash a test needs.
extra_kill() {  # extra_kill NAME
  local name="$1" pid i
  if pid="$(live_pid "$name")"; then
    log "killing $name (pid $pid) with SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do running "$pid" || break; sleep 0.05; done
  else
    log "$name is not running in $DIR"
  fi
  rm -f "$DIR/run/$name.pid"
}

# Deletes every key under /registry-NAME/ through etcd's JSON gateway (no etcdctl needed).
purge_prefix() {  # purge_prefix NAME
  local key end
  key="$(printf '/registry-%s/' "$1" | base64 -w0)"
  end="$(printf '/registry-%s0' "$1" | base64 -w0)"   # '0' follows '/': the end of the prefix range
  curl -fsS --max-time 10 -X POST "http://127.0.0.1:$ETCD_PORT/v3/kv/deleterange" \
    -d "{\"key\":\"$key\",\"range_end\":\"$end\"}" >/dev/null \
    || die "deleting /registry-$1/ from etcd failed"
  log "deleted the keys of /registry-$1/ from etcd"
}

cmd_apiserver() {
  [[ $# -ge 1 && "$1" != -h && "$1" != --help ]] || { usage; exit 0; }
  [[ $# -ge 2 ]] || die "usage: apiserver start|stop|kill NAME [--dir DIR] [--port PORT] [--purge]"
  local action="$1" name="$2" port="" purge=0 rest=()
  shift 2
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --port) [[ $# -ge 2 && -n "$2" ]] || die "--port needs a value"; port="$2"; shift 2 ;;
      --port=*) port="${1#--port=}"; shift ;;
      --purge) purge=1; shift ;;
      *) rest+=("$1"); shift ;;
    esac
  done
  parse_dir_args ${rest[@]+"${rest[@]}"}
  [[ "$name" =~ ^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$ ]] \
    || die "apiserver: NAME must be a DNS label of at most 40 characters, got '$name'"
  case "$name" in etcd|staging|production) die "apiserver: '$name' belongs to the environment itself; choose another NAME" ;; esac
  [[ -z "$port" || ( "$port" =~ ^[0-9]+$ && "$port" -gt 0 && "$port" -lt 65536 ) ]] || die "--port must be a TCP port, got '$port'"
  [[ -d "$DIR" ]] || die "no test environment in $DIR"
  case "$action" in
    start) need curl; need node "used to pick a free port"; need setsid; extra_start "$name" "$port" ;;
    kill) extra_kill "$name" ;;
    stop)
      stop_servers "$name"
      if [[ $purge == 1 ]]; then
        attach_env
        purge_prefix "$name"
        rm -f "$DIR/run/$name.extra" "$DIR/run/$name.port" "$DIR/kubeconfig-$name" "$DIR/logs/$name.log"
      fi
      ;;
    *) die "apiserver: unknown action '$action' (start, stop or kill)" ;;
  esac
}

# ------------------------------------------------------------------ main -----------

main() {
  [[ $# -ge 1 ]] || { usage; exit 2; }
  local cmd="$1"; shift
  case "$cmd" in
    build) cmd_build "$@" ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    apiserver) cmd_apiserver "$@" ;;
    prometheus) cmd_prometheus "$@" ;;
    jaeger) cmd_jaeger "$@" ;;
    -h|--help|help) usage ;;
    *) die "unknown command: $cmd (try --help)" ;;
  esac
}

# On one line, so that bash has read the whole script before running it (editing the file
# during a long build must not make the running copy read garbage).
main "$@"; exit $?
