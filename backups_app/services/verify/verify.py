"""Verification: the file is the one that was made and reads to the end; optionally a restore drill.

A backup with a copy in object storage as well has that copy read back too
(offsite_copy.py).

The job ends `succeeded` only when every check passed; the result is also
copied onto the backup (last verified, passed, detail) for the admin list.
"""

import logging

from django.utils import timezone
from django.utils.translation import gettext as _

from backups_app.models import BackupRecord, BackupStatus, VerificationRecord
from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.jobs import origin, progress, stopping
from backups_app.services.storage import offsite, offsite_copies
from backups_app.services.targets import agreement
from backups_app.services.verify import drill as drills
from backups_app.services.verify import integrity, offsite_copy
from backups_app.services.verify.integrity import Finding

log = logging.getLogger(__name__)


class VerifyRefused(Exception):
    """The verification was not started; the message says why."""


def verify_create(*, backup, drill: bool = False, started_by: str = "", requested_by=None) -> VerificationRecord:
    if backup.status != BackupStatus.SUCCEEDED:
        raise VerifyRefused(_("backup #%(id)s cannot be verified: its status is %(status)s") % {
            "id": backup.pk, "status": backup.get_status_display()})
    if drill:
        _refuse_drill_elsewhere(backup)
    return VerificationRecord.objects.create(
        backup=backup, drill=drill, **origin.fields(started_by), requested_by=requested_by
    )


def verify_execute(*, record_id: int, defer_when_busy: bool = False) -> VerificationRecord:
    """Claim a queued verification, run its checks, and end it; jobs.NotQueued if another worker has it.

    It only reads the file, so it waits for no target's turn and
    defer_when_busy (the queue's argument) changes nothing; a drill's
    restore waits for its server like any restore.
    """
    record = VerificationRecord.objects.select_related("backup", "backup__target").get(pk=record_id)
    problem = agreement.mismatch(record.backup.target) if record.drill else ""
    if problem:
        # Refused, not failed: the backup's own verification result stays as it was.
        jobs.refuse(record, f"drill refused: {problem}")
        return record
    try:
        with jobs.turn(record):
            findings = _findings(record)
    except jobs.NotQueued:
        raise
    except BaseException as exc:
        _end(record, [Finding(False, stopping.interrupted("verification", exc))])
        raise
    _end(record, findings)
    return record


def _refuse_drill_elsewhere(backup) -> None:
    """A drill restores onto the backup's own server: not from a process configured for another one."""
    problem = agreement.mismatch(backup.target)
    if problem:
        raise VerifyRefused(f"drill of backup #{backup.pk} refused: {problem}")


def _findings(record: VerificationRecord) -> list[Finding]:
    try:
        with offsite_copies.fetched(record.backup) as backup:
            progress.phase(record, progress.CHECKSUM)
            findings = integrity.check_file(backup)
            if backup.local_stand_in is not None and all(f.ok for f in findings):
                findings.insert(0, Finding(True, f"fetched from {record.backup.offsite_key} (sha256 checked)"))
            findings += filter(None, [offsite_copy.check(backup)])
            if record.drill and all(f.ok for f in findings):
                # The file as it is now passed: an older failed verification (of a file since repaired)
                # must not refuse the drill's restore.
                _passed(backup, findings)
                progress.phase(record, progress.DRILL)
                findings.append(drills.run(record))
    except offsite.StorageError as exc:
        return [Finding(False, str(exc))]
    return findings


def _passed(backup: BackupRecord, findings: list[Finding]) -> None:
    detail = "; ".join(f.detail for f in findings)
    BackupRecord.objects.filter(pk=backup.pk).update(
        last_verified_at=timezone.now(), last_verify_ok=True, last_verify_detail=detail)
    backup.last_verify_ok, backup.last_verify_detail = True, detail


def _end(record: VerificationRecord, findings: list[Finding]) -> None:
    ok = all(f.ok for f in findings)
    detail = "; ".join(f.detail for f in findings)
    failure = next((f.detail for f in findings if not f.ok), "")
    jobs.finish(record, ok=ok, error=failure, detail=detail, restore_seconds=record.restore_seconds)
    # `ok` is also jobs.finish's own argument, so the result column is set apart.
    VerificationRecord.objects.filter(pk=record.pk).update(ok=ok)
    record.ok = ok
    BackupRecord.objects.filter(pk=record.backup_id).update(
        last_verified_at=record.finished_at or timezone.now(), last_verify_ok=ok, last_verify_detail=detail,
    )
    log.info("verification #%s of backup #%s: %s", record.pk, record.backup_id, "passed" if ok else failure)
