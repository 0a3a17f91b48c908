"""Downloads of a backup's own files that cannot lie: a file arrives whole only when its bytes are the backup's.

- The dump is checked against the record's sha256 and size, from this
  host's BACKUP_ROOT or from object storage; the roles file, whose
  checksum the record does not keep, against its object's sha256 label
  when it comes from object storage, and not at all from BACKUP_ROOT
  (`Download.check` says which).
- A size that differs from the record is refused before a byte is sent
  (DownloadRefused).
- Otherwise the bytes are hashed as they are sent and the last chunk is
  held back until the sha256 is known. On a mismatch (or a read that
  fails halfway) the stream raises DownloadCut instead of sending it: the
  web server cuts the connection short of its Content-Length, so a
  browser, curl or wget reports a failed download, never a complete file.
- The stream is started before the response is: a file found wrong before
  its first byte would go out (one that fits in a chunk) is refused
  (DownloadRefused), so the browser shows why instead of an error page.
  Checking first (fetching to scratch, hashing a local file) and sending
  after would cost the whole transfer's time before the first byte, and
  the disk for a copy; holding back one chunk costs neither
  (docs/benchmarks.md, bench/bench_download.py).
- A directory-format backup (a folder) is refused in one line: it is not
  one file, and its files in object storage are shared with other backups.
- How it ended (whole and matching, cut off and why, or stopped by the
  client) is handed to the caller's on_end once, for the history.
"""

import hashlib
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from backups_app.models import BackupRecord
from backups_app.services.storage import files, layout, offsite
from backups_app.services.storage.objects import ChecksumMismatch, StorageError

log = logging.getLogger(__name__)

# What a download's bytes were checked against.
AGAINST_RECORD, AGAINST_LABEL, UNCHECKED = "record", "label", ""


class DownloadRefused(StorageError):
    """The file is not sent at all: it is nowhere, or its size already shows it is not the backup's."""


class DownloadCut(StorageError):
    """The stream stopped short of its last chunk: the bytes sent so far are not the backup's."""


@dataclass
class Ended:
    """How a download ended: complete (whole and checked), cut off (problem says why), or neither (stopped)."""

    sent: int = 0
    complete: bool = False
    problem: str = ""


@dataclass
class Download:
    filename: str
    size: int
    source: str
    check: str  # AGAINST_RECORD, AGAINST_LABEL or UNCHECKED
    chunks: Iterator[bytes] = field(repr=False)


def open_file(backup: BackupRecord, *, part: str = "dump",
              on_end: Callable[[Ended], None] = lambda ended: None) -> Download:
    """One of a backup's own files as a checked stream, from this host or from object storage."""
    if part == "dump" and backup.format == "directory":
        raise DownloadRefused(f"backup #{backup.pk} is a directory-format backup, a folder of files, not one file to "
                              "download: restore it, or copy its folder from BACKUP_ROOT")
    dump = part == "dump"
    relative, key = (backup.path, backup.offsite_key) if dump else (backup.globals_path, backup.offsite_globals_key)
    if not relative:
        raise DownloadRefused(f"backup #{backup.pk} has no {'file' if dump else 'roles file'}")
    sha256, size = (backup.sha256, backup.size_bytes) if dump else ("", None)
    path = layout.absolute(relative)
    if layout.is_inside_root(path) and offsite.is_local(path):
        _refuse_other_size(path.stat().st_size, size, f"{path.name} in BACKUP_ROOT")
        chunks = _file_chunks(path, sha256=sha256, what=f"{path.name} in BACKUP_ROOT")
        check = AGAINST_RECORD if sha256 else UNCHECKED
        return Download(path.name, path.stat().st_size, "BACKUP_ROOT", check,
                        _Started(_held_back(chunks, on_end, what=f"backup #{backup.pk}: {path.name}")))
    if not (offsite.available_offsite(backup) and key):
        raise DownloadRefused(f"the file of backup #{backup.pk} is neither on this host nor in object storage")
    remote = offsite.store(backup.offsite_storage)
    reader = remote.open(key, sha256=sha256)
    try:
        _refuse_other_size(reader.size, size, remote.url(key))
    except DownloadRefused:
        reader.close()
        raise
    check = AGAINST_RECORD if sha256 else AGAINST_LABEL if reader.expected else UNCHECKED
    return Download(Path(relative).name, reader.size, remote.url(key), check,
                    _Started(_held_back(_closing(reader), on_end, what=f"backup #{backup.pk}: {remote.url(key)}")))


def _refuse_other_size(size: int, recorded: int | None, what: str) -> None:
    if recorded is not None and size != recorded:
        raise DownloadRefused(f"{what} is {size} bytes, the record says {recorded}: it is not the backup's "
                              "file, so it is not sent")


def _held_back(chunks: Iterator[bytes], on_end: Callable[[Ended], None], *, what: str = "") -> Iterator[bytes]:
    """Every chunk but the last as it comes; the last only once `chunks` ended without an error.

    A failure before the first chunk is given is DownloadRefused, and on_end
    is not told: nothing was sent, and the caller records the refusal.
    """
    ended, held, started = Ended(), None, False
    try:
        try:
            for chunk in chunks:
                if held is not None:
                    started = True
                    yield held
                    ended.sent += len(held)
                held = chunk
        except StorageError as exc:  # the checksum at the end, or a read that failed halfway
            if not started:
                raise DownloadRefused(str(exc)) from exc
            ended.problem = str(exc)
            log.error("download of %s cut off after %s bytes: %s", what, ended.sent, exc)
            raise DownloadCut(str(exc)) from exc
        if held is not None:
            started = True
            yield held
            ended.sent += len(held)
        ended.complete = True
    finally:
        if started or ended.complete:
            _tell(on_end, ended)


class _Started:
    """A held-back stream with its first chunk read now, before any response is made; close() closes it."""

    def __init__(self, stream):
        self.stream = stream
        self.ahead = list(itertools.islice(stream, 1))

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return self.ahead.pop() if self.ahead else next(self.stream)

    def close(self) -> None:
        self.stream.close()


def _tell(on_end, ended: Ended) -> None:
    try:
        on_end(ended)
    except Exception:  # the history is written after the bytes: its failure must not change what was sent
        log.exception("cannot record the end of a download")


def _file_chunks(path: Path, *, sha256: str, what: str) -> Iterator[bytes]:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(files.CHUNK):
                digest.update(chunk)
                yield chunk
    except OSError as exc:
        raise StorageError(f"cannot read {what}: {exc.strerror or exc}") from exc
    if sha256 and digest.hexdigest() != sha256:
        raise ChecksumMismatch(f"{what} does not match its checksum: its sha256 is {digest.hexdigest()}, "
                               f"the record says {sha256}")


def _closing(reader) -> Iterator[bytes]:
    with reader:
        yield from reader.chunks(files.CHUNK)
