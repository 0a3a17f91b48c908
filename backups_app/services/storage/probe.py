"""Testing a backup storage before a backup needs it: a small object written, read back and deleted.

Each step is one the console takes with a backup's objects, with the S3
permission it needs (docs/offsite.md lists them as an IAM policy):

    write       s3:PutObject                  an upload, the store asked to keep its SHA-256
    look up     s3:GetObject                  HEAD: size, label, the store's own checksum
    read back   s3:GetObject                  GET, compared byte for byte
    list        s3:ListBucket                 the objects under the prefix (adoption)
    multipart   s3:ListBucketMultipartUploads, s3:AbortMultipartUpload
                                              cleaning after an upload that was killed
    delete      s3:DeleteObject               pruning

The first failure ends the test and is told in one line that starts with
what is wrong: `credentials`, `bucket`, `permission` (naming the step and
the permission), `region` or `endpoint`. The object lives under the
storage's prefix, in `.console-storage-test/`, and is deleted at the end;
nothing else in the bucket is touched.
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
from backups_app.services.storage.s3 import S3Store, StorageError

FOLDER = ".console-storage-test"
PAYLOAD = b"backup console storage test\n"

CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                    "InvalidClientTokenId", "TokenRefreshRequired", "InvalidSecurity"}
REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
                "InvalidRegion"}
PERMISSION_CODES = {"AccessDenied", "AllAccessDisabled", "Forbidden", "403"}


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
    s3 = offsite.store(storage)
    key = s3.key_for(f"{FOLDER}/{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}")
    started = time.monotonic()
    try:
        keeps_sha256 = _steps(s3, key)
    except _Step as failed:
        return Result(False, f"{storage.name}: {_explain(storage, s3, key, failed)}")
    return Result(True, f"{storage.name}: OK: wrote, read back and deleted {s3.url(key)} in "
                        f"{time.monotonic() - started:.1f} s; " + (
                            "the store keeps SHA-256 checksums of its own" if keeps_sha256 else
                            "the store keeps no checksum of its own (uploads are confirmed by size, "
                            "verifications read copies back)"))


def _steps(s3: S3Store, key: str) -> bool:
    """Every step in order; whether the store keeps a SHA-256 of its own. _Step on the first failure."""
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    with _step("write the test object", "s3:PutObject"):
        s3.put_small(key, PAYLOAD, sha256=sha256)
    try:
        with _step("look the test object up", "s3:GetObject"):
            info = s3.head(key)
            if info is None or info.size != len(PAYLOAD):
                raise StorageError(f"{s3.url(key)} is not there as written")
        with _step("read the test object back", "s3:GetObject"), s3.open(key, sha256=sha256) as reader:
            if b"".join(reader.chunks()) != PAYLOAD:
                raise StorageError(f"{s3.url(key)} reads back other bytes than were written")
        with _step("list the objects under the prefix", "s3:ListBucket"):
            if key not in s3.keys(f"{FOLDER}/"):
                raise StorageError(f"listing {s3.url(key)} does not show the object just written")
        with _step("abort an unfinished multipart upload", "s3:ListBucketMultipartUploads, s3:AbortMultipartUpload"):
            s3.start_multipart(key)
            if s3.abort_unfinished(key) != 1:
                raise StorageError(f"the unfinished multipart upload of {s3.url(key)} was not listed")
    except _Step:
        with contextlib.suppress(StorageError):  # the first failure is the one to tell
            s3.delete(key)
        raise
    with _step("delete the test object", "s3:DeleteObject"):
        s3.delete(key)
        if s3.head(key) is not None:
            raise StorageError(f"{s3.url(key)} is still there after it was deleted")
    return bool(info.store_sha256)


class _step:
    """A StorageError inside as _Step, naming the step and the permission it needs."""

    def __init__(self, step: str, permission: str):
        self.step, self.permission = step, permission

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, StorageError):
            raise _Step(self.step, self.permission, exc) from exc
        return False


def _explain(storage: BackupStorage, s3: S3Store, key: str, failed: _Step) -> str:
    from botocore.exceptions import (
        ConnectionError,
        EndpointConnectionError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    cause, reason = failed.error.__cause__, str(failed.error)
    code = str(cause.response.get("Error", {}).get("Code", "")) if hasattr(cause, "response") else ""
    where = storage.endpoint_url or "AWS S3"
    if isinstance(cause, (NoCredentialsError, PartialCredentialsError)) or "environment variable" in reason:
        return f"credentials: none usable for {where}: {reason}"
    if code in CREDENTIAL_CODES:
        return f"credentials: {where} does not accept the key pair ({code}): {reason}"
    if code == "NoSuchBucket":
        return (f"bucket: {where} has no bucket {storage.bucket!r}; create it first "
                f"(docs/offsite.md), or correct the storage's bucket")
    if code in REGION_CODES or code == "301":
        return f"region: the bucket {storage.bucket!r} answers from another region than {storage.region!r} " \
               f"({code}): {reason}"
    if code in PERMISSION_CODES:
        return (f"permission: the key may not {failed.step} in {s3.url(s3.key_for(''))} "
                f"(it needs {failed.permission}): {reason}")
    if isinstance(cause, (EndpointConnectionError, ConnectionError, HTTPClientError, OSError)):
        return f"endpoint: cannot reach {where}: {reason}"
    return f"{failed.step} failed: {reason}"
