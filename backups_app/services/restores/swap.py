"""Overwriting a TimescaleDB database: restore beside it, check the copy, then swap the names.

TimescaleDB restores only into a fresh database (pre_restore, pg_restore,
post_restore), so its overwrite cannot empty the database in one transaction
as other overwrites do. Instead:
  1. the backup is restored into a scratch database, `<name>_restoring_<restore id>`,
     exactly as into a new database;
  2. the copy is checked: every table of the archive reads, recorded row counts
     are equal, the extension is at the backup's version;
  3. the original's owner, grants, settings and comment are given to the copy;
  4. clients connected to the original: refused, unless told to end them;
  5. in one transaction the original becomes `<name>_replaced_<YYYYmmdd_HHMMSS>`
     (the safety copy) and the copy becomes `<name>`.
Until 5 the original is not touched, and any failure drops the scratch
database; 5 happens entirely or not at all. With RESTORE_KEEP_REPLACED_DATABASE
off, the safety copy is dropped once the swap is done.
"""

import contextlib
import logging
import time

import psycopg
from django.conf import settings
from django.utils import timezone
from psycopg import sql

from backups_app.services.postgres import databases
from backups_app.services.postgres.client import RestoreFailed
from backups_app.services.postgres.connection import ConnectionFailed, conn_for, connect
from backups_app.services.restores import sanity, timescale

# Lists (search_path and the like) are stored as their SQL text; other values as one literal.
_LIST_SETTINGS = {"search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries",
                  "shared_preload_libraries", "dynamic_library_path"}
_SWAP_ATTEMPTS = 3

log = logging.getLogger(__name__)


def applies(record) -> bool:
    """A whole TimescaleDB backup over a database that holds objects."""
    return timescale.in_backup(record.backup) and not record.tables


def scratch_name(record) -> str:
    suffix = f"_restoring_{record.pk}"
    return record.target_database[:63 - len(suffix)] + suffix


def clients(mconn: psycopg.Connection, name: str) -> list[str]:
    """The client sessions connected to `name` (not the server's own workers), as user@address (application)."""
    rows = mconn.execute(
        "SELECT coalesce(usename, '?'), coalesce(host(client_addr), 'local'), application_name "
        "FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() ORDER BY backend_start", (name,)).fetchall()
    return [f"{user}@{addr}" + (f" ({app})" if app else "") for user, addr, app in rows]


def clients_settled(mconn: psycopg.Connection, name: str, wait: float = 2.0) -> list[str]:
    """clients(), after giving sessions that are closing (the console's own checks among them) time to end."""
    deadline = time.monotonic() + wait
    while (found := clients(mconn, name)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def clients_refusal(name: str, found: list[str]) -> str:
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    return (f"{len(found)} client session(s) are connected to {name} ({shown}): the restore replaces that "
            "database, which cannot be done while it is in use; stop them, or let the restore end them "
            "(--terminate-connections)")


@contextlib.contextmanager
def replacing(record, outcome):
    """The body restores into scratch_name(record); on success the copy is checked and swapped in."""
    scratch = scratch_name(record)
    try:
        yield scratch
        check_copy(record, scratch)
        copy_database_properties(record.server, source=record.target_database, dest=scratch)
        kept = swap(record, scratch)
    except BaseException:
        _drop_quietly(record.server, scratch)
        raise
    outcome.notes.append(f"restored into {scratch}, checked, and swapped in as {record.target_database}")
    _restart_jobs(record)
    outcome.notes.append(_keep_or_drop(record, kept))


def _drop_quietly(server, scratch: str) -> None:
    """Drop the scratch database; if even that fails, the restore's own error is the one to report."""
    try:
        with databases.maintenance(server) as m:
            databases.drop(m, scratch)
    except (ConnectionFailed, psycopg.Error) as exc:
        log.warning("could not drop the scratch database %s: %s", scratch, str(exc).strip()[:200])


def check_copy(record, scratch: str) -> None:
    problems, _ = sanity.sanity_check(record.backup, record.server, scratch)
    with connect(conn_for(record.server, scratch), autocommit=True) as c:
        row = c.execute("SELECT extversion FROM pg_extension WHERE extname = %s", (timescale.EXTENSION,)).fetchone()
    wanted = timescale.version_in_backup(record.backup)
    if row is None or row[0] != wanted:
        problems.append(f"TimescaleDB is at {row[0] if row else 'no version'} in the copy, {wanted} in the backup")
    if problems:
        raise RestoreFailed(f"the restored copy {scratch} failed its check, so {record.target_database} was "
                            "left as it was: " + "; ".join(problems[:5]))


def copy_database_properties(server, *, source: str, dest: str) -> None:
    """Owner, grants, ALTER DATABASE ... SET and comment of `source`, given to `dest`."""
    with databases.maintenance(server) as m:
        for statement in _property_statements(m, source, dest):
            m.execute(statement)


def _property_statements(m: psycopg.Connection, source: str, dest: str) -> list:
    oid, owner, acl, comment = m.execute(
        "SELECT oid, datdba::regrole::text, datacl IS NOT NULL, shobj_description(oid, 'pg_database') "
        "FROM pg_database WHERE datname = %s", (source,)).fetchone()
    db = sql.Identifier(dest)
    out = [sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, sql.Identifier(owner))]
    if acl:
        out.append(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
        grants = m.execute(
            "SELECT a.grantee = 0, a.grantee::regrole::text, a.privilege_type, a.is_grantable "
            "FROM pg_database d, aclexplode(d.datacl) a WHERE d.oid = %s", (oid,)).fetchall()
        for public, grantee, privilege, grantable in grants:
            out.append(sql.SQL("GRANT {} ON DATABASE {} TO {}{}").format(
                sql.SQL(privilege), db, sql.SQL("PUBLIC") if public else sql.Identifier(grantee),
                sql.SQL(" WITH GRANT OPTION" if grantable else "")))
    rows = m.execute("SELECT setrole::regrole::text, setrole = 0, unnest(setconfig) FROM pg_db_role_setting "
                     "WHERE setdatabase = %s", (oid,)).fetchall()
    for role, every_role, item in rows:
        out.append(_setting_statement(db, None if every_role else role, item))
    if comment is not None:
        out.append(sql.SQL("COMMENT ON DATABASE {} IS {}").format(db, sql.Literal(comment)))
    return out


def _setting_statement(db: sql.Identifier, role: str | None, item: str) -> sql.Composed:
    name, _, value = item.partition("=")
    head = (sql.SQL("ALTER ROLE {} IN DATABASE {}").format(sql.Identifier(role), db) if role
            else sql.SQL("ALTER DATABASE {}").format(db))
    shown = sql.SQL(value) if name.lower() in _LIST_SETTINGS else sql.Literal(value)
    return sql.SQL("{} SET {} = {}").format(head, sql.Identifier(name), shown)


def kept_name(m: psycopg.Connection, name: str) -> str:
    stamp = f"{timezone.localtime():%Y%m%d_%H%M%S}"
    base = f"{name[:63 - len(stamp) - 10 - 3]}_replaced_{stamp}"
    candidate, n = base, 1
    while databases.exists(m, candidate):
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def swap(record, scratch: str) -> str:
    """Rename the original to its dated name and the copy to the original's, in one transaction."""
    name = record.target_database
    with databases.maintenance(record.server) as m:
        for attempt in range(1, _SWAP_ATTEMPTS + 1):
            found = clients(m, name)
            if found and not record.terminate_connections:
                found = clients_settled(m, name)
                if found:
                    raise RestoreFailed(clients_refusal(name, found) + "; the restored copy was dropped")
            kept = kept_name(m, name)
            try:
                with m.transaction():
                    if record.terminate_connections:
                        _terminate(m, name)
                    m.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(name),
                                                                                 sql.Identifier(kept)))
                    m.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(scratch),
                                                                                 sql.Identifier(name)))
                return kept
            except psycopg.errors.ObjectInUse:
                # A client connected (again) between the look and the rename.
                if attempt == _SWAP_ATTEMPTS or not record.terminate_connections:
                    raise RestoreFailed(clients_refusal(name, clients(m, name) or ["one that has since left"])
                                        + "; the restored copy was dropped") from None
    raise AssertionError("unreachable")


def _terminate(m: psycopg.Connection, name: str) -> None:
    m.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
              "AND backend_type = 'client backend' AND pid <> pg_backend_pid()", (name,))


def _restart_jobs(record) -> None:
    """TimescaleDB stops a database's job scheduler when it is renamed; start it for the new one at once."""
    try:
        with connect(conn_for(record.server, record.target_database), autocommit=True) as c:
            c.execute("SELECT _timescaledb_functions.start_background_workers()")
    except (ConnectionFailed, psycopg.Error):
        pass  # the launcher starts it within timescaledb.bgw_launcher_poll_time anyway


def _keep_or_drop(record, kept: str) -> str:
    if settings.RESTORE_KEEP_REPLACED_DATABASE:
        return (f"the replaced database is kept as {kept} (the safety copy): drop it when it is no longer "
                "needed (DROP DATABASE)")
    try:
        with databases.maintenance(record.server) as m:
            databases.drop(m, kept)
    except (ConnectionFailed, psycopg.Error) as exc:
        # The restore itself is done: say what is left rather than fail it.
        return f"the replaced database is left as {kept}: dropping it failed ({str(exc).strip()[:200]})"
    return f"the replaced database ({kept} after the swap) was dropped (RESTORE_KEEP_REPLACED_DATABASE is off)"
