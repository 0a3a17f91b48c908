"""Is a backup file still the one that was made, and does it read to the end?"""

import logging
import os
import subprocess
from dataclasses import dataclass

from backups_app.services.backups.dump import BackupFailed, check_sql_file
from backups_app.services.postgres import binaries
from backups_app.services.postgres.args import pg_restore_list_args, pg_restore_read_all_args
from backups_app.services.postgres.connection import child_env
from backups_app.services.postgres.proc import last_lines, spawn
from backups_app.services.storage.files import sha256_of

log = logging.getLogger(__name__)


@dataclass
class Finding:
    ok: bool
    detail: str


def check_file(backup) -> list[Finding]:
    """Each check in order; stops at the first failure (a damaged file tells nothing more)."""
    path = backup.absolute_path
    if path is None or not path.is_file():
        return [Finding(False, f"the file is missing ({path or 'no path recorded'})")]
    findings = []
    for check in (_size, _checksum, _reads_to_end):
        finding = check(backup, path)
        findings.append(finding)
        if not finding.ok:
            break
    return findings


def _size(backup, path) -> Finding:
    size = os.stat(path).st_size
    if backup.size_bytes is not None and size != backup.size_bytes:
        kind = "truncated" if size < backup.size_bytes else "longer than it was"
        return Finding(False, f"the file is {kind}: {size} bytes, {backup.size_bytes} when it was made")
    return Finding(True, f"size {size} bytes as recorded")


def _checksum(backup, path) -> Finding:
    sha, _ = sha256_of(path)
    if sha != backup.sha256:
        return Finding(False, f"checksum mismatch: the file's sha256 is {sha}, the record says {backup.sha256}; "
                              "the file was damaged or changed after it was made")
    return Finding(True, "sha256 matches the record")


def _reads_to_end(backup, path) -> Finding:
    try:
        if backup.format == "custom":
            choice = read_archive_to_end(path, dump_version=backup.pg_dump_version)
            log.info("verifying backup #%s with %s", backup.pk, choice)
            return Finding(True, f"the archive reads to the end (pg_restore {choice.tool.version}, {choice.why})")
        check_sql_file(path)
    except (BackupFailed, binaries.ToolNotFound) as exc:  # no pg_restore here can read it: say so
        return Finding(False, str(exc))
    return Finding(True, "the archive reads to the end")


def read_archive_to_end(path, *, dump_version: str = "") -> binaries.Choice:
    """pg_restore --list reads only the table of contents; writing the script to nowhere reads every block."""
    choice = binaries.choose_pg_restore(path, dump_version=dump_version)
    tool = choice.tool
    for args in (pg_restore_list_args(tool, path), pg_restore_read_all_args(tool, path)):
        with child_env() as env:
            proc = spawn(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = proc.stderr.read()
        proc.stderr.close()
        if proc.wait() != 0:
            raise BackupFailed(f"the archive does not read to the end: {last_lines(err, 2)}")
    return choice
