"""System checks: misconfiguration is reported at start, in one clear line."""

import os
import re
import shutil
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

# Its own tag: commands that only read backups (backup --list, --check) run without it.
BACKUP_ROOT_WRITABLE = "backup_root_writable"


@register(BACKUP_ROOT_WRITABLE)
def backup_root_writable(app_configs, **kwargs):
    root = Path(settings.BACKUP_ROOT)
    why = _not_writable(root)
    if why:
        return [Error(f"BACKUP_ROOT {root} is not a writable directory: {why}", id="backups.E001",
                      hint="Create it or set BACKUP_ROOT to a folder this user can write.")]
    return []


@register(Tags.compatibility, deploy=False)
def backup_settings(app_configs, **kwargs):
    from backups_app.services.postgres import binaries

    problems = []
    if not binaries.pg_dump_candidates():
        problems.append(Error(f"no usable pg_dump found ({binaries.where_searched()})",
                              id="backups.E002", hint="Install the PostgreSQL client tools or set PG_BIN_DIR."))
    if settings.BACKUP_SQL_COMPRESSION not in ("gzip", "zstd"):
        problems.append(Error(f"BACKUP_SQL_COMPRESSION must be gzip or zstd, not {settings.BACKUP_SQL_COMPRESSION!r}",
                              id="backups.E003"))
    elif not shutil.which(settings.BACKUP_SQL_COMPRESSION):
        problems.append(Warning(f"{settings.BACKUP_SQL_COMPRESSION} is not installed: SQL backups will fail",
                                id="backups.W001"))
    if not 1 <= settings.BACKUP_DUMP_JOBS <= 64:
        problems.append(Error(f"BACKUP_DUMP_JOBS must be between 1 and 64, not {settings.BACKUP_DUMP_JOBS}",
                              id="backups.E007"))
    if not 1 <= settings.SERVER_BACKUP_PARALLEL <= 16:
        problems.append(Error(f"SERVER_BACKUP_PARALLEL must be between 1 and 16, not "
                              f"{settings.SERVER_BACKUP_PARALLEL}", id="backups.E060"))
    problems += _api_problems()
    q = settings.Q_CLUSTER
    if q.get("retry", 0) <= q.get("timeout", 0):
        problems.append(Error("Q_CLUSTER retry must be larger than timeout, or long jobs run twice",
                              id="backups.E004"))
    if settings.JOB_LOST_AFTER_SECONDS < 3 * settings.JOB_HEARTBEAT_SECONDS:
        problems.append(Error("JOB_LOST_AFTER_SECONDS must be at least three times JOB_HEARTBEAT_SECONDS, "
                              "or live jobs are failed as lost", id="backups.E005"))
    if not 0 < settings.JOB_PROGRESS_SECONDS <= 3600:
        problems.append(Error(f"JOB_PROGRESS_SECONDS must be more than 0 and at most 3600, not "
                              f"{settings.JOB_PROGRESS_SECONDS}", id="backups.E060"))
    problems += _metrics_problems()
    problems += _encryption_problems()
    problems += _password_variable_problems()
    problems += _clear_text_problems()
    problems += _host_name_problems()
    return problems


def _api_problems() -> list:
    from backups_app.services.web import rates

    problems = [Error(f"{name}: {why}", id="backups.E061") for name in ("API_THROTTLE_RATE", "API_FAILED_AUTH_RATE")
                if (why := rates.problem(getattr(settings, name)))]
    if not 1 <= settings.API_WAIT_MAX_SECONDS <= 3600:
        problems.append(Error(f"API_WAIT_MAX_SECONDS must be between 1 and 3600, not {settings.API_WAIT_MAX_SECONDS}",
                              id="backups.E062"))
    return problems


def _password_variable_problems() -> list:
    from backups_app.services.postgres import names

    if not (bad := names.bad_password_variable_entries(settings.TARGET_PASSWORD_VARIABLES)):
        return []
    return [Error(f"TARGET_PASSWORD_VARIABLES has entries that are no variable name or prefix, or that would let a "
                  f"target read one of the console's own secrets: {', '.join(bad)}", id="backups.E050",
                  hint="List names such as DB_PASSWORD, or prefixes such as BACKUP_PG_PASSWORD_* (upper case).")]


def _clear_text_problems() -> list:
    """Without a client that can refuse clear text (16+), an unencrypted TCP connection is refused at every job."""
    import psycopg

    from backups_app.services.postgres import binaries, connection

    if connection.encryption_required():
        return []
    problems = []
    found = binaries.pg_dump_candidates()  # none at all is backups.E002
    if found and not any(t.major >= binaries.REQUIRE_AUTH_SINCE for t in found):
        problems.append(Warning(
            f"no pg_dump {binaries.REQUIRE_AUTH_SINCE} or newer found: it alone can refuse to send a password in "
            "clear text, so backups over TCP will be refused unless encryption is required", id="backups.W050",
            hint="Install PostgreSQL 16+ client programs (scripts/run-console.sh puts 17 into .venv), or set "
                 "PGSSLMODE=require (better verify-full)."))
    if psycopg.pq.version() < binaries.REQUIRE_AUTH_SINCE * 10000:
        problems.append(Warning(
            "psycopg's libpq is older than 16: it cannot refuse to send a password in clear text, so connections "
            "over TCP will be refused unless encryption is required", id="backups.W051",
            hint="Install psycopg[binary] as requirements.txt pins it, or set PGSSLMODE=require."))
    return problems


HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _host_name_problems() -> list:
    # It names a queue of its own and is recorded beside every job: one plain word, as host names are.
    name = settings.CONSOLE_HOST_NAME
    if not name or HOST_NAME.fullmatch(name):
        return []
    return [Error(f"CONSOLE_HOST_NAME must be at most 64 letters, digits, dots, dashes or underscores, not {name!r}",
                  id="backups.E021", hint="Give each host sharing the console database a name of its own.")]


def _encryption_problems() -> list:
    from backups_app.services.crypto import keys

    problems = []
    if bad := keys.bad_recipients(list(settings.BACKUP_AGE_RECIPIENTS)):
        problems.append(Error(f"BACKUP_AGE_RECIPIENTS holds something that is not an age public key: "
                              f"{keys.shown(bad[0])}", id="backups.E020",
                              hint="Give public keys only (age1..., from age-keygen -y KEYFILE)."))
    key_file = settings.BACKUP_AGE_IDENTITY_FILE
    if key_file and not os.access(key_file, os.R_OK):
        problems.append(Warning(f"BACKUP_AGE_IDENTITY_FILE {key_file} cannot be read: encrypted backups cannot be "
                                "restored or fully verified", id="backups.W020"))
    if (settings.BACKUP_AGE_RECIPIENTS or key_file) and not shutil.which("age"):
        problems.append(Warning("the age program is not installed: encrypted backups will fail",
                                id="backups.W021", hint="apt-get install age"))
    return problems


def _metrics_problems() -> list:
    from backups_app.services.monitoring import access

    bad = access.bad_networks()
    if not bad:
        return []
    return [Error(f"METRICS_ALLOWED_IPS has entries that are not addresses or networks: {', '.join(bad)}",
                  id="backups.E006", hint="Use addresses or networks such as 10.0.0.5, 10.0.0.0/24 or ::1.")]


@register(Tags.compatibility)
def schedule_interval(app_configs, **kwargs):
    minimum = settings.SCHEDULE_MIN_INTERVAL_MINUTES
    if 0 <= minimum <= 1440:
        return []
    return [Error(f"SCHEDULE_MIN_INTERVAL_MINUTES must be between 0 and 1440 (a day), not {minimum}",
                  id="backups.E041")]


@register(Tags.security)
def trusted_proxies(app_configs, **kwargs):
    from backups_app.services.web import client_address

    bad = client_address.bad_entries()
    if not bad:
        return []
    return [Error(f"TRUSTED_PROXY_IPS has entries that are not addresses or networks: {', '.join(bad)}",
                  id="backups.E040", hint="Use addresses or networks such as 127.0.0.1, ::1 or 172.18.0.0/16.")]


@register(Tags.security, deploy=True)
def proxy_without_trust(app_configs, **kwargs):
    """HTTPS=true means a TLS proxy in front; unless it is trusted, every sign-in seems to come from it."""
    if not settings.HTTPS or settings.TRUSTED_PROXY_IPS:
        return []
    return [Warning("HTTPS is on but TRUSTED_PROXY_IPS is empty: every sign-in seems to come from the proxy's "
                    "address, so LOGIN_FAILURE_LIMIT wrong passwords lock that user out for everyone",
                    id="backups.W040",
                    hint="Set TRUSTED_PROXY_IPS to the proxy's address (127.0.0.1 for nginx on this machine) "
                         "and have the proxy append X-Forwarded-For (docs/deploy.md).")]


@register(Tags.security)
def private_files(app_configs, **kwargs):
    """VAR_DIR and the console database hold session keys and the secret key: the owner's only."""
    problems = []
    for path in _console_state():
        mode = _mode(path)
        if mode is not None and mode & 0o077:
            fix = "chmod 700" if path.is_dir() else "chmod 600"
            problems.append(Error(f"{path} is open to other users (mode {mode:04o})", id="backups.E008",
                                  hint=f"{fix} {path}; start the console with umask 077 (manage.py does)."))
    return problems


def _console_state() -> list[Path]:
    var = Path(settings.VAR_DIR)
    paths = [var, var / "secret_key"]
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3" and isinstance(db.get("NAME"), (str, Path)):
        name = str(db["NAME"])
        paths += [Path(name + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    return paths


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o777
    except OSError:  # not made yet (or an in-memory test database): nothing to protect
        return None


def _not_writable(root: Path) -> str:
    """Why backups cannot be written below root (it or its nearest existing parent), or ''."""
    existing = next((p for p in [root, *root.parents] if p.exists()), None)
    if existing is None:
        return "no part of the path exists"
    if not existing.is_dir():
        return f"{existing} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is read-only for this user"
    return ""
