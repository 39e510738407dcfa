#!/usr/bin/env bash
# Installs the FerretDB 1.x binary (a MongoDB wire-protocol server that Warden
# runs with its SQLite backend when no MongoDB is available).
#
# Usage: scripts/install-ferretdb.sh
#
# Idempotent: if a working ferretdb is already on PATH or in $(go env GOPATH)/bin
# nothing is built. Otherwise the binary is built with Go and installed as
# $(go env GOPATH)/bin/ferretdb, the same place `go install` would put it.
# Progress goes to stderr; the last line on stdout is the path of the binary.
#
# Building straight from the module zip needs one extra step: the zip has no
# build/version/version.txt, without which the binary panics at start-up, so
# the module is copied to a temporary directory and the file is written there.
set -euo pipefail

MODULE="github.com/FerretDB/FerretDB"
INSTALL_VERSION="v1.24.1"
BUILD_VERSIONS=(v1.24.1 v1.24.0 v1.23.1)
FORK_MODULE="github.com/wekan/ferretdb"

log() { echo "install-ferretdb: $*" >&2; }
die() { echo "install-ferretdb: error: $*" >&2; exit 1; }

# A binary "works" when --version prints a version (a binary built without
# version.txt panics here instead).
works() {
  local bin="$1" out
  [[ -x "$bin" ]] || return 1
  out="$("$bin" --version 2>/dev/null)" || return 1
  [[ "$out" == version:* ]]
}

gopath_bin() {
  local gopath
  gopath="$(go env GOPATH 2>/dev/null || true)"
  gopath="${gopath%%:*}"
  [[ -n "$gopath" ]] || gopath="$HOME/go"
  echo "$gopath/bin"
}

# 1. Already installed?
if existing="$(command -v ferretdb 2>/dev/null)" && works "$existing"; then
  echo "$existing"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  # Without Go we can still find a binary a previous run installed.
  if works "$HOME/go/bin/ferretdb"; then
    echo "$HOME/go/bin/ferretdb"
    exit 0
  fi
  die "Go is not installed: install Go >= 1.22 (https://go.dev/dl/ or 'apt-get install golang-go') or put a ferretdb binary on PATH"
fi

DEST_DIR="$(gopath_bin)"
DEST="$DEST_DIR/ferretdb"
if works "$DEST"; then
  echo "$DEST"
  exit 0
fi

mkdir -p "$DEST_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferretdb-build.XXXXXX")"
cleanup() { chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# The toolchain on PATH is good enough for FerretDB 1.x; do not let a
# `toolchain` line in go.mod trigger a toolchain download.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

install_binary() {
  local built="$1"
  works "$built" || return 1
  # Write next to the destination, then rename: never leaves a half-written binary.
  cp "$built" "$DEST.tmp.$$"
  chmod 0755 "$DEST.tmp.$$"
  mv -f "$DEST.tmp.$$" "$DEST"
  works "$DEST"
}

# 2. Plain `go install`.
try_go_install() {
  local pkg="$1" bin="$WORK/gobin-$RANDOM"
  log "trying: go install $pkg"
  mkdir -p "$bin"
  if GOBIN="$bin" go install "$pkg" >"$WORK/go-install.log" 2>&1; then
    if install_binary "$bin/ferretdb"; then
      return 0
    fi
    log "  the binary built by go install does not start (missing version information)"
  else
    log "  failed: $(grep -v '^\s*$' "$WORK/go-install.log" | head -n 1)"
  fi
  return 1
}

# 3. Download the module source, add build/version/version.txt, build.
try_build() {
  local module="$1" version="$2" mod dir src
  log "trying: build $module@$version from source"
  mod="$WORK/mod-$RANDOM"
  mkdir -p "$mod"
  if ! (cd "$mod" && go mod init ferretdbbuild >/dev/null 2>&1 \
      && { [[ "$version" == latest ]] || go mod edit -require="$module@$version"; } \
      && go mod download -json "$module@$version" >"$mod/download.json" 2>"$mod/download.err"); then
    log "  download failed: $( (grep '"Error"' "$mod/download.json" 2>/dev/null || tail -n 1 "$mod/download.err" 2>/dev/null) | head -n 1 | sed -e 's/^[[:space:]]*"Error": "//' -e 's/\\n.*//')"
    return 1
  fi
  dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' "$mod/download.json" | head -n 1)"
  if [[ -z "$dir" || ! -d "$dir" ]]; then
    log "  download did not report a source directory"
    return 1
  fi
  src="$WORK/src-$RANDOM"
  cp -R "$dir" "$src"
  chmod -R u+w "$src"
  mkdir -p "$src/build/version"
  [[ -s "$src/build/version/version.txt" ]] || echo "$version" >"$src/build/version/version.txt"
  if ! (cd "$src" && go build -o "$WORK/ferretdb" ./cmd/ferretdb) >"$WORK/go-build.log" 2>&1; then
    log "  build failed: $(grep -v '^\s*$' "$WORK/go-build.log" | tail -n 1)"
    return 1
  fi
  if install_binary "$WORK/ferretdb"; then
    return 0
  fi
  log "  the built binary does not start"
  return 1
}

installed=false
if try_go_install "$MODULE/cmd/ferretdb@$INSTALL_VERSION"; then
  installed=true
else
  for v in "${BUILD_VERSIONS[@]}"; do
    if try_build "$MODULE" "$v"; then installed=true; break; fi
  done
fi
if [[ "$installed" != true ]]; then
  # Community fork that keeps the 1.x SQLite backend.
  if try_go_install "$FORK_MODULE/cmd/ferretdb@latest" || try_build "$FORK_MODULE" latest; then
    installed=true
  fi
fi

if [[ "$installed" != true ]]; then
  die "could not install FerretDB (go install and source builds of ${BUILD_VERSIONS[*]} all failed); set MONGODB_URI or put mongod or ferretdb on PATH"
fi

log "installed $("$DEST" --version | head -n 1) at $DEST"
echo "$DEST"
