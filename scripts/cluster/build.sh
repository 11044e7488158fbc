#!/usr/bin/env bash
# Builds the pinned Temporal server and its SQL schema tool from the Go module proxy, once:
# the binaries are cached in .tirflow/cluster/bin/<version>/ and a later run finds them there.
# Prints the folder holding `temporal-server` and `temporal-sql-tool` on stdout.
#
# Go is found on PATH, else at /usr/local/go/bin/go (the official tarball's place), so this
# works from CI's clean environment (env -i, the system's default PATH).
set -euo pipefail
cd "$(dirname "$0")/../.."

version="${TIRFLOW_TEMPORAL_SERVER_VERSION:-v1.29.1}"
out="$PWD/.tirflow/cluster/bin/$version"
say() { printf '[cluster build] %s\n' "$*" >&2; }

if [ -x "$out/temporal-server" ] && [ -x "$out/temporal-sql-tool" ]; then
  echo "$out"
  exit 0
fi

go_bin="$(command -v go 2>/dev/null || true)"
if [ -z "$go_bin" ] && [ -x /usr/local/go/bin/go ]; then go_bin=/usr/local/go/bin/go; fi
if [ -z "$go_bin" ]; then
  say "Go is not installed (neither on PATH nor at /usr/local/go/bin/go): the cluster tier builds"
  say "Temporal's server $version from source; install Go >= 1.25 from https://go.dev/dl/"
  exit 1
fi

# HOME may be all CI leaves in the environment: Go's caches default under it.
export GOPATH="${GOPATH:-$HOME/go}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
# The server's go.mod asks for Go 1.25; an older local Go may fetch that toolchain itself.
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
mkdir -p "$PWD/.tirflow/cluster"
build=$(mktemp -d "$PWD/.tirflow/cluster/build.XXXXXX")
trap 'rm -rf "$build"' EXIT

started=$SECONDS
say "building Temporal server $version and temporal-sql-tool with $("$go_bin" version) (a few minutes the first time)"
GOBIN="$build" "$go_bin" install -trimpath \
  "go.temporal.io/server/cmd/server@$version" \
  "go.temporal.io/server/cmd/tools/sql@$version"
mkdir -p "$out"
# Atomic per binary: a build interrupted half-way leaves nothing the next run mistakes for done.
mv "$build/sql" "$out/temporal-sql-tool.tmp" && mv "$out/temporal-sql-tool.tmp" "$out/temporal-sql-tool"
mv "$build/server" "$out/temporal-server.tmp" && mv "$out/temporal-server.tmp" "$out/temporal-server"
say "built in $((SECONDS - started)) s: $out"
echo "$out"
