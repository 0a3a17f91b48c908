"""Is a backup file still the one that was made, and does it read to the end?"""

import logging
import os
from dataclasses import dataclass

from backups_app.services.backups.dump import BackupFailed, check_sql_file
from backups_app.services.crypto import age, keys
from backups_app.services.jobs import process
from backups_app.services.postgres import binaries, reading
from backups_app.services.postgres.proc import last_lines
from backups_app.services.storage import layout, manifest
from backups_app.services.storage.files import sha256_of, size_of
from backups_app.services.verify import shared

log = logging.getLogger(__name__)


@dataclass
class Finding:
    ok: bool
    detail: str


def check_file(backup) -> list[Finding]:
    """Each check in order; stops at the first failure (a damaged file tells nothing more)."""
    path = backup.absolute_path
    folder = backup.format == "directory"
    if path is None or not (path.is_dir() if folder else path.is_file()):
        what = "folder" if folder else "file"
        return [Finding(False, f"the {what} is missing on host {process.host()} ({path or 'no path recorded'})")]
    findings = []
    # A folder's manifest names the file that changed: a more useful first word than its total size.
    checks = (_checksum, _size, _reads_to_end) if folder else (_size, _checksum, _reads_to_end)
    for check in checks:
        finding = check(backup, path)
        findings.append(finding)
        if not finding.ok:
            break
    return findings


def _size(backup, path) -> Finding:
    size = size_of(path) if backup.format == "directory" else os.stat(path).st_size
    if backup.size_bytes is not None and size != backup.size_bytes:
        kind = "truncated" if size < backup.size_bytes else "longer than it was"
        what = "folder's files are" if backup.format == "directory" else "file is"
        return Finding(False, f"the {what} {kind}: {size} bytes, {backup.size_bytes} when it was made")
    return Finding(True, f"size {size} bytes as recorded")


def _checksum(backup, path) -> Finding:
    if backup.format == "directory":
        check = manifest.check(path, backup.sha256)
        users = shared.users_of(backup, check.changed) if check.changed else []
        if users:
            shared.mark_failed(users, backup=backup, names=check.changed)
            names = ", ".join(f"#{i}" for i in users)
            return Finding(False, f"{check.detail}; the same damaged file is part of backups {names}, "
                                  "whose verification fails with it")
        return Finding(check.ok, check.detail)
    sha, _ = sha256_of(path)
    if sha != backup.sha256:
        return Finding(False, f"checksum mismatch: the file's sha256 is {sha}, the record says {backup.sha256}; "
                              "the file was damaged or changed after it was made")
    return Finding(True, "sha256 matches the record")


def _reads_to_end(backup, path) -> Finding:
    if backup.encrypted:
        return _decrypts_and_reads_to_end(backup, path)
    try:
        if backup.format in layout.ARCHIVE_FORMATS:
            choice = read_archive_to_end(path, dump_version=backup.pg_dump_version)
            log.info("verifying backup #%s with %s", backup.pk, choice)
            return Finding(True, f"the archive reads to the end (pg_restore {choice.tool.version}, {choice.why})")
        check_sql_file(path)
    except (BackupFailed, binaries.ToolNotFound) as exc:  # no pg_restore here can read it: say so
        return Finding(False, str(exc))
    return Finding(True, "the archive reads to the end")


def _decrypts_and_reads_to_end(backup, path) -> Finding:
    """Without the private key the checksum is all there is; with it, every chunk is decrypted and read."""
    if not keys.identity_configured():
        return Finding(True, "encrypted: no private key is configured here, so the archive inside was not read "
                             "(the sha256 above shows the stored bytes are intact)")
    try:
        read_encrypted_to_end(backup.format, path, dump_version=backup.pg_dump_version)
    except (BackupFailed, binaries.ToolNotFound, keys.KeyMissing, age.CryptoFailed) as exc:
        return Finding(False, str(exc))
    return Finding(True, "decrypted with the configured key; the archive reads to the end")


def read_encrypted_to_end(fmt: str, path, *, dump_version: str = "") -> None:
    """age --decrypt | pg_restore (or the decompressor), streamed: no plaintext touches the disk.

    An encrypted directory backup is decrypted into a private copy (every
    file authenticated) that pg_restore then reads to the end.
    """
    if fmt == "directory":
        with age.decrypted_copy(path) as copy:
            read_archive_to_end(copy, dump_version=dump_version)
        return
    decryption = age.Decryption(path)
    try:
        if fmt == "custom":
            tool = binaries.pg_restore_for(None, dump_version=dump_version)
            read = reading.read_archive_to_end(tool, None, stdin=decryption.stdout)
        else:
            check_sql_file(age.plain(path), stdin=decryption.stdout)
            read = None
    except BaseException:
        decryption.finish(reader_done_early=True)
        raise
    decryption.finish()  # a damaged or changed file fails here, whatever the reader made of it
    if read is not None and not read.ok:
        raise BackupFailed(f"the decrypted archive does not read to the end: {last_lines(read.stderr, 2)}")


def read_archive_to_end(path, *, dump_version: str = "") -> binaries.Choice:
    """pg_restore --list reads only the table of contents; writing the script to nowhere reads every block."""
    choice = binaries.choose_pg_restore(path, dump_version=dump_version)
    read = reading.read_archive_to_end(choice.tool, path)
    if not read.ok:
        raise BackupFailed(f"the archive does not read to the end: {last_lines(read.stderr, 2)}")
    return choice
