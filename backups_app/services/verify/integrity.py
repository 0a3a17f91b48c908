"""Is a backup file still the one that was made, and does it read to the end?"""

import os
import subprocess
from dataclasses import dataclass

from backups_app.services.backups.dump import BackupFailed, check_sql_file
from backups_app.services.postgres import binaries
from backups_app.services.postgres.args import pg_restore_list_args, pg_restore_read_all_args
from backups_app.services.postgres.connection import child_env
from backups_app.services.postgres.proc import last_lines, spawn
from backups_app.services.storage import layout, manifest
from backups_app.services.storage.files import sha256_of, size_of


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
        return [Finding(False, f"the {what} is missing ({path or 'no path recorded'})")]
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
        return Finding(check.ok, check.detail)
    sha, _ = sha256_of(path)
    if sha != backup.sha256:
        return Finding(False, f"checksum mismatch: the file's sha256 is {sha}, the record says {backup.sha256}; "
                              "the file was damaged or changed after it was made")
    return Finding(True, "sha256 matches the record")


def _reads_to_end(backup, path) -> Finding:
    try:
        if backup.format in layout.ARCHIVE_FORMATS:
            read_archive_to_end(path)
        else:
            check_sql_file(path)
    except BackupFailed as exc:
        return Finding(False, str(exc))
    return Finding(True, "the archive reads to the end")


def read_archive_to_end(path) -> None:
    """pg_restore --list reads only the table of contents; writing the script to nowhere reads every block."""
    tool = binaries.pg_restore_for(path)
    for args in (pg_restore_list_args(tool, path), pg_restore_read_all_args(tool, path)):
        with child_env() as env:
            proc = spawn(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = proc.stderr.read()
        proc.stderr.close()
        if proc.wait() != 0:
            raise BackupFailed(f"the archive does not read to the end: {last_lines(err, 2)}")
