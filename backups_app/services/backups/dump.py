"""Backups: pg_dump into a private temporary file, verified, then published.

A file under its final name is always complete and verified; anything else
is removed and the record ends `failed` with pg_dump's own words.

Custom archives are written by pg_dump itself (--file) and hashed in one
streaming pass right after; plain SQL is piped through the compressor and
hashed while it is written. Neither is ever held in memory.
"""

import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from django.conf import settings

from backups_app.models import BackupRecord, BackupStatus
from backups_app.services.backups import backup_log, globals_dump, preflight, row_counts
from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.jobs import stopping
from backups_app.services.monitoring import anomaly
from backups_app.services.postgres import binaries
from backups_app.services.postgres.args import (
    COMPRESSORS,
    UnsupportedSetting,
    custom_compression,
    pg_dump_args,
    pg_restore_list_args,
)
from backups_app.services.postgres.connection import Conn, ConnectionFailed, child_env, conn_for, server_info
from backups_app.services.postgres.proc import Drain, last_lines, run, spawn
from backups_app.services.postgres.scrub import scrub
from backups_app.services.storage import files, layout, offsite

log = logging.getLogger(__name__)

SQL_DUMP_TRAILER = b"PostgreSQL database dump complete"


class BackupFailed(Exception):
    """A backup could not be made; the message is one readable, secret-free line."""


def backup_create(*, target, backup_type: str, fmt: str, started_by: str = "",
                  requested_by=None, schedule=None, is_safety_backup: bool = False) -> BackupRecord:
    """A queued backup row; the work happens in backup_execute."""
    return BackupRecord.objects.create(
        target=target, backup_type=backup_type, format=fmt, status=BackupStatus.QUEUED,
        started_by=started_by[:150], requested_by=requested_by, schedule=schedule,
        is_safety_backup=is_safety_backup,
    )


def backup_execute_locked(*, record_id: int) -> BackupRecord:
    """backup_execute for a caller that already holds the target's lock (a restore's safety backup)."""
    record = BackupRecord.objects.select_related("target").get(pk=record_id)
    progress = _Progress()
    with jobs.running(record, progress=progress.size):
        _run(record, progress)
    return record


def backup_execute(*, record_id: int, lock_wait: float | None = None,
                   defer_when_busy: bool = False) -> BackupRecord:
    """Run a queued backup when its target is free, and end it.

    One backup or restore per target at a time (jobs.turn): a backup that
    would wait too long is refused with the reason. With defer_when_busy the
    wait is short and jobs.TargetBusy leaves the row queued for the queue to
    try again; jobs.NotQueued means another worker has it already.
    """
    record = BackupRecord.objects.select_related("target").get(pk=record_id)
    progress = _Progress()
    try:
        with jobs.turn(record, target=record.target, progress=progress.size, defer=defer_when_busy,
                       wait_seconds=lock_wait):
            _run(record, progress)
    except jobs.TargetBusy as exc:
        if not exc.final:
            raise
        _refuse(record, str(exc))
    except BaseException as exc:
        # Interrupted while waiting for the target: the row must not stay `running`.
        record.refresh_from_db(fields=["status"])
        if record.status == BackupStatus.RUNNING:
            _fail(record, stopping.interrupted("backup", exc), secrets=())
        raise
    return record


def _run(record: BackupRecord, progress) -> None:
    conn = conn_for(record.target)
    partial = None
    try:
        info, tool, final = _prepare(record, conn)
        partial = progress.path = layout.partial_path(final, record.pk)
        # Optional exact row counts, taken in the snapshot pg_dump is given.
        with row_counts.snapshot(record, conn) as snapshot:
            sha, size, compression = _dump(record, conn, tool, partial, snapshot)
        _verify_archive(record, tool, partial)
        jobs.ensure_running(record)
        # Roles and tablespaces beside the dump, published with it.
        with globals_dump.beside(record, conn, final):
            files.publish(partial, final)
    except (BackupFailed, ConnectionFailed, binaries.ToolNotFound, UnsupportedSetting, preflight.NoSpace,
            globals_dump.GlobalsFailed, jobs.JobLost) as exc:
        _fail(record, str(exc), secrets=conn.secrets(), partial=partial)
        return
    except OSError as exc:
        where = partial.parent if partial else exc.filename
        _fail(record, f"cannot write the backup file in {where}: {exc.strerror or exc}",
              secrets=conn.secrets(), partial=partial)
        return
    except BaseException as exc:
        _fail(record, stopping.interrupted("backup", exc), secrets=conn.secrets(), partial=partial)
        raise
    jobs.finish(record, ok=True, path=layout.relative(final), size_bytes=size, sha256=sha,
                compression=compression, bytes_written=size, **offsite.pending(record))
    anomaly.flag_size_anomaly(record=record)
    _log_attempt(record, conn.secrets())
    log.info("backup #%s succeeded: %s (%s bytes)", record.pk, record.path, size)
    # Published and read back: only now may it leave the machine. A failed upload never fails the backup.
    offsite.after_backup(record)


class _Progress:
    """Bytes written so far, read by the heartbeat thread."""

    path = None

    def size(self):
        return _size_or_none(self.path)


def _size_or_none(path):
    try:
        return path.stat().st_size if path else None
    except OSError:
        return None


def _prepare(record: BackupRecord, conn: Conn):
    """Everything that can fail before a byte is written: server, tools, space, folder."""
    info = server_info(conn)
    tool = binaries.pg_dump_for(info.major, server_version=info.version)
    record.server_version, record.pg_dump_version = info.version, tool.version
    record.extensions = info.extensions
    BackupRecord.objects.filter(pk=record.pk).update(
        server_version=info.version, pg_dump_version=tool.version, extensions=info.extensions
    )
    folder = layout.type_dir(record.backup_type)
    if folder.exists() and not folder.is_dir():
        raise BackupFailed(f"cannot use {folder} as the backup folder: it is a file, not a folder")
    layout.ensure_dir(folder)
    suffix = layout.FORMAT_SUFFIX["custom" if record.format == "custom" else _sql_compressor()[0]]
    final = folder / layout.backup_filename(
        dbname=conn.dbname, backup_type=record.backup_type, suffix=suffix, record_id=record.pk,
        when=record.created_at,
    )
    if settings.BACKUP_PREFLIGHT:
        preflight.check_free_space(target=record.target, fmt=record.format, folder=folder,
                                   database_size=info.database_size)
    return info, tool, final


def _sql_compressor():
    name = settings.BACKUP_SQL_COMPRESSION
    if name not in COMPRESSORS:
        raise BackupFailed(f"BACKUP_SQL_COMPRESSION must be gzip or zstd, not {name!r}")
    compressor = COMPRESSORS[name]
    args, test = compressor.compress, compressor.decompress
    path = shutil.which(args[0])
    if not path:
        raise BackupFailed(f"{args[0]} is not installed; it compresses plain SQL backups")
    return compressor.key, [path, *args[1:]], [shutil.which(test[0]), *test[1:]]


def _dump(record, conn, tool, partial: Path, snapshot=None):
    with child_env(conn) as env:
        if record.format == "custom":
            return _dump_custom(conn, tool, partial, env, snapshot)
        return _dump_sql(conn, tool, partial, env, snapshot)


def _dump_custom(conn, tool, partial: Path, env, snapshot=None):
    # pg_dump writes the archive itself: written to a pipe, a custom archive
    # has no data offsets and pg_restore could not restore it in parallel or
    # pick single tables efficiently. So we hash it in one pass afterwards.
    files.create_private(partial).close()
    compression = custom_compression(tool)
    proc = run(pg_dump_args(tool, conn, "custom", snapshot, file=partial), env=env)
    _check_exit(tool.path, proc.returncode, proc.stderr, conn)
    sha, size = files.sha256_of(partial)
    return sha, size, f"gzip:{compression}" if compression.isdigit() else compression


def _dump_sql(conn, tool, partial: Path, env, snapshot=None):
    """pg_dump | compressor | (sha256 + file), streamed in fixed-size chunks."""
    _, compress_args, _ = _sql_compressor()
    digest, size = hashlib.sha256(), 0
    with files.create_private(partial) as out:
        dump = spawn(pg_dump_args(tool, conn, "sql", snapshot), env=env, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
        try:
            comp = spawn(compress_args, env=env, stdin=dump.stdout, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        except BaseException:
            _stop(dump)
            raise
        dump.stdout.close()  # the compressor alone reads it now
        dump_err = Drain(dump.stderr)
        comp_err = Drain(comp.stderr)
        try:
            while chunk := comp.stdout.read(files.CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
        except BaseException:
            # Disk full, or interrupted: nobody will read the rest.
            _stop(dump, comp)
            raise
        finally:
            comp.stdout.close()
            dump.wait()
            comp.wait()
            dump_err.join()
            comp_err.join()
    _check_exit(tool.path, dump.returncode, dump_err.data, conn)
    _check_exit(compress_args[0], comp.returncode, comp_err.data, conn)
    return digest.hexdigest(), size, f"{Path(compress_args[0]).name}:{compress_args[1].lstrip('-')}"


def _stop(*procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _check_exit(name: str, returncode: int, stderr: bytes, conn: Conn) -> None:
    if returncode == 0:
        return
    name = Path(name).name
    if returncode < 0:
        message = f"{name} was killed by signal {-returncode}{_signal_name(-returncode)}"
    else:
        message = one_line(stderr) or f"{name} failed with exit status {returncode}"
    raise BackupFailed(scrub(message, conn.secrets()))


def _signal_name(number: int) -> str:
    try:
        return f" ({signal.Signals(number).name})"
    except ValueError:
        return ""


_COMMAND_ECHO = re.compile(r"^\S+: detail: Command was:")


def one_line(stderr: bytes | str, limit: int = 1000) -> str:
    """A program's own error words on one line, without the echo of the SQL it ran."""
    lines = [line for line in last_lines(stderr, 12).splitlines() if not _COMMAND_ECHO.match(line)]
    return " ".join(" ".join(lines).split())[:limit]


def _verify_archive(record, tool, partial: Path) -> None:
    """A backup is only good if it reads back to the end."""
    if record.format == "custom":
        # The pg_restore that reads what this pg_dump writes.
        restore = binaries.pg_restore_for(partial, server_major=tool.major)
        with child_env() as env:
            proc = run(pg_restore_list_args(restore, partial), env=env)
        if proc.returncode != 0:
            raise BackupFailed("the new archive does not read back: " + one_line(proc.stderr))
        return
    check_sql_file(partial)


def check_sql_file(path: Path) -> None:
    """Decompress to the end and insist on pg_dump's closing line."""
    name = "zstd" if path.name.endswith(".zst") or ".sql.zst" in path.name else "gzip"
    test_args = COMPRESSORS[name].decompress
    with child_env() as env:
        proc = spawn([shutil.which(test_args[0]), *test_args[1:], str(path)], env=env,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = Drain(proc.stderr)
    tail = b""
    while chunk := proc.stdout.read(files.CHUNK):
        tail = (tail + chunk)[-4096:]
    proc.stdout.close()
    proc.wait()
    err.join()
    if proc.returncode != 0:
        raise BackupFailed(f"the SQL file does not decompress: {one_line(err.data)}")
    if SQL_DUMP_TRAILER not in tail:
        raise BackupFailed("the SQL file is incomplete: pg_dump's closing line is missing")


def _refuse(record, message: str) -> None:
    jobs.refuse(record, message)
    log.warning("backup #%s refused: %s", record.pk, message)
    try:
        backup_log.append(record)
    except OSError:
        log.exception("cannot write backup_log.txt")


def _fail(record, message: str, *, secrets, partial: Path | None = None) -> None:
    if partial is not None and os.path.lexists(partial):
        try:
            files.remove_quietly(partial)
        except OSError as exc:  # e.g. the file system went read-only: still end the record
            log.warning("cannot remove %s: %s", partial, exc.strerror or exc)
    record.error = scrub(message, secrets)
    jobs.finish(record, ok=False, error=record.error)
    log.warning("backup #%s failed: %s", record.pk, record.error)
    _log_attempt(record, secrets)


def _log_attempt(record, secrets) -> None:
    # backup_log.txt sits in the same folder tree: when the disk is full or
    # read-only it cannot be written either, and that must not hide the result.
    try:
        backup_log.append(record, secrets=secrets)
    except OSError as exc:
        log.warning("cannot write backup_log.txt: %s", exc.strerror or exc)

