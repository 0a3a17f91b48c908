"""Reading backups (no side effects), and the one definition of a restorable backup.

A backup is **restorable** when
- it succeeded (not failed, not pruned, not still running);
- it has not failed its latest verification (`last_verify_ok` is not False:
  never verified counts, a verification that passed again after a failed
  one counts);
- its file is present somewhere: the local file its record names (not
  removed after an upload), or a confirmed copy in object storage (offsite
  `uploaded`). A record with `local_removed` is kept only offsite.

`restorable_q()` says all three in SQL as far as the records can tell (a
local file recorded and not removed), so lists and counts over 100,000
backups stay one query. Whether the local file is really on disk costs a
stat per backup: `file_present()` checks it for the handful of backups that
decide something (the last restorable backup that retention protects, the
one monitoring reports), and only on the host that made the backup; another
host's BACKUP_ROOT cannot be seen from here, so its record is taken at its
word.

Retention, `backup --check`, /healthz, /metrics, the dashboard and the
notifications all use these, so "good" means the same everywhere.
"""

from django.db.models import BooleanField, ExpressionWrapper, Q

from backups_app.models import BackupRecord, BackupStatus, OffsiteStatus
from backups_app.services.jobs import process
from backups_app.services.storage import offsite

# Why a succeeded backup is not restorable (the values of unrestorable_reason, "" when it is).
FAILED_VERIFICATION = "verification"
FILE_MISSING = "missing"


def file_kept_q() -> Q:
    """The record names a copy: a local file not removed after its upload, or a confirmed object."""
    local = ~Q(path="") & Q(local_removed=False)
    stored = Q(offsite_status=OffsiteStatus.UPLOADED) & ~Q(offsite_key="")
    return local | stored


def restorable_q() -> Q:
    """Restorable as far as the records can tell (whether the local file is on disk is file_present's)."""
    return Q(status=BackupStatus.SUCCEEDED) & ~Q(last_verify_ok=False) & file_kept_q()


def restorable_backups(qs=None):
    """The restorable backups of a queryset (default all), newest first."""
    qs = BackupRecord.objects.all() if qs is None else qs
    return qs.filter(restorable_q()).order_by("-created_at", "-id")


def unrestorable_fields() -> dict:
    """Annotations for a values() query of succeeded backups: (verify_failed, file_kept) per row, in SQL."""
    return {"verify_failed": ExpressionWrapper(Q(last_verify_ok=False), output_field=BooleanField()),
            "file_kept": ExpressionWrapper(file_kept_q(), output_field=BooleanField())}


def file_present(record: BackupRecord) -> bool:
    """A copy can be read: confirmed in object storage, or the local file on disk.

    A local-only backup made on another host is taken at its record's word:
    its BACKUP_ROOT is not this host's.
    """
    if offsite.available_offsite(record):
        return True
    if not record.path or record.local_removed:
        return False
    if record.host and record.host != process.host():
        return True
    return offsite.is_local(record.absolute_path)


def unrestorable_reason(record: BackupRecord) -> str:
    """Empty for a restorable backup; else FAILED_VERIFICATION, FILE_MISSING, or its status."""
    if record.status != BackupStatus.SUCCEEDED:
        return record.status
    if record.last_verify_ok is False:
        return FAILED_VERIFICATION
    return "" if file_present(record) else FILE_MISSING


def newest_restorable(qs) -> BackupRecord | None:
    """The newest restorable backup of a queryset whose file is present, checking the files newest first.
    Usually the first one is it: one query and one stat."""
    for record in restorable_backups(qs).iterator(chunk_size=20):
        if file_present(record):
            return record
    return None


def backups_list(*, target=None, backup_type: str | None = None, statuses=None):
    qs = BackupRecord.objects.select_related("target", "offsite_storage").order_by("-created_at", "-id")
    if target is not None:
        qs = qs.filter(target=target)
    if backup_type:
        qs = qs.filter(backup_type=backup_type)
    if statuses:
        qs = qs.filter(status__in=statuses)
    return qs


def file_missing(record: BackupRecord) -> bool:
    """A succeeded backup whose file is not where its record says: paths are kept relative to
    BACKUP_ROOT, so a moved folder or a changed BACKUP_ROOT shows up here."""
    return record.status == "succeeded" and bool(record.path) and not record.absolute_path.is_file()


def backup_as_dict(record: BackupRecord) -> dict:
    from django.utils import timezone

    return {
        "id": record.pk,
        "target": record.target.name,
        "type": record.backup_type,
        "format": record.format,
        "status": record.status,
        "size_bytes": record.size_bytes,
        "sha256": record.sha256 or None,
        "encrypted": record.encrypted,
        "created_at": timezone.localtime(record.created_at).isoformat(),
        "finished_at": timezone.localtime(record.finished_at).isoformat() if record.finished_at else None,
        "duration_seconds": record.duration_seconds,
        "path": str(record.absolute_path) if record.path else None,
        "file_missing": file_missing(record),
        "error": record.error or None,
        "offsite": record.offsite_status or None,
        "offsite_url": f"s3://{record.offsite_storage.bucket}/{record.offsite_key}" if record.offsite_key else None,
    }


def recent_jobs(*, models, active: bool | None = None, limit: int = 60) -> list:
    """The newest jobs of the given models together, newest first; active: only in flight (True) or ended (False).

    Each model's newest `limit` rows through its created_at index, merged here: one query per kind.
    """
    found = []
    for model in models:
        qs = model.objects.order_by("-created_at", "-id")
        if active is not None:
            in_flight = Q(status__in=["queued", "running"])
            qs = qs.filter(in_flight) if active else qs.exclude(in_flight)
        related = [f.name for f in model._meta.fields if f.name in ("target", "backup", "server", "policy")]
        found += list(qs.select_related(*related)[:limit])
    found.sort(key=lambda r: (r.created_at, r.pk), reverse=True)
    return found[:limit]
