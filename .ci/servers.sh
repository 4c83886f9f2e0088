#!/usr/bin/env bash
# Builds the real servers the tests and benchmarks run against, once, from the Go module proxy:
#   FerretDB         MongoDB's wire protocol over SQLite (pure Go, no cgo)
#   Versity S3 GW    an S3 server over a POSIX folder, with IAM accounts
# Binaries land in $S3X_SERVERS_DIR (default: ~/.cache/s3explore/servers) under versioned
# names; a later run finds them there and builds nothing. Prints that folder on stdout.
set -euo pipefail

FERRETDB_VERSION=v1.24.2
VERSITYGW_VERSION=v1.7.0
DIR="${S3X_SERVERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/s3explore/servers}"

command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
  echo "servers.sh: the real servers are built with Go 1.26 or later; no 'go' on PATH" >&2
  exit 1
fi
mkdir -p "$DIR"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { echo "servers.sh: $*" >&2; }

build_ferretdb() {
  local out="$DIR/ferretdb-$FERRETDB_VERSION"
  [ -x "$out" ] && return 0
  log "building FerretDB $FERRETDB_VERSION"
  local started=$SECONDS work module
  work=$(mktemp -d)
  module=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
           sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  cp -r "$module/." "$work/"
  chmod -R u+w "$work"
  # FerretDB's release tooling writes build/version/version.txt, which the published module
  # lacks; its docs say to write the version there by hand, else the binary refuses to start.
  echo "$FERRETDB_VERSION" > "$work/build/version/version.txt"
  (cd "$work" && go build -trimpath -o "$out.tmp" ./cmd/ferretdb)
  mv "$out.tmp" "$out"
  rm -rf "$work"
  log "FerretDB built in $((SECONDS - started)) s"
}

build_versitygw() {
  local out="$DIR/versitygw-$VERSITYGW_VERSION"
  [ -x "$out" ] && return 0
  log "building Versity S3 Gateway $VERSITYGW_VERSION"
  local started=$SECONDS bin
  bin=$(mktemp -d)
  GOBIN="$bin" go install -trimpath "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  mv "$bin/versitygw" "$out"
  rm -rf "$bin"
  log "Versity S3 Gateway built in $((SECONDS - started)) s"
}

build_ferretdb
build_versitygw
echo "$DIR"
