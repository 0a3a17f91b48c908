"""Everything a restore can check before anything is created: refusals are one readable line."""

from dataclasses import dataclass

from backups_app.models import BackupStatus
from backups_app.services.crypto import age, keys
from backups_app.services.jobs import placement, process
from backups_app.services.postgres import databases, names, toc
from backups_app.services.postgres.binaries import ToolNotFound
from backups_app.services.postgres.connection import ConnectionFailed, conn_for
from backups_app.services.restores import swap, timescale
from backups_app.services.storage import files, layout, offsite
from backups_app.services.targets import agreement


class RestoreRefused(Exception):
    """The restore was not started; the message says why, on one line."""


def parse_table(text: str) -> tuple[str, str]:
    """'schema.table' (or '"My Schema"."My Table"') as the archive names them."""
    try:
        return names.parse_table(text)
    except names.BadName as exc:
        raise RestoreRefused(str(exc)) from None


@dataclass
class Request:
    backup: object
    server: object
    into: str
    tables: list
    overwrite: bool
    with_globals: bool
    jobs: int
    force: bool
    no_owner: bool | None
    no_acl: bool | None
    terminate_connections: bool = False


def check(req: Request) -> None:
    """Raise RestoreRefused for anything that would make the restore fail or do harm."""
    problem = agreement.mismatch(req.server)  # configured here for another server than the target names
    if problem:
        raise RestoreRefused(problem)
    check_backup_file(req.backup, force=req.force)
    _check_options(req)
    try:
        names.check_database(req.into)
    except names.BadName as exc:
        raise RestoreRefused(str(exc)) from None
    if req.tables:
        _check_tables(req)
    if timescale.in_backup(req.backup):
        _check_timescale(req)
    _check_server(req)


def check_backup_file(backup, *, force: bool) -> None:
    if backup.status != BackupStatus.SUCCEEDED:
        raise RestoreRefused(f"backup #{backup.pk} cannot be restored: its status is {backup.status}")
    if backup.format not in (*layout.ARCHIVE_FORMATS, "sql"):
        raise RestoreRefused(f"backup #{backup.pk} is in {backup.format} format, which cannot be restored here")
    path = backup.absolute_path
    local = offsite.is_local(path)
    if not local and not offsite.available_offsite(backup) and not on_another_host(backup):
        raise RestoreRefused(f"the file of backup #{backup.pk} is missing on host {process.host()} "
                             f"({path or 'no path recorded'})")
    if backup.encrypted:
        _check_key(backup, local=local)
    if force:
        return
    # A file in object storage is checked (size and sha256) by the worker that fetches it.
    size = files.size_of(path) if local else backup.size_bytes
    if backup.size_bytes is not None and size != backup.size_bytes:
        raise RestoreRefused(
            f"the file of backup #{backup.pk} is {size} bytes but was {backup.size_bytes} when it was made: "
            "it is damaged or truncated (use --force to try anyway)"
        )
    if backup.last_verify_ok is False:
        raise RestoreRefused(
            f"backup #{backup.pk} failed its last verification ({backup.last_verify_detail.strip()[:200]}); "
            "use --force to restore it anyway"
        )


def on_another_host(backup) -> bool:
    """Only another host has the file: the restore is queued for it, and it reads the file (jobs/placement.py)."""
    return placement.away(backup, placement.reader_host(backup))


def _check_key(backup, *, local: bool) -> None:
    """A missing or wrong private key is a refusal, before anything is created.

    A file only in object storage is tried with the key once the worker has fetched it.
    """
    try:
        if not local:
            keys.require_identity()
            return
        age.check_key(backup.absolute_path)
    except (keys.KeyMissing, age.CryptoFailed) as exc:
        raise RestoreRefused(f"backup #{backup.pk} cannot be restored: {exc}") from None


def _check_options(req: Request) -> None:
    if req.jobs < 1 or req.jobs > 64:
        raise RestoreRefused("--jobs must be between 1 and 64")
    if req.backup.format == "sql":
        if req.tables:
            raise RestoreRefused(
                "single-table restores need a custom-format backup: a plain SQL script cannot be split "
                "soundly; restore it whole into a new database and copy the table from there"
            )
        if req.jobs > 1:
            raise RestoreRefused("parallel restore (--jobs) needs a custom-format backup; this one is plain SQL")
        if req.no_owner or req.no_acl:
            raise RestoreRefused(
                "--no-owner and --no-acl need a custom-format backup: a plain SQL script sets owners "
                "and grants itself (restore the roles first with --with-globals)"
            )
    if req.with_globals:
        path = req.backup.globals_absolute_path
        stored = offsite.available_offsite(req.backup) and req.backup.offsite_globals_key
        if not offsite.is_local(path) and not stored and not on_another_host(req.backup):
            raise RestoreRefused(
                f"backup #{req.backup.pk} has no roles and tablespaces file to apply "
                f"({path or 'none was saved with it'})"
            )


def _check_tables(req: Request) -> None:
    names = [parse_table(t) for t in req.tables]
    if not offsite.is_local(req.backup.absolute_path):
        return  # in object storage only: the worker checks the tables once it has fetched the archive
    try:
        # An encrypted directory backup: its table of contents decrypted into a private copy.
        with age.readable(req.backup, copy=False, toc_only=True) as path:
            with age.stdin_for(path) as stream:  # encrypted: only the head, where the contents are, is decrypted
                contents = toc.read(path, stdin=stream, dump_version=req.backup.pg_dump_version)
            if timescale.in_backup(req.backup):
                with age.stdin_for(path) as stream:
                    hypertables = timescale.hypertables_in_archive(path, stdin=stream)
    except (toc.ArchiveUnreadable, ToolNotFound, age.CryptoFailed, keys.KeyMissing) as exc:
        raise RestoreRefused(str(exc)) from None
    for schema, name in names:
        if contents.find_table(schema, name) is None:
            raise RestoreRefused(f"table {schema}.{name} is not in backup #{req.backup.pk}" +
                                 _known_tables(contents))
    if timescale.in_backup(req.backup):
        for schema, name in names:
            if (schema, name) in hypertables:
                raise RestoreRefused(timescale.single_hypertable_refusal(schema, name))


def _known_tables(contents) -> str:
    known = sorted(e.qualified for e in contents.tables())
    if not known:
        return " (it holds no tables)"
    more = f" and {len(known) - 8} more" if len(known) > 8 else ""
    return f" (it has {', '.join(known[:8])}{more})"


def _check_timescale(req: Request) -> None:
    if req.jobs > 1:
        raise RestoreRefused(
            "a TimescaleDB backup restores with one job (TimescaleDB's documented procedure); drop --jobs"
        )


def _check_server(req: Request) -> None:
    try:
        with databases.maintenance(req.server) as m:
            if timescale.in_backup(req.backup) and not req.tables:
                problem = timescale.unavailable_reason(m, timescale.version_in_backup(req.backup))
                if problem:
                    raise RestoreRefused(problem)
            if databases.exists(m, req.into):
                _check_existing(req)
                if req.overwrite and timescale.in_backup(req.backup) and not req.tables:
                    _check_swap(req, m)
            elif not databases.can_create(m):
                raise RestoreRefused(
                    f"user {req.server.user} may not create databases on {req.server.host}:{req.server.port}; "
                    "grant CREATEDB, or create an empty database and restore into it"
                )
    except ConnectionFailed as exc:
        raise RestoreRefused(str(exc)) from None


def _check_swap(req: Request, m) -> None:
    """A TimescaleDB overwrite restores beside the database and renames both (see swap.py)."""
    if not databases.can_create(m):
        raise RestoreRefused(
            f"overwriting the TimescaleDB database {req.into} restores into a new database and swaps the names: "
            f"user {req.server.user} needs CREATEDB (or to be a superuser) for that"
        )
    owner = m.execute("SELECT pg_has_role(datdba, 'USAGE') FROM pg_database WHERE datname = %s",
                      (req.into,)).fetchone()[0]
    if not (owner or databases.is_superuser(m)):
        raise RestoreRefused(f"overwriting {req.into} renames it, which only its owner or a superuser may do")
    if not req.terminate_connections and (found := swap.clients_settled(m, req.into)):
        raise RestoreRefused(swap.clients_refusal(req.into, found))


def _check_existing(req: Request) -> None:
    objects = databases.user_objects(conn_for(req.server, req.into))
    if objects and not req.overwrite:
        raise RestoreRefused(
            f"database {req.into} already holds objects ({', '.join(objects[:3])}"
            f"{', ...' if len(objects) > 3 else ''}): choose a new name, or overwrite it "
            "(a safety backup is taken first)"
        )
    if req.jobs > 1:
        raise RestoreRefused(
            f"--jobs works only for a new database: into the existing {req.into} the restore runs "
            "in one transaction, so that a failure changes nothing"
        )


def tables_in(backup) -> list[str] | None:
    """The archive's own tables (SCHEMA.TABLE), to choose from; None when this host cannot read them
    (plain SQL, a file only in object storage or on another host, an encrypted file without its key)."""
    if backup.format not in layout.ARCHIVE_FORMATS or not offsite.is_local(backup.absolute_path):
        return None
    try:
        with age.readable(backup, copy=False, toc_only=True) as path, age.stdin_for(path) as stream:
            contents = toc.read(path, stdin=stream, dump_version=backup.pg_dump_version)
    except (toc.ArchiveUnreadable, ToolNotFound, age.CryptoFailed, keys.KeyMissing, OSError):
        return None
    return sorted({e.qualified for e in contents.tables()})
