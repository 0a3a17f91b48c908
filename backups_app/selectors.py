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
word (jobs/placement.py decides which host has a file).

`file_place()` says where a backup's copies are, as this host sees them,
for the lists and pages that show it: on this host, on another (named), in
object storage, or **missing**: its local file is gone from its own host
(this one), or it is kept on no host and has no confirmed copy in object
storage. A file on another host is never "missing" from here.

Retention, `backup --check`, /healthz, /metrics, the dashboard and the
notifications all use these, so "good" means the same everywhere.
"""

from dataclasses import dataclass

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q

from backups_app.models import BackupRecord, BackupStatus, DatabaseTarget, OffsiteStatus, TargetKind
from backups_app.services.jobs import placement, process
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
    """A copy can be read: confirmed in object storage, or the local file on its host.

    A local-only backup made on another host is taken at its record's word:
    its BACKUP_ROOT is not this host's.
    """
    return offsite.available_offsite(record) or bool(placement.holder(record))


@dataclass(frozen=True)
class Place:
    """Where a backup's copies are, as this host sees them."""

    host: str = ""  # the host whose BACKUP_ROOT holds the local file, "" when none does
    here: bool = False  # that host is this one
    offsite: bool = False  # a confirmed copy in object storage
    # Succeeded, and its local file gone from its own host (this one), or kept nowhere. Paths are kept
    # relative to BACKUP_ROOT, so a moved folder or a changed BACKUP_ROOT shows up here.
    missing: bool = False

    @property
    def present(self) -> bool:
        """A copy can be read (file_present): on a host, or in object storage."""
        return bool(self.host) or self.offsite

    @property
    def elsewhere(self) -> str:
        """The other host that has the local file ("" when it is here, or on no host)."""
        return "" if self.here else self.host


def file_place(record: BackupRecord) -> Place:
    """Where a succeeded backup's file is (one stat); other backups have no file to place."""
    stored = offsite.available_offsite(record)
    if record.status != BackupStatus.SUCCEEDED:
        return Place(offsite=stored)
    host = placement.holder(record)
    kept_locally = bool(record.path) and not record.local_removed
    return Place(host=host, here=bool(host) and host == process.host(), offsite=stored,
                 missing=not host if kept_locally else not stored)


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


def scope_ids(target) -> list[int]:
    """The targets a target stands for: itself, and for a server target each of its databases' too."""
    if not target.is_server:
        return [target.pk]
    return [target.pk, *DatabaseTarget.objects.filter(server=target).values_list("pk", flat=True)]


def monitored_targets():
    """The targets whose health is watched: active ones, but a server target only while none of its
    databases is (until its first run lists them, its own health says it has none backed up yet)."""
    listed = DatabaseTarget.objects.filter(server=OuterRef("pk"), is_active=True)
    return DatabaseTarget.objects.filter(is_active=True).filter(~Q(kind=TargetKind.SERVER) | ~Exists(listed))


def backups_list(*, target=None, backup_type: str | None = None, statuses=None):
    qs = BackupRecord.objects.select_related("target", "offsite_storage").order_by("-created_at", "-id")
    if target is not None:
        qs = qs.filter(target_id__in=scope_ids(target))
    if backup_type:
        qs = qs.filter(backup_type=backup_type)
    if statuses:
        qs = qs.filter(status__in=statuses)
    return qs


def shown_path(record: BackupRecord, place: Place) -> str | None:
    """The file's path under this BACKUP_ROOT; relative (to its own host's BACKUP_ROOT) when it is on another."""
    if not record.path:
        return None
    return record.path if place.elsewhere else str(record.absolute_path)


def backup_as_dict(record: BackupRecord) -> dict:
    from django.utils import timezone

    place = file_place(record)
    return {
        "id": record.pk,
        "target": record.target.name,
        "database": record.target.dbname,
        "server_run": record.server_run_id,
        "type": record.backup_type,
        "format": record.format,
        "status": record.status,
        "size_bytes": record.size_bytes,
        "bytes_added": record.bytes_added,
        "sha256": record.sha256 or None,
        "encrypted": record.encrypted,
        "created_at": timezone.localtime(record.created_at).isoformat(),
        "finished_at": timezone.localtime(record.finished_at).isoformat() if record.finished_at else None,
        "duration_seconds": record.duration_seconds,
        "path": shown_path(record, place),
        "host": place.host or None,
        "file_missing": place.missing,
        "error": record.error or None,
        "offsite": record.offsite_status or None,
        "offsite_url": record.offsite_storage.url_of(record.offsite_key) if record.offsite_key else None,
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
