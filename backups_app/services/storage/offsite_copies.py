"""A backup's copy in object storage read by the jobs that need it: fetched for a restore, verification
or drill on a host without the file, and read back by a verification of a backup that has one.

A fetched file goes into BACKUP_SCRATCH_DIR, checked against the sha256 on
the way, and is removed at the end: pg_restore needs a seekable file for
custom archives (parallel jobs, single tables, the table of contents). A
copy that reads back as not the backup's is marked offsite `failed`
(mark_damaged), so that no restore fetches it and the copy action uploads
the good local file again.
"""

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path

from backups_app.models import BackupRecord, OffsiteStatus
from backups_app.services.storage import blobs
from backups_app.services.storage.objects import ChecksumMismatch, StorageError, Store
from backups_app.services.storage.offsite import (
    AGAIN_HINT,
    CopyDamaged,
    FetchFailed,
    available_offsite,
    ended_fields,
    is_folder,
    is_local,
    scratch_dir,
    store,
)

log = logging.getLogger(__name__)


_active = threading.local()


@contextlib.contextmanager
def fetched(backup: BackupRecord, *, with_globals: bool = False):
    """While inside, backup.absolute_path (and globals_absolute_path) name readable local files.

    Files missing on this host are fetched from object storage into the
    scratch folder and removed at the end; a nested call for the same backup
    (a drill's restore inside its verification) uses the same copy.
    """
    held = getattr(_active, "copies", {}).get(backup.pk)
    if held is not None:
        backup.local_stand_in, backup.globals_stand_in = held
        try:
            yield backup
        finally:
            backup.local_stand_in = backup.globals_stand_in = None
        return
    need_dump = not is_local(backup.absolute_path) and available_offsite(backup)
    need_globals = (with_globals and backup.offsite_globals_key and not is_local(backup.globals_absolute_path)
                    and available_offsite(backup))
    if not (need_dump or need_globals):
        yield backup
        return
    folder = Path(tempfile.mkdtemp(prefix=f"backup-{backup.pk}-", dir=scratch_dir()))
    copies = getattr(_active, "copies", None) or {}
    _active.copies = copies
    try:
        remote = store(backup.offsite_storage)
        if need_dump and is_folder(backup):
            backup.local_stand_in = _fetch_folder(remote, backup, folder / Path(backup.path).name)
        elif need_dump:
            backup.local_stand_in = _fetch(remote, backup.offsite_key, folder / Path(backup.path).name, backup.sha256)
        if need_globals:
            backup.globals_stand_in = _fetch(remote, backup.offsite_globals_key,
                                             folder / Path(backup.globals_path).name)
        copies[backup.pk] = (backup.local_stand_in, backup.globals_stand_in)
        yield backup
    finally:
        copies.pop(backup.pk, None)
        backup.local_stand_in = backup.globals_stand_in = None
        shutil.rmtree(folder, ignore_errors=True)


def _fetch(remote: Store, key: str, dest: Path, sha256: str = "") -> Path:
    started = time.monotonic()
    try:
        size = remote.fetch(key, dest, sha256=sha256)
    except StorageError as exc:
        raise FetchFailed(f"the file is not on this host and {exc}") from exc
    except OSError as exc:
        raise FetchFailed(f"cannot write {dest.name} into the scratch folder {dest.parent.parent}: "
                          f"{exc.strerror or exc}") from exc
    log.info("fetched %s (%s bytes) in %.1f s", remote.url(key), size, time.monotonic() - started)
    return dest


def _fetch_folder(remote: Store, backup: BackupRecord, dest: Path) -> Path:
    started = time.monotonic()
    try:
        size = blobs.fetch_folder(remote, backup.offsite_key, backup.sha256, dest)
    except StorageError as exc:
        raise FetchFailed(f"the folder is not on this host and {exc}") from exc
    except OSError as exc:
        raise FetchFailed(f"cannot write {dest.name} into the scratch folder {dest.parent.parent}: "
                          f"{exc.strerror or exc}") from exc
    log.info("fetched %s and its files (%s bytes) in %.1f s", remote.url(backup.offsite_key), size,
             time.monotonic() - started)
    return dest


# -- reading a copy back -------------------------------------------------------------------

def read_back(backup: BackupRecord) -> str:
    """Read a backup's objects through from the store, hashed; what was checked, in a line.

    The dump against the record's size and sha256, its roles file against
    its object's label. CopyDamaged when the bytes are not the backup's;
    StorageError when the store cannot be read (nothing is known then).
    """
    remote = store(backup.offsite_storage)
    if is_folder(backup):
        return _read_folder_back(remote, backup)
    _read_through(remote, backup.offsite_key, sha256=backup.sha256, size=backup.size_bytes)
    if backup.offsite_globals_key:
        _read_through(remote, backup.offsite_globals_key)
    return f"read back {remote.url(backup.offsite_key)}: {backup.size_bytes} bytes, sha256 matches the record"


def _read_folder_back(remote: Store, backup: BackupRecord) -> str:
    try:
        _read_through(remote, backup.offsite_key, sha256=backup.sha256)
        n = blobs.read_back(remote, backup.offsite_key, backup.sha256)
        if backup.offsite_globals_key:
            _read_through(remote, backup.offsite_globals_key)
    except blobs.BlobMissing as exc:
        raise CopyDamaged(str(exc)) from exc
    return (f"read back {remote.url(backup.offsite_key)} and the {n} files it names from the store: "
            "each sha256 matches the manifest, the manifest the record")


def _read_through(remote: Store, key: str, *, sha256: str = "", size: int | None = None) -> None:
    info = remote.head(key)
    if info is None:
        raise CopyDamaged(f"{remote.url(key)} is gone from the store")
    if size is not None and info.size != size:
        raise CopyDamaged(f"{remote.url(key)} is {info.size} bytes, the record says {size}")
    try:
        with remote.open(key, sha256=sha256) as reader:
            for _chunk in reader.chunks():
                pass
    except ChecksumMismatch as exc:
        raise CopyDamaged(str(exc)) from exc


def mark_damaged(backup: BackupRecord, why: str) -> None:
    """The uploaded copy is not the backup's: offsite `failed`, saying why, the local copy kept.

    Not told as a failed upload: the verification that found it fails and is told.
    """
    detail = f"the copy in object storage is not the backup's: {why}; the local copy is kept{AGAIN_HINT}"
    fields = ended_fields(OffsiteStatus.FAILED, detail)
    if BackupRecord.objects.filter(pk=backup.pk, offsite_status=OffsiteStatus.UPLOADED).update(**fields):
        for name, value in fields.items():
            setattr(backup, name, value)
        log.error("backup #%s: %s", backup.pk, detail)
