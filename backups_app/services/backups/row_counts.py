"""Exact row counts at backup time, taken inside the very snapshot pg_dump dumps (BACKUP_ROW_COUNTS).

A REPEATABLE READ transaction exports its snapshot (pg_export_snapshot) and
stays open while pg_dump runs with --snapshot, so pg_dump and the counts
see the same rows. The counts run beside the dump, in this transaction.

Cost: one more full read of every table on the server (count(*)), while
pg_dump reads it too. With the data in the server's cache it hides beside
pg_dump's compression (bench/restore_section.py --row-counts); a database
larger than memory is read from disk twice. That is why it is off by
default; turn it on to make restore drills compare every table's row count.
"""

import contextlib
import logging
import threading

import psycopg
from django.conf import settings
from psycopg import sql

from backups_app.models import BackupRecord
from backups_app.services.postgres.connection import Conn, connect

log = logging.getLogger(__name__)

# Tables whose data pg_dump writes: ordinary tables outside the system schemas,
# not temporary, and not members of an extension (pg_dump leaves their data to
# the extension, or filters it).
TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                    AND d.deptype = 'e')
 ORDER BY 1, 2
"""


@contextlib.contextmanager
def snapshot(record: BackupRecord, conn: Conn):
    """Yields the snapshot name to pass to pg_dump --snapshot (None when counting is off)."""
    if not settings.BACKUP_ROW_COUNTS:
        yield None
        return
    with connect(conn) as c:
        c.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        c.read_only = True
        name = c.execute("SELECT pg_export_snapshot()").fetchone()[0]
        c.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
        counter = _Counter(c)
        try:
            yield name
        except BaseException:
            c.cancel_safe()
            raise
        finally:
            counter.join()
            c.rollback()
    if counter.counts is not None:
        record.row_counts = counter.counts
        BackupRecord.objects.filter(pk=record.pk).update(row_counts=counter.counts)


class _Counter(threading.Thread):
    def __init__(self, c: psycopg.Connection):
        super().__init__(daemon=True, name="row-counts")
        self.c, self.counts = c, None
        self.start()

    def run(self):
        try:
            # In a savepoint: a count that fails must not end the transaction whose snapshot pg_dump imports.
            with self.c.transaction():
                self.counts = count_rows(self.c)
        except psycopg.Error as exc:
            log.warning("row counts left out of this backup: %s", str(exc).strip().splitlines()[0])


def count_rows(c: psycopg.Connection) -> dict[str, int]:
    counts = {}
    without_timescaledb_planning(c)
    for schema, name in c.execute(TABLES).fetchall():
        key = c.execute("SELECT format('%%I.%%I', %s::text, %s::text)", (schema, name)).fetchone()[0]
        query = sql.SQL("SELECT count(*) FROM ONLY {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        counts[key] = c.execute(query).fetchone()[0]
    return counts


def without_timescaledb_planning(c: psycopg.Connection) -> None:
    """Count each TimescaleDB table as the plain table pg_dump copies.

    With its planner on, TimescaleDB fails to read its internal compressed
    hypertables ("chunk ... has no dimension slices"). Harmless where
    TimescaleDB is not loaded (the setting is then only a placeholder).
    """
    c.execute("SET LOCAL timescaledb.enable_optimizations = off" if not c.autocommit
              else "SET timescaledb.enable_optimizations = off")
