"""Reading backups (no side effects)."""

from backups_app.models import BackupRecord


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
