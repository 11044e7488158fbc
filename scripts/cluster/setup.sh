#!/usr/bin/env bash
# What the cluster tier needs beyond `npm run setup`: PostgreSQL's server binaries (Debian
# package `postgresql`), openssl (certificates), iproute2 (the hosts' network namespaces) and
# libseccomp's Python binding (python3-seccomp: applies the sandbox's seccomp profile).
# Idempotent: installs only what is missing, as root via apt-get like scripts/setup.sh.
set -euo pipefail

say() { printf '[cluster setup] %s\n' "$*" >&2; }

missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
/usr/bin/python3 -c 'import seccomp' >/dev/null 2>&1 || missing+=(python3-seccomp)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  if [[ " ${missing[*]} " == *" postgresql "* ]]; then
    # The tier runs its own PostgreSQL in a temp folder; the package's default cluster would be
    # a second server, started on the well-known port, that nothing here uses.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/tirflow-no-main-cluster.conf
  fi
  say "installing system packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  say "missing system packages: ${missing[*]}"
  say "install them with your package manager, e.g.: sudo apt-get install ${missing[*]}"
  exit 1
fi
