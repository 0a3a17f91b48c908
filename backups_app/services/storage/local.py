"""A folder on this host's disks (a second disk, a mounted NFS or SMB share), behind objects.Store.

The same files an SFTP store keeps, on a local path: the storage's prefix is
an absolute folder that must exist (the console never creates it, as it
never creates a bucket); a key is a file under it. An upload copies the file
to `.NAME.partial-TOKEN` hashing it on the way, syncs it to the disk,
writes the label `NAME.sha256` (sha256sum's format), and only then renames
it to NAME: a name is never a partial file, and abort_unfinished removes the
temporary files an interrupted copy left.
"""

import contextlib
import errno
import hashlib
import os
import secrets
from pathlib import Path

from backups_app.services.storage import files, objects
from backups_app.services.storage.objects import LABEL, ChecksumMismatch, ObjectInfo, StorageError, VerifiedReader

NEEDS = {"write": "write and rename files in the folder", "look up": "read", "read": "read",
         "list": "list folders", "unfinished": "remove files", "delete": "remove files"}
CONFIRMED = "confirmed by its sha256, worked out as it was written, and synced to the disk before it took its name"


class FolderStore(objects.Store):
    kind = "folder"
    needs = NEEDS
    unfinished = "temporary file"
    no_checksum = "a folder keeps no checksum: copies are hashed as they are written and synced before they " \
                  "take their name"

    def path(self, key: str) -> Path:
        return Path("/" + key)

    def base(self) -> Path:
        return Path("/" + self.key_for("").strip("/"))

    def put_file(self, path: Path, key: str, *, sha256: str) -> ObjectInfo:
        final = self.path(key)
        token = secrets.token_hex(4)
        partial = final.parent / objects.partial_name(final.name, token)
        with _errors(f"cannot copy {path.name} to {self.url(key)}"):
            self._makedirs(final.parent)
            try:
                written = _copy(path, partial)
                if written != sha256:
                    raise ChecksumMismatch(f"{path.name} no longer matches its sha256 (it is {written}); not copied")
                _write_new(final.parent / objects.partial_name(final.name + LABEL, token), final.with_name(
                    final.name + LABEL), objects.label_line(sha256, final.name))
                os.replace(partial, final)
                files.fsync_dir(final.parent)
            finally:
                files.remove_quietly(partial)
        info = self.head(key)
        return ObjectInfo(key, info.size, info.sha256, "", CONFIRMED)

    def put_bytes(self, key: str, data: bytes, *, sha256: str) -> None:
        final = self.path(key)
        with _errors(f"cannot write {self.url(key)}"):
            self._makedirs(final.parent)
            token = secrets.token_hex(4)
            _write_new(final.parent / objects.partial_name(final.name + LABEL, token),
                       final.with_name(final.name + LABEL), objects.label_line(sha256, final.name))
            _write_new(final.parent / objects.partial_name(final.name, token), final, data)

    def leave_unfinished(self, key: str) -> bool:
        final = self.path(key)
        with _errors(f"cannot write a temporary file beside {self.url(key)}"):
            files.create_private(final.parent / objects.partial_name(final.name, secrets.token_hex(4))).close()
        return True

    def abort_unfinished(self, key: str) -> int:
        final = self.path(key)
        with _errors(f"cannot remove the unfinished copies of {self.url(key)}"):
            try:
                left = [n for n in os.listdir(final.parent) if objects.is_left_by(final.name, n)]
            except FileNotFoundError:
                return 0
            for name in left:
                files.remove_quietly(final.parent / name)
        return sum(1 for n in left if not objects.is_left_by(final.name + LABEL, n))

    def head(self, key: str) -> ObjectInfo | None:
        final = self.path(key)
        with _errors(f"cannot look up {self.url(key)}"):
            try:
                size = final.stat().st_size
            except FileNotFoundError:
                return None
            return ObjectInfo(key, size, _label(final))

    def open(self, key: str, *, sha256: str = "") -> VerifiedReader:
        final = self.path(key)
        with _errors(f"cannot read {self.url(key)}"):
            handle = open(final, "rb")
        size, label = os.fstat(handle.fileno()).st_size, _label(final)
        try:
            self.check_label(key, label, sha256)
        except ChecksumMismatch:
            handle.close()
            raise
        return VerifiedReader(iter(lambda: handle.read(files.CHUNK), b""), size=size, expected=sha256 or label,
                              what=self.url(key), errors=_errors, closer=handle.close)

    def delete(self, key: str) -> None:
        final = self.path(key)
        with _errors(f"cannot delete {self.url(key)}"):
            for path in (final, final.with_name(final.name + LABEL)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def unfinished_under(self, prefix: str) -> list[str]:
        top = self.path(self.key_for(prefix))
        with _errors(f"cannot list {self.url(self.key_for(prefix))}"):
            found = {Path(folder) / objects.left_for(name) for folder, _dirs, names in os.walk(top) for name in names
                     if objects.left_for(name)}
            return sorted(str(p)[1:] for p in found)

    def keys(self, prefix: str = "") -> list[str]:
        top = self.path(self.key_for(prefix))
        with _errors(f"cannot list {self.url(self.key_for(prefix))}"):
            if not self.base().is_dir():
                raise StorageError(f"cannot list {self.url(self.key_for(prefix))}: there is no folder {self.base()}",
                                   cause=objects.PATH)
            found = [Path(folder) / name for folder, _dirs, names in os.walk(top) for name in names
                     if objects.is_object_file(name)]
            return sorted(str(p)[1:] for p in found)

    def _makedirs(self, folder: Path) -> None:
        if not self.base().is_dir():
            raise StorageError(f"there is no folder {self.base()}", cause=objects.PATH)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def explain(self, step: str, need: str, error: StorageError) -> str:
        return {
            objects.PATH: f"path: there is no folder {self.base()} on this host; create (or mount) it first, or "
                          "correct the storage's path",
            objects.PERMISSION: f"permission: the console's user may not {step} in {self.base()} "
                                f"(it needs to {need}): {error}",
        }.get(error.cause, f"{error.cause}: {error}" if error.cause else f"{step} failed: {error}")


def _copy(source: Path, partial: Path) -> str:
    """Copy into a new private file, synced; the sha256 of what was written."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, files.create_private(partial) as out:
        while chunk := src.read(files.CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _write_new(partial: Path, final: Path, data: bytes) -> None:
    try:
        with files.create_private(partial) as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
    finally:
        files.remove_quietly(partial)


def _label(final: Path) -> str:
    try:
        words = final.with_name(final.name + LABEL).read_bytes()[:200].split()
    except FileNotFoundError:
        return ""
    return words[0].decode(errors="replace") if words else ""


class _errors(objects.Failures):
    """The disk's failures as StorageError with a cause."""

    CAUSES = {errno.ENOENT: objects.PATH, errno.EACCES: objects.PERMISSION, errno.EPERM: objects.PERMISSION,
              errno.EROFS: objects.PERMISSION, errno.ENOSPC: objects.SPACE, errno.EDQUOT: objects.SPACE}

    def failure(self, exc):
        if not isinstance(exc, OSError):
            return None
        return StorageError(f"{self.doing}: {exc.strerror or exc}", cause=self.CAUSES.get(exc.errno, ""))
