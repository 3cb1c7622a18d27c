#!/bin/sh
# Temporal's two databases and their schemas on the shared PostgreSQL, brought to the version
# of the admin-tools image (setup-schema on an empty database, then every versioned update):
# run once per deployment and again after upgrading Temporal; re-running changes nothing.
set -eu
for db in temporal temporal_visibility; do
  case $db in temporal) schema=temporal ;; *) schema=visibility ;; esac
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p 5432 -u "$POSTGRES_USER" \
    --db "$db" create || true  # already there after the first run
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p 5432 -u "$POSTGRES_USER" \
    --db "$db" setup-schema -v 0.0 || true  # refused once the schema exists
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p 5432 -u "$POSTGRES_USER" \
    --db "$db" update-schema -d "/etc/temporal/schema/postgresql/v12/$schema/versioned"
done
echo "Temporal schemas are up to date"
