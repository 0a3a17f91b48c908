"""Encrypted directory backups: each file of pg_dump's folder encrypted on its own, shared when seen before.

pg_dump -Fd writes its files into a private scratch folder (0700, under
BACKUP_SCRATCH_DIR); each is then encrypted with age into the backup's own
folder as `<name>.age` and its plaintext removed at once. The backup folder
holds only encrypted files and MANIFEST.sha256 (the sha256 of each encrypted
file, so `sha256sum -c` and the console check it without the key).

age encrypts each time afresh, so equal content never gives equal bytes. A
file is therefore known by a keyed hash of its content before encryption:
HMAC-SHA256 under a key derived from BACKUP_DEDUP_KEY (the variable named
by BACKUP_DEDUP_KEY_ENV) or, when that is unset, from the console's
SECRET_KEY, and from the backup's public keys (other keys: other names, so a
file is never shared with a backup encrypted to other keys). When the store
holds an encrypted copy under that name (storage/local_store.py, keyed part)
the backup links it instead of encrypting again; object storage then finds
the same encrypted bytes by their sha256 and uploads nothing. When this
host's copy is gone (a storage that keeps no local copy), the one in object
storage is fetched instead (storage/keyed_index.py). Without the key, the
names tell nothing about the content: no one can check whether a backup
holds a file they can guess.
"""

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from backups_app.services.crypto import age
from backups_app.services.storage import files, keyed_index, local_store

CHUNK = 1024 * 1024


WeakKey = keyed_index.WeakKey


def dedup_key(recipients: list[str]) -> bytes:
    """The HMAC key for files encrypted to these recipients; WeakKey for a configured key too short."""
    label = "backup-console dedup\n" + "\n".join(sorted(recipients))
    return hmac.new(keyed_index.secret(), label.encode(), hashlib.sha256).digest()


def keyed_hash(key: bytes, path: Path) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            mac.update(chunk)
    return mac.hexdigest()


@dataclass
class Sealed(local_store.Shared):
    """What sealing one backup folder did: the store's counts (linked, added, added_bytes, plain), and the
    files whose encrypted copy was fetched from object storage (storage/keyed_index.py). Those are new on
    this host's disk but not to the stores, so they are not in added_bytes."""

    fetched: int = 0


def seal(plain: Path, out: Path, recipients: list[str], *, share: bool, bucket=None) -> Sealed:
    """Each file of `plain` into `out` as `<name>.age` (out exists, private and empty); plaintext removed as it goes.

    share: look the content up in the store and add new encrypted files to it (BACKUP_DEDUP).
    bucket: a keyed_index.Lookup of the object storage the backup goes to, asked when the store has no copy.
    """
    key = dedup_key(recipients) if share else None
    sealed = Sealed()
    for name in sorted(os.listdir(plain)):
        source, dest = plain / name, out / (name + age.SUFFIX)
        keyed = keyed_hash(key, source) if key else ""
        if keyed and local_store.keyed_take(keyed, dest):
            sealed.linked += 1
        elif keyed and bucket is not None and (sha := bucket.take(keyed, dest)):
            sealed.fetched += 1
            _keep(sealed, name, local_store.keyed_add(keyed, dest, sha))
        else:
            age.encrypt_file(recipients, source, dest)
            files.fsync_file(dest)
            sealed.added += 1
            sealed.added_bytes += dest.stat().st_size
            if keyed:
                _keep(sealed, name, local_store.keyed_add(keyed, dest, files.sha256_of(dest)[0]))
        os.unlink(source)
    files.fsync_dir(out)
    return sealed


def _keep(sealed: Sealed, name: str, outcome: str) -> None:
    if outcome != "added":
        sealed.plain.append(f"{name}: {outcome}")
