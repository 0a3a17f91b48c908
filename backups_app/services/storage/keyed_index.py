"""Which blob in object storage holds the encrypted copy of a content, known by its keyed hash.

    PREFIX/store/keyed/<2 hex>/<keyed hash>.<sha256 of the blob>.<tag>     (empty objects)

age encrypts each time afresh, so an encrypted directory backup shares a
file only by reusing the very ciphertext of an older one (crypto/sealing.py).
On this host that copy is found in the local store's keyed part; when the
storage keeps no local copy, the next recovery's sweep removes it there (no
local backup uses it), and the copy is found here instead: the backup
fetches the blob (checked against its sha256) rather than encrypting again,
so the bucket is sent only the files whose content changed. Unchanged files
are then downloaded once per backup instead of uploaded and stored again.

The names are the same keyed hashes as the local store's: without the
deduplication key they say nothing about the content, only that two
backups to the same public keys share a file (as their shared blob does).
The tag, an HMAC of the other two under that key, makes a name no one
without the key can write: someone who may write to the bucket cannot
pair a content with another file's blob and so slip wrong data into the
next backup (every checksum would still pass); a name whose tag does not
match is ignored.

The key (BACKUP_DEDUP_KEY, the variable BACKUP_DEDUP_KEY_ENV names, 32
characters at least; else the console's SECRET_KEY) is read here, for the
local store's names (crypto/sealing.py) and this index's tags alike.

An upload names its blobs here after its manifest is written, under its
upload lock (blob_sweep.py); a prune deletes the names of the blobs it
deleted. A name whose blob is gone costs one failed look-up: the file is
encrypted afresh and uploaded.
"""

import hashlib
import hmac
import logging
import os
import re
from pathlib import Path

from django.conf import settings

from backups_app.services.storage import blobs, files, local_store
from backups_app.services.storage.objects import StorageError, Store

log = logging.getLogger(__name__)

TOP = "store/keyed"
_LOCAL_NAME = re.compile(r"([0-9a-f]{64})\.([0-9a-f]{64})")  # the local store's keyed part
_NAME = re.compile(r"([0-9a-f]{64})\.([0-9a-f]{64})\.([0-9a-f]{32})")
_EMPTY_SHA = hashlib.sha256(b"").hexdigest()
MIN_KEY_CHARS = 32


class WeakKey(Exception):
    pass


def secret() -> bytes:
    """The deduplication secret; WeakKey for a configured key too short (the message does not hold it)."""
    name = settings.BACKUP_DEDUP_KEY_ENV
    configured = os.environ.get(name, "") if name else ""
    if configured and len(configured) < MIN_KEY_CHARS:
        raise WeakKey(f"the deduplication key in {name} is shorter than {MIN_KEY_CHARS} characters")
    return (configured or settings.SECRET_KEY).encode()


def tag(keyed: str, sha256: str) -> str:
    key = hmac.new(secret(), b"backup-console keyed index", hashlib.sha256).digest()
    return hmac.new(key, f"{keyed}.{sha256}".encode(), hashlib.sha256).hexdigest()[:32]


def entry_key(remote: Store, keyed: str, sha256: str) -> str:
    return remote.key_for(f"{TOP}/{keyed[:2]}/{keyed}.{sha256}.{tag(keyed, sha256)}")


def parse_key(key: str) -> tuple[str, str, str] | None:
    """(keyed hash, blob sha256, tag) an entry's key names; None for a key that is not an entry's."""
    found = _NAME.fullmatch(key.rsplit("/", 1)[-1])
    return found.groups() if found and f"/{TOP}/" in f"/{key}" else None


def listing(remote: Store) -> dict[str, set[str]]:
    """{keyed hash: the sha256 of every blob named for it} of the names whose tag is ours."""
    found: dict[str, set[str]] = {}
    for key in remote.keys(f"{TOP}/"):
        parsed = parse_key(key)
        if parsed and hmac.compare_digest(parsed[2], tag(*parsed[:2])):
            found.setdefault(parsed[0], set()).add(parsed[1])
        elif parsed:
            log.warning("%s is not a name this console wrote (its tag does not match): ignored", remote.url(key))
    return found


class Lookup:
    """The index of one storage, listed once when first asked, for the files of one backup being sealed."""

    def __init__(self, remote: Store):
        self.remote = remote
        self._known: dict[str, set[str]] | None = None

    def take(self, keyed: str, dest: Path) -> str | None:
        """Fetch the blob named for this content into dest (checked); its sha256, or None (nothing is left)."""
        for sha in sorted(self._index().get(keyed, ())):
            try:
                self.remote.fetch(blobs.blob_key(self.remote, sha), dest, sha256=sha)
            except StorageError as exc:  # gone since, or damaged: the file is encrypted afresh
                log.info("sealed file %s… not taken from %s: %s", keyed[:12], self.remote.url(self.remote.key_for(
                    TOP)), exc)
                continue
            files.fsync_file(dest)
            return sha
        return None

    def _index(self) -> dict[str, set[str]]:
        if self._known is None:
            try:
                self._known = listing(self.remote)
            except StorageError as exc:  # the backup goes on; its files are encrypted afresh
                log.warning("cannot list %s: %s", self.remote.url(self.remote.key_for(TOP)), exc)
                self._known = {}
        return self._known


def name_blobs(remote: Store, shas) -> int:
    """Name in the index each of these blobs whose content the local store's keyed part knows; how many new.

    Called by an upload holding its lock, after its manifest is written (the blobs are then named by one).
    """
    wanted = set(shas)
    keyed_of = {sha: keyed for keyed, sha in _local_keyed() if sha in wanted}
    if not keyed_of:
        return 0
    have = {(keyed, sha) for keyed, named in listing(remote).items() for sha in named}
    new = [(keyed, sha) for sha, keyed in sorted(keyed_of.items()) if (keyed, sha) not in have]
    for keyed, sha in new:
        remote.put_bytes(entry_key(remote, keyed, sha), b"", sha256=_EMPTY_SHA)
    return len(new)


def _local_keyed():
    """(keyed hash, sha256) of each encrypted file the local store's keyed part holds."""
    top = local_store.root(local_store.KEYED)
    for sub in sorted(top.iterdir()) if top.is_dir() else ():
        for name in sorted(os.listdir(sub)) if sub.is_dir() else ():
            if found := _LOCAL_NAME.fullmatch(name):
                yield found.group(1), found.group(2)


def delete_unreferenced(remote: Store, referenced: set[str], keep) -> int:
    """Delete the entries whose blob no manifest names (a prune, holding the store); how many.

    keep(): called before each deletion (the prune renews its lease).
    """
    gone = 0
    for key in remote.keys(f"{TOP}/"):
        parsed = parse_key(key)
        if parsed and parsed[1] not in referenced:
            keep()
            remote.delete(key)
            gone += 1
    return gone
