"""The local content-addressed store: each distinct file of the directory-format backups kept once.

    BACKUP_ROOT/.store/sha256/<2 hex>/<64 hex>     (files 0600, folders 0700)
    BACKUP_ROOT/.store/keyed/<2 hex>/<64 hex>.<64 hex>

An encrypted backup's files are named in the keyed part by a keyed hash of
their content before encryption (crypto/sealing.py), then the sha256 of the
encrypted file: age encrypts each time afresh, so only that hash finds the
same content again, and without the key the names tell nothing about it.

A backup folder's file and its store name are hard links to one inode, so
every backup stays a plain pg_dump directory that pg_restore and
`sha256sum -c` read, and owns its data as fully as the store does.

The rules that make this safe without a lock:
- a store name is only ever made by linking a complete, fsynced file of a
  backup folder, never written: a store file with one link (nlink == 1) is
  used by no backup, and sweep() removes exactly those;
- files are never changed in place (they share an inode with other backups);
- removing a name never frees data another name still holds: a sweep racing
  a backup can at worst leave the backup's file out of the store (the next
  backup stores it again), never take the file from the backup, because the
  backup checks the inode it linked, not the name.
"""

import errno
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from backups_app.services.storage import files, layout

log = logging.getLogger(__name__)

STORE_DIR = ".store"
# Where a link cannot be made, the file stays a plain file of its backup: a note, never a failure.
CANNOT_LINK = {errno.EXDEV: "the store is on another file system", errno.EMLINK: "too many links to one file",
               errno.EPERM: "the file system refuses hard links", errno.ENOTSUP: "the file system has no hard links"}


PLAIN, KEYED = "sha256", "keyed"


def root(kind: str = PLAIN) -> Path:
    return layout.root() / STORE_DIR / kind


def path_of(sha256: str) -> Path:
    return root() / sha256[:2] / sha256


@dataclass
class Shared:
    """What linking one backup folder into the store did."""

    linked: int = 0  # files whose content the store had: now links to it
    added: int = 0  # files new to the store
    added_bytes: int = 0  # bytes new to BACKUP_ROOT: added and plain files (the manifest is the caller's)
    plain: list[str] = field(default_factory=list)  # files left as plain files, and why

    def note(self) -> str:
        """One line for the backup's log when some files could not be shared."""
        if not self.plain:
            return ""
        return f"{len(self.plain)} files kept unshared: {'; '.join(self.plain[:3])}"


def share_folder(folder: Path, listed: dict[str, str]) -> Shared:
    """Replace each listed file (name -> sha256) by a link to the store's copy, or add it to the store.

    The folder's files are complete and fsynced (manifest.write) before this
    runs, and the folder is fsynced after it, before the caller publishes it.
    """
    shared, refused = Shared(), ""
    for name, sha in sorted(listed.items()):
        size = (folder / name).stat().st_size
        outcome = refused
        if not refused:
            try:
                outcome = _share(folder, name, sha)
            except OSError as exc:
                if exc.errno not in CANNOT_LINK:
                    raise
                outcome = CANNOT_LINK[exc.errno]
                refused = "" if exc.errno == errno.EMLINK else outcome  # the others hold for every file
        if outcome == "linked":
            shared.linked += 1
            continue
        shared.added_bytes += size
        if outcome == "added":
            shared.added += 1
        else:
            shared.plain.append(f"{name}: {outcome}")
    # Only the folder's own entries must be on disk before it is published. A store name lost to a power
    # failure loses nothing (the backup holds the inode; the next backup stores the content again), so the
    # store's folders are not fsynced here: on ext4 each such fsync is a journal commit, ~100 per backup.
    files.fsync_dir(folder)
    return shared


def _share(folder: Path, name: str, sha: str, tries: int = 3) -> str:
    """'linked', 'added', or why the file stays plain."""
    path, kept = folder / name, path_of(sha)
    _ensure_dirs(kept.parent)
    os.chmod(path, 0o600)  # the store's mode is the inode's: owner only
    try:
        _link(path, kept)  # new content: the store names our own inode
        return "added"
    except FileExistsError:
        pass
    # Known content: hold the store's inode by a name of our own, check that inode, then take it.
    spare = folder / f".{name}.link"
    try:
        _link(kept, spare)
    except FileNotFoundError:  # swept between the two links: try again, it may be added now
        return _share(folder, name, sha, tries - 1) if tries > 1 else "the store file kept going away"
    if files.sha256_of(spare)[0] != sha:
        os.unlink(spare)
        log.warning("store file %s does not match its name: not shared", kept)
        return "the store's copy is damaged"
    os.replace(spare, path)
    return "linked"


def _link(source: Path, name: Path) -> None:
    os.link(source, name)  # one place to make links: tests put faults and races here


def keyed_take(keyed: str, dest: Path) -> str | None:
    """Link the store's encrypted copy of this content to dest; its sha256, or None when the store has none.

    The copy's own sha256 is in its name and checked before it is taken, as
    for plain files; a damaged copy is left for the next backup to replace.
    """
    folder = root(KEYED) / keyed[:2]
    candidates = sorted(folder.glob(f"{keyed}.*")) if folder.is_dir() else []
    for kept in candidates:
        sha = kept.name.rpartition(".")[2]
        spare = dest.with_name(f".{dest.name}.link")
        try:
            _link(kept, spare)
        except FileNotFoundError:  # swept meanwhile
            continue
        if files.sha256_of(spare)[0] != sha:
            os.unlink(spare)
            log.warning("store file %s does not match its name: not shared", kept)
            continue
        os.replace(spare, dest)
        return sha
    return None


def keyed_add(keyed: str, path: Path, sha256: str) -> str:
    """Name a new encrypted file of a backup folder in the store: 'added', or why it stays plain."""
    kept = root(KEYED) / keyed[:2] / f"{keyed}.{sha256}"
    _ensure_dirs(kept.parent)
    try:
        _link(path, kept)
    except FileExistsError:
        return "added"  # the same encrypted bytes, named already
    except OSError as exc:
        if exc.errno not in CANNOT_LINK:
            raise
        return CANNOT_LINK[exc.errno]
    return "added"


def _ensure_dirs(folder: Path) -> None:
    if folder.is_dir():
        return
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    for p in reversed(missing):
        try:
            p.mkdir(mode=0o700)
        except FileExistsError:
            continue
        files.fsync_dir(p.parent)


def sweep() -> list[str]:
    """Remove every store file no backup uses (one link left); one line for each, said as it is done."""
    return _sweep_kind(PLAIN) + _sweep_kind(KEYED)


def _sweep_kind(kind: str) -> list[str]:
    done = []
    top = root(kind)
    if not top.is_dir():
        return done
    for sub in sorted(top.iterdir()):
        done += sweep_paths(sorted(sub.iterdir()) if sub.is_dir() else [])
    return done


def sweep_hashes(hashes) -> list[str]:
    """sweep() for the given contents only (what a pruned backup used); the keyed part is walked whole,
    its names start with the keyed hash, not the sha256 a manifest lists."""
    return sweep_paths(path_of(sha) for sha in sorted(set(hashes)) if len(sha) == 64) + _sweep_kind(KEYED)


def sweep_paths(paths) -> list[str]:
    done, parents = [], set()
    for path in paths:
        try:
            st = os.lstat(path)
            if st.st_nlink != 1:
                continue
            os.unlink(path)  # a backup that linked it meanwhile still holds the inode (see the docstring)
        except FileNotFoundError:
            continue
        parents.add(path.parent)
        done.append(f"removed store file {path.name[:12]}… ({st.st_size} bytes): no backup uses it any more")
    for parent in parents:
        files.fsync_dir(parent)
    return done


def total_bytes() -> tuple[int, int]:
    """(files, bytes) the store holds: each content once."""
    n = size = 0
    for top in (root(PLAIN), root(KEYED)):
        for sub in top.iterdir() if top.is_dir() else ():
            for entry in os.scandir(sub) if sub.is_dir() else ():
                n, size = n + 1, size + entry.stat(follow_symlinks=False).st_size
    return n, size
