"""Scheduled verifications and restore drills: the target's newest backup, checked on a timetable.

The newest backup that succeeded and has a file, not a safety backup taken
before a restore, whether or not an earlier verification of it failed
(checking it again is the point; "restorable" is backups_app/selectors.py's);
a schedule with a backup type looks only at that type. With no
such backup, or a drill refused here (services/targets/agreement.py), the
run fails and says so to the notification channels: a
drill that cannot run is as bad news as one that fails.
"""

from django.db.models import F

from backups_app.models import BackupRecord, BackupSchedule
from backups_app.models.notifications import EventKind
from backups_app.services import notify
from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.jobs import queue
from backups_app.services.verify import verify


def newest_good_backup(*, target, backup_type: str = "") -> BackupRecord | None:
    found = BackupRecord.objects.filter(target=target, status="succeeded", is_safety_backup=False).exclude(path="")
    if backup_type:
        found = found.filter(backup_type=backup_type)
    return found.order_by(F("finished_at").desc(nulls_last=True), "-created_at", "-pk").first()


def run(*, schedule: BackupSchedule) -> str:
    drill = schedule.action == "drill"
    if schedule.target.is_server:
        return _cannot_run(schedule, f"schedule {schedule.name}: target {schedule.target.name} is a server; "
                                     f"{schedule.action} the target of one of its databases instead")
    backup = newest_good_backup(target=schedule.target, backup_type=schedule.backup_type)
    if backup is None:
        what = f"{schedule.backup_type} backup" if schedule.backup_type else "backup"
        return _cannot_run(schedule, f"schedule {schedule.name}: no succeeded {what} of {schedule.target.name} "
                                     f"to {schedule.action}")
    try:
        record = verify.verify_create(backup=backup, drill=drill, started_by=f"schedule {schedule.name}")
    except verify.VerifyRefused as exc:
        return _cannot_run(schedule, f"schedule {schedule.name}: {exc}")
    what = f"{'drill' if drill else 'verification'} #{record.pk} of backup #{backup.pk}"
    try:
        record = verify.verify_execute(record_id=record.pk)
    except jobs.OnAnotherHost as exc:  # only that host has the file: its worker runs it
        queue.enqueue_verify(record)
        return f"{what} handed to host {exc.host}, which has its file"
    finally:
        record.refresh_from_db()
        _set_status(schedule, record.status)
    restore = f"; restore took {record.restore_seconds:.1f} s" if record.restore_seconds is not None else ""
    return f"{what} {record.status}{restore}"


def _cannot_run(schedule: BackupSchedule, problem: str) -> str:
    _set_status(schedule, "failed")
    notify.event(EventKind.VERIFICATION_FAILED, target=schedule.target, detail=problem)
    return problem


def _set_status(schedule: BackupSchedule, status: str) -> None:
    BackupSchedule.objects.filter(pk=schedule.pk).update(last_status=status)
