#!/usr/bin/env bash
# Installs the pinned uv into the project's tool folder (.tirflow/tools), using only the
# machine's python3 and the PyPI registry: no `pip install --user` (refused by a distribution's
# externally managed Python, PEP 668), no PATH entry in the user's shell, nothing in $HOME.
# The wheel is kept in .tirflow/tools/wheels, so re-installing needs no network.
set -euo pipefail
source "$(dirname "$0")/tools.sh"

say() { printf '[setup] %s\n' "$*" >&2; }

export PIP_ROOT_USER_ACTION=ignore
python="$(command -v python3 || true)"
if [ -z "$python" ]; then
  say "python3 not found: install CPython 3.11 (e.g. sudo apt-get install python3.11)"
  exit 1
fi
if ! "$python" -m pip --version >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing python3-pip (to fetch uv from PyPI)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  else
    say "$python has no pip: install uv yourself (https://docs.astral.sh/uv/) or python3-pip"
    exit 1
  fi
fi

wheels="$TIRFLOW_TOOLS_DIR/wheels"
target="$TIRFLOW_TOOLS_DIR/uv-$TIRFLOW_UV_VERSION"
mkdir -p "$wheels" "$TIRFLOW_TOOLS_DIR/bin"
shopt -s nullglob
wheel=("$wheels"/uv-"$TIRFLOW_UV_VERSION"-*.whl)
if [ ${#wheel[@]} -eq 0 ]; then
  say "fetching uv $TIRFLOW_UV_VERSION from PyPI"
  # `pip download` only fetches; PEP 668 guards installs into the interpreter, not this.
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --dest "$wheels" "uv==$TIRFLOW_UV_VERSION"
  wheel=("$wheels"/uv-"$TIRFLOW_UV_VERSION"-*.whl)
fi
# --target installs into a folder of ours, not into the interpreter, so PEP 668 allows it.
rm -rf "$target.tmp"
"$python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
  --target "$target.tmp" "${wheel[0]}"
rm -rf "$target" && mv "$target.tmp" "$target"
ln -sfn "$target/bin/uv" "$TIRFLOW_TOOLS_DIR/bin/uv"
say "uv $("$TIRFLOW_TOOLS_DIR/bin/uv" --version | awk '{print $2}') in ${TIRFLOW_TOOLS_DIR#"$TIRFLOW_ROOT"/}/bin"
