"""What a restore does once it holds the server's lock.

Modes, chosen by what is at the target name:
  new        the database is created from template0 (source encoding and
             locale where the server has them); dropped again if the restore fails.
  empty      an existing database without user objects; restored in one transaction.
  overwrite  an existing database with objects (only with overwrite): a safety
             backup first, then, in one transaction, everything in it is dropped
             and the backup restored (single tables: pg_restore --clean --if-exists
             of just those, in one transaction). A whole TimescaleDB backup is
             restored into a scratch database instead and swapped in (swap.py).

pg_attver (Debian's PostgreSQL 15.20 puts it on every column; pg_dump 16 and
newer write it) is left out for a server that rejects it, tried first
(postgres/column_options.py). An archive whose definitions set it: into a
new database its definitions (pre-data: no table data there) run as a
script through psql without it, then pg_restore restores the data and the
rest itself, in parallel with --jobs; into an existing one the whole archive
runs as a script through psql, in the one transaction that mode needs.
Every script (plain SQL backups, overwrites) loses it on the way. The record
says how many columns' options lost it; into a server that takes it,
nothing changes.
"""

import contextlib
import logging
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from backups_app.services.backups import globals_dump
from backups_app.services.crypto import age
from backups_app.services.jobs import progress
from backups_app.services.postgres import binaries, column_options, databases, toc
from backups_app.services.postgres.args import pg_restore_args
from backups_app.services.postgres.client import decompress_args, rejected_by, run_pg_restore, run_script
from backups_app.services.postgres.connection import conn_for, connect, refuses_clear_text
from backups_app.services.restores import checks as restore_checks
from backups_app.services.restores import safety, source_db, swap, timescale
from backups_app.services.storage import layout
from backups_app.services.storage.manifest import backup_sha256

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    rows: int | None = None
    notes: list[str] = field(default_factory=list)
    client: str = ""  # which program restored, and why that one


@dataclass
class Plan:
    record: object
    mode: str
    major: int
    superuser: bool
    outcome: Outcome
    left_out: frozenset = frozenset()  # column options the server rejects, left out of what is restored
    into: str = ""  # the database pg_restore writes to: the record's, or a scratch one to swap in

    def __post_init__(self):
        self.into = self.into or self.record.target_database

    @property
    def backup(self):
        return self.record.backup


def run(record, outcome: Outcome) -> Outcome:
    """Restore as the record says; notes go into `outcome` as they happen, so a failure keeps them too."""
    progress.phase(record, progress.CHECKSUM)
    check_checksum(record.backup, force=record.force, notes=outcome.notes)
    restore_checks.check(_request(record))
    # An encrypted directory backup is read from a private decrypted copy of its folder throughout.
    with age.readable(record.backup, copy=False):
        return _run(record, outcome)


def _run(record, outcome: Outcome) -> Outcome:
    progress.phase(record, progress.RESTORING)
    plan = _plan(record, outcome)
    if record.with_globals:
        outcome.notes.append(globals_dump.apply(record.backup, record.server))
    if plan.mode == "overwrite" and swap.applies(record):
        _restore_by_swap(plan)
    else:
        if plan.mode == "overwrite":
            taken = safety.take(record)
            outcome.notes.append(f"safety backup #{taken.pk} taken of {record.target_database} "
                                 "before overwriting it")
        _restore(plan)
    outcome.rows = _rows_restored(plan)
    return outcome


def _restore(plan: Plan) -> None:
    if plan.backup.format in layout.ARCHIVE_FORMATS:
        _restore_custom(plan)
    else:
        _restore_sql(plan)


def _restore_by_swap(plan: Plan) -> None:
    """TimescaleDB over an existing database: a new database beside it, swapped in when it checks out."""
    with swap.replacing(plan.record, plan.outcome) as scratch:
        plan.into, plan.mode = scratch, "new"
        _restore(plan)


def check_checksum(backup, *, force: bool, notes: list) -> None:
    """The file must be the one that was made: refused before anything is touched, unless forced."""
    sha, _ = backup_sha256(backup.absolute_path)
    if sha == backup.sha256:
        return
    message = (f"the file of backup #{backup.pk} does not match its recorded checksum: it has been "
               "damaged or changed since it was made")
    if not force:
        raise restore_checks.RestoreRefused(message + " (use --force to try anyway)")
    notes.append(message + "; restored anyway (forced)")


def _request(record) -> restore_checks.Request:
    return restore_checks.Request(
        backup=record.backup, server=record.server, into=record.target_database, tables=record.tables,
        overwrite=record.overwrite, with_globals=record.with_globals, jobs=record.jobs, force=record.force,
        no_owner=record.no_owner, no_acl=record.no_acl, terminate_connections=record.terminate_connections,
    )


def _plan(record, outcome: Outcome) -> Plan:
    with databases.maintenance(record.server) as m:
        major = m.info.server_version // 10000
        superuser = databases.is_superuser(m)
        exists = databases.exists(m, record.target_database)
        left_out = column_options.refused_by(m)
    mode = "new"
    if exists:
        objects = databases.user_objects(conn_for(record.server, record.target_database))
        mode = "overwrite" if objects else "empty"
    return Plan(record, mode, major, superuser, outcome, left_out)


def _owner_flags(plan: Plan) -> tuple[bool, bool]:
    """Owners and grants are kept when the restoring role can set them (a superuser), unless told otherwise."""
    record = plan.record
    no_owner = record.no_owner if record.no_owner is not None else not plan.superuser
    no_acl = record.no_acl if record.no_acl is not None else not plan.superuser
    return no_owner, no_acl


def _uses(plan: Plan, client: str) -> None:
    """The one line that says which program restores and why: in the log and on the record."""
    plan.outcome.client = client
    log.info("restore #%s uses %s", plan.record.pk, client)


def _restore_custom(plan: Plan) -> None:
    record = plan.record
    conn = conn_for(record.server, plan.into)
    path = plan.backup.archive_path
    no_owner, no_acl = _owner_flags(plan)
    if plan.mode == "overwrite" and not record.tables:
        choice = binaries.choose_pg_restore(path, dump_version=plan.backup.pg_dump_version)
        return _overwrite(plan, conn, lambda streamed: pg_restore_args(
            choice.tool, conn, None if streamed else path, no_owner=no_owner, no_acl=no_acl, script=True),
            writer=choice)
    choice = binaries.choose_pg_restore(path, server_major=plan.major, dump_version=plan.backup.pg_dump_version,
                                        refuse_clear_text=refuses_clear_text(conn))
    existing = plan.mode != "new"
    jobs = 1 if existing else record.jobs
    single = existing and not timescale.in_backup(plan.backup)
    if choice.script:
        return _restore_custom_as_script(plan, conn, choice, jobs=jobs, single=single)
    if plan.left_out and _sets_left_out_options(plan, choice):
        if existing:
            return _restore_custom_as_script(plan, conn, choice, jobs=jobs, single=single, why=(
                "but the archive's definitions set pg_attver, to be left out, and this restore must stay one "
                "transaction, so its script"))
        return _restore_custom_in_parts(plan, conn, choice, jobs=jobs)
    _uses(plan, str(choice) + (f"; {jobs} parallel jobs" if jobs > 1 else ""))
    # An encrypted archive streams into pg_restore, single tables too (their --use-list keeps the archive's
    # order, so pg_restore only ever reads forward); parallel workers each open and seek in the file, so
    # --jobs reads a private decrypted copy (docs/encryption.md).
    with age.readable(plan.backup, copy=jobs > 1) as path, _database(plan), _timescale(plan, conn), \
            _table_list(plan, conn) as use_list, age.stdin_for(path, whole=True) as stream:
        args = pg_restore_args(
            choice.tool, conn, None if stream else path, jobs=jobs, clean=plan.mode == "overwrite",
            single_transaction=single, no_owner=no_owner, no_acl=no_acl, use_list=use_list,
        )
        run_pg_restore(args, conn, stdin=stream)


def _restore_custom_as_script(plan: Plan, conn, choice, *, jobs: int, single: bool, why: str = "") -> None:
    """pg_restore writes the script, psql runs it without what the server rejects; no --jobs this way."""
    no_owner, no_acl = _owner_flags(plan)
    psql = binaries.psql_for(plan.major, refuse_clear_text=refuses_clear_text(conn))
    # A new database that fails is dropped anyway; one transaction is what keeps an existing one unchanged.
    single = single or (plan.mode == "new" and not timescale.in_backup(plan.backup))
    client = f"{choice}; {why + ' is ' if why else ''}run by psql {psql.version} ({psql.path})"
    if jobs > 1:
        client += f"; {jobs} parallel jobs were not possible (a script runs in one session)"
        plan.outcome.notes.append(f"{jobs} parallel jobs were not possible: {choice.why}")
    _uses(plan, client)
    path = plan.backup.archive_path
    with _database(plan), _timescale(plan, conn), _table_list(plan, conn) as use_list, age.feed(path) as feed:
        args = pg_restore_args(choice.tool, conn, None if feed.stdin else path, clean=plan.mode == "overwrite",
                               no_owner=no_owner, no_acl=no_acl, use_list=use_list, script=True)
        left_out = run_script(args, psql, conn, single_transaction=single, source_name="pg_restore failed",
                              server_major=plan.major, left_out=plan.left_out, source_stdin=feed.stdin,
                              source_done=feed.confirm)
    _note_left_out(plan, left_out)


def _sets_left_out_options(plan: Plan, choice) -> bool:
    """Whether the archive's definitions set pg_attver (read from its head; no table data is read)."""
    path = plan.backup.archive_path
    with age.stdin_for(path) as stream:  # encrypted: only the head is decrypted
        return column_options.set_in_archive(choice.tool, path, plan.left_out, stdin=stream)


def _restore_custom_in_parts(plan: Plan, conn, choice, *, jobs: int) -> None:
    """Into a new database: the definitions through psql without pg_attver, then pg_restore itself for the rest.

    The pre-data section holds every definition and no table data, so only
    it needs to be a script; the data and post-data sections (rows, indexes,
    constraints) are pg_restore's, with --jobs. Either part failing drops the
    new database, as any failed restore into a new one does.
    """
    no_owner, no_acl = _owner_flags(plan)
    psql = binaries.psql_for(plan.major, refuse_clear_text=refuses_clear_text(conn))
    _uses(plan, f"{choice}{f'; {jobs} parallel jobs' if jobs > 1 else ''}; its definitions (pre-data) go first "
                f"through psql {psql.version} ({psql.path}), to leave pg_attver out")
    single = not timescale.in_backup(plan.backup)
    with age.readable(plan.backup, copy=jobs > 1) as path, _database(plan), _timescale(plan, conn), \
            _table_list(plan, conn) as use_list:
        with age.stdin_for(path) as stream:  # encrypted: only the head, where the definitions are, is decrypted
            args = pg_restore_args(choice.tool, conn, None if stream else path, no_owner=no_owner, no_acl=no_acl,
                                   use_list=use_list, script=True, sections=("pre-data",))
            left_out = run_script(args, psql, conn, single_transaction=single, source_name="pg_restore failed",
                                  server_major=plan.major, left_out=plan.left_out, source_stdin=stream)
        _note_left_out(plan, left_out)
        with age.stdin_for(path, whole=True) as stream:
            args = pg_restore_args(choice.tool, conn, None if stream else path, jobs=jobs, no_owner=no_owner,
                                   no_acl=no_acl, use_list=use_list, sections=("data", "post-data"))
            run_pg_restore(args, conn, stdin=stream)


def _note_left_out(plan: Plan, columns: int) -> None:
    if columns:
        plan.outcome.notes.append(column_options.note(columns))


def _restore_sql(plan: Plan) -> None:
    record = plan.record
    conn = conn_for(record.server, plan.into)
    path = plan.backup.archive_path

    def source(streamed: bool) -> list[str]:  # decrypted on the way, the decompressor reads its stdin
        return decompress_args(age.plain(path), from_stdin=streamed)

    if plan.mode == "overwrite":
        return _overwrite(plan, conn, source)
    tool = binaries.psql_for(plan.major, refuse_clear_text=refuses_clear_text(conn))
    _uses(plan, f"psql {tool.version} ({tool.path}): newest for server {plan.major}{_left_out(plan.major)}")
    with _database(plan), _timescale(plan, conn), age.feed(path) as feed:
        left_out = run_script(source(feed.stdin is not None), tool, conn, single_transaction=plan.mode == "empty",
                              source_name="the SQL file does not decompress", server_major=plan.major,
                              left_out=plan.left_out, source_stdin=feed.stdin, source_done=feed.confirm)
    _note_left_out(plan, left_out)


def _left_out(major: int) -> str:
    if not rejected_by(major):
        return ""
    return f"; a SET transaction_timeout in the script's opening settings is left out (server {major} rejects it)"


def _overwrite(plan: Plan, conn, source_args, writer=None) -> None:
    """Empty the database and restore the backup's script, all in one transaction.

    pg_restore --clean cannot do this reliably (it fails on partitioned tables'
    constraints, and leaves behind objects the backup does not have); this
    keeps the database itself (owner, grants, settings) and changes nothing
    when any statement fails.

    source_args(streamed): the program writing the script (decompressor, or
    pg_restore --file -), reading the file itself or, streamed, its stdin:
    an encrypted backup is decrypted on the way, and psql's input only ends
    (so it only commits) once age has authenticated all it decrypted.
    """
    with connect(conn, autocommit=True) as c:
        preamble = databases.clearing_script(c)
    psql = binaries.psql_for(plan.major, refuse_clear_text=refuses_clear_text(conn))
    runner = f"psql {psql.version} ({psql.path}) runs it in one transaction{_left_out(plan.major)}"
    _uses(plan, f"{writer}; {runner}" if writer else runner)
    with age.feed(plan.backup.archive_path) as feed:
        left_out = run_script(source_args(feed.stdin is not None), psql, conn, single_transaction=True,
                              preamble=preamble, source_name="the backup cannot be read", server_major=plan.major,
                              left_out=plan.left_out, source_stdin=feed.stdin, source_done=feed.confirm)
    _note_left_out(plan, left_out)
    plan.outcome.notes.append(f"database {plan.record.target_database} was emptied and restored in one transaction")


@contextlib.contextmanager
def _database(plan: Plan):
    """Create the database for a new restore, and drop it again if the restore fails.

    The record says which database it created, so that if this process dies
    (kill -9, power loss) the next command or worker drops it (jobs/recovery.py).
    """
    name = plan.into
    if plan.mode != "new":
        yield
        return
    with databases.maintenance(plan.record.server) as m:
        note = databases.create(m, name, source_db.creation_options(plan.backup, major=plan.major))
    _created(plan.record, name)
    if note:
        plan.outcome.notes.append(note)
    try:
        yield
    except BaseException:
        with databases.maintenance(plan.record.server) as m:
            databases.drop(m, name)
        _created(plan.record, "")
        raise


def _created(record, name: str) -> None:
    record.created_database = name
    type(record).objects.filter(pk=record.pk).update(created_database=name)


@contextlib.contextmanager
def _timescale(plan: Plan, conn):
    if not timescale.in_backup(plan.backup) or plan.record.tables:
        yield
        return
    with timescale.procedure(conn, timescale.version_in_backup(plan.backup)):
        yield
    plan.outcome.notes.append(
        f"TimescaleDB {timescale.version_in_backup(plan.backup)}: pre_restore, restore, post_restore, ANALYZE"
    )


@contextlib.contextmanager
def _table_list(plan: Plan, conn):
    """For single tables: a --use-list file naming the tables and everything that belongs to them."""
    if not plan.record.tables:
        yield None
        return
    path = plan.backup.archive_path
    with age.stdin_for(path) as stream:  # encrypted: only the head is decrypted
        contents = toc.read(path, server_major=plan.major, stdin=stream, dump_version=plan.backup.pg_dump_version)
    wanted = [restore_checks.parse_table(t) for t in plan.record.tables]
    with connect(conn, autocommit=True) as c:
        chosen = toc.select_tables(contents, wanted, present=databases.present_checker(c),
                                   replacing=plan.mode == "overwrite")
    if chosen.skipped:
        plan.outcome.notes.append("left out: " + "; ".join(chosen.skipped))
    with toc.list_file(chosen.lines) as listing:
        yield listing


def _rows_restored(plan: Plan) -> int | None:
    """Exact where we know it: the counts recorded at backup time, or a count of the tables just restored."""
    record, counts = plan.record, plan.backup.row_counts or {}
    if not record.tables:
        return sum(counts.values()) if counts else None
    wanted = [restore_checks.parse_table(t) for t in record.tables]
    with connect(conn_for(record.server, record.target_database), autocommit=True) as c:
        total = 0
        for schema, name in wanted:
            query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            try:
                total += c.execute(query).fetchone()[0]
            except psycopg.Error:
                return None
    return total
