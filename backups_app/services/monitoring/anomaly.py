"""Size anomalies: a backup much smaller or larger than the ones before it.

A backup that suddenly shrinks may mean lost data; one that balloons may
fill the disk. When a backup succeeds, its size is compared with the median
of the previous BACKUP_SIZE_ANOMALY_HISTORY succeeded (or since pruned)
backups of the same target, type and format: a plain SQL file and a custom
archive differ in size by nature. Further from it than
BACKUP_SIZE_ANOMALY_PERCENT, the record keeps by how much in
size_anomaly_pct, set as the job ends so that its notification can say
so. Fewer than MIN_HISTORY earlier backups: nothing to compare.
"""

import logging
import statistics

from django.conf import settings

from backups_app.models import BackupRecord, BackupStatus

log = logging.getLogger(__name__)

MIN_HISTORY = 3


def previous_sizes(record: BackupRecord, *, count: int) -> list[int]:
    return list(BackupRecord.objects.filter(
        target_id=record.target_id, backup_type=record.backup_type, format=record.format,
        status__in=[BackupStatus.SUCCEEDED, BackupStatus.PRUNED], size_bytes__isnull=False,
        created_at__lt=record.created_at,
    ).exclude(pk=record.pk).order_by("-created_at").values_list("size_bytes", flat=True)[:count])


def deviation_pct(size: int, history: list[int]) -> float | None:
    """How far size is from the history's median, in percent; None when there is no usable median."""
    if len(history) < MIN_HISTORY:
        return None
    median = statistics.median(history)
    if median <= 0:
        return None
    return (size - median) / median * 100


def size_anomaly(record: BackupRecord, size_bytes: int | None = None) -> float | None:
    """The deviation of a succeeded backup (or of size_bytes, the one it is about to end with) beyond the limit."""
    limit = settings.BACKUP_SIZE_ANOMALY_PERCENT
    size = record.size_bytes if size_bytes is None else size_bytes
    if not limit or size is None or (size_bytes is None and record.status != BackupStatus.SUCCEEDED):
        return None
    pct = deviation_pct(size, previous_sizes(record, count=settings.BACKUP_SIZE_ANOMALY_HISTORY))
    return round(pct, 1) if pct is not None and abs(pct) > limit else None


def check_size(record: BackupRecord, size_bytes: int) -> float | None:
    """For a backup about to end succeeded with size_bytes. Never raises: a check must not fail what it checks."""
    try:
        pct = size_anomaly(record, size_bytes)
    except Exception:
        log.exception("backup #%s: the size anomaly check failed", record.pk)
        return None
    if pct is not None:
        log.warning("backup #%s: size %s bytes is %+.1f%% from the median of the previous backups",
                    record.pk, size_bytes, pct)
    return pct


def flag_size_anomaly(*, record: BackupRecord) -> float | None:
    """Flag a backup that has already succeeded (records made before the check, fixtures)."""
    pct = check_size(record, record.size_bytes) if record.status == BackupStatus.SUCCEEDED else None
    if pct is not None:
        BackupRecord.objects.filter(pk=record.pk).update(size_anomaly_pct=pct)
        record.size_anomaly_pct = pct
    return pct
