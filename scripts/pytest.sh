#!/usr/bin/env bash
# The suite's Python step: pytest in the locked environment, with the project's own uv
# (scripts/tools.sh), whatever the caller's PATH. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
if [ -z "$(tirflow_uv)" ]; then
  echo "uv not found: run \`npm run setup\` (scripts/setup.sh) first" >&2
  exit 1
fi
cd python
exec uv run --frozen --quiet pytest "${@:--q}"
