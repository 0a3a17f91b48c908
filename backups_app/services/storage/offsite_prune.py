"""Pruning a backup's copy in object storage: its objects deleted, and for a directory backup the blobs
no other manifest names (blob_sweep.py); the record says what went."""

import logging

from django.utils import timezone

from backups_app.models import BackupRecord, OffsiteStatus
from backups_app.services.storage import blob_sweep
from backups_app.services.storage.objects import StorageError, Store
from backups_app.services.storage.offsite import is_folder, keys_of, set_status, store, sweep_lines

log = logging.getLogger(__name__)


def _prune_keys(record: BackupRecord, remote: Store) -> list[str]:
    """The objects pruning deletes: those recorded, else where the upload would have put the dump."""
    if record.offsite_status in (OffsiteStatus.NONE, OffsiteStatus.DELETED) or record.offsite_storage_id is None:
        return []
    return [k for k in (record.offsite_key, record.offsite_globals_key) if k] or keys_of(remote, record)[:1]


def objects_to_delete(record: BackupRecord) -> list[str]:
    """What pruning this backup deletes in offsite storage, as addresses (s3://, gs://, sftp://; the prune
    preview lists them)."""
    if record.offsite_storage_id is None:
        return []
    remote = store(record.offsite_storage)
    keys = _prune_keys(record, remote)
    if is_folder(record) and keys and record.offsite_status == OffsiteStatus.UPLOADED:
        try:  # the blobs only this backup names go with it (the prune's sweep decides again when it runs)
            keys += blob_sweep.referenced_only_by(remote, keys[0], record.sha256)
        except StorageError as exc:
            log.warning("backup #%s: cannot list the blobs only it names: %s", record.pk, exc)
    return [remote.url(k) for k in keys]


def delete_copies(record: BackupRecord) -> bool:
    """Delete a backup's objects; False (the backup stays) when an uploaded copy cannot be deleted."""
    if is_folder(record) and record.offsite_status == OffsiteStatus.DELETED and record.offsite_storage_id:
        # A prune stopped after the manifest went (kill -9): the blobs it was deleting go now.
        set_status(record, status=OffsiteStatus.DELETED,
                   detail=record.offsite_detail + _swept(store(record.offsite_storage)))
        return True
    if record.offsite_status in (OffsiteStatus.NONE, OffsiteStatus.DELETED) or record.offsite_storage_id is None:
        return True
    remote = store(record.offsite_storage)
    keys = _prune_keys(record, remote)
    try:
        for key in keys:
            remote.delete(key)
    except StorageError as exc:
        log.error("backup #%s: %s", record.pk, exc)
        if record.offsite_status != OffsiteStatus.UPLOADED:
            return True  # nothing was confirmed there; a stray object is not worth keeping the backup for
        BackupRecord.objects.filter(pk=record.pk).update(offsite_detail=f"prune could not delete: {exc}")
        return False
    detail = f"deleted {', '.join(remote.url(k) for k in keys)} at {timezone.now():%Y-%m-%d %H:%M:%S %Z}"
    set_status(record, status=OffsiteStatus.DELETED, detail=detail)
    if is_folder(record):  # once its manifest is recorded gone: the sweep checks every manifest recorded is there
        set_status(record, status=OffsiteStatus.DELETED, detail=detail + _swept(remote))
    log.info("backup #%s: %s", record.pk, record.offsite_detail)
    return True


def _swept(remote: Store) -> str:
    """After a folder's manifest is deleted: the blobs no manifest names any more go too; what was done, in words.

    Blobs that cannot be deleted now stay for the next prune (they are no backup's), so this never fails the prune.
    """
    return "".join(f"; {line}" for line in sweep_lines(remote))
