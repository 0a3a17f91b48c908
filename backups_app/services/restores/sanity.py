"""Is a restored database the one the backup holds? Used by drills and before a swap puts a copy in place.

Every table the archive defines exists and reads; where the backup recorded
exact row counts (BACKUP_ROW_COUNTS), every count is equal.
"""

import re

import psycopg
from psycopg import sql

from backups_app.services.backups import row_counts
from backups_app.services.crypto import age
from backups_app.services.postgres import toc
from backups_app.services.postgres.connection import conn_for, connect
from backups_app.services.restores import source_db
from backups_app.services.storage import layout

_SQL_TABLE = re.compile(r'^CREATE (?:UNLOGGED )?TABLE (?:ONLY )?((?:"(?:[^"]|"")+"|[^\s."(]+))\.'
                        r'((?:"(?:[^"]|"")+"|[^\s."(]+))')


def sanity_check(backup, server, dbname: str) -> tuple[list[str], str]:
    tables = archive_tables(backup)
    recorded = backup.row_counts or {}
    problems, compared, seen = [], 0, set()
    with connect(conn_for(server, dbname), autocommit=True) as c:
        row_counts.without_timescaledb_planning(c)
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
        with age.stdin_for(backup.archive_path) as stream:
            contents = toc.read(backup.archive_path, stdin=stream, dump_version=backup.pg_dump_version)
        return [(e.schema, e.name) for e in contents.entries if e.kind == "TABLE"]
    return _sql_tables(backup.archive_path)


def _sql_tables(path) -> list[tuple[str, str]]:
    """The script's CREATE TABLE lines; an encrypted one is decrypted on the way into the decompressor."""
    found = []
    with source_db.script(path, whole=True) as lines:
        for raw in lines:
            if raw.startswith(b"CREATE ") and (m := _SQL_TABLE.match(raw.decode("utf-8", "replace"))):
                found.append((_unquote(m.group(1)), _unquote(m.group(2))))
    return found


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident
