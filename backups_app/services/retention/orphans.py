"""Files under BACKUP_ROOT/database that no record accounts for. Reported, never deleted here.

A file nobody knows may be a backup someone copied in by hand, or one whose
record was lost; deleting it silently could destroy the last copy.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.utils import timezone
from django.utils.translation import gettext as _

from backups_app.models import BackupRecord, BackupStatus, BackupType
from backups_app.services.storage import layout


@dataclass(frozen=True)
class Orphan:
    path: str  # relative to BACKUP_ROOT
    size_bytes: int
    modified: datetime
    note: str

    def as_dict(self) -> dict:
        return {"path": str(layout.absolute(self.path)), "size_bytes": self.size_bytes,
                "modified": timezone.localtime(self.modified).isoformat(), "note": self.note}


def find_orphans() -> list[Orphan]:
    top = layout.database_dir()
    if not top.is_dir():
        return []
    known = _known_paths()
    active = BackupRecord.objects.filter(status__in=[BackupStatus.QUEUED, BackupStatus.RUNNING])
    in_progress = set(active.values_list("pk", flat=True))
    expected = {layout.log_path().name, *(t.value for t in BackupType)}
    found = []
    for entry in sorted(top.iterdir()):
        if entry.name in expected and (entry.is_dir() or entry == layout.log_path()):
            if entry.is_dir() and not entry.is_symlink():
                found += [o for e in sorted(entry.iterdir()) if (o := _orphan(e, known, in_progress))]
            continue
        found.append(_describe(entry, _("not a backup folder the console uses")))
    return found


def _known_paths() -> dict[str, tuple[int, str]]:
    known = {}
    rows = BackupRecord.objects.exclude(path="").values_list("pk", "path", "status")
    for pk, path, status in rows.iterator(chunk_size=5000):
        known[path] = (pk, status)
    for pk, path in BackupRecord.objects.exclude(globals_path="").values_list("pk", "globals_path"):
        known.setdefault(path, (pk, "globals"))
    return known


def _orphan(entry: Path, known, in_progress) -> Orphan | None:
    relative = layout.relative(entry)
    if relative in known:
        pk, status = known[relative]
        if status == BackupStatus.PRUNED:
            return _describe(entry, _("backup #%(id)s was pruned but its file is still here") % {"id": pk})
        return None
    owner = _partial_owner(entry)
    if owner is not None:
        if owner in in_progress:
            return None
        return _describe(entry, _("temporary file of backup #%(id)s, which is no longer running; "
                                  "the next prune removes it") % {"id": owner})
    return _describe(entry, _("no backup record knows this file"))


def _partial_owner(entry: Path) -> int | None:
    if not entry.name.startswith(".") or layout.PARTIAL_MARK not in entry.name:
        return None
    suffix = entry.name.rsplit(layout.PARTIAL_MARK, 1)[-1]
    return int(suffix) if suffix.isdigit() else None


def _describe(entry: Path, note: str) -> Orphan:
    stat = entry.lstat()
    size = stat.st_size
    if entry.is_dir() and not entry.is_symlink():
        size = sum(p.lstat().st_size for p in entry.rglob("*"))
    elif entry.is_symlink():
        note = _("symbolic link; %(note)s") % {"note": note}
    modified = datetime.fromtimestamp(stat.st_mtime, tz=timezone.get_default_timezone())
    return Orphan(layout.relative(entry), size, modified, note)
