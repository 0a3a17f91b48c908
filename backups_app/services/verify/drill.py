"""Restore drills: restore into a scratch database, check it, drop it (also when something fails).

Checks: every table the archive defines exists and reads; where the backup
recorded exact row counts (BACKUP_ROW_COUNTS), every count is equal.
"""

import re
import subprocess
import time

import psycopg
from psycopg import sql

from backups_app.services.postgres import databases, toc
from backups_app.services.postgres.client import decompressor
from backups_app.services.postgres.connection import ConnectionFailed, child_env, conn_for, connect
from backups_app.services.postgres.proc import spawn
from backups_app.services.restores import restore
from backups_app.services.storage import layout
from backups_app.services.verify.integrity import Finding

_SQL_TABLE = re.compile(r'^CREATE (?:UNLOGGED )?TABLE (?:ONLY )?((?:"(?:[^"]|"")+"|[^\s."(]+))\.'
                        r'((?:"(?:[^"]|"")+"|[^\s."(]+))')


def scratch_name(verification) -> str:
    return f"bc_drill_{verification.backup_id}_{verification.pk}"


def run(verification) -> Finding:
    backup, started = verification.backup, time.monotonic()
    name = scratch_name(verification)
    try:
        record = restore.restore_create(backup=backup, into=name, started_by=f"drill of verification #"
                                        f"{verification.pk}", requested_by=verification.requested_by, is_drill=True)
    except restore.RestoreRefused as exc:
        return Finding(False, f"drill refused: {exc}")
    try:
        record = restore.restore_execute(record_id=record.pk)
        if record.status != "succeeded":
            return Finding(False, f"drill restore #{record.pk} failed: {record.error}")
        problems, summary = sanity_check(backup, record.server, name)
    finally:
        _drop(record.server, name)
    seconds = time.monotonic() - started
    if problems:
        return Finding(False, f"drill restore #{record.pk} into {name}: " + "; ".join(problems[:10]))
    return Finding(True, f"drill: restore #{record.pk} into a scratch database took {seconds:.1f} s; {summary}; "
                         "scratch database dropped")


def _drop(server, name: str) -> None:
    try:
        with databases.maintenance(server) as m:
            databases.drop(m, name)
    except (ConnectionFailed, psycopg.Error):
        # The finding reports the real failure; a leftover drill database is named for what it is.
        pass


def sanity_check(backup, server, dbname: str) -> tuple[list[str], str]:
    tables = archive_tables(backup)
    recorded = backup.row_counts or {}
    problems, compared, seen = [], 0, set()
    with connect(conn_for(server, dbname), autocommit=True) as c:
        for schema, name in tables:
            key = c.execute("SELECT format('%%I.%%I', %s::text, %s::text)", (schema, name)).fetchone()[0]
            seen.add(key)
            try:
                count = c.execute(sql.SQL("SELECT count(*) FROM ONLY {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(name))).fetchone()[0]
            except psycopg.Error as exc:
                problems.append(f"table {key} is missing or unreadable: {str(exc).strip().splitlines()[0]}")
                continue
            if key in recorded:
                compared += 1
                if count != recorded[key]:
                    problems.append(f"table {key} has {count} rows, {recorded[key]} when backed up")
    problems += [f"table {key} was counted at backup time but is not in the archive"
                 for key in sorted(set(recorded) - seen)]
    summary = f"{len(tables)} tables present and readable"
    summary += f"; row counts equal the recorded ones for {compared} tables" if recorded else \
        "; no row counts were recorded with this backup to compare"
    return problems, summary


def archive_tables(backup) -> list[tuple[str, str]]:
    """(schema, table) for every table the backup defines (foreign tables need their server: left out)."""
    if backup.format in layout.ARCHIVE_FORMATS:
        return [(e.schema, e.name) for e in toc.read(backup.absolute_path).entries if e.kind == "TABLE"]
    return _sql_tables(backup.absolute_path)


def _sql_tables(path) -> list[tuple[str, str]]:
    with child_env() as env:
        proc = spawn([*decompressor(path), str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    found = []
    try:
        for raw in proc.stdout:
            if raw.startswith(b"CREATE ") and (m := _SQL_TABLE.match(raw.decode("utf-8", "replace"))):
                found.append((_unquote(m.group(1)), _unquote(m.group(2))))
    finally:
        proc.stdout.close()
        proc.wait()
    return found


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident
