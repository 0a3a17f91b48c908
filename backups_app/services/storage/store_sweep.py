"""Each object storage's shared files swept at least every OFFSITE_SWEEP_HOURS, whatever prunes run.

A prune sweeps a storage's blobs (blob_sweep.py) right after it deletes a
directory backup's manifest; blobs that a killed prune or upload left, or
that a sweep could not delete then, wait for the next prune. With few
prunes that can be long, so this sweep makes the next one come in time:
the worker's reaper thread runs sweep_due() every round and
`backup --cleanup` at its end. A storage is swept when its last sweep is
older than OFFSITE_SWEEP_HOURS, claimed by one filtered UPDATE, so two
workers never sweep the same storage at once. Only storages that have held
a directory backup are looked at (only those have blobs).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from backups_app.models import BackupRecord, BackupStorage
from backups_app.services.storage import blob_sweep, offsite
from backups_app.services.storage.objects import StorageError

log = logging.getLogger(__name__)


def sweep_due(now=None) -> list[str]:
    """Sweep every storage whose last sweep is due; one line per thing done, each naming its storage."""
    hours = settings.OFFSITE_SWEEP_HOURS
    if hours <= 0:
        return []
    now = now or timezone.now()
    due = Q(swept_at__isnull=True) | Q(swept_at__lt=now - timedelta(hours=hours))
    with_folders = BackupRecord.objects.filter(format="directory", offsite_storage__isnull=False).values(
        "offsite_storage_id")
    lines = []
    for storage in BackupStorage.objects.filter(due, pk__in=with_folders).order_by("name"):
        if not offsite.is_object_storage(storage):
            continue
        if not BackupStorage.objects.filter(due, pk=storage.pk).update(swept_at=now):
            continue  # another worker took it
        lines += [f"{storage.name}: {line}" for line in sweep_one(storage)]
    return lines


def sweep_one(storage: BackupStorage) -> list[str]:
    """Sweep one storage now and record what it did."""
    try:
        done = blob_sweep.sweep(offsite.store(storage))
        detail = "; ".join(done) or "nothing to remove"
    except (StorageError, OSError) as exc:
        done, detail = [f"cannot sweep: {exc}"], f"cannot sweep: {exc}"
        log.warning("storage %s: %s", storage.name, detail)
    BackupStorage.objects.filter(pk=storage.pk).update(
        sweep_detail=f"{timezone.now():%Y-%m-%d %H:%M:%S %Z}: {detail}"[:2000])
    for line in done:
        log.info("storage %s: %s", storage.name, line)
    return done


def each_round() -> None:
    """For the reaper thread: never raises (the next round tries again)."""
    try:
        sweep_due()
    except Exception:
        log.exception("sweeping object storages failed")
