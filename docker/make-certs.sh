#!/usr/bin/env bash
# Makes the certificates of a tirflow deployment's mTLS with openssl: one CA, the Temporal
# frontend's server certificate, and one client certificate per party that talks to the
# frontend (each worker role, the operator, the UI, the admin job, Temporal's system worker). The frontend
# accepts a client only with a certificate from this CA; every client checks the frontend's
# certificate against it. ECDSA P-256 keys (fast to make, accepted by Go, Node and rustls).
#
#   docker/make-certs.sh docker/certs                                  # compose's defaults
#   docker/make-certs.sh DIR --san DNS:temporal.example.org --san IP:10.0.0.5
#   docker/make-certs.sh DIR --clients "rollout sandbox" --days 1      # what the cluster tier makes
#   sudo docker/make-certs.sh docker/certs --temporal-uid 1000          # for docker/compose.yaml
#
# --temporal-uid gives the keys of the parties that run in Temporal's images (frontend,
# system-worker, ui, admin: user 1000 there) to that uid, so those containers can read them;
# every other key stays the caller's.
#
# Running it again keeps the CA and every certificate already in DIR and makes only the missing
# ones, so a new client can be added without re-issuing the others. Keys are written 0600.
# ca.key signs new certificates: keep it off the Temporal and worker hosts once they are made.
set -euo pipefail

usage() {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

out=""
days=365
sans=()
clients="rollout sandbox reward trainer operator ui admin system-worker"
ca_name="tirflow cluster CA"
temporal_uid=""
while [ $# -gt 0 ]; do
  case "$1" in
    --days) days="$2"; shift 2 ;;
    --san) sans+=("$2"); shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --ca-name) ca_name="$2"; shift 2 ;;
    --temporal-uid) temporal_uid="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "make-certs: unknown option $1" >&2; usage ;;
    *) [ -z "$out" ] || usage; out="$1"; shift ;;
  esac
done
[ -n "$out" ] || usage
command -v openssl >/dev/null 2>&1 || { echo "make-certs: openssl is not installed" >&2; exit 1; }

# The names the frontend answers to: compose's service name, loopback for an operator on the
# Temporal host, and whatever the caller adds (the name workers on other hosts dial).
frontend_sans="DNS:temporal-frontend,DNS:localhost,IP:127.0.0.1"
for san in "${sans[@]}"; do frontend_sans="$frontend_sans,$san"; done

mkdir -p "$out"
umask 077
cd "$out"

say() { printf '[make-certs] %s\n' "$*" >&2; }
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [ ! -f ca.crt ] || [ ! -f ca.key ]; then
  newkey ca.key
  cat > ca.cnf <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $ca_name
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
  openssl req -x509 -new -key ca.key -config ca.cnf -extensions v3_ca -days "$days" -out ca.crt
  rm -f ca.cnf
  say "CA: $out/ca.crt (keep ca.key offline)"
fi

# issue NAME CN EXTENDED_KEY_USAGE [SANS]
issue() {
  local name="$1" cn="$2" eku="$3" san="${4:-}"
  [ -f "$name.crt" ] && [ -f "$name.key" ] && return 0
  newkey "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  {
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature"
    echo "extendedKeyUsage = $eku"
    echo "authorityKeyIdentifier = keyid"
    [ -n "$san" ] && echo "subjectAltName = $san"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
    -days "$days" -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  say "$name: $out/$name.crt ($eku)"
}

issue frontend temporal-frontend serverAuth "$frontend_sans"
for client in $clients; do
  # CN names the party (the Temporal UI shows it as the caller's identity in audit logs).
  issue "client-$client" "tirflow-$client" clientAuth
done
# Certificates are public; containers running as other users must read them (keys stay 0600).
chmod 0644 ./*.crt
if [ -n "$temporal_uid" ]; then
  for party in frontend client-system-worker client-ui client-admin; do
    [ -f "$party.key" ] && chown "$temporal_uid" "$party.key"
  done
fi
