#!/bin/sh
# Waits for the Temporal frontend and registers tirflow's namespace once (an existing one is
# kept). Connects like every other client: mTLS with a client certificate from the cluster CA.
# compose's one-shot `temporal-namespace` job runs it in the admin-tools image; the cluster
# tier (test/cluster/productionCluster.ts) runs it with the project's Temporal CLI.
#
# Environment: TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE (default), TEMPORAL_RETENTION
# (720h: a week-long run's history stays inspectable after it ends), TLS_CA, TLS_CERT, TLS_KEY,
# TLS_SERVER_NAME (temporal-frontend); TEMPORAL_CLI (temporal); WAIT_TRIES (300, 2 s apart).
set -eu
: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
: "${TLS_CA:?TLS_CA is required}" "${TLS_CERT:?TLS_CERT is required}" "${TLS_KEY:?TLS_KEY is required}"
namespace="${TEMPORAL_NAMESPACE:-default}"
cli="${TEMPORAL_CLI:-temporal}"

temporal() {
  "$cli" "$@" --address "$TEMPORAL_ADDRESS" --tls-ca-path "$TLS_CA" --tls-cert-path "$TLS_CERT" \
    --tls-key-path "$TLS_KEY" --tls-server-name "${TLS_SERVER_NAME:-temporal-frontend}"
}

tries=0
until temporal operator cluster health >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge "${WAIT_TRIES:-300}" ]; then
    temporal operator cluster health # shows why
    exit 1
  fi
  sleep 2
done
if temporal operator namespace describe --namespace "$namespace" >/dev/null 2>&1; then
  echo "namespace: $namespace exists"
else
  temporal operator namespace create --namespace "$namespace" --retention "${TEMPORAL_RETENTION:-720h}"
  echo "namespace: $namespace registered"
fi
