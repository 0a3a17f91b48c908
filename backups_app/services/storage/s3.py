"""S3-compatible object storage behind objects.Store: a backup file's bytes, shipped and fetched in a bounded stream.

Objects are byte-for-byte the files under BACKUP_ROOT (encrypted when the
dump pipeline encrypted them), so one sha256 describes both; it travels in
the object's metadata (x-amz-meta-sha256) and every read is hashed on the
way and refused when it differs. An upload also asks the store to keep a
SHA-256 of its own and confirms the object by what the store reports
(checksums.py); a store that keeps none is confirmed by size and label
only, and `ObjectInfo.confirmation` says which. Uploads are boto3's managed transfer:
multipart above OFFSITE_PART_MB, at most OFFSITE_CONCURRENCY parts in
flight, each read from the file as it is sent, never the whole file in memory.

Credentials come from the environment only: the variables a storage names,
or boto3's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, AWS_PROFILE, the machine's role). None is ever stored.
"""

import os
import threading
from dataclasses import replace
from pathlib import Path

from django.conf import settings

from backups_app.services.storage import checksums, files, objects
from backups_app.services.storage.objects import SHA_KEY, ChecksumMismatch, ObjectInfo, StorageError, VerifiedReader

# What each step of the storage test needs (probe.py; docs/offsite.md's policy).
NEEDS = {"write": "s3:PutObject", "look up": "s3:GetObject", "read": "s3:GetObject", "list": "s3:ListBucket",
         "unfinished": "s3:ListBucketMultipartUploads, s3:AbortMultipartUpload", "delete": "s3:DeleteObject"}


class S3Store(objects.Store):
    kind = "s3"
    needs = NEEDS
    unfinished = "multipart upload"

    def __init__(self, storage):
        super().__init__(storage)
        self.bucket = storage.bucket
        self._client = None

    def put_file(self, path: Path, key: str, *, sha256: str) -> ObjectInfo:
        """Upload a complete local file that still has this sha256; confirmed by the store's own SHA-256
        of it where the store keeps one, else by its size and label (`confirmation` says which)."""
        size, config = os.stat(path).st_size, transfer_config()
        part = checksums.part_size(size, threshold=config.multipart_threshold, chunk=config.multipart_chunksize)
        expected, whole = checksums.read(path, part=part)  # one read: the store's checksum and the label's
        if whole != sha256:
            raise StorageError(f"{path.name} no longer matches its sha256; not uploaded")
        with _errors(f"cannot upload {path.name} to {self.url(key)}"):
            self.client.upload_file(str(path), self.bucket, key, Config=config, ExtraArgs={
                "Metadata": {SHA_KEY: sha256}, "ChecksumAlgorithm": checksums.ALGORITHM})
        info = self.head(key)
        if info is None or info.size != size or info.sha256 != sha256:
            raise StorageError(f"the upload to {self.url(key)} did not land as sent "
                               f"({info.size if info else 'no'} bytes stored of {size})")
        if info.store_checksum and not checksums.same(info.store_checksum, expected):
            raise ChecksumMismatch(f"the store's SHA-256 of {self.url(key)} is {info.store_checksum}, "
                                   f"the file's is {expected}")
        return replace(info, confirmation=confirmation(info, parts=expected.partition("-")[2]))

    def confirms(self, info: ObjectInfo, path: Path) -> bool:
        """The store's SHA-256 against the label's when it is the whole object's; of its parts ("-N"), against
        the local file's, read here."""
        if not info.store_checksum:
            return True
        if "-" not in info.store_checksum and info.sha256:  # a whole-object SHA-256: the label's, if the same bytes
            return checksums.same(info.store_checksum, checksums.of_sha256(info.sha256))
        config = transfer_config()
        part = checksums.part_size(info.size, threshold=config.multipart_threshold, chunk=config.multipart_chunksize)
        return checksums.same(info.store_checksum, checksums.of_file(path, part=part))

    def put_bytes(self, key: str, data: bytes, *, sha256: str) -> None:
        """A small object in one request, the store asked to keep its SHA-256 (the storage test's)."""
        with _errors(f"cannot write {self.url(key)}"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ChecksumAlgorithm=checksums.ALGORITHM,
                                   Metadata={SHA_KEY: sha256})

    def leave_unfinished(self, key: str) -> bool:
        """Start a multipart upload and send nothing (the storage test's), for abort_unfinished to find."""
        with _errors(f"cannot start a multipart upload of {self.url(key)}"):
            self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ChecksumAlgorithm=checksums.ALGORITHM)
        return True

    def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            with _errors(f"cannot look up {self.url(key)}"):
                meta = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except StorageError as exc:
            if isinstance(exc.__cause__, ClientError) and _status(exc.__cause__) == 404:
                return None
            raise
        return ObjectInfo(key, meta["ContentLength"], stored_sha256(meta), meta.get("ChecksumSHA256", ""))

    def open(self, key: str, *, sha256: str = "") -> "VerifiedReader":
        """A stream of the object, hashed as it is read; ChecksumMismatch at its end when it is not the one stored."""
        with _errors(f"cannot read {self.url(key)}"):
            # ChecksumMode: botocore checks the body against the store's own full-object checksum as well.
            answer = self.client.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        stored = stored_sha256(answer)
        try:
            self.check_label(key, stored, sha256)
        except ChecksumMismatch:
            answer["Body"].close()
            raise
        return VerifiedReader(answer["Body"].iter_chunks(files.CHUNK), size=answer["ContentLength"],
                              expected=sha256 or stored, what=self.url(key), errors=_errors,
                              closer=answer["Body"].close)

    def delete(self, key: str) -> None:
        with _errors(f"cannot delete {self.url(key)}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def abort_unfinished(self, key: str) -> int:
        """Abort the multipart uploads of exactly this key left unfinished (a killed uploader); how many."""
        aborted = 0
        with _errors(f"cannot abort the unfinished uploads of {self.url(key)}"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=key)
            for upload in (u for page in pages for u in page.get("Uploads", []) if u["Key"] == key):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
                aborted += 1
        return aborted

    def unfinished_under(self, prefix: str) -> list[str]:
        with _errors(f"cannot list the unfinished uploads under {self.url(self.key_for(prefix))}"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                Prefix=self.key_for(prefix))
            return sorted({u["Key"] for page in pages for u in page.get("Uploads", [])})

    def explain(self, step: str, need: str, error: StorageError) -> str:
        return explain(self.storage, self, step, need, error)

    def keys(self, prefix: str = "") -> list[str]:
        with _errors(f"cannot list {self.url(prefix)}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=self.key_for(prefix))
            return [o["Key"] for page in pages for o in page.get("Contents", [])]

    # -- the client --------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            self._client = client_for(self.storage)
        return self._client


def confirmation(info: ObjectInfo, *, parts: str = "") -> str:
    """What confirmed an upload, for the record: the store's own checksum, or only what the uploader wrote."""
    if info.store_checksum:
        return f"confirmed by the store's own SHA-256{f' of its {parts} parts' if parts else ''}"
    return "the store keeps no checksum of its own: confirmed by its size and sha256 label only"


def stored_sha256(answer: dict) -> str:
    """The x-amz-meta-sha256 of a HEAD or GET answer. Metadata names are HTTP headers, so any case:
    AWS and MinIO give `sha256`, rclone's `serve s3` gives `Sha256`."""
    return next((value for name, value in answer.get("Metadata", {}).items() if name.lower() == SHA_KEY), "")


def transfer_config():
    from boto3.s3.transfer import TransferConfig

    part = settings.OFFSITE_PART_MB * 1024 * 1024
    return TransferConfig(multipart_threshold=part, multipart_chunksize=part,
                          max_concurrency=settings.OFFSITE_CONCURRENCY,
                          max_io_queue=settings.OFFSITE_CONCURRENCY * 2, io_chunksize=256 * 1024)


# One client per endpoint, region and key pair, kept for the life of the process: making one
# (loading the S3 service model) costs about a tenth of a second and 16 MB, and a worker
# uploads many backups. Other key pairs (rotated ones) get a client of their own.
_clients: dict = {}
_clients_lock = threading.Lock()


def client_for(storage):
    key = (storage.endpoint_url, storage.region, tuple(sorted(credentials(storage).items())))
    with _clients_lock:  # a second caller waits for the client being made rather than make another
        if key not in _clients:
            _clients[key] = make_client(storage)
        return _clients[key]


def make_client(storage):
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=120,
        # MinIO and most S3-compatible servers want the bucket in the path, not the host name.
        s3={"addressing_style": "path" if storage.endpoint_url else "auto"},
    )
    return boto3.session.Session(**credentials(storage)).client(
        "s3", endpoint_url=storage.endpoint_url or None, region_name=storage.region or None, config=config,
    )


def credentials(storage) -> dict:
    """The access key pair from the variables the storage names; nothing (boto3's own chain) when it names none."""
    if not storage.access_key_env:
        return {}
    missing = [n for n in (storage.access_key_env, storage.secret_key_env) if not os.environ.get(n)]
    if missing:
        raise StorageError(f"storage {storage.name}: the environment variable {', '.join(missing)} is not set",
                           cause=objects.CREDENTIALS)
    return {"aws_access_key_id": os.environ[storage.access_key_env],
            "aws_secret_access_key": os.environ[storage.secret_key_env]}


class _errors(objects.Failures):
    """botocore's and the network's failures as StorageError, with the server's own short reason."""

    def failure(self, exc):
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError, FlexibleChecksumError

        if isinstance(exc, FlexibleChecksumError):  # the store's own checksum disagrees with the bytes it sent
            return ChecksumMismatch(f"{self.doing}: the store's checksum does not match the bytes it sent: "
                                    f"{objects.one_line(exc, 300)}")
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            reason = f"{error.get('Code', '')} {error.get('Message', '')}".strip() or str(exc)
        elif isinstance(exc, (BotoCoreError, Boto3Error, OSError)):
            reason = str(exc)
        else:
            return None
        return StorageError(f"{self.doing}: {objects.one_line(reason)}", cause=cause_of(exc))


CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                    "InvalidClientTokenId", "TokenRefreshRequired", "InvalidSecurity"}
REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
                "InvalidRegion", "301"}
PERMISSION_CODES = {"AccessDenied", "AllAccessDisabled", "Forbidden", "403"}


def cause_of(exc) -> str:
    """Which of objects' causes a botocore failure is ("" when none fits)."""
    from botocore.exceptions import (
        ConnectionError,
        EndpointConnectionError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    exc = client_error_in(exc)
    code = _code(exc)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)) or code in CREDENTIAL_CODES:
        return objects.CREDENTIALS
    if code == "NoSuchBucket":
        return objects.BUCKET
    if code in REGION_CODES:
        return objects.REGION
    if code in PERMISSION_CODES:
        return objects.PERMISSION
    if code in ("EntityTooLarge", "QuotaExceeded", "XMinioStorageFull"):
        return objects.SPACE
    if isinstance(exc, (EndpointConnectionError, ConnectionError, HTTPClientError, OSError)):
        return objects.ENDPOINT
    return ""


def explain(storage, s3: S3Store, step: str, need: str, error: StorageError) -> str:
    """The storage test's line for a failed step: what is wrong first, then what to do."""
    reason, code = str(error), _code(client_error_in(error.__cause__))
    where = storage.endpoint_url or "AWS S3"
    if error.cause == objects.CREDENTIALS and not code:
        return f"credentials: none usable for {where}: {reason}"
    if error.cause == objects.CREDENTIALS:
        return f"credentials: {where} does not accept the key pair ({code}): {reason}"
    if error.cause == objects.BUCKET:
        return (f"bucket: {where} has no bucket {storage.bucket!r}; create it first "
                f"(docs/offsite.md), or correct the storage's bucket")
    if error.cause == objects.REGION:
        return f"region: the bucket {storage.bucket!r} answers from another region than {storage.region!r} " \
               f"({code}): {reason}"
    if error.cause == objects.PERMISSION:
        return (f"permission: the key may not {step} in {s3.url(s3.key_for(''))} "
                f"(it needs {need}): {reason}")
    if error.cause == objects.ENDPOINT:
        return f"endpoint: cannot reach {where}: {reason}"
    if error.cause:
        return f"{error.cause}: {reason}"
    return f"{step} failed: {reason}"


def client_error_in(exc):
    """The store's own answer inside boto3's wrapping of it (S3UploadFailedError says only its text)."""
    from botocore.exceptions import ClientError

    seen = exc
    while seen is not None and not isinstance(seen, ClientError):
        seen = seen.__cause__ or seen.__context__
    return seen if seen is not None else exc


def _code(exc) -> str:
    return str(((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code", ""))


def _status(exc) -> int | None:
    return ((getattr(exc, "response", None) or {}).get("ResponseMetadata") or {}).get("HTTPStatusCode")
