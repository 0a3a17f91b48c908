"""The one interface every offsite storage sits behind: objects by key, streamed, checked.

A store keeps objects under keys ("PREFIX/database/daily/x.dump"); callers
(offsite.py, downloads.py, adoption, verification, retention, and a
content-addressed store) use only these calls and never ask which kind of
store they talk to:

    put_file(path, key, sha256=)   a complete local file, published whole or not at all,
                                   confirmed by the store's own checksum where it keeps one
    put_bytes(key, data, sha256=)  a small object in one request (the storage test's)
    head(key)                      size, the sha256 label, the store's own checksum; None when absent
    open(key, sha256=)             a VerifiedReader: chunks hashed as they come, checked at the end
    fetch(key, dest, sha256=)      open() into a new private file, removed when it fails
    delete(key)                    gone is fine
    keys(prefix)                   every complete object under key_for(prefix)
    confirms(info, path)           the store's own checksum of an object says it is this local file
    unfinished_under(prefix)       the keys under key_for(prefix) that interrupted uploads left parts of
    abort_unfinished(key)          what an interrupted upload of this key left (parts, temporary files)
    explain(step, need, error)     one line for the storage test: the cause first (credentials:, bucket:, ...)

Every object carries the sha256 of its bytes as a label the console wrote
(S3 and GCS metadata, a `.sha256` file beside it over SFTP); every read is
hashed and refused when it differs. A name is only ever a complete object:
S3's multipart and GCS's resumable uploads appear when finished, SFTP
renames a checked temporary file. StorageError is one readable line
without secrets; its `cause` names what went wrong, in the words the
storage test uses.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from backups_app.services.storage import files

SHA_KEY = "sha256"

# Causes, the first word of the storage test's line and of a failed upload's reason.
CREDENTIALS, BUCKET, PATH, PERMISSION, REGION, ENDPOINT, HOST_KEY, SPACE, CONNECTION = (
    "credentials", "bucket", "path", "permission", "region", "endpoint", "host key", "space", "connection")


class StorageError(Exception):
    """Offsite storage could not do what was asked; one readable line without secrets."""

    def __init__(self, line: str, *, cause: str = ""):
        super().__init__(line)
        self.cause = cause

    def with_cause(self) -> str:
        """The line with its cause first ("credentials: cannot upload ..."), as a failed upload records it."""
        return f"{self.cause}: {self}" if self.cause else str(self)


class ChecksumMismatch(StorageError):
    pass


class Failures:
    """`with Failures(doing):` a store's own failures come out as StorageError, saying what was being done.

    Each kind says how in failure(exc): the StorageError (or ChecksumMismatch) that stands for it, or None
    when it is not the store's failure (a bug), which then goes through as it is.
    """

    def __init__(self, doing: str):
        self.doing = doing

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, StorageError):
            return False
        found = self.failure(exc)
        if found is None:
            return False
        raise found from exc

    def failure(self, exc) -> StorageError | None:
        raise NotImplementedError


def key_file(storage, *, required: bool) -> str:
    """The private key file the storage's variable names; "" when it names none and none is required."""
    if not storage.key_file_env:
        if not required:
            return ""
        raise StorageError(f"storage {storage.name}: it names no variable holding its private key file",
                           cause=CREDENTIALS)
    path = os.environ.get(storage.key_file_env, "")
    if not path:
        raise StorageError(f"storage {storage.name}: the environment variable {storage.key_file_env} is not set",
                           cause=CREDENTIALS)
    if not os.path.isfile(path):
        raise StorageError(f"storage {storage.name}: the key file in {storage.key_file_env} ({path}) is not there",
                           cause=CREDENTIALS)
    return path


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str  # the label the uploader wrote
    store_checksum: str = ""  # the store's own ("SHA-256 ..." of S3, CRC32C and MD5 of GCS); "" when it keeps none
    confirmation: str = ""  # after an upload: what confirmed it, in words for the record


class Store:
    """What every kind shares: names under the storage's prefix, addresses, fetching into a file."""

    unfinished = "upload"  # what an interrupted upload leaves, in words: "multipart upload", "temporary file"

    def __init__(self, storage):
        self.storage = storage

    def key_for(self, relative_path: str) -> str:
        prefix = self.storage.prefix.strip("/")
        return f"{prefix}/{relative_path}" if prefix else relative_path

    def url(self, key: str) -> str:
        return self.storage.url_of(key)

    checksum_names = "SHA-256"  # what the store keeps of an object when it keeps a checksum of its own
    no_checksum = ("the store keeps no checksum of its own (uploads are confirmed by size, verifications read "
                   "copies back)")

    def kept(self, checksum: str) -> str:
        """What confirms an upload here, in the words of the storage test's line."""
        return f"the store keeps {self.checksum_names} checksums of its own" if checksum else self.no_checksum

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

    def confirms(self, info: ObjectInfo, path: Path) -> bool:
        """Does the store's own checksum of an object (where it keeps one) say it holds this local file?"""
        return not info.store_checksum

    def unfinished_under(self, prefix: str) -> list[str]:
        """The keys under key_for(prefix) that interrupted uploads left something of (for abort_unfinished)."""
        return []

    def check_label(self, key: str, label: str, sha256: str) -> None:
        """An object labelled with another sha256 than the caller expects is refused before a byte is read."""
        if sha256 and label and sha256 != label:
            raise ChecksumMismatch(f"{self.url(key)} is labelled sha256 {label}, the record says {sha256}")

    def close(self) -> None:
        """Let go of connections this store holds (SFTP); nothing for the others."""


class VerifiedReader:
    """An object's bytes in chunks; the sha256 of everything read is compared at the end.

    body: an iterable of chunks; closer: what ends the read early; errors: a
    context manager turning the store's own exceptions into StorageError.
    """

    def __init__(self, body, *, size: int, expected: str, what: str, errors, closer=lambda: None):
        self.body, self.size, self.expected, self.what = body, size, expected, what
        self.errors, self.closer = errors, closer
        self.digest, self.read_bytes = hashlib.sha256(), 0

    def chunks(self, size: int | None = None):
        """The bytes as they come from the store, or (size) in pieces of that size, the last one shorter."""
        with self.errors(f"cannot read {self.what}"):
            for chunk in self.body if size is None else regrouped(self.body, size):
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
        self.closer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# Stores of plain files (SFTP, a folder): an object NAME is published whole by a rename of
# `.NAME.partial-TOKEN`; its sha256 label is `NAME.sha256`, in sha256sum's format.
LABEL = ".sha256"


def partial_name(name: str, token: str) -> str:
    return f".{name}.partial-{token}"


def label_line(sha256: str, name: str) -> bytes:
    return f"{sha256}  {name}\n".encode()


def is_left_by(name: str, entry: str) -> bool:
    """A temporary file an interrupted upload of NAME (or of its label) left."""
    return entry.startswith((f".{name}.partial-", f".{name}{LABEL}.partial-"))


def left_for(entry: str) -> str:
    """The object name a temporary file was left by ("" for a file that is not one)."""
    if not entry.startswith(".") or ".partial-" not in entry:
        return ""
    return entry[1:entry.rindex(".partial-")].removesuffix(LABEL)


def is_object_file(entry: str) -> bool:
    """A file that is an object, not a label or a temporary file."""
    return not (entry.endswith(LABEL) or (entry.startswith(".") and ".partial-" in entry))


def regrouped(pieces, size: int):
    """Pieces of any length (SFTP's are 32 KiB) as pieces of `size`; one that already is passes uncopied."""
    buffer = bytearray()
    for piece in pieces:
        if not buffer and len(piece) == size:
            yield piece
            continue
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def one_line(text: str, limit: int = 500) -> str:
    return " ".join(str(text).split())[:limit]
