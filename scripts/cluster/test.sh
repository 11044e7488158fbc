#!/usr/bin/env bash
# The production-shape tier (`npm run test:cluster`): PostgreSQL, Temporal's four services from
# a pinned server build with mTLS on the frontend, and tirflow's workers on their own network
# namespaces (test/cluster/). Builds the server once (cached in .tirflow/cluster/), then runs
# test/cluster/*.cluster.ts, which `npm test` does not pick up (it runs *.test.ts). Needs root
# (network namespaces, PostgreSQL as its own OS user). Prints its total time.
set -uo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS

bash scripts/cluster/setup.sh || exit 1
bin=$(bash scripts/cluster/build.sh) || exit 1
echo "[cluster] Temporal server build: $bin ($((SECONDS - started)) s so far)"

mapfile -t files < <(find test/cluster -name '*.cluster.ts' | sort)
TIRFLOW_CLUSTER_BIN="$bin" node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
status=$?
echo "[cluster] npm run test:cluster: $((SECONDS - started)) s in all (exit $status)"
exit $status
