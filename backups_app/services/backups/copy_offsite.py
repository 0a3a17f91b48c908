"""Copying a backup to object storage again, on request: from the admin action and `manage.py backup --copy-offsite`.

For a backup whose upload failed or was interrupted (the storage was down,
the worker was stopped halfway), and for one made before its target had an
object storage. The request is refused in one line, with nothing changed,
unless the backup succeeded, is not
already uploaded or being uploaded, its target has an object storage, and
its local files are there and still match the sha256 recorded.

The row is claimed by one filtered UPDATE (offsite failed or local only ->
uploading, with this process as its uploader), so two requests at once
upload it once, and recovery resumes the upload if this process dies.

Only the host that made the backup has its local file (jobs/placement.py).
The admin's request is queued for that host's worker; a worker that takes
it elsewhere hands it over. On that host, a copy that cannot be made (the
file is gone or changed, no storage) ends the backup's offsite copy
`failed` saying so, and the task fails: a request is never a quiet success.
A command run on another host refuses, naming the host.
"""

import logging

from backups_app.models import BackupRecord, BackupStatus, OffsiteStatus
from backups_app.services.jobs import placement, process, queue
from backups_app.services.storage import offsite

log = logging.getLogger(__name__)

AGAIN_FROM = [OffsiteStatus.FAILED, OffsiteStatus.NONE]


class CopyRefused(Exception):
    """This backup cannot be copied offsite now; the message says why in one line."""


def refusal(record: BackupRecord, *, read_file: bool = True, queued: bool = False) -> str:
    """Why the backup cannot be copied offsite now; "" when it can.

    read_file: also read the local file through to check its sha256 (the
    upload does; a request in the browser only looks that the files are there).
    queued: the copy is queued for the host that has the file, which checks it.
    """
    return _nothing_to_do(record) or _cannot(record, read_file=read_file, queued=queued)


def _nothing_to_do(record: BackupRecord) -> str:
    """A refusal that says the request is not needed or not possible for this kind of backup."""
    where = f"backup #{record.pk}"
    if record.status != BackupStatus.SUCCEEDED:
        return f"{where} is {record.status}: only a succeeded backup can be copied offsite"
    if record.offsite_status == OffsiteStatus.UPLOADED:
        return f"{where} is already in object storage ({record.offsite_key})"
    if record.offsite_status == OffsiteStatus.UPLOADING:
        return f"{where} is being uploaded now"
    if record.offsite_status == OffsiteStatus.DELETED:
        return f"{where}: its offsite copy was deleted by retention"
    return ""


def _cannot(record: BackupRecord, *, read_file: bool, queued: bool) -> str:
    """A refusal that says the copy cannot be made: no storage, the local file elsewhere, gone or changed."""
    where = f"backup #{record.pk}"
    if storage_of(record) is None:
        return f"{where}: its target '{record.target.name}' has no object storage and there is no default one"
    host = placement.file_host(record)
    if placement.away(record, host):
        return "" if queued else (f"{where}: its local file is on host {host}, not on this host ({process.host()}): "
                                  f"run manage.py backup --copy-offsite {record.pk} there")
    problem = offsite.local_problem(record, read_file=read_file)
    return f"{where} cannot be uploaded: {problem}" if problem else ""


def copy_queued(*, record_id: int) -> str:
    """The queued copy (the admin's action), run by the worker that took it; what happened, for the task's result.

    Handed to the host that has the file when this is not it. There, a copy
    that cannot be made is recorded on the backup (offsite `failed`, why and
    where) and raises CopyRefused, so the task fails as the copy did.
    """
    record = BackupRecord.objects.select_related("target", "offsite_storage").filter(pk=record_id).first()
    if record is None:
        return f"skipped: there is no backup #{record_id}"
    host = placement.file_host(record)
    if placement.away(record, host):
        queue.enqueue_copy_offsite(record)
        return f"handed to host {host}, which has the file of backup #{record.pk}"
    if why := _nothing_to_do(record):
        return f"skipped: {why}"
    try:
        record = copy_offsite(record)
    except CopyRefused as exc:
        offsite.fail(record, f"copy to object storage on host {process.host()} refused: {exc}", only_from=AGAIN_FROM)
        raise
    return f"offsite {record.offsite_status}: {record.offsite_detail}"


def storage_of(record: BackupRecord):
    """Where it goes: the storage of its earlier attempt when that is still object storage, else its target's."""
    storage = record.offsite_storage if record.offsite_storage_id else None
    if storage is not None and offsite.is_object_storage(storage):
        return storage
    return offsite.storage_for(record.target)


def copy_offsite(record: BackupRecord) -> BackupRecord:
    """Upload the backup now (OFFSITE_UPLOAD_ATTEMPTS attempts); the record as it ended.

    Raises CopyRefused when it cannot be tried. A failed upload is not an
    exception: the record says offsite `failed` and why, as after a backup.
    """
    record = BackupRecord.objects.select_related("target", "offsite_storage").get(pk=record.pk)
    why = refusal(record)
    if why:
        raise CopyRefused(why)
    storage = storage_of(record)
    claimed = BackupRecord.objects.filter(
        pk=record.pk, status=BackupStatus.SUCCEEDED, offsite_status__in=AGAIN_FROM,
    ).update(offsite_status=OffsiteStatus.UPLOADING, offsite_storage=storage,
             offsite_detail=f"uploading again to {storage.location}",
             **offsite.owner_fields(process.identity()))
    if not claimed:
        raise CopyRefused(f"backup #{record.pk} changed meanwhile (another upload or a prune); nothing done")
    record.refresh_from_db()
    log.info("backup #%s: copying offsite again to %s", record.pk, storage.location)
    remote = offsite.store(storage)
    try:  # what an interrupted earlier attempt left; a storage that is down fails the upload just below
        for line in offsite.abort_unfinished(remote, offsite.unfinished_keys(remote, record)):
            log.warning("backup #%s: %s", record.pk, line)
    except offsite.StorageError as exc:
        log.warning("backup #%s: %s", record.pk, exc)
    offsite.upload_claimed(record, storage, lead="on request: ")
    record.refresh_from_db()
    return record
