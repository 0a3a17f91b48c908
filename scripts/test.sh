#!/usr/bin/env bash
# Runs the whole test suite, preparing this machine for it first.
#
# Installs the Debian packages the tests use when it may (as root, or with
# password-less sudo); otherwise says exactly what to install and stops. Makes
# .venv when missing, installs the pinned dependencies, compiles the message
# catalogues, then runs pytest twice:
#   1. every test, with the console's own database on SQLite;
#   2. the job-queue, locking, reaper, admin and schedule tests again with the
#      console's database on PostgreSQL, on a throwaway cluster of its own
#      (python -m tests.run_on_postgres).
# As root, ../shared/tools/container-base.sh prepares podman and a base image for
# the tests that build and run the console's image and compose stack.
# Each run starts its own PostgreSQL clusters, Redis and browser. Arguments go
# to both runs (scripts/test.sh -m "not slow and not browser"). Under CI=true a
# skipped test fails the run.
#
#   --prepare-only   install and set up, run no test
#   --sqlite-only    leave out the second run
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"  # runuser, mount: not on a user's PATH on Debian

PREPARE_ONLY=0
SQLITE_ONLY=0
args=()
for arg in "$@"; do
  case "$arg" in
    --prepare-only) PREPARE_ONLY=1 ;;
    --sqlite-only) SQLITE_ONLY=1 ;;
    *) args+=("$arg") ;;
  esac
done

say() { printf '==> %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

have_pg_program() {  # in the Debian server/client folders, or on PATH
  compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null || command -v "$1" >/dev/null 2>&1
}

have_fonts() {  # chromium draws pages (and screenshots) with whatever fonts there are
  [ -n "$(find /usr/share/fonts /usr/local/share/fonts -type f \( -name '*.ttf' -o -name '*.otf' \) 2>/dev/null |
          head -n1)" ]
}

have_japanese_font() {  # the Japanese screenshots need kana and kanji glyphs, not empty boxes
  [ -n "$(fc-list :lang=ja family 2>/dev/null | head -n1)" ]
}

missing_packages() {  # the Debian package for each program the tests run that is not here
  local need=() pair
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need+=(python3-venv)
  fi
  have_pg_program initdb || need+=(postgresql)
  have_pg_program pg_dump || need+=(postgresql-client)
  # program:package, for programs found on PATH; as root the tests also mount, chattr and switch users
  local programs=(zstd:zstd gzip:gzip age:age age-keygen:age chromium:chromium msgfmt:gettext redis-server:redis-server pgrep:procps
                  aws:awscli openssl:openssl curl:curl jq:jq sshd:openssh-server ssh-keygen:openssh-client
                  ssh-keyscan:openssh-client)
  [ "$(id -u)" -ne 0 ] || programs+=(runuser:util-linux mount:mount chattr:e2fsprogs)
  for pair in "${programs[@]}"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
  done
  have_fonts || need+=(fonts-dejavu-core)
  command -v fc-list >/dev/null 2>&1 || need+=(fontconfig)
  have_japanese_font || need+=(fonts-noto-cjk)
  [ ${#need[@]} -eq 0 ] || printf '%s\n' "${need[@]}"
}

apt_retry() {  # a mirror hiccup should not fail the whole run
  local i
  for i in 1 2 3; do
    "$@" && return 0
    printf 'apt step failed (try %s of 3): %s\n' "$i" "$*" >&2
    sleep $((i * 10))
  done
  return 1
}

ensure_packages() {
  local need as=()
  mapfile -t need < <(missing_packages)
  [ ${#need[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 ||
    die "missing programs; this is not Debian or Ubuntu, so install the equivalents of these packages yourself: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as=(sudo -n)
    else
      die "missing Debian packages: ${need[*]}
Install them with:  sudo apt-get install ${need[*]}
then run scripts/test.sh again."
    fi
  fi
  say "Installing Debian packages: ${need[*]}"
  apt_retry ${as[@]+"${as[@]}"} apt-get update -qq
  apt_retry ${as[@]+"${as[@]}"} env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${need[@]}"
  mapfile -t need < <(missing_packages)
  [ ${#need[@]} -eq 0 ] || die "still missing after apt-get install: ${need[*]}"
}

ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    say "Creating the virtualenv .venv"
    python3 -m venv .venv
  fi
  .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die ".venv has $(.venv/bin/python -V 2>&1); Python 3.11 or newer is needed (remove .venv to rebuild it)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
}

# What ../shared/tools/container-base.sh leaves on a machine it prepared, and prints as exports.
PREPARED_CONF=/var/lib/container-base/containers.conf
PREPARED_IMAGE=localhost/bookworm-base

ensure_containers() {  # podman and a bookworm base image, for tests/test_image.py and tests/test_compose.py
  local tool=../shared/tools/container-base.sh exports
  if [ -f "$tool" ] && [ "$(id -u)" -eq 0 ]; then
    exports=$(bash "$tool") || die "$tool failed (above); the image and compose tests need it"
    eval "$exports"
  elif [ -z "${CONTAINERS_CONF:-}" ] && [ -f "$PREPARED_CONF" ] &&
       CONTAINERS_CONF="$PREPARED_CONF" podman image exists "$PREPARED_IMAGE" 2>/dev/null; then
    # A clone with no shared/tools beside it, on a machine where the tool already ran: its setup is still here.
    say "Using the podman setup already on this machine ($PREPARED_CONF, $PREPARED_IMAGE)"
    export CONTAINERS_CONF="$PREPARED_CONF" CONTAINER_BASE_IMAGE="$PREPARED_IMAGE"
    export CONTAINER_BUILD_CA=/etc/ssl/certs/ca-certificates.crt
  elif [ -z "${CONTAINERS_CONF:-}" ]; then
    say "No podman prepared (needs root and $tool): the image and compose tests will fail saying how to get it"
  fi
}

ensure_packages
ensure_venv
ensure_containers
.venv/bin/python manage.py compilemessages -v0 --ignore=.venv >/dev/null
# Compiled once: every manage.py the tests start would otherwise compile the
# console's modules again (nothing is written where PYTHONDONTWRITEBYTECODE is set).
.venv/bin/python -m compileall -q backupconsole backups_app tests manage.py >/dev/null
[ "$PREPARE_ONLY" = 1 ] && { say "Ready to test"; exit 0; }

started=$SECONDS
say "Run 1: every test, the console's database on SQLite"
sqlite_status=0
.venv/bin/python -m pytest ${args[@]+"${args[@]}"} || sqlite_status=$?
sqlite_time=$((SECONDS - started))

pg_status=0
pg_time=0
if [ "$SQLITE_ONLY" = 0 ]; then
  started=$SECONDS
  say "Run 2: the job-queue, locking, reaper, admin and schedule tests, the console's database on PostgreSQL"
  .venv/bin/python -m tests.run_on_postgres ${args[@]+"${args[@]}"} || pg_status=$?
  [ "$pg_status" = 5 ] && pg_status=0  # 5: the arguments selected none of those tests
  pg_time=$((SECONDS - started))
fi

say "Console database on SQLite: exit $sqlite_status in ${sqlite_time} s"
[ "$SQLITE_ONLY" = 1 ] || say "Console database on PostgreSQL: exit $pg_status in ${pg_time} s"
[ "$sqlite_status" = 0 ] && [ "$pg_status" = 0 ]
