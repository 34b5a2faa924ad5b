# Shared by scripts/setup-tools.sh and scripts/testenv.sh: Go-built binaries cached with version stamps.
# The caller defines log() and die() before sourcing this file, and FORCE before calling up_to_date.

# tools_dir: sets TOOLS_DIR (absolute; $MESHOPS_TOOLS_DIR, else ~/.cache/meshops/tools) and BIN_DIR, creating them.
tools_dir() {
  if [[ -z "${MESHOPS_TOOLS_DIR:-}" ]]; then
    [[ -n "${HOME:-}" ]] || die "neither MESHOPS_TOOLS_DIR nor HOME is set; cannot choose a cache directory"
  fi
  TOOLS_DIR="${MESHOPS_TOOLS_DIR:-$HOME/.cache/meshops/tools}"
  mkdir -p "$TOOLS_DIR/bin" || die "cannot create $TOOLS_DIR/bin"
  TOOLS_DIR="$(cd "$TOOLS_DIR" && pwd -P)"   # absolute, so an exported PATH works from any directory
  BIN_DIR="$TOOLS_DIR/bin"
}

# up_to_date NAME STAMP: the binary is present and its stamp file records STAMP.
up_to_date() {
  local stamp="$BIN_DIR/.$1.version"
  [[ "$FORCE" == 0 && -x "$BIN_DIR/$1" && -f "$stamp" && "$(<"$stamp")" == "$2" ]]
}

# find_go PURPOSE: sets GO to the go command (PATH, then /usr/local/go), or dies saying what it was needed for.
GO=""
find_go() {
  [[ -n "$GO" ]] && return 0
  GO="$(command -v go || true)"
  if [[ -z "$GO" && -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; fi
  [[ -n "$GO" ]] || die "'go' was not found on PATH (nor at /usr/local/go/bin/go). Install Go >= 1.26 and re-run; it is needed to build $1."
  log "using $("$GO" version) ($GO)"
}
