"""Testing a backup storage before a backup needs it: a small object written, read back and deleted.

Each step is one the console takes with a backup's objects; each kind of
store names what it needs for it (`needs`: S3 permissions, GCS IAM
permissions, what the SFTP account may do), and the docs list them
(docs/offsite.md, docs/offsite-gcs.md, docs/offsite-sftp.md):

    write       an upload, the store asked to keep a checksum of its own where it can
    look up     size, label, the store's own checksum
    read back   compared byte for byte
    list        the objects under the prefix (adoption)
    unfinished  cleaning after an upload that was killed (S3's multipart uploads, SFTP's temporary
                files; GCS leaves nothing to clean)
    delete      pruning

The first failure ends the test and is told in one line that starts with
what is wrong: `credentials`, `bucket`, `path`, `permission` (naming the
step and what it needs), `region`, `host key`, `space` or `endpoint`. The
object lives under the storage's prefix, in `.console-storage-test/`, and is
deleted at the end; nothing else in the storage is touched.
"""

import contextlib
import hashlib
import os
import secrets
import socket
import time
from dataclasses import dataclass

from backups_app.models import BackupStorage
from backups_app.services.storage import offsite
from backups_app.services.storage.objects import StorageError, Store

FOLDER = ".console-storage-test"
PAYLOAD = b"backup console storage test\n"


@dataclass(frozen=True)
class Result:
    ok: bool
    line: str


class _Step(Exception):
    def __init__(self, step: str, permission: str, error: StorageError):
        super().__init__(str(error))
        self.step, self.permission, self.error = step, permission, error


def test_storage(storage: BackupStorage) -> Result:
    """Write, read back and delete a small object in the storage; one line saying how it went."""
    if not offsite.is_object_storage(storage):
        return Result(False, f"{storage.name}: a local-only storage has nothing to test")
    remote = offsite.store(storage)
    key = remote.key_for(f"{FOLDER}/{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}")
    started = time.monotonic()
    try:
        checksum = _steps(remote, key)
    except _Step as failed:
        return Result(False, f"{storage.name}: {remote.explain(failed.step, failed.permission, failed.error)}")
    except StorageError as exc:  # not a step's: connecting, credentials before the first request
        return Result(False, f"{storage.name}: {remote.explain('connect', '', exc)}")
    finally:
        remote.close()
    return Result(True, f"{storage.name}: OK: wrote, read back and deleted {remote.url(key)} in "
                        f"{time.monotonic() - started:.1f} s; {remote.kept(checksum)}")


def _steps(remote: Store, key: str) -> str:
    """Every step in order; the store's own checksum of the object ("" when none). _Step on the first failure."""
    sha256, needs = hashlib.sha256(PAYLOAD).hexdigest(), remote.needs
    with _step("write the test object", needs["write"]):
        remote.put_bytes(key, PAYLOAD, sha256=sha256)
    try:
        with _step("look the test object up", needs["look up"]):
            info = remote.head(key)
            if info is None or info.size != len(PAYLOAD):
                raise StorageError(f"{remote.url(key)} is not there as written")
        with _step("read the test object back", needs["read"]), remote.open(key, sha256=sha256) as reader:
            if b"".join(reader.chunks()) != PAYLOAD:
                raise StorageError(f"{remote.url(key)} reads back other bytes than were written")
        with _step("list the objects under the prefix", needs["list"]):
            if key not in remote.keys(f"{FOLDER}/"):
                raise StorageError(f"listing {remote.url(key)} does not show the object just written")
        with _step(f"abort an unfinished {remote.unfinished}", needs["unfinished"]):
            if remote.leave_unfinished(key) and remote.abort_unfinished(key) != 1:
                raise StorageError(f"the unfinished {remote.unfinished} of {remote.url(key)} was not found")
    except _Step:
        with contextlib.suppress(StorageError):  # the first failure is the one to tell
            remote.delete(key)
        raise
    with _step("delete the test object", needs["delete"]):
        remote.delete(key)
        if remote.head(key) is not None:
            raise StorageError(f"{remote.url(key)} is still there after it was deleted")
    return info.store_checksum


class _step:
    """A StorageError inside as _Step, naming the step and what it needs."""

    def __init__(self, step: str, permission: str):
        self.step, self.permission = step, permission

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, StorageError):
            raise _Step(self.step, self.permission, exc) from exc
        return False
