#!/usr/bin/env bash
# The whole suite: TypeScript tests (node's built-in runner) then Python tests (pytest).
# Both always run; the script fails if either fails.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
echo "== TypeScript tests (node --test) =="
node --import tsx --test --test-concurrency=1 --test-reporter=spec \
  $(find test -name '*.test.ts' -not -path '*/node_modules/*' | sort) || status=1

echo "== Python tests (pytest) =="
(cd python && uv run --frozen --quiet pytest -q) || status=1

exit $status
