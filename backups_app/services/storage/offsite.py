"""Offsite copies: a backup's files in offsite storage beside (or instead of) BACKUP_ROOT.

Whatever the storage's kind (S3, Google Cloud Storage, SFTP, a folder), it is reached
through store() and the one interface of objects.py; nothing here asks which.

- After a backup is published and read back, its files (the dump and the
  roles file) are uploaded to the target's storage (its own, or the default
  one). The upload is tried OFFSITE_UPLOAD_ATTEMPTS times; when it still
  fails the backup stays `succeeded` (the local copy is good) and the record
  says offsite `failed` with the reason. An operator copies it again on
  request (backups/copy_offsite.py), as a backup made before its target
  had a storage.
- Once an upload is confirmed, the local files are removed when the storage
  keeps no local copy (never before: the record says `uploaded` first).
- The record names the process uploading (pid, boot, host, since when). When
  that process is gone (kill -9, a reboot), recovery (backups/upload_recovery.py,
  run by every command and the reaper) calls resume(): what an interrupted
  upload of its keys left (S3's multipart uploads, SFTP's temporary files)
  is removed, then the backup is uploaded again from its
  local file when that file is still there and matches its sha256, or marked
  `failed` with why when it is not.
- A job that needs a file this host does not have (restore, verification,
  drill) fetches it into BACKUP_SCRATCH_DIR (offsite_copies.py).
- Pruning deletes the objects as well as the local files, and says so on
  the record (offsite_prune.py).
- Downloads from the admin are checked on the way out (downloads.py).
- A verification of a backup that has a local copy reads the objects back
  too (offsite_copies.py).
- Directory-format backups (a folder with a manifest) go to the store file by
  file, each file once by its content, the manifest last (blobs.py); pruning
  deletes the manifest, then the blobs no other manifest names (blob_sweep.py).
"""

import contextlib
import importlib
import logging
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from backups_app.models import BackupRecord, BackupStorage, OffsiteStatus, StorageKind
from backups_app.services.storage import blob_sweep, blobs, files, keyed_index, layout, manifest
from backups_app.services.storage.objects import StorageError, Store

__all__ = ["FetchFailed", "StorageError", "after_backup", "fail", "local_problem", "resume", "storage_for",
           "upload_claimed"]

log = logging.getLogger(__name__)


class FetchFailed(StorageError):
    """A file needed here is neither on this host nor fetchable from object storage."""


class CopyDamaged(StorageError):
    """Read back from the store, a backup's object is not the backup's: other bytes, another size, or gone."""


# Said at the end of a failed upload's detail: how to try again (backups/copy_offsite.py).
AGAIN_HINT = " (copy it offsite again from the backup list, or with manage.py backup --copy-offsite ID)"


# Called with the record each time its offsite copy ends `failed` (notifications; registered by the
# app at start-up, so that storage/ imports nothing above it). A listener must not raise.
_failed_listeners: list = []


def when_failed(listener) -> None:
    if listener not in _failed_listeners:
        _failed_listeners.append(listener)


def storage_for(target) -> BackupStorage | None:
    """The object storage a target's backups go to; None when they stay local only."""
    storage = target.storage if target.storage_id else BackupStorage.objects.filter(is_default=True).first()
    return storage if storage is not None and is_object_storage(storage) else None


def is_object_storage(storage: BackupStorage) -> bool:
    """Backups are copied there (S3, GCS, SFTP, a folder): anything but local only."""
    return storage.kind in STORES


def store(storage: BackupStorage) -> Store:
    """The storage's objects behind the one interface (objects.py), whatever its kind."""
    module, name = STORES[storage.kind]
    return getattr(importlib.import_module(f"backups_app.services.storage.{module}"), name)(storage)


# Each kind's store, imported when first used: a console without GCS storages never loads Google's client.
STORES = {StorageKind.S3: ("s3", "S3Store"), StorageKind.GCS: ("gcs", "GcsStore"),
          StorageKind.SFTP: ("sftp", "SftpStore"), StorageKind.FOLDER: ("local", "FolderStore")}


@contextlib.contextmanager
def keyed_lookup(target, *, share: bool):
    """Where an encrypted directory backup of this target finds the encrypted files of earlier ones that this
    host no longer has: its object storage's keyed index (None when it has none, or files are not shared)."""
    storage = storage_for(target) if share else None
    if storage is None:
        yield None
        return
    remote = store(storage)
    try:
        yield keyed_index.Lookup(remote)
    finally:
        remote.close()


# -- upload ------------------------------------------------------------------------

def pending(record: BackupRecord, *, owner: dict) -> dict:
    """Fields saved with the end of a backup, so it never looks local-only while its upload is still to come.

    owner: the process that will upload it (process.identity()), so that
    recovery can tell when it is gone.
    """
    storage = storage_for(record.target)
    if storage is None:
        return {}
    return {"offsite_status": OffsiteStatus.UPLOADING.value, "offsite_storage": storage,
            "offsite_detail": f"waiting to upload to {storage.location}", **owner_fields(owner)}


def owner_fields(owner: dict) -> dict:
    return {"offsite_pid": owner["pid"], "offsite_pid_namespace": owner["pid_namespace"],
            "offsite_boot_id": owner["boot_id"], "offsite_host": owner["host"], "offsite_claimed_at": timezone.now()}


def after_backup(record: BackupRecord) -> None:
    """Copy a succeeded backup offsite when its target has a storage; never raises for a failed upload.

    The backup has already ended `succeeded` (its local copy is good) with
    offsite `uploading` (pending); this ends the offsite part.
    """
    storage = record.offsite_storage if record.offsite_storage_id else storage_for(record.target)
    if storage is None:
        return
    set_status(record, status=OffsiteStatus.UPLOADING, storage=storage, detail=f"uploading to {storage.location}")
    upload_claimed(record, storage)


def upload_claimed(record: BackupRecord, storage: BackupStorage, *, lead: str = "") -> None:
    """Upload a backup whose row this process holds (offsite `uploading`); it ends `uploaded` or `failed`."""
    try:
        with _keeping_claim(record):
            _upload_with_retries(record, storage, lead=lead)
    except BaseException as exc:  # stopped halfway: say so rather than leave "uploading" behind
        set_status(record, status=OffsiteStatus.FAILED,
             detail=f"{lead}upload interrupted ({type(exc).__name__}); the local copy is kept{AGAIN_HINT}")
        raise


@contextlib.contextmanager
def _keeping_claim(record: BackupRecord):
    """While it uploads, the row says every JOB_HEARTBEAT_SECONDS that this process is still at it
    (offsite_claimed_at), so that recovery on another host tells a long upload from a host that is gone."""
    stop, pid = threading.Event(), record.offsite_pid

    def beat():
        try:
            while not stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    BackupRecord.objects.filter(pk=record.pk, offsite_status=OffsiteStatus.UPLOADING,
                                                offsite_pid=pid).update(offsite_claimed_at=timezone.now())
                except Exception:  # a missed beat is not fatal; the next one may pass
                    log.exception("upload heartbeat failed for backup #%s", record.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"upload-heartbeat-{record.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def fail(record: BackupRecord, detail: str, *, only_from) -> bool:
    """End a backup's offsite copy `failed` with why (a copy asked for that cannot be made), if its offsite
    status is still one of only_from; whether it was."""
    if not BackupRecord.objects.filter(pk=record.pk, offsite_status__in=only_from).update(
            **ended_fields(OffsiteStatus.FAILED, detail)):
        return False
    record.offsite_status, record.offsite_detail = OffsiteStatus.FAILED.value, detail
    _tell_failed(record)
    return True


def fail_if_silent(pk: int, claimed_at, detail: str) -> BackupRecord | None:
    """End an upload `failed` whose uploader has not reported since claimed_at (on another host); the record,
    or None when it reported (or ended) meanwhile."""
    failed = ended_fields(OffsiteStatus.FAILED, detail)
    if not BackupRecord.objects.filter(pk=pk, offsite_status=OffsiteStatus.UPLOADING,
                                       offsite_claimed_at=claimed_at).update(**failed):
        return None
    record = BackupRecord.objects.select_related("target").get(pk=pk)
    _tell_failed(record)
    return record


def _upload_with_retries(record: BackupRecord, storage: BackupStorage, *, attempts: int | None = None,
                         lead: str = "") -> None:
    attempts = max(1, attempts or settings.OFFSITE_UPLOAD_ATTEMPTS)
    pause, errors = settings.OFFSITE_RETRY_SECONDS, []
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            keys, confirmed = _upload(record, store(storage))
        except StorageError as exc:
            errors.append(exc.with_cause())
            log.warning("backup #%s: upload attempt %s of %s failed: %s", record.pk, attempt, attempts, exc)
            if attempt < attempts:
                time.sleep(pause * 2 ** (attempt - 1))
            continue
        seconds = time.monotonic() - started
        detail = (f"{lead}uploaded to {store(storage).url(keys[0])} in {seconds:.1f} s "
                  f"(attempt {attempt} of {attempts}); {confirmed}")
        # Confirmed (put_file: the store's own SHA-256, or size and label where it keeps none) and
        # recorded before the local copy may go.
        set_status(record, status=OffsiteStatus.UPLOADED, detail=detail, key=keys[0], globals_key=keys[1],
             at=timezone.now())
        log.info("backup #%s: %s", record.pk, detail)
        if not storage.keep_local_copy:
            _remove_local(record)
        return
    tries = f"{attempts} attempts" if attempts > 1 else "1 attempt"
    detail = f"{lead}upload failed after {tries}; the local copy is kept: {errors[-1]}{AGAIN_HINT}"
    set_status(record, status=OffsiteStatus.FAILED, detail=detail)
    log.error("backup #%s: %s", record.pk, detail)


def _upload(record: BackupRecord, remote: Store) -> tuple[tuple[str, str], str]:
    """((the dump's key, the roles file's key or ""), what confirmed the dump's upload)."""
    if is_folder(record):
        with blob_sweep.uploading(remote, record.pk):  # no prune deletes a blob before our manifest names it
            folder = layout.absolute(record.path)
            info, added = blobs.upload_folder(remote, folder, record.path, record.sha256)
            if record.encrypted:
                _name_sealed_blobs(record, remote, folder)
            return _upload_roles(record, remote, info.key), f"{info.confirmation}; {added.words()}"
    key = remote.key_for(record.path)
    info = remote.put_file(layout.absolute(record.path), key, sha256=record.sha256)
    return _upload_roles(record, remote, key), info.confirmation


def _name_sealed_blobs(record: BackupRecord, remote: Store, folder: Path) -> None:
    """The next backup finds these encrypted files in the store once this host's copies are gone (keyed_index.py).
    Only a saving: the copy is complete without it."""
    try:
        keyed_index.name_blobs(remote, blobs.local_listing(folder).values())
    except (StorageError, keyed_index.WeakKey, OSError) as exc:
        log.warning("backup #%s: its encrypted files are not named in the store's keyed index: %s", record.pk, exc)


def _upload_roles(record: BackupRecord, remote: Store, key: str) -> tuple[str, str]:
    globals_key = ""
    if record.globals_path:
        globals_key = remote.key_for(record.globals_path)
        path = layout.absolute(record.globals_path)
        remote.put_file(path, globals_key, sha256=files.sha256_of(path)[0])
    return key, globals_key


def is_folder(record: BackupRecord) -> bool:
    """A directory-format backup: a folder whose files are stored by content, and whose object is its manifest."""
    return record.format == "directory"


def resume(record: BackupRecord, why: str) -> list[str]:
    """Finish the upload of a backup whose uploading process is gone; what was done, one line each.

    The caller has already claimed the row for this process. Never raises for
    storage trouble: the record ends `uploaded` or `failed`, saying why. For a
    folder, the blobs the lost upload sent that no manifest names (its own
    failed) and the lock it left are then removed from the store, and said.
    """
    done = _resume(record, why)
    if is_folder(record) and record.offsite_storage_id:
        try:
            done += sweep_lines(store(record.offsite_storage))
        except StorageError as exc:
            done.append(f"blobs no backup names were left for the next prune: {exc}")
    return done


def _resume(record: BackupRecord, why: str) -> list[str]:
    lead = f"upload lost ({why}); "
    storage = record.offsite_storage if record.offsite_storage_id else storage_for(record.target)
    if storage is None:
        set_status(record, status=OffsiteStatus.FAILED, detail=f"{lead}its target no longer has an object storage")
        return [record.offsite_detail]
    done = []
    try:
        remote = store(storage)
        keys = keys_of(remote, record)
        done += abort_unfinished(remote, unfinished_keys(remote, record))
        if _already_there(record, remote):
            set_status(record, status=OffsiteStatus.UPLOADED, key=keys[0], globals_key=keys[1] if len(keys) > 1 else "",
                 at=timezone.now(), detail=f"{lead}found complete in {remote.url(keys[0])} (sha256 checked)")
            return [*done, record.offsite_detail]
    except StorageError as exc:
        set_status(record, status=OffsiteStatus.FAILED, detail=f"{lead}not resumed; the local copy is kept: {exc}")
        return [*done, record.offsite_detail]
    problem = local_problem(record)
    if problem:
        set_status(record, status=OffsiteStatus.FAILED, detail=f"{lead}cannot upload it again: {problem}")
        log.error("backup #%s: %s", record.pk, record.offsite_detail)
        return [*done, record.offsite_detail]
    set_status(record, status=OffsiteStatus.UPLOADING, detail=f"{lead}uploading again to {storage.location}")
    # One attempt: recovery runs before a command's own work and in the reaper's round; it must end.
    with _keeping_claim(record):  # a long one must not look silent to another host's recovery
        _upload_with_retries(record, storage, attempts=1, lead=f"{lead}resumed: ")
    return [*done, record.offsite_detail]


def keys_of(remote: Store, record: BackupRecord) -> list[str]:
    """The object names of a backup's files (the dump or a folder's manifest, then its roles file when it has one)."""
    first = blobs.manifest_key(remote, record.path) if is_folder(record) else remote.key_for(record.path)
    return [first] + ([remote.key_for(record.globals_path)] if record.globals_path else [])


def unfinished_keys(remote: Store, record: BackupRecord) -> list[str]:
    """The keys an interrupted upload of the backup may have left parts of: its own, and a folder's blobs."""
    keys = keys_of(remote, record)
    folder = layout.absolute(record.path)
    if is_folder(record) and (folder / manifest.NAME).is_file():
        try:
            keys += [blobs.blob_key(remote, sha) for sha in sorted(set(blobs.local_listing(folder).values()))]
        except (OSError, ValueError, StorageError) as exc:
            log.warning("backup #%s: cannot read its local manifest: %s", record.pk, exc)
    return keys


def abort_unfinished(remote: Store, keys: list[str]) -> list[str]:
    """Abort the multipart uploads of these keys that a stopped upload left (their parts cost storage)."""
    done = []
    for key in keys:
        if n := remote.abort_unfinished(key):
            done.append(f"aborted {n} unfinished {remote.unfinished}{'s' if n > 1 else ''} of {remote.url(key)}")
    return done


def _already_there(record: BackupRecord, remote: Store) -> bool:
    """The killed process got as far as the object(s) but not the record: same size and sha256."""
    if is_folder(record):
        roles = not record.globals_path or remote.head(remote.key_for(record.globals_path)) is not None
        return roles and blobs.present(remote, record.path, record.sha256)
    info = remote.head(remote.key_for(record.path))
    if info is None or info.sha256 != record.sha256 or (record.size_bytes and info.size != record.size_bytes):
        return False
    return not record.globals_path or remote.head(remote.key_for(record.globals_path)) is not None


def local_problem(record: BackupRecord, *, read_file: bool = True) -> str:
    """Why the local copy cannot be uploaded again ("" when it can): gone, or (read_file) not the bytes recorded."""
    if record.local_removed:
        return "its local copy was removed"
    if is_folder(record):
        return _folder_problem(record, read_file=read_file)
    for relative in (record.path, record.globals_path):
        if relative and not layout.absolute(relative).is_file():
            return f"its local file {relative} is gone"
    if not read_file:
        return ""
    try:
        sha, _size = files.sha256_of(layout.absolute(record.path))
    except OSError as exc:
        return f"its local file {record.path} cannot be read: {exc.strerror or exc}"
    if sha != record.sha256:
        return f"its local file {record.path} no longer matches its sha256 (it is {sha})"
    return ""


def _folder_problem(record: BackupRecord, *, read_file: bool) -> str:
    if not layout.absolute(record.path).is_dir():
        return f"its local folder {record.path} is gone"
    if record.globals_path and not layout.absolute(record.globals_path).is_file():
        return f"its local file {record.globals_path} is gone"
    check = manifest.check(layout.absolute(record.path), record.sha256) if read_file else None
    return f"its local folder {record.path} does not match its manifest: {check.detail}" if check and not check.ok \
        else ""


def _remove_local(record: BackupRecord) -> None:
    for relative in (record.path, record.globals_path):
        if relative:
            files.remove_quietly(layout.absolute(relative))
    BackupRecord.objects.filter(pk=record.pk).update(local_removed=True)
    record.local_removed = True


def ended_fields(status: str, detail: str) -> dict:
    fields = {"offsite_status": status, "offsite_detail": detail}
    if status != OffsiteStatus.UPLOADING:
        fields.update(offsite_pid=None, offsite_pid_namespace="", offsite_boot_id="", offsite_host="",
                      offsite_claimed_at=None)
    return fields


def set_status(record: BackupRecord, *, status: str, detail: str, storage=None, key=None, globals_key=None,
         at=None) -> None:
    fields = ended_fields(status, detail)
    if storage is not None:
        fields["offsite_storage"] = storage
    if key is not None:
        fields.update(offsite_key=key, offsite_globals_key=globals_key or "", offsite_at=at)
    BackupRecord.objects.filter(pk=record.pk).update(**fields)
    for name, value in fields.items():
        setattr(record, name, value)
    if status == OffsiteStatus.FAILED:
        _tell_failed(record)


def _tell_failed(record: BackupRecord) -> None:
    for listener in _failed_listeners:
        listener(record)


# -- where a backup's files are --------------------------------------------------------

def is_local(path: Path | None) -> bool:
    """The backup's file (or, for the directory format, its folder) is on this host."""
    return path is not None and (path.is_file() or path.is_dir())


def available_offsite(backup: BackupRecord) -> bool:
    return backup.offsite_status == OffsiteStatus.UPLOADED and bool(backup.offsite_key)


def reachable(backup: BackupRecord) -> bool:
    """The backup's file is here, or can be fetched."""
    return is_local(backup.absolute_path) or available_offsite(backup)


def scratch_dir() -> Path:
    return layout.ensure_dir(Path(settings.BACKUP_SCRATCH_DIR))


def sweep_lines(remote: Store) -> list[str]:
    try:
        return blob_sweep.sweep(remote)
    except StorageError as exc:
        log.warning("blobs no backup names were left in %s: %s", remote.url(remote.key_for(blobs.STORE)), exc)
        return [f"blobs no backup names were left for the next prune: {exc}"]
