"""S3-compatible object storage: the stored bytes of a backup file, shipped and fetched in a bounded stream.

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

import hashlib
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings

from backups_app.services.storage import checksums, files

SHA_KEY = "sha256"


class StorageError(Exception):
    """Object storage could not do what was asked; one readable line without secrets."""


class ChecksumMismatch(StorageError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str  # the label the uploader wrote (x-amz-meta-sha256)
    store_sha256: str = ""  # the store's own (x-amz-checksum-sha256, "-N" over N parts); "" when it keeps none
    confirmation: str = ""  # after an upload: what confirmed it, in words for the record


class S3Store:
    def __init__(self, storage):
        self.storage = storage
        self.bucket = storage.bucket
        self._client = None

    # -- names ---------------------------------------------------------------
    def key_for(self, relative_path: str) -> str:
        prefix = self.storage.prefix.strip("/")
        return f"{prefix}/{relative_path}" if prefix else relative_path

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # -- the four calls --------------------------------------------------------
    def put_file(self, path: Path, key: str, *, sha256: str) -> ObjectInfo:
        """Upload a complete local file that still has this sha256; confirmed by the store's own SHA-256
        of it where the store keeps one, else by its size and label (`confirmation` says which)."""
        size, config = os.stat(path).st_size, transfer_config()
        part = checksums.part_size(size, threshold=config.multipart_threshold, chunk=config.multipart_chunksize)
        # In parts, the file's own sha256 is not read again here: every caller has just read it through.
        expected = checksums.of_file(path, part=part)
        if not part and expected != checksums.of_sha256(sha256):
            raise StorageError(f"{path.name} no longer matches its sha256; not uploaded")
        with _errors(f"cannot upload {path.name} to {self.url(key)}"):
            self.client.upload_file(str(path), self.bucket, key, Config=config, ExtraArgs={
                "Metadata": {SHA_KEY: sha256}, "ChecksumAlgorithm": checksums.ALGORITHM})
        info = self.head(key)
        if info is None or info.size != size or info.sha256 != sha256:
            raise StorageError(f"the upload to {self.url(key)} did not land as sent "
                               f"({info.size if info else 'no'} bytes stored of {size})")
        if info.store_sha256 and not checksums.same(info.store_sha256, expected):
            raise ChecksumMismatch(f"the store's SHA-256 of {self.url(key)} is {info.store_sha256}, "
                                   f"the file's is {expected}")
        return replace(info, confirmation=confirmation(info, parts=expected.partition("-")[2]))

    def put_small(self, key: str, data: bytes, *, sha256: str) -> None:
        """A small object in one request, the store asked to keep its SHA-256 (the storage test's)."""
        with _errors(f"cannot write {self.url(key)}"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ChecksumAlgorithm=checksums.ALGORITHM,
                                   Metadata={SHA_KEY: sha256})

    def start_multipart(self, key: str) -> str:
        """Start a multipart upload and send nothing (the storage test's); its upload id."""
        with _errors(f"cannot start a multipart upload of {self.url(key)}"):
            return self.client.create_multipart_upload(Bucket=self.bucket, Key=key,
                                                       ChecksumAlgorithm=checksums.ALGORITHM)["UploadId"]

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
        expected = [s for s in (sha256, stored) if s]
        if sha256 and stored and sha256 != stored:
            answer["Body"].close()
            raise ChecksumMismatch(f"{self.url(key)} is labelled sha256 {stored}, the record says {sha256}")
        return VerifiedReader(answer["Body"], size=answer["ContentLength"], expected=expected[0] if expected else "",
                              what=self.url(key))

    def fetch(self, key: str, dest: Path, *, sha256: str = "") -> int:
        """Stream the object into a new private file; nothing is left behind when it fails."""
        try:
            with files.create_private(dest) as out, self.open(key, sha256=sha256) as reader:
                for chunk in reader.chunks():
                    out.write(chunk)
                return reader.size
        except BaseException:
            files.remove_quietly(dest)
            raise

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


class VerifiedReader:
    """An object's body read in chunks; the sha256 of everything read is compared at the end."""

    def __init__(self, body, *, size: int, expected: str, what: str):
        self.body, self.size, self.expected, self.what = body, size, expected, what
        self.digest, self.read_bytes = hashlib.sha256(), 0

    def chunks(self, size: int = files.CHUNK):
        with _errors(f"cannot read {self.what}"):
            for chunk in self.body.iter_chunks(size):
                self.digest.update(chunk)
                self.read_bytes += len(chunk)
                yield chunk
        self._check()

    def _check(self) -> None:
        if self.read_bytes != self.size:
            raise StorageError(f"{self.what} ended after {self.read_bytes} of {self.size} bytes")
        if self.expected and self.digest.hexdigest() != self.expected:
            raise ChecksumMismatch(f"{self.what} does not match its checksum: its sha256 is "
                                   f"{self.digest.hexdigest()}, {self.expected} was stored")

    def close(self) -> None:
        self.body.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def confirmation(info: ObjectInfo, *, parts: str = "") -> str:
    """What confirmed an upload, for the record: the store's own checksum, or only what the uploader wrote."""
    if info.store_sha256:
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
        raise StorageError(f"storage {storage.name}: the environment variable {', '.join(missing)} is not set")
    return {"aws_access_key_id": os.environ[storage.access_key_env],
            "aws_secret_access_key": os.environ[storage.secret_key_env]}


class _errors:
    """botocore's and the network's failures as StorageError, with the server's own short reason."""

    def __init__(self, doing: str):
        self.doing = doing

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, StorageError):
            return False
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError, FlexibleChecksumError

        if isinstance(exc, FlexibleChecksumError):  # the store's own checksum disagrees with the bytes it sent
            raise ChecksumMismatch(f"{self.doing}: the store's checksum does not match the bytes it sent: "
                                   f"{' '.join(str(exc).split())[:300]}") from exc
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            reason = f"{error.get('Code', '')} {error.get('Message', '')}".strip() or str(exc)
        elif isinstance(exc, (BotoCoreError, Boto3Error, OSError)):
            reason = str(exc)
        else:
            return False
        raise StorageError(f"{self.doing}: {' '.join(reason.split())[:500]}") from exc


def _status(exc) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
