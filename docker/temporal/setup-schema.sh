#!/bin/sh
# One-shot (docker-compose.yml, service temporal-schema): creates Temporal's two databases and brings
# their schemas up to this admin-tools image's version. Every step skips what already exists, so it
# runs again harmlessly on each `docker compose up`, and applies new schema versions after an upgrade.
# The password comes from SQL_PASSWORD in the environment (read by temporal-sql-tool).
set -eu

sql() {
  temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS:?}" -p "${DB_PORT:-5432}" -u "${POSTGRES_USER:?}" "$@"
}

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) schema=/etc/temporal/schema/postgresql/v12/temporal/versioned ;;
    *) schema=/etc/temporal/schema/postgresql/v12/visibility/versioned ;;
  esac
  echo "database $db: create, set up, update ($schema)"
  sql --db "$db" create-database
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$schema"
done
echo "Temporal schemas are up to date"
