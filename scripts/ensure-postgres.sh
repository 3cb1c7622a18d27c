#!/usr/bin/env bash
# Make sure a PostgreSQL for the store tests answers on 127.0.0.1:${PBXHUB_PG_PORT:-5432}, with
# role pbxhub (password pbxhub) owning database pbxhub_test, then print its SQLAlchemy URL.
#
# If nothing answers there, Debian's `postgresql` is installed (when missing) and its `main`
# cluster started, listening on 127.0.0.1 only. Idempotent; silent on success apart from the URL
# on stdout (and a line on stderr for anything it had to change); loud and non-zero on failure.
# Works on a fresh Debian 12 machine when run as root.
#
# If the server is not a local Debian cluster (e.g. a CI service container), the role and the
# database are created as PGUSER (default postgres) with PGPASSWORD, when they do not exist.
set -euo pipefail

readonly HOST=127.0.0.1
readonly PORT="${PBXHUB_PG_PORT:-5432}"
readonly ROLE=pbxhub
readonly PASSWORD=pbxhub
readonly DATABASE=pbxhub_test
readonly URL="postgresql+psycopg://${ROLE}:${PASSWORD}@${HOST}:${PORT}/${DATABASE}"
readonly CLUSTER=main

note() { echo "ensure-postgres: $*" >&2; }
die() {
    echo "ensure-postgres: ERROR: $*" >&2
    exit 1
}

# Run a command quietly; on failure show what it said and stop.
quietly() {
    local output
    if ! output=$("$@" 2>&1); then
        echo "$output" >&2
        die "failed: $*"
    fi
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "$1 needs root (run as root, or start PostgreSQL on $HOST:$PORT yourself)"
}

apt_install() {
    need_root "installing $*"
    note "installing $* with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine (or container) has no package lists yet.
    quietly apt-get update -q
    quietly apt-get install -y -q "$@"
}

server_binary_installed() {
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}

client_installed() {
    compgen -G "/usr/lib/postgresql/*/bin/psql" >/dev/null
}

server_answers() {
    if client_installed; then
        pg_isready -q -h "$HOST" -p "$PORT"
    else
        # No client tools yet: does anything accept connections on the port at all?
        (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
    fi
}

newest_version() {
    # shellcheck disable=SC2012  # version directories are plain numbers
    ls /usr/lib/postgresql | sort -V | tail -n 1
}

# Start Debian's `main` cluster of the newest installed version on $HOST:$PORT.
start_local_cluster() {
    need_root "starting PostgreSQL"
    local version status
    version=$(newest_version)
    if [[ ! -f /etc/postgresql/$version/$CLUSTER/postgresql.conf ]]; then
        note "creating cluster $version/$CLUSTER"
        quietly pg_createcluster "$version" "$CLUSTER" --port "$PORT"
    fi
    status=$(pg_lsclusters --no-header | awk -v v="$version" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}')
    if [[ $status == online* ]]; then
        die "cluster $version/$CLUSTER is running but not answering on $HOST:$PORT" \
            "(see: pg_lsclusters; set PBXHUB_PG_PORT to its port)"
    fi
    # Tests only: reachable from this machine alone, on the port asked for. A drop-in file
    # (read after postgresql.conf, by the server and by pg_lsclusters alike) leaves the
    # packaged configuration untouched.
    printf "# Written by pbxhub's scripts/ensure-postgres.sh\nlisten_addresses = '%s'\nport = %s\n" \
        "$HOST" "$PORT" >"/etc/postgresql/$version/$CLUSTER/conf.d/pbxhub-tests.conf"
    note "starting cluster $version/$CLUSTER on $HOST:$PORT"
    quietly pg_ctlcluster "$version" "$CLUSTER" start
    local attempt
    for attempt in $(seq 1 30); do
        pg_isready -q -h "$HOST" -p "$PORT" && return 0
        sleep 0.5
    done
    tail -n 20 "/var/log/postgresql/postgresql-$version-$CLUSTER.log" >&2 || true
    die "PostgreSQL $version/$CLUSTER did not come up on $HOST:$PORT (after $attempt tries)"
}

pbxhub_can_connect() {
    PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q -w -h "$HOST" -p "$PORT" -U "$ROLE" \
        -d "$DATABASE" -tAc "SELECT 1" >/dev/null 2>&1
}

# psql as a superuser: the local `postgres` user over the Unix socket if this is our cluster,
# else PGUSER/PGPASSWORD over TCP.
admin_psql() {
    if id postgres >/dev/null 2>&1 && [[ -S /var/run/postgresql/.s.PGSQL.$PORT ]] && [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- psql -X -q -w -v ON_ERROR_STOP=1 -p "$PORT" -d postgres "$@")
    else
        PGUSER="${PGUSER:-postgres}" psql -X -q -w -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" \
            -d postgres "$@"
    fi
}

ensure_role_and_database() {
    pbxhub_can_connect && return 0
    note "creating role $ROLE and database $DATABASE"
    admin_psql -c "DO \$\$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
                CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
            ELSE
                ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
            END IF;
        END \$\$;" >/dev/null ||
        die "could not create role $ROLE as a superuser (set PGUSER/PGPASSWORD for $HOST:$PORT)"
    if [[ -z $(admin_psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'") ]]; then
        admin_psql -c "CREATE DATABASE $DATABASE OWNER $ROLE" >/dev/null ||
            die "could not create database $DATABASE"
    fi
    pbxhub_can_connect ||
        die "role $ROLE still cannot log in to $DATABASE on $HOST:$PORT (check pg_hba.conf)"
}

main() {
    if ! server_answers; then
        server_binary_installed || apt_install postgresql
        # Where services may start, installing the package has already started the cluster.
        server_answers || start_local_cluster
    fi
    client_installed || apt_install postgresql-client
    ensure_role_and_database
    echo "$URL"
}

main "$@"
