"""The cluster's roles and tablespaces (`pg_dumpall --globals-only`), saved beside each dump.

A dump names its owners but does not create them; on a new server the
roles must exist first. Role passwords are always left out
(--no-role-passwords): only a superuser could read them, a password hash in
a file that travels with the backups is a credential to guard, and a
restore must never reset the passwords of roles that already exist. Roles
created from this file get no password: set them with ALTER ROLE ... PASSWORD.

Applying it (`restore --with-globals`) creates the roles and tablespaces
the server lacks and leaves existing ones untouched.
"""

import contextlib
import re
import shutil

from backups_app.models import BackupRecord
from backups_app.services.crypto import age
from backups_app.services.postgres import binaries, databases, dumping
from backups_app.services.postgres.client import run_psql
from backups_app.services.postgres.connection import Conn, conn_for, refuses_clear_text, with_clear_text_hint
from backups_app.services.postgres.proc import Ran, last_lines
from backups_app.services.postgres.scrub import scrub
from backups_app.services.storage import files, layout

SUFFIX = ".globals.sql"
_IDENT = r'("(?:[^"]|"")+"|[^\s;"]+)'
_ROLE = re.compile(rf"^(?:CREATE ROLE|ALTER ROLE|COMMENT ON ROLE)\s+{_IDENT}")
_TABLESPACE = re.compile(
    rf"^(?:(?:CREATE|ALTER|COMMENT ON) TABLESPACE\s+|(?:GRANT|REVOKE) .* ON TABLESPACE\s+){_IDENT}"
)
_PASSWORD = re.compile(r"(PASSWORD\s+)'(?:[^']|'')*'", re.IGNORECASE)


class GlobalsFailed(Exception):
    pass



def file_name(backup_name: str, *, encrypted: bool) -> str:
    """The roles file's name beside a backup's (encrypted to the same keys when the backup is)."""
    return backup_name + SUFFIX + (age.SUFFIX if encrypted else "")

def _server_major(version: str) -> int | None:
    m = re.match(r"(\d+)", version or "")
    return int(m.group(1)) if m else None


@contextlib.contextmanager
def beside(record: BackupRecord, conn: Conn, final, *, recipients=(), shared=None):
    """Write the globals file while the dump is made, and publish it right after the dump.

    Used by dump.py around the whole dump: pg_dumpall starts first and runs
    beside pg_dump (a fraction of a second; it needs nothing from the dump).
    The body calls the yielded ready() before it publishes the dump: it waits
    for pg_dumpall and raises GlobalsFailed if the file could not be written,
    so a backup either has both files or neither. An encrypted backup's roles
    file is encrypted to the same keys (written at ready(), one pipeline at a time).

    shared: the file a server target's run wrote once for all its databases
    (save(), already encrypted when they are): copied instead of running
    pg_dumpall again.
    """
    target = final.with_name(file_name(final.name, encrypted=bool(recipients)))
    partial = layout.partial_path(target, record.pk)
    major = _server_major(record.server_version)
    with contextlib.ExitStack() as stack:
        try:
            if shared is not None:
                ready = _once(lambda: _copy(shared, partial))
            elif recipients:
                ready = _once(lambda: save(conn, partial, server_major=major, recipients=recipients))
            else:
                ready = stack.enter_context(_started(conn, partial, server_major=major))
            yield ready
            ready()
            files.publish(partial, target)
        except BaseException:
            stack.close()  # pg_dumpall stopped, if it still runs, before its file goes
            files.remove_quietly(partial)
            raise
    record.globals_path = layout.relative(target)
    BackupRecord.objects.filter(pk=record.pk).update(globals_path=record.globals_path)


def _copy(source, partial) -> None:
    try:
        with open(source, "rb") as src, files.create_private(partial) as out:
            shutil.copyfileobj(src, out)
    except OSError as exc:
        raise GlobalsFailed(f"cannot copy the server's roles file {source}: {exc.strerror or exc}") from None


def _once(fn):
    done = []

    def once():
        if not done:
            fn()
            done.append(True)
    return once


@contextlib.contextmanager
def _started(conn: Conn, path, *, server_major: int | None):
    """pg_dumpall --globals-only writing path in the background; yields the function that waits for it."""
    tool = binaries.pg_dumpall_for(server_major, refuse_clear_text=refuses_clear_text(conn))
    with dumping.globals_beside(conn, tool, path) as wait:
        yield lambda: _check(wait(), conn)


def save(conn: Conn, path, *, server_major: int | None, recipients=()) -> None:
    tool = binaries.pg_dumpall_for(server_major, refuse_clear_text=refuses_clear_text(conn))
    if recipients:
        return _save_encrypted(conn, tool, path, recipients)
    _check(dumping.dump_globals(conn, tool, path), conn)


def _check(ran: Ran, conn: Conn) -> None:
    if not ran.ok:
        message = f"pg_dumpall --globals-only failed: {last_lines(ran.stderr, 3)}"
        raise GlobalsFailed(scrub(with_clear_text_hint(message), conn.secrets()))


def _save_encrypted(conn: Conn, tool, path, recipients) -> None:
    done = dumping.dump_encrypted(conn, tool, path, encrypt=age.encrypt_args(recipients, path), what="globals")
    for step in done.steps:
        if not step.ok:
            raise GlobalsFailed(scrub(f"pg_dumpall --globals-only | age failed: {last_lines(step.stderr, 3)}",
                                      conn.secrets()))


def read(path) -> str:
    return (age.decrypt_bytes(path).decode() if age.is_encrypted(path) else path.read_text())


def apply(backup: BackupRecord, server) -> str:
    """Create the roles and tablespaces of the backup's cluster that this server lacks."""
    path = backup.globals_absolute_path
    with databases.maintenance(server) as m:
        roles = {r[0] for r in m.execute("SELECT rolname FROM pg_roles").fetchall()}
        tablespaces = {r[0] for r in m.execute("SELECT spcname FROM pg_tablespace").fetchall()}
        dbname, major = m.info.dbname, m.info.server_version // 10000
    script, created, kept = filter_script(read(path), roles=roles, tablespaces=tablespaces)
    conn = conn_for(server, dbname)
    tool = binaries.psql_for(major, refuse_clear_text=refuses_clear_text(conn))
    applied = run_psql(conn, tool, script.encode(), single_transaction=True)
    if not applied.ok:
        detail = _PASSWORD.sub(r"\1'********'", last_lines(applied.stderr, 4))
        raise GlobalsFailed(scrub(f"applying roles and tablespaces failed, nothing was changed: {detail}",
                                  conn.secrets()))
    parts = [f"created roles: {', '.join(sorted(created))}" if created else "created no roles"]
    if kept:
        parts.append(f"left existing roles and tablespaces as they were: {', '.join(sorted(kept))}")
    return "; ".join(parts)


def filter_script(text: str, *, roles: set, tablespaces: set) -> tuple[str, set, set]:
    """The globals script without statements about roles and tablespaces that exist already."""
    out, created, kept, skipping = [], set(), set(), False
    for line in text.splitlines(keepends=True):
        if skipping:
            skipping = not line.rstrip().endswith(";")
            continue
        name, existing = _subject(line, roles, tablespaces)
        if name is not None and existing:
            kept.add(name)
            skipping = not line.rstrip().endswith(";")
            continue
        if name is not None and line.startswith("CREATE ROLE"):
            created.add(name)
        out.append(line)
    return "".join(out), created, kept


def _subject(line: str, roles: set, tablespaces: set):
    for pattern, known in ((_ROLE, roles), (_TABLESPACE, tablespaces)):
        m = pattern.match(line)
        if m:
            name = _unquote(m.group(1))
            return name, name in known
    return None, False


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident
