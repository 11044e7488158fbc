#!/bin/sh
# Creates (first run) and migrates (every run) Temporal's two PostgreSQL databases with
# Temporal's own SQL tool and the schemas built into it. Idempotent: an existing database is
# kept and brought to the schema version of this temporal-sql-tool's server release.
# compose's one-shot `temporal-schema` job runs it in the admin-tools image; the cluster tier
# (test/cluster/schema.ts) runs it with the tool built from the same release.
#
# Environment: SQL_HOST, SQL_PORT (5432), SQL_USER, SQL_PASSWORD (read by temporal-sql-tool
# itself, so the password is on no command line); TEMPORAL_SQL_TOOL (temporal-sql-tool).
set -eu
: "${SQL_HOST:?SQL_HOST (the PostgreSQL host) is required}"
: "${SQL_USER:?SQL_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required}"
export SQL_PLUGIN=postgres12 SQL_PORT="${SQL_PORT:-5432}"
tool="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"

for pair in temporal:postgresql/v12/temporal temporal_visibility:postgresql/v12/visibility; do
  database=${pair%%:*}
  schema=${pair#*:}
  if ! created=$("$tool" --database "$database" create-database 2>&1); then
    case "$created" in
      *"already exists"*) echo "schema: database $database exists" ;;
      *) echo "$created" >&2; exit 1 ;;
    esac
  fi
  "$tool" --database "$database" setup-schema -v 0.0
  "$tool" --database "$database" update-schema --schema-name "$schema"
  echo "schema: $database is at the schema of $schema"
done
