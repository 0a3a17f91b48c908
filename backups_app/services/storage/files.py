"""Publishing files so that a name under BACKUP_ROOT always means a complete file."""

import hashlib
import os
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
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def sha256_of(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
