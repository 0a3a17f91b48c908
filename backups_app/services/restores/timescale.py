"""TimescaleDB's documented restore procedure, and the refusals that protect it.

A logical dump of a TimescaleDB database restores only this way:
  1. CREATE EXTENSION timescaledb at the version the backup was taken with;
  2. SELECT timescaledb_pre_restore();
  3. pg_restore, without parallel jobs;
  4. SELECT timescaledb_post_restore();
  5. ANALYZE.
The backup's extension versions are recorded at backup time (BackupRecord.extensions).
"""

import contextlib
import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from backups_app.services.postgres import binaries, reading
from backups_app.services.postgres.connection import Conn, connect
from backups_app.services.postgres.proc import last_lines

log = logging.getLogger(__name__)

EXTENSION = "timescaledb"


class TimescaleFailed(Exception):
    pass


def in_backup(backup) -> bool:
    return EXTENSION in (backup.extensions or {})


def version_in_backup(backup) -> str:
    return (backup.extensions or {}).get(EXTENSION, "")


@dataclass(frozen=True)
class Support:
    versions: tuple[str, ...]
    preloaded: bool | None  # None: this user may not read shared_preload_libraries


def server_support(conn: psycopg.Connection) -> Support:
    """Which TimescaleDB versions the server can create, and whether its library is loaded."""
    rows = conn.execute(
        "SELECT version FROM pg_available_extension_versions WHERE name = %s ORDER BY 1", (EXTENSION,)
    ).fetchall()
    try:
        libraries = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()[0]
        preloaded = EXTENSION in [p.strip() for p in libraries.split(",")]
    except psycopg.errors.InsufficientPrivilege:
        preloaded = None
    return Support(tuple(r[0] for r in rows), preloaded)


def unavailable_reason(conn: psycopg.Connection, version: str) -> str:
    """Why this server cannot restore a backup taken with TimescaleDB `version` ('' when it can)."""
    support = server_support(conn)
    where = f"{conn.info.host}:{conn.info.port}"
    if version not in support.versions:
        offered = ", ".join(support.versions) or "no TimescaleDB at all"
        return (f"this backup was taken with TimescaleDB {version} and the server {where} offers {offered}: "
                f"install TimescaleDB {version} there, or restore onto a server that has it")
    if support.preloaded is False:
        return (f"TimescaleDB {version} is installed on {where} but not loaded: add timescaledb to "
                "shared_preload_libraries and restart that server")
    return ""


def create_extension(conn: psycopg.Connection, version: str) -> None:
    conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS timescaledb VERSION {}").format(sql.Literal(version)))


@contextlib.contextmanager
def procedure(conn: Conn, version: str):
    """Steps 1-2 before the body (the pg_restore run), 4-5 after it."""
    with connect(conn, autocommit=True) as c:
        try:
            create_extension(c, version)
            c.execute("SELECT timescaledb_pre_restore()")
        except psycopg.Error as exc:
            raise TimescaleFailed(f"TimescaleDB restore preparation failed: {_first_line(exc)}") from None
    ok = False
    try:
        yield
        ok = True
    finally:
        _post_restore(conn, analyze=ok)


def _post_restore(conn: Conn, *, analyze: bool) -> None:
    # Also after a failed restore: pre_restore leaves the database in a
    # "restoring" mode that must not outlive the attempt.
    with connect(conn, autocommit=True) as c:
        try:
            c.execute("SELECT timescaledb_post_restore()")
            if analyze:
                c.execute("ANALYZE")
        except psycopg.Error as exc:
            if analyze:
                raise TimescaleFailed(f"TimescaleDB post-restore step failed: {_first_line(exc)}") from None
            log.warning("timescaledb_post_restore after a failed restore: %s", _first_line(exc))


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def hypertables_in_archive(path, *, stdin=None) -> set[tuple[str, str]]:
    """(schema, table) of every hypertable, read from the archive's own TimescaleDB catalog data.

    stdin: the archive as a stream instead of the file at path (decrypted on the way).
    """
    catalog = reading.archive_script(binaries.pg_restore_for(path), path, stdin=stdin, data_only=True,
                                     schema="_timescaledb_catalog", table="hypertable")
    if not catalog.ok:
        raise TimescaleFailed(f"cannot read the TimescaleDB catalog in the archive: {last_lines(catalog.stderr, 2)}")
    return parse_hypertable_copy(catalog.stdout.decode("utf-8", "replace"))


def parse_hypertable_copy(script: str) -> set[tuple[str, str]]:
    found, columns = set(), None
    for line in script.splitlines():
        if columns is None:
            if line.startswith("COPY _timescaledb_catalog.hypertable ("):
                columns = [c.strip() for c in line.split("(", 1)[1].split(")", 1)[0].split(",")]
            continue
        if line == "\\.":
            break
        values = [_copy_unescape(v) for v in line.split("\t")]
        row = dict(zip(columns, values, strict=False))
        found.add((row.get("schema_name", ""), row.get("table_name", "")))
    return found


def _copy_unescape(value: str) -> str:
    return value.replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\")


def single_hypertable_refusal(schema: str, name: str) -> str:
    return (f"{schema}.{name} is a TimescaleDB hypertable: its rows live in chunk tables that a single-table "
            "restore does not carry, so it would come back empty; restore the whole backup into a new "
            "database and copy the rows you need from there")
