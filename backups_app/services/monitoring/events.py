"""What deserves a notification: backups that failed or were size anomalies since a moment, and unhealthy targets.

health_events(since=...) yields them oldest first, unhealthy targets last (health.py: stale, damaged or
with a failed offsite copy), for
a notifier to deliver; it decides nothing about channels or repeats. Texts
are the records' own (error lines are scrubbed of secrets when recorded).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from backups_app.models import BackupRecord, BackupStatus
from backups_app.services.monitoring import health

BACKUP_FAILED = "backup_failed"
SIZE_ANOMALY = "size_anomaly"
STALE = "stale"


@dataclass(frozen=True)
class HealthEvent:
    kind: str
    target: str
    message: str
    backup_id: int | None = None
    at: datetime | None = None


def backup_events(*, since: datetime) -> Iterator[HealthEvent]:
    ended = BackupRecord.objects.filter(finished_at__gte=since).filter(
        Q(status=BackupStatus.FAILED) | Q(status=BackupStatus.SUCCEEDED, size_anomaly_pct__isnull=False)
    ).select_related("target").order_by("finished_at", "id")
    for record in ended:
        yield _backup_event(record)


def _backup_event(record: BackupRecord) -> HealthEvent:
    if record.status == BackupStatus.FAILED:
        first = (record.error or "").strip().splitlines()[:1]
        kind, message = BACKUP_FAILED, f"backup #{record.pk} of {record.target.name} failed: " + "".join(first)
    else:
        kind, message = SIZE_ANOMALY, (f"backup #{record.pk} of {record.target.name} is {record.size_bytes} bytes, "
                                       f"{record.size_anomaly_pct:+.0f}% from the median of the previous backups")
    return HealthEvent(kind, record.target.name, message, backup_id=record.pk, at=record.finished_at)


def stale_events(*, now=None) -> Iterator[HealthEvent]:
    for state in health.target_states(now=now):
        if not state.ok:
            name = state.target.name
            yield HealthEvent(STALE, name, f"{name}: {state.problem}", at=now)


def health_events(*, since: datetime, now=None) -> Iterator[HealthEvent]:
    now = now or timezone.now()
    yield from backup_events(since=since)
    yield from stale_events(now=now)
