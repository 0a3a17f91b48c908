"""A folder on another host over SFTP (paramiko), behind objects.Store.

- A key is a file under the storage's path (its prefix): an absolute path
  on the server, or one relative to the login folder. The path must exist
  (the console never creates it, as it never creates a bucket); the folders
  below it (database/daily/...) are made as needed.
- Atomic publish: an upload writes `.NAME.partial-TOKEN` beside the final
  name, reads it back through SFTP hashed (SFTP servers keep no checksum of
  their own, so the read-back is the check), writes the label
  `NAME.sha256` (sha256sum's format: `sha256sum -c` checks it on the
  server) and only then renames the checked file to NAME. A name is never a
  partial file; abort_unfinished removes the temporary files an interrupted
  upload left.
- The server is known or refused: its host key must be in the storage's
  known_hosts file (default: ~/.ssh/known_hosts of the user running the
  console); an unknown or changed key fails before anything is sent. The
  private key file is the one whose path is in the variable the storage
  names; no password, no agent, no other key is tried.
- One connection per storage and thread, made again when it dropped.

What the account needs on the server is in docs/offsite-sftp.md.
"""

import contextlib
import errno
import hashlib
import os
import posixpath
import secrets
import stat
import threading
from pathlib import Path

from backups_app.services.storage import objects
from backups_app.services.storage.objects import ChecksumMismatch, ObjectInfo, StorageError, VerifiedReader

NEEDS = {"write": "write and rename files in the path", "look up": "read", "read": "read",
         "list": "list folders", "unfinished": "remove files", "delete": "remove files"}
LABEL = objects.LABEL
CONFIRMED = "confirmed by reading it back from the server (sha256) before it took its name"
BLOCK = 32 * 1024  # SFTP's own request size
WINDOW = 128  # requests in flight while reading: 4 MiB, fast on a link with latency, bounded in memory


class SftpStore(objects.Store):
    kind = "sftp"
    needs = NEEDS
    unfinished = "temporary file"
    no_checksum = "the server keeps no checksum: uploads are read back before they take their name"

    # -- names ---------------------------------------------------------------------
    def remote(self, key: str) -> str:
        return f"/{key}" if self.storage.prefix.startswith("/") else key

    def _key(self, remote: str) -> str:
        return remote[1:] if self.storage.prefix.startswith("/") else remote

    def base(self) -> str:
        return self.remote(self.key_for("")).rstrip("/") or ("/" if self.storage.prefix.startswith("/") else ".")

    # -- the calls -----------------------------------------------------------------
    def put_file(self, path: Path, key: str, *, sha256: str) -> ObjectInfo:
        final = self.remote(key)
        folder, name = posixpath.split(final)
        token = secrets.token_hex(4)
        partial = f"{folder}/{objects.partial_name(name, token)}"
        label = f"{folder}/{objects.partial_name(name + LABEL, token)}"
        with _errors(f"cannot upload {path.name} to {self.url(key)}"):
            sftp = self.sftp
            self._makedirs(folder)
            try:
                self._send(path, partial, what=f"cannot upload {path.name} to {self.url(key)}")
                written = self._sha256(partial)
                if written != sha256:
                    raise ChecksumMismatch(f"{self.url(key)}: the file written is not the backup's (its sha256 is "
                                           f"{written}, the record says {sha256}); not published")
                _create_private(sftp, label)
                with sftp.open(label, "wb") as f:
                    f.write(objects.label_line(sha256, name))
                sftp.posix_rename(label, final + LABEL)
                sftp.posix_rename(partial, final)
            except BaseException:
                with contextlib.suppress(Exception):
                    for leftover in (partial, label):
                        _remove(sftp, leftover)
                raise
        info = self.head(key)
        if info is None or info.size != os.stat(path).st_size or info.sha256 != sha256:
            raise StorageError(f"the upload to {self.url(key)} did not land as sent")
        return ObjectInfo(info.key, info.size, info.sha256, "", CONFIRMED)

    def _send(self, path: Path, partial: str, *, what: str) -> None:
        """The file into `partial`, requests pipelined; a server that kept less than was sent is full."""
        size = os.stat(path).st_size
        with open(path, "rb") as local, self.sftp.open(partial, "wb") as remote:
            remote.chmod(0o600)
            remote.set_pipelined(True)
            while chunk := local.read(BLOCK):
                remote.write(chunk)
        kept = self.sftp.stat(partial).st_size
        if kept != size:
            raise StorageError(f"{what}: the server kept {kept} of the {size} bytes sent (its disk or the "
                               "account's quota is full, most often)", cause=objects.SPACE)

    def put_bytes(self, key: str, data: bytes, *, sha256: str) -> None:
        final = self.remote(key)
        folder, name = posixpath.split(final)
        with _errors(f"cannot write {self.url(key)}"):
            self._makedirs(folder)
            for target, body in ((final + LABEL, objects.label_line(sha256, name)), (final, data)):
                partial = f"{folder}/{objects.partial_name(posixpath.basename(target), secrets.token_hex(4))}"
                _create_private(self.sftp, partial)
                with self.sftp.open(partial, "wb") as f:
                    f.write(body)
                self.sftp.posix_rename(partial, target)

    def leave_unfinished(self, key: str) -> bool:
        """A temporary file as a killed upload leaves it (the storage test's), for abort_unfinished to remove."""
        folder, name = posixpath.split(self.remote(key))
        with _errors(f"cannot write a temporary file beside {self.url(key)}"):
            _create_private(self.sftp, f"{folder}/{objects.partial_name(name, secrets.token_hex(4))}")
        return True

    def abort_unfinished(self, key: str) -> int:
        folder, name = posixpath.split(self.remote(key))
        with _errors(f"cannot remove the unfinished uploads of {self.url(key)}"):
            try:
                names = self.sftp.listdir(folder)
            except FileNotFoundError:
                return 0
            left = [n for n in names if objects.is_left_by(name, n)]
            for leftover in left:
                _remove(self.sftp, f"{folder}/{leftover}")
        return sum(1 for n in left if not objects.is_left_by(name + LABEL, n))

    def head(self, key: str) -> ObjectInfo | None:
        final = self.remote(key)
        with _errors(f"cannot look up {self.url(key)}"):
            try:
                size = self.sftp.stat(final).st_size
            except FileNotFoundError:
                return None
            return ObjectInfo(key, size, self._label(final))

    def _label(self, final: str) -> str:
        try:
            with self.sftp.open(final + LABEL, "rb") as f:
                words = f.read(200).split()
        except FileNotFoundError:
            return ""
        return words[0].decode(errors="replace") if words else ""

    def open(self, key: str, *, sha256: str = "") -> VerifiedReader:
        final = self.remote(key)
        with _errors(f"cannot read {self.url(key)}"):
            try:
                size = self.sftp.stat(final).st_size
            except FileNotFoundError:
                raise StorageError(f"cannot read {self.url(key)}: there is no such file", cause=objects.PATH) from None
            label = self._label(final)
            self.check_label(key, label, sha256)
            handle = self.sftp.open(final, "rb")
        return VerifiedReader(_chunks(handle, size), size=size, expected=sha256 or label, what=self.url(key),
                              errors=_errors, closer=handle.close)

    def _sha256(self, remote: str) -> str:
        digest = hashlib.sha256()
        with self.sftp.open(remote, "rb") as handle:
            for chunk in _chunks(handle, handle.stat().st_size):
                digest.update(chunk)
        return digest.hexdigest()

    def delete(self, key: str) -> None:
        final = self.remote(key)
        with _errors(f"cannot delete {self.url(key)}"):
            for name in (final, final + LABEL):
                _remove(self.sftp, name)

    def keys(self, prefix: str = "") -> list[str]:
        top = self.remote(self.key_for(prefix)).rstrip("/")
        with _errors(f"cannot list {self.url(self.key_for(prefix))}"):
            if not self._exists(self.base()):
                raise StorageError(f"cannot list {self.url(self.key_for(prefix))}: the server has no folder "
                                   f"{self.base()}", cause=objects.PATH)
            return sorted(self._key(p) for p in self._walk(top))

    def unfinished_under(self, prefix: str) -> list[str]:
        top = self.remote(self.key_for(prefix)).rstrip("/")
        with _errors(f"cannot list {self.url(self.key_for(prefix))}"):
            return sorted({self._key(f"{posixpath.dirname(p)}/{objects.left_for(posixpath.basename(p))}")
                           for p in self._walk(top, left=True)})

    def _walk(self, folder: str, *, left: bool = False):
        try:
            entries = self.sftp.listdir_attr(folder)
        except FileNotFoundError:
            return
        for entry in entries:
            path = f"{folder}/{entry.filename}"
            if stat.S_ISDIR(entry.st_mode or 0):
                yield from self._walk(path, left=left)
            elif stat.S_ISREG(entry.st_mode or 0) and (
                    objects.left_for(entry.filename) if left else objects.is_object_file(entry.filename)):
                yield path

    def _exists(self, path: str) -> bool:
        try:
            self.sftp.stat(path)
        except FileNotFoundError:
            return False
        return True

    def _makedirs(self, folder: str) -> None:
        """Folders below the storage's path as needed; the path itself must be there."""
        base = self.base()
        if not self._exists(base):
            raise StorageError(f"the server has no folder {base}", cause=objects.PATH)
        below = posixpath.relpath(folder, base) if folder != base else "."
        current = base
        for part in [] if below == "." else below.split("/"):
            current = posixpath.join(current, part)
            if not self._exists(current):
                with contextlib.suppress(OSError):  # made meanwhile by another upload: the stat below says
                    self.sftp.mkdir(current, mode=0o700)
                if not self._exists(current):
                    raise StorageError(f"cannot make the folder {current}", cause=objects.PERMISSION)

    def explain(self, step: str, need: str, error: StorageError) -> str:
        s = self.storage
        where = f"{s.username}@{s.host}:{s.port or 22}"
        return {
            objects.CREDENTIALS: f"credentials: {where} does not accept the key: {error}",
            objects.HOST_KEY: f"host key: {error}",
            objects.PATH: f"path: {s.host} has no folder {self.base()}; create it first (docs/offsite-sftp.md), "
                          "or correct the storage's path",
            objects.PERMISSION: f"permission: {s.username} may not {step} in {self.url(self.key_for(''))} "
                                f"(it needs to {need}): {error}",
            objects.SPACE: f"space: {error}",
            objects.ENDPOINT: f"endpoint: cannot reach {s.host}:{s.port or 22}: {error}",
        }.get(error.cause, f"{error.cause}: {error}" if error.cause else f"{step} failed: {error}")

    def close(self) -> None:
        _forget(self.storage)

    @property
    def sftp(self):
        return connection_for(self.storage)


def _create_private(sftp, path: str) -> None:
    with sftp.open(path, "wb") as f:
        f.chmod(0o600)


def _remove(sftp, path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        sftp.remove(path)


def _chunks(handle, size: int):
    """The file's bytes in SFTP's own 32 KiB pieces, WINDOW requests in flight at a time (paramiko's readv):
    a window of the file in memory, never more, and no copy of it joined."""
    offset = 0
    while offset < size:
        length = min(BLOCK * WINDOW, size - offset)
        yield from handle.readv([(offset + i, min(BLOCK, length - i)) for i in range(0, length, BLOCK)])
        offset += length


# -- connections ------------------------------------------------------------------------

_local = threading.local()


def _ident(storage) -> tuple:
    return (storage.host, storage.port or 22, storage.username, storage.key_file_env, storage.known_hosts_file)


def connection_for(storage):
    """This thread's SFTP session with the storage's server; a new one when there is none or it dropped."""
    sessions = _local.__dict__.setdefault("sessions", {})
    ident = _ident(storage)
    held = sessions.get(ident)
    if held is not None and held[0].get_transport() is not None and held[0].get_transport().is_active():
        return held[1]
    _forget(storage)
    client = connect(storage)
    sftp = client.open_sftp()
    sftp.get_channel().settimeout(120)
    sessions[ident] = (client, sftp)
    return sftp


def _forget(storage) -> None:
    held = _local.__dict__.setdefault("sessions", {}).pop(_ident(storage), None)
    if held is not None:
        with contextlib.suppress(Exception):
            held[0].close()


def connect(storage):
    import paramiko

    where = f"{storage.host}:{storage.port or 22}"
    known = known_hosts(storage)
    client = paramiko.SSHClient()
    with _errors(f"cannot connect to {where}"):
        try:
            client.load_host_keys(known)
        except FileNotFoundError:
            raise StorageError(f"{where}: there is no known_hosts file {known} to check its host key against "
                               "(the console never accepts a host key unseen)", cause=objects.HOST_KEY) from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(storage.host, port=storage.port or 22, username=storage.username,
                       key_filename=key_file(storage), look_for_keys=False, allow_agent=False, timeout=15,
                       banner_timeout=15, auth_timeout=15)
    client.get_transport().set_keepalive(30)
    return client


def known_hosts(storage) -> str:
    return os.path.expanduser(storage.known_hosts_file or "~/.ssh/known_hosts")


def key_file(storage) -> str:
    return objects.key_file(storage, required=True)


class _errors(objects.Failures):
    """paramiko's and the network's failures as StorageError with a cause; the session is dropped after one
    that may have broken it, so the next call connects again."""

    def failure(self, exc):
        cause, reason = classify(exc)
        if cause is None:
            return None
        if cause in (objects.CONNECTION, objects.ENDPOINT):
            _local.__dict__.setdefault("sessions", {}).clear()
        return StorageError(f"{self.doing}: {objects.one_line(reason)}", cause=cause)


def classify(exc) -> tuple[str | None, str]:
    """(cause, reason in words) of a failure; cause None when it is not the server's (a bug: let it through)."""
    import socket

    import paramiko

    if isinstance(exc, paramiko.BadHostKeyException):
        return objects.HOST_KEY, (f"the server's host key is not the one in known_hosts ({exc.key.get_name()} "
                                  f"{exc.key.get_fingerprint().hex()}): another server, or its key changed")
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        return objects.HOST_KEY, f"{exc} (the console never accepts a host key unseen: add it with ssh-keyscan)"
    if isinstance(exc, (paramiko.AuthenticationException, paramiko.PasswordRequiredException)):
        return objects.CREDENTIALS, f"the server refused the key ({exc})"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) or isinstance(
            exc, (ConnectionRefusedError, socket.gaierror, socket.timeout)):
        return objects.ENDPOINT, str(exc)
    if isinstance(exc, (EOFError, paramiko.SSHException, ConnectionError)):
        return objects.CONNECTION, f"the connection was lost ({type(exc).__name__}: {exc or 'closed'})"
    if isinstance(exc, PermissionError) or getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM, errno.EROFS):
        return objects.PERMISSION, f"the server refused it: {exc.strerror or exc}"
    if isinstance(exc, FileNotFoundError):
        return objects.PATH, f"no such file or folder on the server: {exc.filename or exc}"
    if isinstance(exc, OSError) and str(exc) in ("Failure", "[Errno None] Failure"):
        return objects.SPACE, ("the server could not write the file (SFTP says only 'Failure': its disk or the "
                               "account's quota is full, most often)")
    if isinstance(exc, OSError):
        return objects.CONNECTION if exc.errno is None else "", str(exc)
    return None, ""
