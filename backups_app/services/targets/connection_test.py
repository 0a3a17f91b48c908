"""Checking a target before trusting it with backups: the `test_connection` admin action.

Answers what an operator asks first: does it connect, which server is it,
which pg_dump would we use, how big is the database, and is there room
under BACKUP_ROOT. A failure says what to fix, never the password.
"""

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from backups_app.services.postgres import binaries
from backups_app.services.postgres.connection import (
    ConnectionFailed,
    conn_for,
    connect,
    refuses_clear_text,
    server_info,
)
from backups_app.services.postgres.scrub import scrub
from backups_app.services.targets import agreement

# Tables pg_dump could not read would fail the backup halfway; name a few.
UNREADABLE_SQL = """
SELECT n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND NOT has_table_privilege(c.oid, 'SELECT')
ORDER BY 1
"""


@dataclass(frozen=True)
class ConnectionReport:
    target: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    server_version: str = ""
    pg_dump: binaries.Tool | None = None
    database_size: int | None = None
    backup_root: Path | None = None
    free_bytes: int | None = None
    databases: list[str] | None = None  # a server target's: what its next run would back up


def connection_check(*, target) -> ConnectionReport:
    """Connect to the target and gather what a backup of it needs."""
    root, free = free_space_under_backup_root()
    conn = conn_for(target)
    missing = conn.refused or _missing_password(target)
    if missing:
        return ConnectionReport(target=target.name, ok=False, problems=[missing], backup_root=root, free_bytes=free)
    try:
        info = server_info(conn)
        unreadable = _unreadable_tables(conn)
        listed = _databases(target)
    except ConnectionFailed as exc:
        return ConnectionReport(target=target.name, ok=False, problems=[str(exc)], backup_root=root,
                                free_bytes=free)
    problems, tool = [], None
    if agreement.differences(target):
        recorded, here = agreement.both(target)
        problems.append(_("the target names %(recorded)s but DB_* in this console's environment name %(here)s, so "
                          "its backups, restores, drills and pruning are refused here (if DB_* are right, run "
                          "manage.py default_target --adopt-environment; if the target is, fix DB_*)") % {
            "recorded": recorded, "here": here})
    try:
        tool = binaries.pg_dump_for(info.major, refuse_clear_text=refuses_clear_text(conn))
    except binaries.ToolNotFound as exc:
        problems.append(str(exc))
    if unreadable:
        problems.append(_unreadable_message(conn.user, unreadable))
    if listed == []:
        problems.append(_("no database on the server matches the target's patterns"))
    if free is None:
        problems.append(_("BACKUP_ROOT %(root)s cannot be created or read; create it or set BACKUP_ROOT") % {
            "root": root})
    return ConnectionReport(
        target=target.name, ok=not problems, problems=[scrub(p, conn.secrets()) for p in problems],
        server_version=info.version, pg_dump=tool, database_size=info.database_size,
        backup_root=root, free_bytes=free, databases=listed,
    )


def _databases(target) -> list[str] | None:
    if not target.is_server:
        return None
    from backups_app.services.targets import discovery

    found = discovery.list_names(target)
    return discovery.chosen(found, include=target.include_databases, exclude=target.exclude_databases)


def _missing_password(target) -> str:
    name = target.password_env or "DB_PASSWORD"
    if target.password_source == "env" and not os.environ.get(name):
        return _("the environment variable %(name)s is not set in the console's environment (set it for the web "
                 "server and the worker, or choose another password source)") % {"name": name}
    return ""


def _unreadable_tables(conn) -> list[str]:
    with connect(conn) as c:
        return [row[0] for row in c.execute(UNREADABLE_SQL).fetchall()]


def _unreadable_message(user: str, tables: list[str]) -> str:
    shown = ", ".join(tables[:5]) + (_(" and %(n)d more") % {"n": len(tables) - 5} if len(tables) > 5 else "")
    return _("user %(user)s cannot read %(n)d table(s) that pg_dump must read: %(tables)s (grant SELECT, or use "
             "a role such as pg_read_all_data)") % {"user": user, "n": len(tables), "tables": shown}


def free_space_under_backup_root() -> tuple[Path, int | None]:
    """Free bytes on the file system BACKUP_ROOT is (or will be) on."""
    root = Path(settings.BACKUP_ROOT)
    existing = next((p for p in [root, *root.parents] if p.exists()), None)
    try:
        return root, shutil.disk_usage(existing).free if existing else None
    except OSError:
        return root, None
