#!/bin/sh
# First start: a cluster with POSTGRES_PASSWORD for `postgres` (password logins
# over TCP only), TimescaleDB preloaded, and POSTGRES_DB with the extension.
# Later starts: the cluster as it is.
set -eu
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" "${POSTGRES_DB:=postgres}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    umask 077
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
    initdb -D "$PGDATA" -U postgres --pwfile=/tmp/pwfile --auth-local=peer --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f /tmp/pwfile
    printf "listen_addresses = '*'\nshared_preload_libraries = 'timescaledb'\n" >> "$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    # Set up on a socket of its own: nobody (pg_isready included) sees a server until the real one starts.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start >/dev/null
    [ "$POSTGRES_DB" = postgres ] ||
        psql -h /tmp -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
    psql -h /tmp -q -v ON_ERROR_STOP=1 -d "$POSTGRES_DB" -c "CREATE EXTENSION IF NOT EXISTS timescaledb"
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA"
