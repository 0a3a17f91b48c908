"""Directory-format backups in object storage: each file once, by its content, and the backup as its manifest.

A folder `<name>.dir` (pg_dump -Fd) is not uploaded as it is. Each file the
manifest (MANIFEST.sha256, sha256sum's format) names goes to
`PREFIX/store/sha256/<2 hex>/<64 hex>`, the sha256 of its bytes, unless the
store already has that object: the same size, the same sha256 label, and
the store's own checksum (S3's SHA-256, Google's CRC32C) saying it holds the
same bytes as the local file. A changed file is a new object; an unchanged
chunk of a TimescaleDB hypertable is uploaded once for every backup that
has it. Then the manifest itself is uploaded where today's key scheme puts
the backup (`PREFIX/database/daily/<name>.dir`, one object holding the text
of its MANIFEST.sha256): that key is the backup's offsite_key, and the
record's sha256 is the manifest's.

Order: blobs first, manifest last, then every blob the manifest names is
looked up again (one missing is uploaded again: a prune may have removed an
unreferenced blob between our look-up and our manifest; blob_sweep.py's
locks make that impossible, this makes it harmless). Only then is the copy
`uploaded`. A kill -9 at any step leaves blobs no manifest names, which
the next prune of that storage removes and reports (blob_sweep.py).

Fetching (restore, verification, adoption) rebuilds a plain pg_dump folder in
a private scratch folder: the manifest checked against the record, then each
file checked against its sha256 on the way in; a missing or damaged object
fails with one line naming the file, before anything reads the folder.
"""

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from backups_app.services.storage import files, manifest
from backups_app.services.storage.objects import ChecksumMismatch, ObjectInfo, StorageError, Store

log = logging.getLogger(__name__)

STORE = "store/sha256"
_HEX = re.compile(r"[0-9a-f]{64}")


class BlobMissing(StorageError):
    """A file of a directory backup is not in the store, or not the bytes its manifest names."""


@dataclass
class Added:
    """What an upload of a folder sent: files and bytes new to the store, of all the backup's."""

    files: int = 0
    bytes: int = 0
    total_files: int = 0
    total_bytes: int = 0

    def words(self) -> str:
        share = 100.0 * self.bytes / self.total_bytes if self.total_bytes else 0.0
        return (f"{self.files} of {self.total_files} files new to the store, {self.bytes} of {self.total_bytes} "
                f"bytes ({share:.1f}%); the others were there already")


def blob_key(remote: Store, sha256: str) -> str:
    return remote.key_for(f"{STORE}/{sha256[:2]}/{sha256}")


def sha_of_key(key: str) -> str:
    """The sha256 a blob's key names ("" for a key that is not a blob's)."""
    name = key.rsplit("/", 1)[-1]
    return name if _HEX.fullmatch(name) and f"/{STORE}/" in f"/{key}" else ""


def manifest_key(remote: Store, relative: str) -> str:
    """The backup's own object: its manifest, named as today's keys name a backup (`database/daily/x.dir`).

    Not `x.dir/MANIFEST.sha256`: stores of plain files (SFTP, a folder) keep an object's label beside it as
    `NAME.sha256`, so a name ending in .sha256 would read as a label and never be listed.
    """
    return remote.key_for(relative)


def is_manifest_key(key: str) -> bool:
    return key.endswith(".dir")


def parse(text: str) -> dict[str, str]:
    """{file name: sha256} of a manifest; StorageError for a line that is not one a backup writes
    (a name with a slash or `..` could write outside the folder it is fetched into)."""
    listed = {}
    for line in text.splitlines():
        sha, sep, name = line.partition("  ")
        if not (sep and _HEX.fullmatch(sha) and name and "/" not in name and name not in (".", "..")
                and name != manifest.NAME and "\0" not in name):
            raise StorageError(f"the manifest has a line that is not a backup file's: {line[:80]!r}")
        listed[name] = sha
    return listed


def local_listing(folder: Path) -> dict[str, str]:
    return parse((folder / manifest.NAME).read_text("utf-8"))


# -- upload --------------------------------------------------------------------------------------

def upload_folder(remote: Store, folder: Path, relative: str, sha256: str) -> tuple[ObjectInfo, Added]:
    """Blobs the store lacks, then the manifest, then every blob confirmed; (the manifest's info, what was added).

    The caller holds an upload lock on the store (blob_sweep.uploading), so that no prune removes a blob
    between our look-up and our manifest.
    """
    try:
        listed = local_listing(folder)
    except (OSError, ValueError) as exc:
        raise StorageError(f"the folder's {manifest.NAME} cannot be read: {getattr(exc, 'strerror', '') or exc}") \
            from exc
    added = Added(total_files=len(listed) + 1)
    for name, sha in sorted(listed.items()):
        added.total_bytes += (folder / name).stat().st_size
        if _put_missing(remote, folder / name, sha):
            added.files += 1
            added.bytes += (folder / name).stat().st_size
    info = remote.put_file(folder / manifest.NAME, manifest_key(remote, relative), sha256=sha256)
    added.files += 1
    added.bytes += info.size
    added.total_bytes += info.size
    again = [name for name, sha in sorted(listed.items()) if _put_missing(remote, folder / name, sha)]
    if again:
        log.warning("%s: %s blobs were gone after the manifest was written and were uploaded again: %s",
                    relative, len(again), ", ".join(again[:5]))
    return info, added


def _put_missing(remote: Store, path: Path, sha: str) -> bool:
    """Upload the file as its blob unless the store already holds those bytes; whether it was uploaded."""
    key = blob_key(remote, sha)
    info = remote.head(key)
    if info is not None and info.size == path.stat().st_size and info.sha256 == sha and remote.confirms(info, path):
        return False
    remote.put_file(path, key, sha256=sha)
    return True


def present(remote: Store, relative: str, sha256: str) -> bool:
    """The killed uploader got as far as the manifest: it is there with the record's sha256, and every blob
    it names is there with its sha256 label."""
    key = manifest_key(remote, relative)
    info = remote.head(key)
    if info is None or info.sha256 != sha256:
        return False
    listed = parse(_read_small(remote, key, sha256))
    return all((b := remote.head(blob_key(remote, sha))) is not None and b.sha256 == sha for sha in listed.values())


def keys_of(remote: Store, relative: str, sha256: str) -> list[str]:
    """The blob keys a backup's manifest in the store names (for the prune preview and read-back)."""
    listed = parse(_read_small(remote, manifest_key(remote, relative), sha256))
    return sorted({blob_key(remote, sha) for sha in listed.values()})


# -- fetch and read back -------------------------------------------------------------------------

def fetch_folder(remote: Store, key: str, sha256: str, dest: Path) -> int:
    """Rebuild the backup's folder at dest (made here, private) from its manifest object and blobs; bytes fetched.

    BlobMissing names the file that is missing or damaged; dest is removed then.
    """
    try:
        dest.mkdir(mode=0o700)
        size = remote.fetch(key, dest / manifest.NAME, sha256=sha256)
        for name, sha in sorted(parse((dest / manifest.NAME).read_text("utf-8")).items()):
            size += _fetch_blob(remote, name, sha, dest / name)
        files.fsync_dir(dest)
        return size
    except BaseException:
        files.remove_quietly(dest)
        raise


def _fetch_blob(remote: Store, name: str, sha: str, dest: Path) -> int:
    key = blob_key(remote, sha)
    try:
        return remote.fetch(key, dest, sha256=sha)
    except ChecksumMismatch as exc:
        raise BlobMissing(f"its file {name} is damaged in the store: {exc}") from exc
    except StorageError as exc:
        if remote.head(key) is None:
            raise BlobMissing(f"its file {name} is missing from the store ({remote.url(key)})") from exc
        raise BlobMissing(f"its file {name} cannot be fetched from {remote.url(key)}: {exc}") from exc


def read_back(remote: Store, key: str, sha256: str) -> int:
    """Read the manifest and every blob it names through, hashed; (files checked). BlobMissing names the file."""
    listed = parse(_read_small(remote, key, sha256))
    for name, sha in sorted(listed.items()):
        blob = blob_key(remote, sha)
        if remote.head(blob) is None:
            raise BlobMissing(f"its file {name} is missing from the store ({remote.url(blob)})")
        try:
            with remote.open(blob, sha256=sha) as reader:
                for _chunk in reader.chunks():
                    pass
        except ChecksumMismatch as exc:
            raise BlobMissing(f"its file {name} is damaged in the store: {exc}") from exc
    return len(listed)


def _read_small(remote: Store, key: str, sha256: str = "") -> str:
    """A manifest's text, checked against sha256 (or its label); StorageError when it is gone or other bytes."""
    with remote.open(key, sha256=sha256) as reader:
        data = b"".join(reader.chunks())
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StorageError(f"{remote.url(key)} is not a manifest (not UTF-8 text)") from None


read_manifest = _read_small
