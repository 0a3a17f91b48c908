"""The checksum manifest of a directory-format backup (pg_dump -Fd): one folder, many files.

MANIFEST.sha256 sits inside the folder in `sha256sum` format (one
"<hex>  <name>" line per file, sorted by name), so an operator can check a
copy with `sha256sum -c MANIFEST.sha256` without the console. The backup
record's sha256 is the hash of the manifest, and its size the total bytes
of every file including the manifest.

digest() hashes the manifest the folder's files would have now, without
trusting the one on disk: it equals the recorded sha256 exactly when no
file was changed, removed or added.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from backups_app.services.storage import files

NAME = "MANIFEST.sha256"


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str
    changed: tuple[str, ...] = ()  # the files whose content no longer matches the manifest


def write(folder: Path) -> tuple[str, int]:
    """Hash every file pg_dump wrote, write the manifest, fsync everything; (manifest sha256, total bytes)."""
    text, size = _manifest_text(folder)
    path = folder / NAME
    with files.create_private(path) as out:
        out.write(text)
    for entry in _entries(folder):
        files.fsync_file(folder / entry)
    files.fsync_file(path)
    files.fsync_dir(folder)
    return hashlib.sha256(text).hexdigest(), size + len(text)


def digest(folder: Path) -> tuple[str, int]:
    """(sha256 of the manifest these files make, total bytes): compare with the record."""
    text, size = _manifest_text(folder)
    return hashlib.sha256(text).hexdigest(), size + len(text)


def check(folder: Path, recorded_sha256: str) -> Check:
    """Every file against the manifest, and the manifest against the record; the first problem in words."""
    path = folder / NAME
    if not path.is_file():
        return Check(False, f"the folder has no {NAME}")
    sha, _ = files.sha256_of(path)
    if sha != recorded_sha256:
        return Check(False, f"checksum mismatch: {NAME} has sha256 {sha}, the record says {recorded_sha256}; "
                            "the manifest was damaged or changed after the backup was made")
    listed = _parse(path.read_text("utf-8", "replace"))
    present = set(_entries(folder))
    if missing := sorted(set(listed) - present):
        return Check(False, f"{len(missing)} files of the backup are missing: {', '.join(missing[:5])}")
    if extra := sorted(present - set(listed)):
        return Check(False, f"the folder holds files the backup did not make: {', '.join(extra[:5])}")
    changed = [name for name in sorted(listed) if _sha256_or_none(folder / name) != listed[name]]
    if changed:
        return Check(False, f"checksum mismatch in {len(changed)} of {len(listed)} files ({', '.join(changed[:5])}): "
                            "damaged or changed after the backup was made", tuple(changed))
    return Check(True, f"sha256 of all {len(listed)} files matches the manifest, and the manifest the record")


def listed(folder: Path) -> dict[str, str]:
    """The manifest on disk: file name -> sha256."""
    return _parse((folder / NAME).read_text("utf-8", "replace"))


def backup_sha256(path: Path) -> tuple[str, int]:
    """(sha256, bytes) of a backup as its record states them: a file's own, or a folder's digest()."""
    if path.is_dir() and not path.is_symlink():
        return digest(path)
    return files.sha256_of(path)


def _manifest_text(folder: Path) -> tuple[bytes, int]:
    lines, size = [], 0
    for name in _entries(folder):
        sha, n = files.sha256_of(folder / name)
        lines.append(f"{sha}  {name}\n")
        size += n
    return "".join(lines).encode(), size


def _entries(folder: Path) -> list[str]:
    """The names in the folder besides the manifest (pg_dump writes only plain files there)."""
    return sorted(name for name in os.listdir(folder) if name != NAME)


def _sha256_or_none(path: Path) -> str | None:
    try:
        return files.sha256_of(path)[0]
    except OSError:  # e.g. a folder where a file should be: not the file that was made
        return None


def _parse(text: str) -> dict[str, str]:
    listed = {}
    for line in text.splitlines():
        sha, sep, name = line.partition("  ")
        if sep and len(sha) == 64:
            listed[name] = sha
    return listed
