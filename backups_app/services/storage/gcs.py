"""Google Cloud Storage, through Google's own client (its JSON API), behind objects.Store.

- An upload is one resumable upload session in chunks of OFFSITE_PART_MB
  (at most 8 MiB; one chunk in memory at a time); the object appears only when the last chunk
  is in, so an interrupted upload is never a partial object, and the session
  it leaves expires on its own (abort_unfinished has nothing to do). The
  client sends the file's CRC32C, computed here in the same read that checks
  its sha256, and GCS refuses an object whose bytes do not match it.
- Confirmed by what the store then reports of the object: its size, its
  `sha256` metadata, and its own CRC32C and MD5, compared with the file's.
- Reads are ranged requests of 4 MiB pinned to the object's generation,
  hashed on the way as every store's are.
- Credentials only from the environment: the service-account key file
  whose path is in the variable the storage names, or, when it names none,
  Google's Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
  the machine's service account). The storage's endpoint is for a private
  endpoint or an emulator; empty is https://storage.googleapis.com.

The roles the key needs are in docs/offsite-gcs.md (NEEDS below, step by step).
"""

import base64
import hashlib
import os
import threading
from pathlib import Path

from django.conf import settings

from backups_app.services.storage import files, objects
from backups_app.services.storage.objects import SHA_KEY, ChecksumMismatch, ObjectInfo, StorageError, VerifiedReader

NEEDS = {"write": "storage.objects.create", "look up": "storage.objects.get", "read": "storage.objects.get",
         "list": "storage.objects.list", "unfinished": "", "delete": "storage.objects.delete"}
SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"


class GcsStore(objects.Store):
    kind = "gcs"
    needs = NEEDS
    checksum_names = "CRC32C and MD5"

    def __init__(self, storage):
        super().__init__(storage)
        self.bucket_name = storage.bucket
        self._bucket = None

    def put_file(self, path: Path, key: str, *, sha256: str) -> ObjectInfo:
        size = os.stat(path).st_size
        sha, crc, md5 = digests_of(path)
        if sha != sha256:
            raise StorageError(f"{path.name} no longer matches its sha256; not uploaded")
        blob = self.bucket.blob(key, chunk_size=part_bytes())
        blob.metadata = {SHA_KEY: sha256}
        with _errors(f"cannot upload {path.name} to {self.url(key)}"), open(path, "rb") as f:
            blob.upload_from_file(f, size=size, checksum="crc32c", crc32c_checksum_value=crc, retry=_retry())
        blob = self._blob(key)
        info = _info(key, blob) if blob is not None else None
        if info is None or info.size != size or info.sha256 != sha256:
            raise StorageError(f"the upload to {self.url(key)} did not land as sent "
                               f"({info.size if info else 'no'} bytes stored of {size})")
        reported = _checksums(blob)
        if any(reported[name] != ours for name, ours in (("CRC32C", crc), ("MD5", md5)) if name in reported):
            raise ChecksumMismatch(f"the store's checksums of {self.url(key)} are {info.store_checksum}, "
                                   f"the file's are {checksum_words(crc, md5)}")
        confirmed = f"confirmed by the store's own {' and '.join(reported)}" if reported else \
            "the store keeps no checksum of its own: confirmed by its size and sha256 label only"
        return ObjectInfo(info.key, info.size, info.sha256, info.store_checksum, confirmed)

    def confirms(self, info: ObjectInfo, path: Path) -> bool:
        """Google's CRC32C (and MD5 where it keeps one) against the file's, read here."""
        if not info.store_checksum:
            return True
        _sha, crc, md5 = digests_of(path)
        return info.store_checksum in (checksum_words(crc, md5), checksum_words(crc, None))

    def put_bytes(self, key: str, data: bytes, *, sha256: str) -> None:
        blob = self.bucket.blob(key)
        blob.metadata = {SHA_KEY: sha256}
        with _errors(f"cannot write {self.url(key)}"):
            blob.upload_from_string(data, checksum="crc32c", retry=_retry())

    def leave_unfinished(self, key: str) -> bool:
        return False  # a resumable session that is not finished is no object and expires by itself

    def abort_unfinished(self, key: str) -> int:
        return 0

    def head(self, key: str) -> ObjectInfo | None:
        blob = self._blob(key)
        return _info(key, blob) if blob is not None else None

    def _blob(self, key: str):
        with _errors(f"cannot look up {self.url(key)}"):
            return self.bucket.get_blob(key, retry=_retry())

    def open(self, key: str, *, sha256: str = "") -> VerifiedReader:
        blob = self._blob(key)
        if blob is None:
            raise StorageError(f"cannot read {self.url(key)}: there is no such object", cause=objects.PATH)
        label = (blob.metadata or {}).get(SHA_KEY, "")
        self.check_label(key, label, sha256)
        with _errors(f"cannot read {self.url(key)}"):
            # Pinned to this generation: an object replaced meanwhile fails the read instead of mixing bytes.
            reader = blob.open("rb", chunk_size=READ_CHUNK, raw_download=True, retry=_retry())
        return VerifiedReader(iter(lambda: reader.read(files.CHUNK), b""), size=blob.size, expected=sha256 or label,
                              what=self.url(key), errors=_errors, closer=reader.close)

    def delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            with _errors(f"cannot delete {self.url(key)}"):
                self.bucket.blob(key).delete(retry=_retry())
        except StorageError as exc:
            if not isinstance(exc.__cause__, NotFound) or not self._bucket_exists():
                raise  # gone is fine; a bucket that is not there is not

    def _bucket_exists(self) -> bool:
        """Listing (storage.objects.list, which the console has) 404s only for a bucket that is not there."""
        from google.api_core.exceptions import NotFound

        try:
            with _errors(f"cannot list {self.url('')}"):
                list(self.bucket.list_blobs(max_results=1, retry=_retry()))
        except StorageError as exc:
            if isinstance(exc.__cause__, NotFound):
                return False
            raise
        return True

    def keys(self, prefix: str = "") -> list[str]:
        with _errors(f"cannot list {self.url(self.key_for(prefix))}"):
            return [b.name for b in self.bucket.list_blobs(prefix=self.key_for(prefix), retry=_retry())]

    def explain(self, step: str, need: str, error: StorageError) -> str:
        where = self.storage.endpoint_url or "Google Cloud Storage"
        return {
            objects.CREDENTIALS: f"credentials: {where} does not accept the service account's key: {error}",
            objects.BUCKET: f"bucket: {where} has no bucket {self.bucket_name!r}; create it first "
                            "(docs/offsite-gcs.md), or correct the storage's bucket",
            objects.PERMISSION: f"permission: the service account may not {step} in {self.url(self.key_for(''))} "
                                f"(it needs {need}): {error}",
            objects.ENDPOINT: f"endpoint: cannot reach {where}: {error}",
        }.get(error.cause, f"{error.cause}: {error}" if error.cause else f"{step} failed: {error}")

    @property
    def bucket(self):
        if self._bucket is None:
            self._bucket = client_for(self.storage).bucket(self.bucket_name)
        return self._bucket


# Google's client holds a chunk in memory about twice while it sends it, and a read's range about three
# times (docs/benchmarks.md): at most 8 MiB up and 4 MiB down keep a worker's upload near a tenth of
# what 16 MiB cost, at a few more requests per file.
MAX_UPLOAD_CHUNK, READ_CHUNK = 8 * 1024 * 1024, 4 * 1024 * 1024


def part_bytes() -> int:
    """OFFSITE_PART_MB as GCS takes chunks (a multiple of 256 KiB), at most MAX_UPLOAD_CHUNK."""
    return min(max(1, settings.OFFSITE_PART_MB * 4) * 256 * 1024, MAX_UPLOAD_CHUNK)


def digests_of(path: Path) -> tuple[str, str, str]:
    """sha256 (hex), CRC32C and MD5 (base64, as GCS reports them) of a file, in one read."""
    import google_crc32c

    sha, crc, md5 = hashlib.sha256(), google_crc32c.Checksum(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(files.CHUNK):
            sha.update(chunk)
            crc.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), _b64(crc.digest()), _b64(md5.digest())


def _info(key: str, blob) -> ObjectInfo:
    return ObjectInfo(key, blob.size, (blob.metadata or {}).get(SHA_KEY, ""),
                      checksum_words(blob.crc32c, blob.md5_hash))


def _checksums(blob) -> dict:
    """What Google reports of the object: {"CRC32C": ..., "MD5": ...}, each only when it keeps it (no MD5 for
    a composed object)."""
    return {name: value for name, value in (("CRC32C", blob.crc32c), ("MD5", blob.md5_hash)) if value}


def checksum_words(crc32c: str | None, md5: str | None) -> str:
    return " ".join(f"{name} {value}" for name, value in (("CRC32C", crc32c), ("MD5", md5)) if value)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _retry():
    """Google's retry of a request that failed on the way (a dropped connection, a 503), for at most twice
    OFFSITE_RETRY_SECONDS: an upload that still fails is one failed attempt of offsite.py's, which says why
    and tries again as it does for every kind."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    # At least 5 s: a kept-alive connection the server has closed is an ordinary reason for one retry.
    return DEFAULT_RETRY.with_timeout(max(5, 2 * settings.OFFSITE_RETRY_SECONDS))


# One client per endpoint and key file, for the life of the process (as s3.py's, for the same reasons).
_clients: dict = {}
_clients_lock = threading.Lock()


def client_for(storage):
    path = key_file(storage)
    key = (storage.endpoint_url, path, os.stat(path).st_mtime if path else None)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = make_client(storage, path)
        return _clients[key]


def make_client(storage, path: str):
    import google.auth
    from google.cloud import storage as gcs
    from google.oauth2 import service_account

    try:
        with _errors(f"storage {storage.name}: cannot load its credentials"):
            if path:
                creds = service_account.Credentials.from_service_account_file(path, scopes=[SCOPE])
                project = creds.project_id
            else:
                creds, project = google.auth.default(scopes=[SCOPE])
    except (ValueError, KeyError) as exc:  # a file that is not a service account's key
        raise StorageError(f"storage {storage.name}: the key file in {storage.key_file_env} is not a service "
                           f"account key: {objects.one_line(exc, 200)}", cause=objects.CREDENTIALS) from exc
    options = {"api_endpoint": storage.endpoint_url} if storage.endpoint_url else None
    return gcs.Client(project=project or "-", credentials=creds, client_options=options)


def key_file(storage) -> str:
    """The service-account key file the storage's variable names; "" for Application Default Credentials."""
    return objects.key_file(storage, required=False)


class _errors(objects.Failures):
    """Google's and the network's failures as StorageError, with the server's own short reason and a cause."""

    def failure(self, exc):
        exc = last_of(exc)
        cause = cause_of(exc)
        if cause is None:
            return None
        if isinstance(exc, _data_corruption()):
            return ChecksumMismatch(f"{self.doing}: the store's checksum does not match the bytes: "
                                    f"{objects.one_line(exc, 300)}")
        return StorageError(f"{self.doing}: {reason_of(exc)}", cause=cause)


def _data_corruption():
    from google.resumable_media.common import DataCorruption

    return DataCorruption


def last_of(exc):
    """The failure itself, not the retry that gave up on it."""
    from google.api_core.exceptions import RetryError

    return exc.cause if isinstance(exc, RetryError) and exc.cause is not None else exc


def cause_of(exc) -> str | None:
    """Which of objects' causes a failure is; None when it is not the store's (a bug: let it through)."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from google.resumable_media.common import DataCorruption, InvalidResponse

    if isinstance(exc, (auth.RefreshError, auth.DefaultCredentialsError, api.Unauthorized)) or _status(exc) == 401:
        return objects.CREDENTIALS
    if isinstance(exc, api.NotFound) or _status(exc) == 404:
        return objects.BUCKET  # a missing object is None (head) or said by the caller: only a bucket 404s here
    if isinstance(exc, api.Forbidden) or _status(exc) == 403:
        return objects.PERMISSION
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, auth.TransportError, OSError)):
        return objects.CONNECTION if isinstance(exc, requests.exceptions.ChunkedEncodingError) else objects.ENDPOINT
    if isinstance(exc, (api.GoogleAPICallError, InvalidResponse, DataCorruption, auth.GoogleAuthError)):
        return ""
    return None


def _status(exc) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) or getattr(exc, "code", None)


def reason_of(exc) -> str:
    """The server's own message when it gave one, else the exception's."""
    message = getattr(exc, "message", "") or str(exc)
    return objects.one_line(message)
