#!/usr/bin/env bash
# The whole suite: static checks, TypeScript tests (node's built-in runner, against one real
# Temporal dev server for the run), then Python tests (pytest). Every part runs; the script
# fails if any part fails.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
step() { printf '\n== %s ==\n' "$*"; }

step "typecheck (tsc --noEmit)"
npx tsc --noEmit || status=1

step "lint (eslint)"
npx eslint . || status=1

step "TypeScript tests (node --test, real Temporal dev server)"
mapfile -t ts_tests < <(find test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
npx tsx test/support/withDevServer.ts -- \
  node --import tsx --test --test-concurrency=1 --test-reporter=spec "${ts_tests[@]}" || status=1

step "Python tests (pytest)"
bash scripts/pytest.sh -q || status=1

exit $status
