"""One server per target: the default target's record against the DB_* of the process at hand.

The record names the server the default target's backups came from; DB_*
(the environment, `.env`, or the demo cluster's demo.env: see
backupconsole/env_files.py) name the server this process was configured for.

- A process without DB_* uses the record as it is, and never writes it.
- Until a backup of it has succeeded, the record follows DB_*: nothing came
  from its server yet.
- After that only the operator moves it (`manage.py default_target
  --adopt-environment`, run where DB_* are right). A process whose DB_* name
  another server says so, and refuses every job that would act on either
  server or delete the target's backups (backup, restore, drill, pruning)
  until the two agree. Reading records goes on, naming the recorded server.
- A queued job keeps the server it was asked for (`server_address`): if the
  target names another one by the time it runs, it is refused.

Every other target is what the admin says; only the default one follows DB_*.
"""

import logging

from django.conf import settings

from backupconsole import env_files
from backups_app.models import BackupRecord, BackupStatus, DatabaseTarget

DEFAULT_NAME = "default"
COMPARED = ("host", "port", "dbname", "user")
ADOPT_COMMAND = "manage.py default_target --adopt-environment"

log = logging.getLogger(__name__)


class Disagreement(Exception):
    """DB_* here name another server than the default target's record; nothing was done."""


def configured() -> bool:
    """Whether this process names its database through DB_* (the environment, .env or demo.env)."""
    return env_files.db_settings_given()


def environment_fields() -> dict:
    """The server DB_* name here (their built-in defaults where one is not set)."""
    return dict(host=settings.DB_HOST, port=settings.DB_PORT, dbname=settings.DB_NAME, user=settings.DB_USER)


def server(target) -> str:
    return f"{target.host}:{target.port}"


def address(target, dbname: str | None = None) -> str:
    """host:port/database of a target (or of another database on its server)."""
    return f"{server(target)}/{dbname or target.dbname}"


def differences(target) -> dict:
    """{field: (recorded, here)} where the default target and DB_* here disagree; empty otherwise."""
    if target is None or target.name != DEFAULT_NAME or not configured():
        return {}
    here = environment_fields()
    return {k: (getattr(target, k), here[k]) for k in COMPARED if getattr(target, k) != here[k]}


def came_from(target) -> bool:
    """Whether a backup of the target ever succeeded: its record then names where those came from."""
    done = (BackupStatus.SUCCEEDED, BackupStatus.PRUNED)
    return BackupRecord.objects.filter(target=target, status__in=done).exists()


def default_target() -> DatabaseTarget:
    """The default target: made from DB_* (or their built-in defaults) when missing, else followed."""
    target = default_target_or_none()
    if target is None:
        target, _ = DatabaseTarget.objects.get_or_create(name=DEFAULT_NAME, defaults={
            **environment_fields(), "password_source": "env", "password_env": "DB_PASSWORD"})
    return follow(target)


def default_target_or_none() -> DatabaseTarget | None:
    return DatabaseTarget.objects.filter(name=DEFAULT_NAME).first()


def follow(target: DatabaseTarget) -> DatabaseTarget:
    """The default target brought in step with DB_* while no backup of it has succeeded."""
    changed = differences(target)
    if changed and not came_from(target):
        _write(target, {k: here for k, (_, here) in changed.items()})
    return target


def adopt() -> str:
    """The operator's word: the default target names the server DB_* name here. Says what changed."""
    if not configured():
        raise Disagreement("DB_* are not set here, so there is nothing to adopt; the record stays as it is")
    target = default_target()
    before = _described(_recorded(target), user=True)
    changed = differences(target)
    if not changed:
        return f"target {target.name} already names {before}, as the {_where()} do"
    _write(target, {k: here for k, (_, here) in changed.items()})
    now = _described(_recorded(target), user=True)
    log.warning("target %s moved from %s to %s by the operator", target.name, before, now)
    return (f"target {target.name} now names {now} (it named {before}); the backups taken before still say "
            "which server they came from")


def status_lines() -> list[str]:
    """What `manage.py default_target` shows: the record, DB_* here, and whether they agree."""
    target = default_target_or_none()
    if target is None:
        lines = [f"target {DEFAULT_NAME}: not made yet (the first command that uses it makes it from DB_*)"]
    else:
        taken = BackupRecord.objects.filter(target=target, status=BackupStatus.SUCCEEDED).count()
        lines = [f"target {DEFAULT_NAME}: {_described(_recorded(target), user=True)} (succeeded backups: {taken})"]
    if not configured():
        return [*lines, "DB_* here: not set (commands here use the recorded server as it is)"]
    lines.append(f"{_where()}: {_described(environment_fields(), user=True)}")
    problem = mismatch(target, outcome="backups, restores, drills and pruning of it are refused here")
    return [*lines, problem or "they agree"]


def _write(target: DatabaseTarget, fields: dict) -> None:
    DatabaseTarget.objects.filter(pk=target.pk).update(**fields)
    target.refresh_from_db()


# --- what is said --------------------------------------------------------------

def _described(fields: dict, *, user: bool) -> str:
    text = f"{fields['host']}:{fields['port']}/{fields['dbname']}"
    return f"{text} as {fields['user']}" if user else text


def _recorded(target) -> dict:
    return {k: getattr(target, k) for k in COMPARED}


def _where() -> str:
    source = settings.DB_SETTINGS_FILE
    return f"DB_* here (from {source})" if source else "DB_* here"


def both(target) -> tuple[str, str]:
    """The recorded server and the one DB_* name here, in words (with the users when they differ)."""
    user = "user" in differences(target)
    return _described(_recorded(target), user=user), _described(environment_fields(), user=user)


def _facts(target) -> str:
    if not differences(target):
        return ""
    recorded, here = both(target)
    return f"target {target.name} names {recorded}, but the {_where()} name {here}"


def mismatch(target, *, outcome: str = "nothing was done") -> str:
    """The one-line refusal when DB_* here disagree with the target's record; "" when they agree."""
    facts = _facts(target)
    if not facts:
        return ""
    return f"{facts}: {outcome} (if those DB_* are right, run {ADOPT_COMMAND}; if the record is, fix DB_*)"


def warning(target) -> str:
    """The same facts for work that only reads records: it goes on, on the recorded server."""
    facts = _facts(target)
    return f"warning: {facts}; this only reads records and backup files, so it goes on" if facts else ""


def require(target) -> None:
    problem = mismatch(target)
    if problem:
        raise Disagreement(problem)


def require_untouched(backup_ids) -> None:
    """Disagreement when DB_* here disagree with the default target and any of these backups is one of its."""
    default = default_target_or_none()
    problem = mismatch(default)
    if problem and set(BackupRecord.objects.filter(target=default).values_list("pk", flat=True)) & set(backup_ids):
        raise Disagreement(problem)


def refusal(target, *, asked: str, dbname: str | None = None) -> str:
    """Why a queued job of this server must not run here: DB_* disagree, or the target moved since it was asked."""
    problem = mismatch(target)
    if problem:
        return problem
    now = address(target, dbname)
    if asked and asked != now:
        return (f"target {target.name} names {now} now, not {asked} as when this job was asked for: "
                "nothing was done; ask again to act on the new server")
    return ""
