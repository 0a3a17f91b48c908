"""Room left for backups: free space on BACKUP_ROOT's filesystem, and how long it lasts.

Growth is net: bytes of the backups made in the last GROWTH_WINDOW_DAYS that
are still kept, minus the bytes pruned in that time, per day. Retention that
keeps up with new backups means no growth, and no date by which the disk is
full.

The disk is this host's: only the backups whose local file this host keeps
count (made here, by the name in their record, and not removed after their
upload). Another host's backups fill its own BACKUP_ROOT, and a copy kept
only in object storage fills none.
"""

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from backups_app.models import BackupRecord, BackupStatus
from backups_app.services.jobs import process

GROWTH_WINDOW_DAYS = 14
# Growth measured over less than this says nothing about the months ahead (a fresh install has minutes).
MIN_HISTORY_DAYS = 3


@dataclass(frozen=True)
class DiskReport:
    host: str
    root: Path
    free_bytes: int | None
    total_bytes: int | None
    growth_per_day: float | None
    history_days: float = 0.0  # how far back the backups go

    @property
    def enough_history(self) -> bool:
        return self.history_days >= MIN_HISTORY_DAYS

    @property
    def days_left(self) -> float | None:
        if not self.enough_history or self.free_bytes is None or not self.growth_per_day or self.growth_per_day <= 0:
            return None
        return self.free_bytes / self.growth_per_day


def existing_folder(path: Path) -> Path:
    """The path itself, or its nearest existing parent (BACKUP_ROOT may not exist before the first backup)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def growth_per_day(*, now=None, days: int = GROWTH_WINDOW_DAYS) -> float:
    since = (now or timezone.now()) - timedelta(days=days)
    # A record from before hosts were named (host "") was made here.
    here = BackupRecord.objects.filter(host__in=[process.host(), ""], local_removed=False)
    sums = here.aggregate(
        added=Sum("size_bytes", filter=Q(status=BackupStatus.SUCCEEDED, created_at__gte=since)),
        removed=Sum("size_bytes", filter=Q(status=BackupStatus.PRUNED, pruned_at__gte=since)),
    )
    return ((sums["added"] or 0) - (sums["removed"] or 0)) / days


def disk_report(*, now=None) -> DiskReport:
    root = Path(settings.BACKUP_ROOT)
    try:
        usage = shutil.disk_usage(existing_folder(root))
    except OSError:
        usage = None
    return DiskReport(host=process.host(), root=root, free_bytes=usage.free if usage else None,
                      total_bytes=usage.total if usage else None, growth_per_day=growth_per_day(now=now),
                      history_days=history_days(now=now))


def history_days(*, now=None) -> float:
    """Days since the oldest backup that made a file on this host (0 without any)."""
    here = BackupRecord.objects.filter(host__in=[process.host(), ""],
                                       status__in=[BackupStatus.SUCCEEDED, BackupStatus.PRUNED])
    oldest = here.order_by("created_at").values_list("created_at", flat=True).first()
    return ((now or timezone.now()) - oldest).total_seconds() / 86400 if oldest else 0.0
