"""Publishing files so that a name under BACKUP_ROOT always means a complete file."""

import ctypes
import errno
import hashlib
import os
import shutil
from pathlib import Path

CHUNK = 1024 * 1024


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_private(path: Path):
    """Open a new file readable by its owner only; fails if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def publish(partial: Path, final: Path) -> None:
    """Give a complete, fsynced file its final name without ever replacing another."""
    fsync_file(partial)
    os.chmod(partial, 0o600)
    os.link(partial, final)  # fails with FileExistsError instead of clobbering
    os.unlink(partial)
    fsync_dir(final.parent)


def remove_quietly(path: Path) -> None:
    """Remove a file, or a folder and its files (a directory-format backup's temporary folder); gone is fine."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, onerror=_gone_is_fine)
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _gone_is_fine(function, path, exc_info) -> None:
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]


def sha256_of(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def publish_dir(partial: Path, final: Path) -> None:
    """Give a complete folder (its files and itself fsynced by the caller) its final name, never replacing another.

    rename() would silently replace an empty folder of that name, so we ask
    for RENAME_NOREPLACE; where the file system cannot do that, a name that
    exists already is refused before the rename (names end with the record
    id, so nothing else races for it).
    """
    os.chmod(partial, 0o700)
    if not _rename_noreplace(partial, final):
        if os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, "a backup of that name exists already", str(final))
        os.rename(partial, final)
    fsync_dir(final.parent)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _rename_noreplace(source: Path, dest: Path) -> bool:
    """renameat2(RENAME_NOREPLACE); False when this system or file system does not offer it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(dest), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(dest))


def size_of(path: Path) -> int:
    """Bytes in a file, or in every file of a folder."""
    if os.path.isdir(path) and not os.path.islink(path):
        return sum(os.lstat(os.path.join(d, n)).st_size for d, _, names in os.walk(path) for n in names)
    return os.stat(path).st_size
