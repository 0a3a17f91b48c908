"""A server target's run: its databases listed afresh, each backed up as a job of its own, the roles file once.

- The run waits for the server target's turn (one run per server at a
  time), lists the server's databases (targets/discovery.py) and runs
  pg_dumpall --globals-only once. A server that cannot be reached, or whose
  roles cannot be read, fails the run in one line before anything changes:
  no database target is made or marked, no backup is started.
- Then each database's backup is a BackupRecord of its own, made when its
  turn comes and run through the same lifecycle as any backup (its own
  target's turn, heartbeat, checks, publishing, offsite copy, log line,
  notifications), with a copy of the run's roles file beside its dump.
  SERVER_BACKUP_PARALLEL of them at once (default 1: in turn; the server's
  load matters more than the run's speed).
- One database failing does not stop the others. A database gone since the
  listing is reported as dropped and skipped, not as a failure.
- The run ends `succeeded`, `partly_failed` (its error names each database
  that failed and why) or `failed` (none succeeded, or nothing to back up).
"""

import logging
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from humanize import naturalsize

from backups_app.models import BackupRecord, BackupStatus, DatabaseTarget, ServerRun, ServerRunStatus
from backups_app.services.backups import dump, globals_dump
from backups_app.services.crypto import keys
from backups_app.services.jobs import fanout, origin, stopping
from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.jobs.recovery import RUN_SCRATCH_PREFIX
from backups_app.services.postgres import binaries
from backups_app.services.postgres.connection import ConnectionFailed, conn_for, server_info
from backups_app.services.postgres.scrub import scrub
from backups_app.services.storage import offsite
from backups_app.services.targets import agreement, discovery

log = logging.getLogger(__name__)

ERROR_PER_DATABASE = 300  # characters of each failed database's error in the run's own


class RunRefused(Exception):
    """The run was not started (the target is no server target); one line."""


def run_create(*, target, backup_type: str, fmt: str, started_by: str = "", requested_by=None,
               schedule=None) -> ServerRun:
    """A queued run of a server target; the work happens in run_execute."""
    if not target.is_server:
        raise RunRefused(f"target {target.name} is one database, not a server")
    return ServerRun.objects.create(
        target=target, backup_type=backup_type, format=fmt, **origin.fields(started_by),
        requested_by=requested_by, schedule=schedule, server_address=agreement.server(target),
    )


def run_execute(*, record_id: int, defer_when_busy: bool = False, dump_jobs: int | None = None,
                on_wait=None, on_database=None) -> ServerRun:
    """Run a queued server run when its server target is free, and end it.

    on_database(record), when given, hears of each database's backup as it ends (the command line prints it).
    """
    run = ServerRun.objects.select_related("target").get(pk=record_id)
    try:
        with jobs.turn(run, target=run.target, defer=defer_when_busy, on_wait=on_wait):
            _run(run, dump_jobs, on_database)
    except jobs.TargetBusy as exc:
        if not exc.final:
            raise
        jobs.refuse(run, str(exc))
    except BaseException as exc:
        run.refresh_from_db(fields=["status"])
        if run.status == ServerRunStatus.RUNNING:
            jobs.finish(run, ok=False, error=stopping.interrupted("server run", exc))
        raise
    run.refresh_from_db()
    return run


def _run(run: ServerRun, dump_jobs, on_database) -> None:
    server = run.target
    conn = conn_for(server)
    folder = Path(tempfile.mkdtemp(prefix=f"{RUN_SCRATCH_PREFIX}{run.pk}-", dir=offsite.scratch_dir()))
    try:
        try:
            found = discovery.list_names(server)
            globals_file = _save_globals(server, conn, folder)
        except (ConnectionFailed, globals_dump.GlobalsFailed, binaries.ToolNotFound, keys.NoRecipients) as exc:
            jobs.finish(run, ok=False, error=scrub(f"server {server.name}: {exc}; nothing was changed",
                                                   conn.secrets()))
            return
        listing = discovery.sync(server, found)
        _record_listing(run, listing)
        outcomes = fanout.run_each(
            listing.targets, lambda target: _back_up(run, target, globals_file, dump_jobs, on_database),
            parallel=settings.SERVER_BACKUP_PARALLEL)
        _end(run, listing, outcomes)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _save_globals(server, conn, folder: Path) -> Path:
    """pg_dumpall --globals-only once for the whole run (encrypted to the targets' keys when they encrypt)."""
    recipients = keys.recipients_for(server)
    path = folder / globals_dump.file_name("server", encrypted=bool(recipients))
    info = server_info(conn)
    globals_dump.save(conn, path, server_major=info.major, recipients=recipients)
    return path


def _record_listing(run: ServerRun, listing: discovery.Listing) -> None:
    run.databases, run.added, run.dropped = listing.names, listing.added, listing.dropped
    ServerRun.objects.filter(pk=run.pk).update(databases=run.databases, added=run.added, dropped=run.dropped)
    for target in DatabaseTarget.objects.filter(server=run.target, dbname__in=listing.dropped):
        _tell_dropped(run, target)


def _tell_dropped(run: ServerRun, target) -> None:
    """Told once, by the run that finds the database gone; its backups stay under retention."""
    from backups_app.services import notify

    log.warning("server run #%s: database %s is no longer on server %s; its backups are kept",
                run.pk, target.dbname, run.target.name)
    notify.database_dropped(target, run=run)


# What became of one database in a run: its backup, or GONE (it was dropped before or during its turn).
GONE = "gone"


def _back_up(run: ServerRun, target, globals_file: Path, dump_jobs, on_database):
    """One database's backup, a job of its own; GONE when the database went away before or while it ran."""
    if not discovery.still_there(run.target, target.dbname):
        return _gone(run, target)
    record = dump.backup_create(target=target, backup_type=run.backup_type, fmt=run.format,
                                started_by=run.started_by, requested_by=run.requested_by, schedule=run.schedule,
                                server_run=run)
    record = dump.backup_execute(record_id=record.pk, dump_jobs=dump_jobs, globals_file=globals_file)
    if on_database is not None:
        on_database(record)
    if record.status == BackupStatus.FAILED and not fanout.stopping() \
            and not discovery.still_there(run.target, target.dbname):
        record.error = f"{record.error} (the database was dropped while the run went on)"
        BackupRecord.objects.filter(pk=record.pk).update(error=record.error)
        return _gone(run, target)
    return record


def _gone(run: ServerRun, target) -> str:
    if discovery.mark_dropped(target):
        _tell_dropped(run, target)
    return GONE


def _end(run: ServerRun, listing: discovery.Listing, outcomes: list) -> None:
    lines, failed, done, gone = [], [], 0, []
    for target, outcome in zip(listing.targets, outcomes, strict=True):
        if outcome == GONE:
            gone.append(target.dbname)
            lines.append(f"{target.dbname}: dropped during the run, skipped")
        elif isinstance(outcome, BaseException):
            failed.append((target.dbname, f"{type(outcome).__name__}: {outcome}"))
            lines.append(f"{target.dbname}: failed: {outcome}")
        elif outcome.status == BackupStatus.SUCCEEDED:
            done += 1
            lines.append(f"{target.dbname}: backup #{outcome.pk} succeeded "
                         f"({naturalsize(outcome.size_bytes or 0, binary=True)})")
        else:
            failed.append((target.dbname, f"backup #{outcome.pk}: {outcome.error}"))
            lines.append(f"{target.dbname}: backup #{outcome.pk} {outcome.status}: {outcome.error}")
    fields = {"failed_databases": [name for name, _ in failed], "detail": "\n".join(lines),
              "dropped": sorted({*listing.dropped, *gone})}
    jobs.finish(run, ok=not failed and done > 0, error=_error(listing, failed, done), **fields,
                **({"status": ServerRunStatus.PARTLY_FAILED.value} if failed and done else {}))
    log.info("server run #%s of %s: %s of %s databases backed up", run.pk, run.target.name, done,
             len(listing.targets))


def _error(listing: discovery.Listing, failed: list, done: int) -> str:
    if not listing.targets:
        return "no database on the server matches the target's patterns: nothing was backed up"
    if not failed:
        return "" if done else "every database was dropped during the run: nothing was backed up"
    named = "; ".join(f"{name} ({why[:ERROR_PER_DATABASE]})" for name, why in failed)
    return f"{len(failed)} of {len(listing.targets)} databases failed: {named}"


def summary(run: ServerRun) -> str:
    """The run in one line: how many databases, what changed on the server, and what failed."""
    done = run.backups.filter(status=BackupStatus.SUCCEEDED).count()
    parts = [f"server run #{run.pk} of {run.target.name} {run.status}: {done} of {len(run.databases)} "
             "databases backed up"]
    if run.added:
        parts.append(f"new: {', '.join(run.added)}")
    if run.dropped:
        parts.append(f"dropped (backups kept): {', '.join(run.dropped)}")
    if run.error:
        parts.append(run.error)
    return "; ".join(parts)
