"""Is a restored database the one the backup holds? Used by drills and before a swap puts a copy in place.

Every table the archive defines exists and reads; where the backup recorded
exact row counts (BACKUP_ROW_COUNTS), every count is equal.

An archive's list shows a table's schema and name as text, a line break as a
space, and a space may stand in either; so each listed table is found in the
restored database by how the list would show the tables there.
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

_LONGEST_NAMES = 4096  # two quoted names of 63 bytes each, with every quote doubled, fit many times over
_CREATE_TABLE = re.compile(rb"^CREATE (?:UNLOGGED )?TABLE ")
_SQL_TABLE = re.compile(r'^CREATE (?:UNLOGGED )?TABLE (?:ONLY )?((?:"(?:[^"]|"")+"|[^\s."(]+))\.'
                        r'((?:"(?:[^"]|"")+"|[^\s."(]+))')


_RESTORED_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
"""


def sanity_check(backup, server, dbname: str) -> tuple[list[str], str]:
    tables = archive_tables(backup)
    recorded = backup.row_counts or {}
    problems, compared, seen = [], 0, set()
    with connect(conn_for(server, dbname), autocommit=True) as c:
        row_counts.without_timescaledb_planning(c)
        if backup.format in layout.ARCHIVE_FORMATS:
            tables = _as_restored(c, tables)
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
    """(schema, table) for every table the backup defines (foreign tables need their server: left out).

    For an archive, as its list shows them (see _as_restored); for a script, exactly.
    """
    if backup.format in layout.ARCHIVE_FORMATS:
        # An encrypted directory backup: its table of contents decrypted into a private copy.
        with age.readable(backup, copy=False, toc_only=True) as path, age.stdin_for(path) as stream:
            contents = toc.read(path, stdin=stream, dump_version=backup.pg_dump_version)
        return [(e.schema, e.name) for e in contents.entries if e.kind == "TABLE"]
    return _sql_tables(backup.archive_path)


def _as_restored(c, listed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The restored tables each listed one stands for: itself when it is there, else those the list would
    show the same way (a line break in a name, a space in a schema's); as listed when none (then missing)."""
    restored = {tuple(row) for row in c.execute(_RESTORED_TABLES).fetchall()}
    by_shown: dict[str, list[tuple[str, str]]] = {}
    for schema, name in sorted(restored):
        by_shown.setdefault(toc.shown(schema, name), []).append((schema, name))
    found = []
    for schema, name in listed:
        found += [(schema, name)] if (schema, name) in restored else by_shown.get(f"{schema} {name}", [(schema, name)])
    return list(dict.fromkeys(found))


def _sql_tables(path) -> list[tuple[str, str]]:
    """The script's CREATE TABLE statements; an encrypted one is decrypted on the way into the decompressor.

    Rows of COPY data are passed over (a row may read like a statement); a quoted name may hold a line
    break, so a statement whose quotes are still open goes on to the next line.
    """
    found, pending, in_copy = [], b"", False
    with source_db.script(path, whole=True) as lines:
        for raw in lines:
            if in_copy:
                in_copy = raw.rstrip(b"\r\n") != b"\\."
            elif pending or _CREATE_TABLE.match(raw):
                pending += raw
                if pending.count(b'"') % 2 == 0 or len(pending) > _LONGEST_NAMES:
                    if m := _SQL_TABLE.match(pending.decode("utf-8", "replace")):
                        found.append((_unquote(m.group(1)), _unquote(m.group(2))))
                    pending = b""
            else:
                in_copy = raw.startswith(b"COPY ") and raw.rstrip(b"\r\n").endswith(b" FROM stdin;")
    return found


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident
