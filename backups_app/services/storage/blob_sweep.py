"""Removing the blobs no manifest names any more, without ever removing one an upload is about to name.

After a directory backup's manifest is deleted (retention), its blobs that
no other manifest in the same storage names are deleted too. A prune and
an upload of the same storage meet through lock objects under
`PREFIX/store/locks/`, each written before its writer looks for the
other's (stores read their own writes and list them at once):

- an upload writes `upload-<backup id>-<token>` before its first look-up
  and removes it once its copy is recorded; it then waits while a prune's
  lock is live;
- a prune writes `prune-<token>` (the time in it), then deletes nothing
  while an upload's lock is live: the unreferenced blobs stay for the next
  prune, which says so.

So of a prune and an upload that start together, at least one sees the
other. An upload's lock is live while its backup's offsite copy is
`uploading` in the console's database (recovery ends or resumes an upload
whose process is gone); a prune's while its time is younger than
OFFSITE_STORE_LEASE_SECONDS, and a prune that could not renew its lease in
time stops deleting. A lock left by a kill -9 is removed (and reported) by
the next prune. A prune killed midway leaves blobs no manifest names: the
next prune removes them and reports how many.
"""

import hashlib
import json
import logging
import secrets
import time
from contextlib import contextmanager

from django.conf import settings

from backups_app.models import BackupRecord, OffsiteStatus
from backups_app.services.storage import blobs, keyed_index, layout
from backups_app.services.storage.objects import StorageError, Store

log = logging.getLogger(__name__)

LOCKS = "store/locks"
STORE_TOP = blobs.STORE


def _lock_key(remote: Store, name: str) -> str:
    return remote.key_for(f"{LOCKS}/{name}")


def _write_lock(remote: Store, key: str, **fields) -> None:
    data = json.dumps({"at": time.time(), **fields}).encode()
    remote.put_bytes(key, data, sha256=hashlib.sha256(data).hexdigest())


def _locks(remote: Store) -> dict[str, dict]:
    """Every lock in the store: {key: its fields} ({} for one that cannot be read: treated as live)."""
    found = {}
    for key in remote.keys(f"{LOCKS}/"):
        try:
            found[key] = json.loads(blobs.read_manifest(remote, key))
        except (StorageError, ValueError):
            found[key] = {}
    return found


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def _upload_live(fields: dict) -> bool:
    backup = fields.get("backup")
    if not isinstance(backup, int):
        return True  # unreadable: never assume it is gone
    return BackupRecord.objects.filter(pk=backup, offsite_status=OffsiteStatus.UPLOADING).exists()


def _prune_live(fields: dict) -> bool:
    at = fields.get("at")
    return not isinstance(at, (int, float)) or time.time() - at < settings.OFFSITE_STORE_LEASE_SECONDS


# -- the upload's side ---------------------------------------------------------------------------

@contextmanager
def uploading(remote: Store, backup_id: int):
    """While inside, no prune of this store deletes a blob: our lock is written, and no prune's lock is live."""
    key = _lock_key(remote, f"upload-{backup_id}-{secrets.token_hex(4)}")
    _write_lock(remote, key, backup=backup_id)
    try:
        _wait_for_prunes(remote, backup_id)
        yield
    finally:
        try:
            remote.delete(key)
        except StorageError as exc:  # left behind: the next prune removes it once the upload has ended
            log.warning("backup #%s: cannot remove the upload lock %s: %s", backup_id, remote.url(key), exc)


def _wait_for_prunes(remote: Store, backup_id: int) -> None:
    deadline = time.monotonic() + settings.OFFSITE_STORE_LEASE_SECONDS + 1
    while True:
        live = [k for k, f in _locks(remote).items() if _name(k).startswith("prune-") and _prune_live(f)]
        if not live:
            return
        if time.monotonic() > deadline:
            raise StorageError(f"a prune of {remote.url(remote.key_for(''))} has held the store since before "
                               f"this upload began ({remote.url(live[0])})")
        log.info("backup #%s: waiting for the prune holding %s", backup_id, remote.url(live[0]))
        time.sleep(min(1.0, settings.OFFSITE_STORE_LEASE_SECONDS / 10))


# -- the prune's side ----------------------------------------------------------------------------

class _Lease:
    """The prune's lock, renewed as it works; expired() once it could not be renewed in time."""

    def __init__(self, remote: Store):
        self.remote, self.key = remote, _lock_key(remote, f"prune-{secrets.token_hex(6)}")
        self.written = 0.0
        self.renew()

    def renew(self) -> None:
        _write_lock(self.remote, self.key)
        self.written = time.time()

    def keep(self) -> None:
        """Renew when a third of the lease has gone; StorageError when half has gone unrenewed."""
        age = time.time() - self.written
        if age > settings.OFFSITE_STORE_LEASE_SECONDS / 2:
            raise StorageError("the prune's lock on the store could not be renewed in time; stopped deleting")
        if age > settings.OFFSITE_STORE_LEASE_SECONDS / 3:
            self.renew()

    def end(self) -> None:
        try:
            self.remote.delete(self.key)
        except StorageError as exc:
            log.warning("cannot remove the prune lock %s: %s", self.remote.url(self.key), exc)


def sweep(remote: Store) -> list[str]:
    """Delete the blobs no manifest in this store names, and the locks of uploads that ended; one line each.

    Nothing is deleted while an upload of this store is running, nor when a manifest cannot be read.
    """
    lease = _Lease(remote)
    try:
        lines = _stale_locks(remote, lease)
        running = [k for k, f in _locks(remote).items() if _name(k).startswith("upload-") and _upload_live(f)]
        if running:
            return [*lines, f"blobs no backup names were left in {remote.url(remote.key_for(STORE_TOP))}: "
                            f"an upload is running ({_name(running[0])})"]
        return lines + _abort_unfinished(remote) + _delete_unreferenced(remote, lease)
    finally:
        lease.end()


def _stale_locks(remote: Store, lease: _Lease) -> list[str]:
    lines = []
    for key, fields in _locks(remote).items():
        name = _name(key)
        stale = ((name.startswith("upload-") and not _upload_live(fields))
                 or (name.startswith("prune-") and key != lease.key and not _prune_live(fields)))
        if stale:
            remote.delete(key)
            lines.append(f"removed the lock {name} left by a stopped {name.split('-')[0]}")
    return lines


def _abort_unfinished(remote: Store) -> list[str]:
    """What killed uploads of blobs left (S3's multipart uploads, temporary files): nobody is uploading now."""
    aborted = sum(remote.abort_unfinished(key) for key in remote.unfinished_under(f"{blobs.STORE}/"))
    if not aborted:
        return []
    return [f"aborted {aborted} unfinished {remote.unfinished}{'s' if aborted > 1 else ''} of blobs in "
            f"{remote.url(remote.key_for(STORE_TOP))}"]


def _delete_unreferenced(remote: Store, lease: _Lease) -> list[str]:
    referenced, manifests = set(), set()
    for key in remote.keys(f"{layout.database_dir().name}/"):
        if blobs.is_manifest_key(key):
            lease.keep()
            manifests.add(key)
            referenced |= set(blobs.parse(blobs.read_manifest(remote, key)).values())
    _require_recorded(remote, manifests)
    gone = 0
    for key in remote.keys(f"{blobs.STORE}/"):
        sha = blobs.sha_of_key(key)
        if sha and sha not in referenced:
            lease.keep()
            remote.delete(key)
            gone += 1
    # The keyed index's names of those blobs go after them (a name without its blob is only a failed look-up).
    names = keyed_index.delete_unreferenced(remote, referenced, lease.keep)
    lines = []
    if gone:
        lines.append(f"deleted {gone} blob{'s' if gone > 1 else ''} no backup names from "
                     f"{remote.url(remote.key_for(STORE_TOP))}")
    if names:
        lines.append(f"deleted {names} name{'s' if names > 1 else ''} of blobs no backup names from "
                     f"{remote.url(remote.key_for(keyed_index.TOP))}")
    for line in lines:
        log.info(line)
    return lines


def _require_recorded(remote: Store, manifests: set[str]) -> None:
    """Every manifest the console records as uploaded here was listed: else what the listing missed would
    lose its blobs, so nothing is deleted."""
    recorded = BackupRecord.objects.filter(offsite_storage=remote.storage, format="directory",
                                           offsite_status=OffsiteStatus.UPLOADED).exclude(offsite_key="")
    for pk, key in recorded.values_list("pk", "offsite_key"):
        if key not in manifests:
            raise StorageError(f"the manifest of backup #{pk} ({remote.url(key)}) is not in the store's listing; "
                               "no blob was deleted")


def referenced_only_by(remote: Store, key: str, sha256: str) -> list[str]:
    """The blobs of this manifest that no other manifest in the store names (what its prune would delete)."""
    mine = set(blobs.parse(blobs.read_manifest(remote, key, sha256)).values())
    for other in remote.keys(f"{layout.database_dir().name}/"):
        if other != key and blobs.is_manifest_key(other):
            mine -= set(blobs.parse(blobs.read_manifest(remote, other)).values())
    return sorted(blobs.blob_key(remote, sha) for sha in mine)
