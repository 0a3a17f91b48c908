"""Backup records with real files under BACKUP_ROOT, dated as a test needs, without running pg_dump."""

from datetime import timedelta

from django.utils import timezone

from backups_app.models import BackupRecord, DatabaseTarget
from backups_app.services.storage import layout


def new_target(name="db1", **fields) -> DatabaseTarget:
    return DatabaseTarget.objects.create(name=name, dbname=name.replace("-", "_"), **fields)


def new_backup(target, *, age_days: float = 0, created_at=None, status="succeeded", backup_type="daily",
               pinned=False, with_file=True, fmt="custom", **fields) -> BackupRecord:
    """fields: any other facts of the record (size_bytes, duration_seconds, error, a path without a file ...)."""
    created_at = created_at or timezone.now() - timedelta(days=age_days)
    record = BackupRecord.objects.create(target=target, backup_type=backup_type, format=fmt, status=status,
                                         pinned=pinned)
    path = ""
    if with_file and status == "succeeded":
        folder = layout.ensure_dir(layout.type_dir(backup_type))
        name = layout.backup_filename(dbname=target.dbname, backup_type=backup_type, suffix=".dump",
                                      record_id=record.pk, when=created_at)
        (folder / name).write_bytes(b"PGDMP fake archive for retention tests")
        path = layout.relative(folder / name)
    BackupRecord.objects.filter(pk=record.pk).update(**{"created_at": created_at, "finished_at": created_at,
                                                        "path": path, **fields})
    record.refresh_from_db()
    return record


def leftover_partial(record: BackupRecord):
    """The hidden temporary file a killed or failed dump leaves in its folder."""
    folder = layout.ensure_dir(layout.type_dir(record.backup_type))
    final = folder / f"{record.target.dbname}_{record.backup_type}_{record.pk}.dump"
    partial = layout.partial_path(final, record.pk)
    partial.write_bytes(b"half a dump")
    return partial
