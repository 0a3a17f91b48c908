"""Restores, as manage.py restore, the admin's restore_backup action and drills use them.

restore_create checks everything it can up front and refuses (RestoreRefused,
one readable line) without creating anything; restore_execute waits for the
server's turn, claims the queued row, and ends it succeeded or failed.

Owners and grants: kept when the restoring role is a superuser (missing
roles then fail the restore: apply the backup's roles with with_globals, or
pass no_owner), skipped otherwise; no_owner / no_acl force either way for
custom archives. A plain SQL script sets owners and grants itself.
"""

import logging
import re

import psycopg
from django.utils import timezone

from backups_app.models import RestoreRecord
from backups_app.services.backups.globals_dump import GlobalsFailed
from backups_app.services.crypto.age import CryptoFailed
from backups_app.services.crypto.keys import KeyMissing
from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.jobs import origin, stopping
from backups_app.services.postgres.binaries import ToolNotFound
from backups_app.services.postgres.client import RestoreFailed
from backups_app.services.postgres.connection import ConnectionFailed, conn_for
from backups_app.services.postgres.scrub import scrub
from backups_app.services.postgres.toc import ArchiveUnreadable
from backups_app.services.restores import run as restore_run
from backups_app.services.restores.checks import Request, RestoreRefused, check
from backups_app.services.restores.timescale import TimescaleFailed
from backups_app.services.storage.offsite import FetchFailed
from backups_app.services.storage.offsite_copies import fetched
from backups_app.services.targets import agreement

__all__ = ["RestoreFailed", "RestoreRefused", "default_database_name", "restore_create", "restore_execute"]

log = logging.getLogger(__name__)

FAILURES = (RestoreFailed, RestoreRefused, ConnectionFailed, ToolNotFound, GlobalsFailed, TimescaleFailed,
            ArchiveUnreadable, jobs.JobRefused, CryptoFailed, KeyMissing, FetchFailed)


def default_database_name(backup) -> str:
    """A new name: the source database's, the word restore, and the backup's time."""
    stamp = f"{timezone.localtime(backup.created_at):%Y%m%d_%H%M%S}"
    source = re.sub(r"[^A-Za-z0-9_]", "_", backup.target.dbname) or "db"
    if not re.match(r"[A-Za-z_]", source):
        source = "db_" + source
    return f"{source[:63 - len(stamp) - 9]}_restore_{stamp}"


def restore_create(*, backup, into: str, tables=(), overwrite: bool = False, with_globals: bool = False,
                   jobs: int = 1, force: bool = False, server=None, started_by: str = "", requested_by=None,
                   no_owner: bool | None = None, no_acl: bool | None = None,
                   is_drill: bool = False, terminate_connections: bool = False) -> RestoreRecord:
    """A queued restore, or RestoreRefused with the reason and nothing created."""
    server = server or backup.target
    tables = list(dict.fromkeys(t.strip() for t in tables if t and t.strip()))
    request = Request(backup=backup, server=server, into=(into or "").strip(), tables=tables,
                      overwrite=overwrite, with_globals=with_globals, jobs=jobs, force=force,
                      no_owner=no_owner, no_acl=no_acl, terminate_connections=terminate_connections)
    try:
        check(request)
    except RestoreRefused as exc:
        raise RestoreRefused(scrub(str(exc), conn_for(server).secrets())) from None
    return RestoreRecord.objects.create(
        backup=backup, server=server, target_database=request.into, tables=tables, overwrite=overwrite,
        with_globals=with_globals, jobs=jobs, force=force, no_owner=no_owner, no_acl=no_acl,
        **origin.fields(started_by), requested_by=requested_by, is_drill=is_drill,
        terminate_connections=terminate_connections, server_address=agreement.address(server, request.into),
    )


def restore_execute(*, record_id: int, defer_when_busy: bool = False, on_wait=None) -> RestoreRecord:
    """Run a queued restore when its server is free (jobs.turn), and end it.

    A restore that would wait too long for the server is refused with the
    reason; with defer_when_busy, jobs.TargetBusy leaves the row queued for
    the queue to try again (see queue.run_in_turn).
    """
    record = RestoreRecord.objects.select_related("backup", "backup__target", "server").get(pk=record_id)
    refusal = agreement.refusal(record.server, asked=record.server_address, dbname=record.target_database)
    if refusal:  # this process is configured for another server, or the target moved since
        jobs.refuse(record, refusal)
        log.warning("restore #%s refused: %s", record.pk, refusal)
        return record
    secrets = conn_for(record.server).secrets()
    outcome = restore_run.Outcome()
    try:
        with jobs.turn(record, target=record.server, defer=defer_when_busy, on_wait=on_wait), \
                fetched(record.backup, with_globals=record.with_globals):
            restore_run.run(record, outcome)
    except jobs.NotQueued:
        raise
    except jobs.TargetBusy as exc:
        if not exc.final:
            raise
        jobs.refuse(record, scrub(str(exc), secrets))
        log.warning("restore #%s refused: %s", record.pk, record.error)
        return record
    except FAILURES as exc:
        return _fail(record, str(exc), secrets, outcome)
    except psycopg.Error as exc:
        return _fail(record, f"the server refused a step of the restore: {str(exc).strip()}", secrets, outcome)
    except OSError as exc:
        return _fail(record, f"cannot read the backup file: {exc.strerror or exc} ({exc.filename or ''})", secrets,
                     outcome)
    except BaseException as exc:
        _fail(record, stopping.interrupted("restore", exc), secrets, outcome)
        raise
    jobs.finish(record, ok=True, rows_restored=outcome.rows, detail=scrub("\n".join(outcome.notes), secrets),
                client=outcome.client[:500])
    log.info("restore #%s of backup #%s into %s succeeded", record.pk, record.backup_id, record.target_database)
    return record


def _fail(record: RestoreRecord, message: str, secrets, outcome) -> RestoreRecord:
    record.error = scrub(message, secrets)
    jobs.finish(record, ok=False, error=record.error, detail=scrub("\n".join(outcome.notes), secrets),
                client=outcome.client[:500])
    log.warning("restore #%s failed: %s", record.pk, record.error)
    return record
