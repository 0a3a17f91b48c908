"""Running Debian's `age` program: encrypt a stream into a file, decrypt a file as a stream or into a private copy.

age authenticates every 64 kB chunk and marks the last one, so a changed,
cut or swapped byte fails decryption instead of giving wrong data. Public
keys go on argv (they are not secrets); the private key reaches age through
an inherited pipe (keys.identity_fd), never argv or the environment.

Every reader is fed by a stream (stdin_for, feed). A decrypted copy exists
only while a parallel restore (pg_restore --jobs, whose workers each open
and seek in the file; restores/run.py) runs: a 0600 file in a 0700 folder
under BACKUP_SCRATCH_DIR, removed when the restore ends; copies left by a
killed worker are removed by the next one (the folder is named after its pid).
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from backups_app.services.crypto import keys
from backups_app.services.postgres.connection import child_env
from backups_app.services.postgres.proc import Drain, last_lines, spawn

SUFFIX = ".age"
COPY_PREFIX = "bc-decrypted-"


class CryptoFailed(Exception):
    """Encrypting or decrypting failed; the message is one readable line."""


class DecryptFailed(CryptoFailed):
    pass


def is_encrypted(path) -> bool:
    return path is not None and Path(path).name.endswith(SUFFIX)


def plain(path) -> Path:
    """The name the file has without encryption (pagila.sql.gz.age: pagila.sql.gz), e.g. to pick its decompressor."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(SUFFIX))


def program() -> str:
    path = shutil.which("age")
    if not path:
        raise CryptoFailed("the age program is not installed; it encrypts and decrypts backups (apt-get install age)")
    return path


def encrypt_args(recipients: list[str], output=None) -> list[str]:
    args = [program()]
    for key in recipients:
        args += ["--recipient", key]
    return [*args, "--output", str(output)] if output is not None else args


def spawn_encrypt(recipients: list[str], output=None, *, stdin) -> subprocess.Popen:
    """age reading plaintext from stdin and writing the encrypted file `output` itself.

    output None: the ciphertext comes out of `.stdout` (a pipe), e.g. for an upload.
    """
    with child_env() as env:
        return spawn(encrypt_args(recipients, output), env=env, stdin=stdin,
                     stdout=subprocess.DEVNULL if output is not None else subprocess.PIPE, stderr=subprocess.PIPE)


def encrypt_file(recipients: list[str], source: Path, output: Path) -> None:
    """One file encrypted into another (a directory backup's file, crypto/sealing.py); CryptoFailed on failure."""
    with child_env() as env:
        proc = spawn([*encrypt_args(recipients, output), str(source)], env=env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise CryptoFailed(encrypt_error(err))


def encrypt_error(stderr: bytes) -> str:
    return "age could not encrypt the backup: " + _age_words(stderr)


def decrypt_error(stderr: bytes) -> str:
    """age's words, said so that an operator knows what to do."""
    words = _age_words(stderr)
    if "no identity matched" in words:
        return ("the backup is encrypted to other keys: the private key configured here "
                "(BACKUP_AGE_IDENTITY_FILE / BACKUP_AGE_IDENTITY_ENV) is not one it was encrypted for")
    if "reading" in words and ("identity" in words or "/dev/fd/" in words):
        return "the configured age private key cannot be read: " + re.sub(r'"/dev/fd/\d+"', "the key", words)
    if "authenticate" in words or "header" in words or "unexpected EOF" in words:
        return f"the encrypted backup file is damaged or was changed (age: {words})"
    return f"age could not decrypt the backup: {words}"


def _age_words(stderr: bytes) -> str:
    lines = [line.removeprefix("age: error: ").removeprefix("age: ") for line in last_lines(stderr, 6).splitlines()
             if "report unexpected or unhelpful errors" not in line]
    return " ".join(lines)[:500] or "no message"


class Decryption:
    """age --decrypt of a file, its plaintext on `.stdout`; end with finish(), which raises DecryptFailed.

    path None: the ciphertext is read from `stdin` instead (a stream, e.g. a download).
    """

    def __init__(self, path=None, *, stdin=None):
        source = [str(path)] if path is not None else []
        with keys.identity_fd() as fd, child_env() as env:
            self.proc = spawn([program(), "--decrypt", "--identity", f"/dev/fd/{fd}", *source], env=env,
                              stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(fd,))
        self.stdout = self.proc.stdout
        self._err = Drain(self.proc.stderr)

    def finish(self, *, reader_done_early: bool = False) -> None:
        """Wait for age; DecryptFailed when age itself failed (wrong key, damaged file).

        A reader that stops early (a table of contents is at the start) ends
        age with SIGPIPE or our kill: that is not a failure.
        """
        self.stdout.close()
        if reader_done_early and self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._err.join()
        if self.proc.returncode > 0 or (self.proc.returncode < 0 and not reader_done_early and
                                        self.proc.returncode != -signal.SIGPIPE):
            raise DecryptFailed(decrypt_error(self._err.data))


@contextlib.contextmanager
def stdin_for(path, *, whole: bool = False):
    """The archive as a stream for one reader's stdin when it is encrypted; None when the reader can open the file.

    whole: the reader reads to the end (a restore), so age is waited for
    rather than stopped; a failure of age is raised in place of the
    reader's, whose own error would only say that its input ended.
    """
    if not is_encrypted(path):
        yield None
        return
    d = Decryption(path)
    try:
        yield d.stdout
    except BaseException:
        d.finish(reader_done_early=True)
        raise
    d.finish(reader_done_early=not whole)


@dataclass
class Feed:
    """What a reader of a whole file gets from feed(): stdin None means it opens the file itself."""
    stdin: object = None
    confirm: object = lambda: None


@contextlib.contextmanager
def feed(path):
    """Like stdin_for(whole=True), for a reader whose result is committed by someone else (psql after a script).

    `confirm()` waits for age and raises DecryptFailed unless it decrypted
    and authenticated everything the reader took: call it after the reader
    ended well and before anything is committed.
    """
    if not is_encrypted(path):
        yield Feed()
        return
    d = Decryption(path)
    try:
        yield Feed(d.stdout, d.finish)
    except BaseException:
        d.finish(reader_done_early=True)
        raise
    d.finish()


def decrypt_bytes(path) -> bytes:
    """A small encrypted file's plaintext, in memory (the roles file beside a backup)."""
    d = Decryption(path)
    data = d.stdout.read()
    d.finish()
    return data


def decrypt_to_end(path) -> None:
    """Decrypt the whole file to nowhere: every chunk authenticated, or DecryptFailed."""
    d = Decryption(path)
    while d.stdout.read(1024 * 1024):
        pass
    d.finish()


def scratch_dir() -> Path:
    folder = Path(settings.BACKUP_SCRATCH_DIR or Path(settings.BACKUP_ROOT) / ".scratch")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


@contextlib.contextmanager
def private_scratch():
    """A 0700 folder of this process under BACKUP_SCRATCH_DIR for plaintext, removed when the block ends
    (and by remove_stale_copies once the process is gone, if it was killed)."""
    folder = scratch_dir()
    remove_stale_copies(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f"{COPY_PREFIX}{os.getpid()}-", dir=folder))  # mode 0700
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def decrypt_file(path, out: Path) -> None:
    with keys.identity_fd() as fd, child_env() as env:
        # proc.spawn gives age umask 077: the copy is created 0600.
        proc = spawn([program(), "--decrypt", "--identity", f"/dev/fd/{fd}", "--output", str(out), str(path)],
                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(fd,))
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise DecryptFailed(decrypt_error(err))


@contextlib.contextmanager
def decrypted_copy(path, *, toc_only: bool = False):
    """A private plaintext copy of an encrypted file, for as long as the block runs; then it is removed.

    A folder (an encrypted directory backup: its files end in .age) is copied
    file by file; toc_only: only its table of contents, all pg_restore --list
    and a schema-only script read.
    """
    path = Path(path)
    with private_scratch() as tmp:
        out = tmp / path.name.removesuffix(SUFFIX)
        if not path.is_dir():
            decrypt_file(path, out)
            yield out
            return
        out.mkdir(mode=0o700)
        sealed = [TOC_NAME + SUFFIX] if toc_only else sorted(n for n in os.listdir(path) if n.endswith(SUFFIX))
        for name in sealed:
            decrypt_file(path / name, out / name.removesuffix(SUFFIX))
        yield out


TOC_NAME = "toc.dat"  # a directory archive's table of contents


def sealed_folder(backup) -> bool:
    """An encrypted directory backup: a folder of files each encrypted on its own (crypto/sealing.py)."""
    return bool(backup.encrypted) and backup.format == "directory"


@contextlib.contextmanager
def readable(backup, *, copy: bool = True, toc_only: bool = False):
    """While the block runs, backup.archive_path is a file pg_restore and psql can read (and seek in).

    copy=False: no copy; the archive stays sealed and its readers stream it
    (stdin_for). An encrypted directory backup is always copied: pg_restore
    opens its files by name (toc_only: only its table of contents). Inside
    a block that holds a copy already, that copy is used.
    """
    held = getattr(backup, "decrypted_copy", None)
    if held is not None or not backup.encrypted or not (copy or sealed_folder(backup)):
        yield backup.archive_path
        return
    toc = {"toc_only": True} if toc_only and sealed_folder(backup) else {}
    with decrypted_copy(backup.absolute_path, **toc) as copy:
        backup.decrypted_copy = copy
        try:
            yield copy
        finally:
            backup.decrypted_copy = None


def check_key(path) -> None:
    """DecryptFailed unless the configured private key opens this file (only its header is decrypted)."""
    path = Path(path)
    if path.is_dir():  # an encrypted directory backup: its table of contents
        path = path / (TOC_NAME + SUFFIX)
    d = Decryption(path)
    got = d.stdout.read(1)
    d.finish(reader_done_early=bool(got))


def remove_stale_copies(folder: Path) -> list[Path]:
    """Copies whose worker is gone (killed before it could remove them); those removed."""
    removed = []
    for entry in folder.glob(f"{COPY_PREFIX}*"):
        pid = entry.name.removeprefix(COPY_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
