#!/bin/sh
# Waits for the Temporal frontend, registers tirflow's namespace once (an existing one is kept)
# and its search attributes, and waits until a query naming every one of them is accepted (the
# frontend's namespace cache has the attributes: a run started before that is refused).
# Connects like every other client: mTLS with a client certificate from the cluster CA.
# compose's one-shot `temporal-namespace` job runs it in the admin-tools image; the cluster
# tier (test/cluster/productionCluster.ts) runs it with the project's Temporal CLI.
#
# Environment: TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE (default), TEMPORAL_RETENTION
# (720h: a week-long run's history stays inspectable after it ends), TLS_CA, TLS_CERT, TLS_KEY,
# TLS_SERVER_NAME (temporal-frontend); TEMPORAL_CLI (temporal); WAIT_TRIES (300, 2 s apart);
# SEARCH_ATTRIBUTES: "Name=Type ..." (common/searchAttributes.ts's; compose.test.ts checks).
set -eu
: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
: "${TLS_CA:?TLS_CA is required}" "${TLS_CERT:?TLS_CERT is required}" "${TLS_KEY:?TLS_KEY is required}"
namespace="${TEMPORAL_NAMESPACE:-default}"
cli="${TEMPORAL_CLI:-temporal}"

temporal() {
  "$cli" "$@" --address "$TEMPORAL_ADDRESS" --tls-ca-path "$TLS_CA" --tls-cert-path "$TLS_CERT" \
    --tls-key-path "$TLS_KEY" --tls-server-name "${TLS_SERVER_NAME:-temporal-frontend}"
}

# Retries `temporal "$@"` until it succeeds; after WAIT_TRIES, runs it once more to show why not.
retry() {
  tries=0
  until temporal "$@" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge "${WAIT_TRIES:-300}" ]; then
      temporal "$@"
      exit 1
    fi
    sleep 2
  done
}

retry operator cluster health
if temporal operator namespace describe --namespace "$namespace" >/dev/null 2>&1; then
  echo "namespace: $namespace exists"
else
  temporal operator namespace create --namespace "$namespace" --retention "${TEMPORAL_RETENTION:-720h}"
  echo "namespace: $namespace registered"
fi

query=""
# A namespace just registered reaches the frontend's cache within seconds.
retry operator search-attribute list --namespace "$namespace"
registered=$(temporal operator search-attribute list --namespace "$namespace")
for pair in ${SEARCH_ATTRIBUTES:-}; do
  name=${pair%%=*}
  type=${pair#*=}
  if printf '%s\n' "$registered" | grep -qw "$name"; then
    echo "namespace: search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$namespace" --name "$name" --type "$type"
    echo "namespace: search attribute $name ($type) registered"
  fi
  case "$type" in
    Int) clause="$name >= 0" ;;
    *) clause="$name = 'probe'" ;;
  esac
  query="${query:+$query AND }$clause"
done
if [ -n "$query" ]; then
  retry workflow count --namespace "$namespace" --query "$query"
  echo "namespace: search attributes in use"
fi
