#!/usr/bin/env bash
# Sourced by the project's scripts: where the project's own tools live, independent of the
# caller's PATH. A fresh machine has none of them; scripts/setup.sh installs them here, so a
# later process (scripts/test.sh, CI, another shell) finds them without any PATH entry of
# the user's.
TIRFLOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The project's tool folder (uv, and the uv wheel it came from). Overridable for tests.
TIRFLOW_TOOLS_DIR="${TIRFLOW_TOOLS_DIR:-$TIRFLOW_ROOT/.tirflow/tools}"
# The uv the project installs when none is on PATH; uv.lock is read the same by any recent uv.
TIRFLOW_UV_VERSION="0.13.8"
export PATH="$TIRFLOW_TOOLS_DIR/bin:$PATH"
# Never let uv fetch a Python build from the internet: the project runs on the machine's own
# CPython 3.11 (pyproject.toml), and a missing one should be a clear error, not a download.
export UV_PYTHON_DOWNLOADS=never
# Trust the machine's certificate store, as pip and npm do: uv's built-in roots reject a site's
# own CA (a company proxy, a mirror), and the failure would read as a network error.
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}"

# Prints the uv binary to use, or nothing when there is none yet.
tirflow_uv() {
  command -v uv 2>/dev/null || true
}
