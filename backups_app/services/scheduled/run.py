"""A schedule's run, once per intended time: back up and prune, verify, or drill, as the schedule says."""

from datetime import datetime

from django.utils import timezone

from backups_app.models import BackupSchedule, BackupStatus
from backups_app.services.backups import dump, server_run
from backups_app.services.jobs import schedules
from backups_app.services.retention import prune as pruning
from backups_app.services.verify import scheduled as checks


def run_scheduled(*, schedule_id: int, intended: str | None = None, now: datetime | None = None) -> str:
    schedule = BackupSchedule.objects.select_related("target").filter(pk=schedule_id).first()
    if schedule is None or not schedule.enabled:
        return f"schedule #{schedule_id} skipped: {'disabled' if schedule else 'no longer exists'}"
    slot = datetime.fromisoformat(intended) if intended else (now or timezone.now())
    if not schedules.claim_slot(schedule=schedule, slot=slot):
        return f"schedule #{schedule_id} skipped: its {schedules.wall_clock(slot):%Y-%m-%d %H:%M} run already happened"
    if schedule.action in ("verify", "drill"):
        return checks.run(schedule=schedule)
    return backup_and_prune(schedule)


def run_now(*, schedule_id: int, record_id: int | None = None) -> str:
    """What the schedule runs, now and once, whatever its times (Run now); record_id: its queued backup row."""
    schedule = BackupSchedule.objects.select_related("target").filter(pk=schedule_id).first()
    if schedule is None:
        return f"schedule #{schedule_id} skipped: it no longer exists"
    if schedule.action in ("verify", "drill"):
        return checks.run(schedule=schedule)
    return backup_and_prune(schedule, record_id=record_id)


def backup_create(schedule: BackupSchedule):
    return dump.backup_create(target=schedule.target, backup_type=schedule.backup_type, fmt=schedule.format,
                              started_by=f"schedule {schedule.name}"[:150], schedule=schedule)


def backup_and_prune(schedule: BackupSchedule, *, record_id: int | None = None) -> str:
    """Back up as the schedule says, then prune its target and type, but only after a success."""
    if schedule.target.is_server:
        return _server_and_prune(schedule)
    record = dump.BackupRecord.objects.get(pk=record_id) if record_id else backup_create(schedule)
    try:
        record = dump.backup_execute(record_id=record.pk)
    finally:
        record.refresh_from_db()
        BackupSchedule.objects.filter(pk=schedule.pk).update(last_status=record.status)
    if record.status != BackupStatus.SUCCEEDED:
        return f"backup #{record.pk} {record.status}; nothing pruned"
    return f"backup #{record.pk} succeeded; {_prune(schedule, schedule.target)}"


def _prune(schedule: BackupSchedule, target) -> str:
    prune = pruning.prune_create(target=target, backup_type=schedule.backup_type,
                                 started_by=f"schedule {schedule.name}")
    prune = pruning.prune_execute(record_id=prune.pk)
    return f"prune #{prune.pk} {prune.status}: pruned {prune.pruned_count or 0}"


def _server_and_prune(schedule: BackupSchedule) -> str:
    """Every database of a server target; each database that was backed up is then pruned by its policies."""
    run = server_run.run_create(target=schedule.target, backup_type=schedule.backup_type, fmt=schedule.format,
                                started_by=f"schedule {schedule.name}"[:150], schedule=schedule)
    try:
        run = server_run.run_execute(record_id=run.pk)
    finally:
        run.refresh_from_db()
        BackupSchedule.objects.filter(pk=schedule.pk).update(last_status=run.status)
    pruned = [_prune(schedule, record.target)
              for record in run.backups.filter(status=BackupStatus.SUCCEEDED).select_related("target")]
    return f"{server_run.summary(run)}; " + ("; ".join(pruned) or "nothing pruned")
