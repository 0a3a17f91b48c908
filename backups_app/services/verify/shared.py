"""A damaged file of a deduplicated directory backup is damaged in every backup that shares it.

Backups share a file by hard link (storage/local_store.py): one inode, so
one set of bytes. The backups that use a damaged file are those whose
folder holds the same inode, found through the manifests (same recorded
hash) and confirmed by the inode, never by the hash alone: a backup that
kept its own copy of the content is not harmed. Each of them has its
verification recorded failed, naming the file and the backup it was found
in, so that retention and restores treat it as what it is.
"""

import logging
import os

from django.utils import timezone

from backups_app.models import BackupRecord, BackupStatus
from backups_app.services.storage import manifest

log = logging.getLogger(__name__)


def users_of(backup: BackupRecord, names) -> list[int]:
    """Other backups (kept, directory format) holding the very same file as one of backup's named files."""
    inodes = _inodes(backup.absolute_path, names)
    if not inodes:
        return []
    hashes = set(inodes.values())
    others = BackupRecord.objects.filter(status=BackupStatus.SUCCEEDED, format="directory").exclude(
        pk=backup.pk).exclude(path="").order_by("pk")
    return [other.pk for other in others.iterator() if _holds(other.absolute_path, inodes, hashes)]


def mark_failed(ids, *, backup: BackupRecord, names) -> None:
    detail = (f"checksum mismatch: a file it shares with backup #{backup.pk} is damaged "
              f"({', '.join(list(names)[:5])}); found by verifying backup #{backup.pk}")
    BackupRecord.objects.filter(pk__in=ids).update(last_verified_at=timezone.now(), last_verify_ok=False,
                                                   last_verify_detail=detail)
    log.warning("backups %s share a damaged file of backup #%s", ", ".join(f"#{i}" for i in ids), backup.pk)


def _inodes(folder, names) -> dict[tuple[int, int], str]:
    listed = _listed_or_empty(folder)
    found = {}
    for name in names:
        try:
            st = os.stat(folder / name)
        except OSError:
            continue
        if name in listed:
            found[(st.st_dev, st.st_ino)] = listed[name]
    return found


def _holds(folder, inodes, hashes) -> bool:
    for name, sha in _listed_or_empty(folder).items():
        if sha not in hashes:
            continue
        try:
            st = os.stat(folder / name)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in inodes:
            return True
    return False


def _listed_or_empty(folder) -> dict[str, str]:
    try:
        return manifest.listed(folder) if folder is not None else {}
    except OSError:
        return {}
