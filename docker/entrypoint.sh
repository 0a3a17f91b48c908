#!/bin/sh
# Starts one role of the console in the container:
#   web              migrate, roles, static files, then gunicorn on :8000
#   worker           wait for the migrations, then the django-q2 cluster
#   manage ARGS...   any manage.py command (ensure_admin, backup --list, ...)
#   anything else    run as given
set -eu
umask 077
cd /app
: "${VAR_DIR:=/app/var}" "${BACKUP_ROOT:=/app/backups}"

manage() { python manage.py "$@"; }

check_writable() {
    for dir in "$VAR_DIR" "$BACKUP_ROOT"; do
        mkdir -p "$dir" 2>/dev/null || true
        if [ ! -w "$dir" ]; then
            echo "entrypoint: $dir is not writable by uid $(id -u); give the volume to that user (chown $(id -u):$(id -g))" >&2
            exit 1
        fi
    done
}

prepare() {
    manage migrate --noinput
    if manage help --commands | grep -qx setup_roles; then
        manage setup_roles
    fi
    # The django-q2 rows behind backup schedules, rebuilt after every deploy.
    manage sync_schedules
    # At start, not at build: STATIC_ROOT is on the /app/var volume, and the
    # settings would otherwise make a secret key inside the image.
    manage collectstatic --noinput -v0
}

wait_for_migrations() {
    tries=0
    until manage migrate --check >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -ge "${MIGRATION_WAIT_TRIES:-90}" ]; then
            echo "entrypoint: the console database is not migrated yet; start the web role first" >&2
            exit 1
        fi
        sleep 2
    done
}

role="${1:-web}"
[ $# -gt 0 ] && shift
case "$role" in
    web)
        check_writable
        prepare
        # gunicorn.conf.py: the control socket in $VAR_DIR, not one shared under ~/.gunicorn.
        exec gunicorn backupconsole.wsgi:application --config /app/gunicorn.conf.py --bind 0.0.0.0:8000 \
            --workers "${WEB_CONCURRENCY:-2}" --access-logfile - "$@"
        ;;
    worker)
        check_writable
        wait_for_migrations
        exec python manage.py qcluster "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
