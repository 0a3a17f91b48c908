# syntax=docker/dockerfile:1
# Backup Console: one image for the web console (gunicorn) and the worker (django-q2).
#
#   docker build -t backup-console .
#   docker run ... backup-console web       # or: worker, manage <command>
#
# docs/docker.md explains volumes, settings and a compose example.
FROM python:3.11-slim-bookworm

# The client programs come from the PostgreSQL project's own apt repository
# (PGDG), two majors side by side in /usr/lib/postgresql/N/bin; the console
# picks one per job (docs/docker.md):
# - the newest (18) backs up servers up to 18 (pg_dump refuses newer servers)
#   and restores into 17 and 18;
# - 16 backs up 15 and 16 servers with zstd, and pg_restore 16 restores those
#   archives into 15 and 16 directly and in parallel (pg_restore 17+ sends a
#   setting older servers reject, so it can restore into them only as a
#   script through psql, without --jobs).
ARG PG_CLIENT_MAJORS="18 16"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Debian package versions are not pinned: the archive drops old ones, and the
# PostgreSQL major versions are pinned by PG_CLIENT_MAJORS.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    install -d -m 0755 /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
        https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    . /etc/os-release; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    clients=""; for major in ${PG_CLIENT_MAJORS}; do clients="$clients postgresql-client-$major"; done; \
    apt-get install -y --no-install-recommends $clients zstd gzip age tzdata; \
    apt-get purge -y --auto-remove curl; \
    rm -rf /var/lib/apt/lists/*; \
    for major in ${PG_CLIENT_MAJORS}; do \
        "/usr/lib/postgresql/$major/bin/pg_dump" --version; "/usr/lib/postgresql/$major/bin/pg_restore" --version; \
    done; \
    zstd --version

# The console runs as an unprivileged user; the code stays root's (read-only to it).
RUN groupadd --system --gid 10001 console; \
    useradd --system --uid 10001 --gid console --home-dir /app --no-create-home --shell /usr/sbin/nologin console

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE every command
# would otherwise compile the console's modules again as it starts.
RUN python -m compileall -q backupconsole backups_app manage.py
# The Japanese catalogue is compiled here with msgfmt alone (no settings are
# loaded at build time, so no secret key ends up in the image).
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends gettext; \
    for po in backups_app/locale/*/LC_MESSAGES/django.po; do msgfmt --check -o "${po%.po}.mo" "$po"; done; \
    apt-get purge -y --auto-remove gettext; \
    rm -rf /var/lib/apt/lists/*; \
    install -d -m 0700 -o console -g console /app/backups /app/var; \
    chmod 0755 /app/docker/entrypoint.sh

ENV BACKUP_ROOT=/app/backups \
    VAR_DIR=/app/var \
    ALLOWED_HOSTS=localhost,127.0.0.1

# Backups, and the console's own state (SQLite database, secret key, static files).
VOLUME ["/app/backups", "/app/var"]

# Numeric, so that orchestrators can tell it is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
