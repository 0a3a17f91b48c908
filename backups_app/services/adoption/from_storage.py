"""Adopting backups from object storage: those kept there only (a storage without local copies).

After the console's database is lost, make its object storages again in the
admin (the same bucket and prefix), then `manage.py backup --adopt`: besides
the files under BACKUP_ROOT, every object under each storage's
`PREFIX/database/` that no record knows is examined. Its name tells type,
format, time and target as for a file (adopt.named); its size and sha256
are the object's (the sha256 the console put in its metadata: an object
without one was not uploaded by the console and is left alone). It is
fetched into the scratch folder, checked against that sha256 on the way,
read to the end as a verification does, and removed again; only then is
its record made: `succeeded`, offsite `uploaded`, its local copy removed.
Its roles file comes with it. A directory-format backup's object is its
manifest (`<name>.dir`, the text of its MANIFEST.sha256): its folder is rebuilt from the
files the manifest names (storage/blobs.py), checked, read and removed.

An object whose backup was adopted from a local file (a storage that keeps
local copies too) is linked to that record instead, when their sha256 agree.
"""

import logging

from django.utils import timezone

from backups_app.models import BackupFormat, BackupRecord, BackupStorage, DatabaseTarget, OffsiteStatus
from backups_app.services.adoption import adopt
from backups_app.services.adoption.adopt import AdoptRefused, Found
from backups_app.services.storage import layout, offsite, offsite_copies
from backups_app.services.storage.files import size_of

log = logging.getLogger(__name__)


def adopt_from_storages(*, target: DatabaseTarget | None = None, dry_run: bool = False,
                        local: list[Found] = ()) -> list[Found]:
    """Every object storage's objects that no record knows. local: what adopt_all found just before
    (in a dry run nothing was saved, and its backups' objects are still to be linked, not adopted twice)."""
    pending = {f.record.path: f.record for f in local if f.record is not None}
    found = []
    for storage in BackupStorage.objects.order_by("name"):
        if offsite.is_object_storage(storage):
            found += adopt_from(storage, target=target, dry_run=dry_run, pending=pending)
    return found


def adopt_from(storage: BackupStorage, *, target: DatabaseTarget | None = None, dry_run: bool = False,
               pending: dict | None = None) -> list[Found]:
    """Every object of this storage that no record knows, adopted (or linked) or not, and why.
    pending: backups adopted from their files in this dry run, by path (nothing saved yet)."""
    pending = pending or {}
    remote = offsite.store(storage)
    top = remote.key_for("")
    try:
        keys = set(remote.keys(layout.database_dir().name + "/"))
    except offsite.StorageError as exc:
        return [Found(remote.url(top), problem=f"cannot be listed: {exc}")]
    known = {k for pair in BackupRecord.objects.filter(offsite_storage=storage).values_list(
        "offsite_key", "offsite_globals_key") for k in pair if k}
    found = []
    for key in sorted(keys - known):
        relative = key[len(top):]
        entry = Found(remote.url(key))
        try:
            entry.record, entry.notes, entry.linked = _examine(remote, storage, key, relative, keys, target, dry_run,
                                                               pending)
        except (AdoptRefused, offsite.StorageError) as exc:
            entry.problem = str(exc)
        else:
            if not dry_run and entry.record.pk is None:
                adopt.save(entry.record)
        found.append(entry)
    taken = {remote.url(f.record.offsite_globals_key) for f in found if f.record is not None and f.record.globals_path}
    return [f for f in found if f.path not in taken]


def _examine(remote, storage, key: str, relative: str, keys: set[str], target, dry_run: bool, pending: dict):
    local = BackupRecord.objects.filter(path=relative).exclude(status="pruned").first() or pending.get(relative)
    if local is not None:
        return (*_link(remote, storage, key, local, keys, dry_run), True)
    record = adopt.named(relative, target)
    info = remote.head(key)
    if info is None:
        raise AdoptRefused("it went while it was being looked at")
    if not info.sha256:
        raise AdoptRefused("no sha256 in its metadata: the console did not upload it")
    record.size_bytes = record.bytes_written = info.size
    record.sha256 = info.sha256
    if record.format == BackupFormat.DIRECTORY:
        record.size_bytes = record.bytes_written = None  # the folder's total, once it is fetched below
    record.local_removed = True
    record.offsite_storage, record.offsite_key = storage, key
    record.offsite_status, record.offsite_at = OffsiteStatus.UPLOADED, timezone.now()
    record.offsite_detail = f"adopted from {remote.url(key)}"
    try:
        with offsite_copies.fetched(record):  # into the scratch folder, checked against the sha256 on the way
            if record.format == BackupFormat.DIRECTORY:
                record.size_bytes = record.bytes_written = size_of(record.absolute_path)
                record.encrypted = adopt.sealed(record.absolute_path)
            notes = adopt.checked(record, record.absolute_path)
    except offsite.FetchFailed as exc:
        raise AdoptRefused(f"it cannot be fetched: {exc}") from None
    # Named only now: whether a folder is encrypted (and so its roles file too) is known once it is fetched.
    roles_key = remote.key_for(adopt.roles_path(record))
    record.offsite_globals_key = roles_key if roles_key in keys else ""
    if record.offsite_globals_key:
        record.globals_path = adopt.roles_path(record)
        notes.append("with its roles file")
    return record, ["only in object storage", *notes], False


def _link(remote, storage, key: str, local: BackupRecord, keys: set[str], dry_run: bool):
    """The backup was adopted from its local file: its object is its offsite copy, when the bytes agree."""
    who = f"backup #{local.pk}" if local.pk else "the backup adopted from its file"
    if local.offsite_key:
        raise AdoptRefused(f"{who} already has its offsite copy at {local.offsite_key}")
    info = remote.head(key)
    if info is None or info.sha256 != local.sha256:
        raise AdoptRefused(f"{who} has this name here, but the object's sha256 is not its own")
    roles_key = remote.key_for(local.globals_path) if local.globals_path else ""
    fields = {"offsite_storage": storage, "offsite_key": key, "offsite_status": OffsiteStatus.UPLOADED,
              "offsite_globals_key": roles_key if roles_key in keys else "", "offsite_at": timezone.now(),
              "offsite_detail": f"linked to {remote.url(key)} when it was adopted (sha256 checked)"}
    if not dry_run and local.pk:
        BackupRecord.objects.filter(pk=local.pk).update(**fields)
    for name, value in fields.items():
        setattr(local, name, value)
    return local, [f"its offsite copy, linked to {who}"]
