"""Restore drills: restore into a scratch database, check it, drop it (also when something fails).

Checks: every table the archive defines exists and reads; where the backup
recorded exact row counts (BACKUP_ROW_COUNTS), every count is equal.
"""

import time

import psycopg

from backups_app.models import JobStatus, RestoreRecord
from backups_app.services.postgres import databases
from backups_app.services.postgres.connection import ConnectionFailed
from backups_app.services.restores import restore, sanity
from backups_app.services.verify.integrity import Finding


def scratch_name(verification) -> str:
    return f"bc_drill_{verification.backup_id}_{verification.pk}"


def _started_by(verification) -> str:
    return f"drill of verification #{verification.pk}"


def restore_of(verification) -> RestoreRecord | None:
    """The restore a drill ran (for the pages that name the server it restored into)."""
    return RestoreRecord.objects.filter(is_drill=True, started_by=_started_by(verification),
                                        backup_id=verification.backup_id).first()


def run(verification) -> Finding:
    backup, started = verification.backup, time.monotonic()
    name = scratch_name(verification)
    try:
        record = restore.restore_create(backup=backup, into=name, started_by=_started_by(verification),
                                        requested_by=verification.requested_by, is_drill=True)
    except restore.RestoreRefused as exc:
        return Finding(False, f"drill refused: {exc}")
    try:
        record = restore.restore_execute(record_id=record.pk)
        # What an incident would cost today: the restore alone, without the checks.
        verification.restore_seconds = record.duration_seconds
        if record.status != JobStatus.SUCCEEDED:
            return Finding(False, f"drill restore #{record.pk} into {record.server_address} failed: {record.error}")
        problems, summary = sanity.sanity_check(backup, record.server, name)  # the archive's tables: streamed
    finally:
        _drop(record.server, name)
    seconds = time.monotonic() - started
    if problems:
        return Finding(False, f"drill restore #{record.pk} into {record.server_address}: " + "; ".join(problems[:10]))
    return Finding(True, f"drill: restore #{record.pk} into the scratch database {record.server_address} took "
                         f"{seconds:.1f} s; {summary}; scratch database dropped")


def _drop(server, name: str) -> None:
    try:
        with databases.maintenance(server) as m:
            databases.drop(m, name)
    except (ConnectionFailed, psycopg.Error):
        # The finding reports the real failure; a leftover drill database is named for what it is.
        pass
