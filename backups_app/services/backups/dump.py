"""Backups: pg_dump into a private temporary file, verified, then published.

A file under its final name is always complete and verified; anything else
is removed and the record ends `failed` with pg_dump's own words.

Custom archives are written by pg_dump itself (--file) and hashed in one
streaming pass right after; plain SQL is piped through the compressor and
hashed while it is written. Neither is ever held in memory. A directory
archive (pg_dump -Fd, several tables at once) is a folder: it gets a
manifest of its files' checksums (storage/manifest.py) and is published by
renaming the whole folder, so it too is complete under its final name or
absent. Before that, with BACKUP_DEDUP, each of its files whose content an
earlier backup has already stored becomes a hard link to the store's copy
(storage/local_store.py): the folder is still an ordinary pg_dump directory.
An encrypted one is dumped into a private scratch folder, read back there,
and each file encrypted into the backup's folder (crypto/sealing.py).
"""

import errno
import logging
import os
import re
import shutil
import signal
from pathlib import Path

from django.conf import settings

from backups_app.models import BackupRecord, BackupStatus
from backups_app.services.backups import backup_log, globals_dump, preflight, row_counts
from backups_app.services.crypto import age, keys, sealing
from backups_app.services.jobs import fanout, origin, process, progress, stopping
from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.monitoring import anomaly
from backups_app.services.postgres import binaries, dumping, reading
from backups_app.services.postgres.args import COMPRESSORS, UnsupportedSetting, custom_compression, wants_zstd
from backups_app.services.postgres.connection import (
    Conn,
    ConnectionFailed,
    conn_for,
    refuses_clear_text,
    server_info,
    with_clear_text_hint,
)
from backups_app.services.postgres.proc import Ran, last_lines
from backups_app.services.postgres.scrub import scrub
from backups_app.services.storage import files, layout, local_store, manifest, offsite
from backups_app.services.targets import agreement

log = logging.getLogger(__name__)

SQL_DUMP_TRAILER = reading.SQL_DUMP_TRAILER


class BackupFailed(Exception):
    """A backup could not be made; the message is one readable, secret-free line."""


def backup_create(*, target, backup_type: str, fmt: str, started_by: str = "",
                  requested_by=None, schedule=None, is_safety_backup: bool = False,
                  server_run=None) -> BackupRecord:
    """A queued backup row; the work happens in backup_execute. server_run: the server target's run it is part of."""
    return BackupRecord.objects.create(
        target=target, backup_type=backup_type, format=fmt, status=BackupStatus.QUEUED,
        **origin.fields(started_by), requested_by=requested_by, schedule=schedule,
        is_safety_backup=is_safety_backup, server_address=agreement.address(target), server_run=server_run,
    )


def backup_execute_locked(*, record_id: int) -> BackupRecord:
    """backup_execute for a caller that already holds the target's lock (a restore's safety backup)."""
    record = BackupRecord.objects.select_related("target").get(pk=record_id)
    written = _Progress()
    with jobs.running(record, progress=written.size):
        _run(record, written)
    # Still inside the restore's turn: the restore goes on once its safety backup is offsite too.
    _copy_offsite(record)
    return record


def backup_execute(*, record_id: int, lock_wait: float | None = None, defer_when_busy: bool = False,
                   dump_jobs: int | None = None, on_wait=None, globals_file=None) -> BackupRecord:
    """Run a queued backup when its target is free, and end it.

    One backup or restore per target at a time (jobs.turn): a backup that
    would wait too long is refused with the reason. With defer_when_busy the
    wait is short and jobs.TargetBusy leaves the row queued for the queue to
    try again; jobs.NotQueued means another worker has it already.
    dump_jobs: tables dumped at once for a directory backup (default BACKUP_DUMP_JOBS).
    globals_file: the roles file a server target's run wrote once, copied beside this dump.
    """
    record = BackupRecord.objects.select_related("target").get(pk=record_id)
    # Configured for another server than the one the target names, or asked of a server it no longer names.
    refusal = agreement.refusal(record.target, asked=record.server_address)
    if refusal:
        _refuse(record, refusal)
        return record
    written = _Progress()
    try:
        with jobs.turn(record, target=record.target, progress=written.size, defer=defer_when_busy,
                       wait_seconds=lock_wait, on_wait=on_wait):
            _run(record, written, dump_jobs, globals_file)
        # After the turn: the upload reads only the published file, so a restore of this target (or its
        # next backup) need not wait for it. A kill during it is resumed by recovery (upload_recovery.py).
        _copy_offsite(record)
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


def _run(record: BackupRecord, written, dump_jobs: int | None = None, globals_file=None) -> None:
    conn = conn_for(record.target)
    partial, shared = None, None
    try:
        recipients = keys.recipients_for(record.target)
        info, tool, final = _prepare(record, conn, encrypted=bool(recipients))
        partial = written.path = layout.partial_path(final, record.pk)
        progress.expect(record, _size_last_time(record))
        progress.phase(record, progress.DUMPING)
        # Roles and tablespaces, written while the dump runs and published with it.
        with globals_dump.beside(record, conn, final, recipients=recipients, shared=globals_file) as globals_ready:
            # Optional exact row counts, taken in the snapshot pg_dump is given.
            with row_counts.snapshot(record, conn) as snapshot:
                if recipients and record.format == "directory":
                    sha, size, compression, shared = _dump_sealed_directory(
                        record, conn, tool, partial, snapshot, recipients, dump_jobs or settings.BACKUP_DUMP_JOBS)
                elif recipients:
                    sha, size, compression = _dump_encrypted(record, conn, tool, partial, snapshot, recipients)
                else:
                    sha, size, compression = _dump(record, conn, tool, partial, snapshot,
                                                   dump_jobs or settings.BACKUP_DUMP_JOBS)
                    progress.phase(record, progress.CHECKING)
                    _verify_archive(record, tool, partial)
                    shared = _share_files(record, partial, size)
            jobs.ensure_running(record)
            globals_ready()
            progress.phase(record, progress.PUBLISHING)
            (files.publish_dir if record.format == "directory" else files.publish)(partial, final)
    except (BackupFailed, ConnectionFailed, binaries.ToolNotFound, UnsupportedSetting, preflight.NoSpace,
            globals_dump.GlobalsFailed, jobs.JobLost, keys.NoRecipients, age.CryptoFailed, sealing.WeakKey) as exc:
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
                bytes_added=shared.added_bytes if shared else size,
                compression=compression, bytes_written=size, encrypted=bool(recipients),
                size_anomaly_pct=anomaly.check_size(record, size),
                **offsite.pending(record, owner=process.identity()))
    _log_attempt(record, conn.secrets(), note=shared.note() if shared else "")
    log.info("backup #%s succeeded: %s (%s bytes)", record.pk, record.path, size)


def _share_files(record, partial: Path, size: int) -> local_store.Shared | None:
    """A directory backup's files linked into the store (BACKUP_DEDUP); its bytes_added count the manifest too."""
    if record.format != "directory" or not settings.BACKUP_DEDUP:
        return None
    return _counted(record, partial, local_store.share_folder(partial, manifest.listed(partial)))


def _counted(record, partial: Path, shared):
    """What sharing a folder's files did, with its manifest counted as added (each backup has its own)."""
    shared.added_bytes += (partial / manifest.NAME).stat().st_size
    if shared.plain:
        log.warning("backup #%s: %s", record.pk, shared.note())
    return shared


def _copy_offsite(record: BackupRecord) -> None:
    # Published and read back: only now may it leave the machine. A failed upload never fails the backup.
    if record.status == BackupStatus.SUCCEEDED:
        offsite.after_backup(record)


def _size_last_time(record: BackupRecord) -> int | None:
    """About what this backup will write: its target's last good backup of the same format."""
    return BackupRecord.objects.filter(target_id=record.target_id, format=record.format, encrypted=record.encrypted,
                                       status=BackupStatus.SUCCEEDED).exclude(pk=record.pk).order_by(
        "-created_at").values_list("size_bytes", flat=True).first()


class _Progress:
    """Bytes written so far, read by the heartbeat thread."""

    path = None

    def size(self):
        return _size_or_none(self.path)


def _size_or_none(path):
    try:
        return files.size_of(path) if path else None
    except OSError:  # not there yet, or a file of a folder went while we added up
        return None


def _prepare(record: BackupRecord, conn: Conn, *, encrypted: bool = False):
    """Everything that can fail before a byte is written: server, tools, space, folder."""
    info = server_info(conn)
    # Custom and directory archives are compressed by pg_dump itself, with BACKUP_CUSTOM_COMPRESSION.
    archive = record.format in layout.ARCHIVE_FORMATS
    choice = binaries.choose_pg_dump(info.major, server_version=info.version,
                                     wants_zstd=wants_zstd() if archive else False,
                                     refuse_clear_text=refuses_clear_text(conn))
    tool = choice.tool
    log.info("backup #%s uses %s", record.pk, choice)
    record.server_version, record.pg_dump_version = info.version, tool.version
    record.extensions, record.client = info.extensions, str(choice)[:500]
    BackupRecord.objects.filter(pk=record.pk).update(
        server_version=info.version, pg_dump_version=tool.version, extensions=info.extensions,
        client=record.client,
    )
    if archive:
        custom_compression(tool)  # an impossible setting fails here, before anything is written
    folder = layout.type_dir(record.backup_type)
    if folder.exists() and not folder.is_dir():
        raise BackupFailed(f"cannot use {folder} as the backup folder: it is a file, not a folder")
    layout.ensure_dir(folder)
    suffix = layout.FORMAT_SUFFIX[record.format if record.format in layout.ARCHIVE_FORMATS else _sql_compressor().key]
    suffix += age.SUFFIX if encrypted and record.format != "directory" else ""  # a folder's files end in .age
    final = folder / layout.backup_filename(
        dbname=conn.dbname, backup_type=record.backup_type, suffix=suffix, record_id=record.pk,
        when=record.created_at,
    )
    if settings.BACKUP_PREFLIGHT:
        # An encrypted directory backup is dumped whole into the scratch folder first.
        for room in [folder, *([age.scratch_dir()] if encrypted and record.format == "directory" else [])]:
            preflight.check_free_space(target=record.target, fmt=record.format, folder=room,
                                       database_size=info.database_size)
    return info, tool, final


def _sql_compressor():
    name = settings.BACKUP_SQL_COMPRESSION
    if name not in COMPRESSORS:
        raise BackupFailed(f"BACKUP_SQL_COMPRESSION must be gzip or zstd, not {name!r}")
    compressor = COMPRESSORS[name]
    if not compressor.installed():
        raise BackupFailed(f"{compressor.compress[0]} is not installed; it compresses plain SQL backups")
    return compressor


def _dump(record, conn, tool, partial: Path, snapshot=None, dump_jobs: int = 1):
    if record.format == "custom":
        return _dump_custom(conn, tool, partial, snapshot)
    if record.format == "directory":
        return _dump_directory(conn, tool, partial, snapshot, dump_jobs)
    return _dump_sql(conn, tool, partial, snapshot)


def _dump_custom(conn, tool, partial: Path, snapshot=None):
    # pg_dump writes the archive itself: written to a pipe, a custom archive
    # has no data offsets and pg_restore could not restore it in parallel or
    # pick single tables efficiently. So we hash it in one pass afterwards.
    compression = custom_compression(tool)
    _check_exit(dumping.dump_archive(conn, tool, partial, snapshot), conn, folder=partial.parent)
    sha, size = files.sha256_of(partial)
    return sha, size, _compression_label(compression)


def _dump_directory(conn, tool, partial: Path, snapshot, dump_jobs: int):
    # The folder is ours and private before pg_dump writes into it (pg_dump
    # takes an empty one). Its files are hashed once, into the manifest, and
    # every file and the folder are fsynced before the folder is renamed.
    compression = custom_compression(tool)
    _check_exit(dumping.dump_directory(conn, tool, partial, snapshot, jobs=dump_jobs), conn, folder=partial.parent)
    sha, size = manifest.write(partial)
    return sha, size, _compression_label(compression)


def _compression_label(compression: str) -> str:
    return f"gzip:{compression}" if compression.isdigit() else compression


def _dump_sql(conn, tool, partial: Path, snapshot=None):
    """pg_dump | compressor | (sha256 + file), streamed in fixed-size chunks."""
    compressor = _sql_compressor()
    with files.create_private(partial) as out:
        written = dumping.dump_sql(conn, tool, out, compressor, snapshot)
    _check_exit(written.dump, conn)
    _check_exit(written.compress, conn)
    return written.sha256, written.size, compressor.label


def _dump_sealed_directory(record, conn, tool, partial: Path, snapshot, recipients, dump_jobs: int):
    """pg_dump -Fd into private scratch, read back there, each file encrypted into `partial` (crypto/sealing.py)."""
    compression = custom_compression(tool)
    with age.private_scratch() as scratch:
        plain = scratch / partial.name
        _check_exit(dumping.dump_directory(conn, tool, plain, snapshot, jobs=dump_jobs), conn, folder=scratch)
        progress.phase(record, progress.CHECKING)
        listed = reading.list_archive(binaries.pg_restore_for(plain, dump_version=tool.version), plain)
        if not listed.ok:
            raise BackupFailed("the new archive does not read back: " + one_line(listed.stderr))
        partial.mkdir(mode=0o700)
        with offsite.keyed_lookup(record.target, share=settings.BACKUP_DEDUP) as bucket:
            sealed = sealing.seal(plain, partial, recipients, share=settings.BACKUP_DEDUP, bucket=bucket)
    sha, size = manifest.write(partial)
    _counted(record, partial, sealed)
    if sealed.fetched:
        log.info("backup #%s: %s encrypted files taken from object storage, %s linked here, %s encrypted now",
                 record.pk, sealed.fetched, sealed.linked, sealed.added)
    return sha, size, _compression_label(compression), sealed


def _dump_encrypted(record, conn, tool, partial: Path, snapshot, recipients):
    """pg_dump | [compressor |] age, checked on the way (postgres/dumping.py); hashed once age closed the file."""
    custom = record.format == "custom"
    compressor = None if custom else _sql_compressor()
    lister = binaries.pg_restore_for(None, dump_version=tool.version) if custom else None
    done = dumping.dump_encrypted(conn, tool, partial, encrypt=age.encrypt_args(recipients, partial),
                                  what=record.format, snapshot=snapshot, compressor=compressor, lister=lister)
    for step in done.steps:
        _check_exit(step, conn)
    if custom and not done.lister.ok:
        raise BackupFailed("the new archive does not read back: " + one_line(done.lister.stderr))
    if not custom and SQL_DUMP_TRAILER not in done.tail:
        raise BackupFailed("the SQL script is incomplete: pg_dump's closing line is missing")
    sha, size = files.sha256_of(partial)
    if custom:
        return sha, size, _compression_label(custom_compression(tool))
    return sha, size, compressor.label


def _check_exit(ran: Ran, conn: Conn, *, folder: Path | None = None) -> None:
    """folder: where the program wrote its output, looked at when it failed (a full disk is said so)."""
    if ran.ok:
        return
    name, returncode = ran.name, ran.returncode
    if returncode < 0:
        message = f"{name} was killed by signal {-returncode}{_signal_name(-returncode)}"
    else:
        message = with_clear_text_hint(one_line(ran.stderr) or f"{name} failed with exit status {returncode}")
    if folder is not None and NO_SPACE not in message:
        message += _disk_full_note(folder)
    raise BackupFailed(scrub(message, conn.secrets()))


NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device"
# Less free than this after a failed dump: the disk filled up. pg_dump does not always say so: a
# compressed file's last write happens at its close, and pg_dump then reports "could not close data
# file: Success", the reason lost.
FULL_BELOW_BYTES = 1024 * 1024


def _disk_full_note(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    if free >= FULL_BELOW_BYTES:
        return ""
    return f" ({NO_SPACE}: {free} bytes free in {folder})"


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
    if record.format in layout.ARCHIVE_FORMATS:
        # The pg_restore that reads what this pg_dump writes.
        listed = reading.list_archive(binaries.pg_restore_for(partial, dump_version=tool.version), partial)
        if not listed.ok:
            raise BackupFailed("the new archive does not read back: " + one_line(listed.stderr))
        return
    check_sql_file(partial)


def check_sql_file(path: Path, *, stdin=None) -> None:
    """Decompress to the end and insist on pg_dump's closing line. stdin: the file's bytes as a stream."""
    try:
        read, tail = reading.decompress_to_end(path, stdin=stdin)
    except reading.UnknownCompression as exc:
        raise BackupFailed(str(exc)) from None
    if not read.ok:
        raise BackupFailed(f"the SQL file does not decompress: {one_line(read.stderr)}")
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
    if fanout.stopping():  # its programs were stopped with the run it is part of
        message = stopping.interrupted("backup", stopping.Interrupted(fanout.stopping()))
    if partial is not None and os.path.lexists(partial):
        try:
            files.remove_quietly(partial)
            if record.format == "directory":  # store files only the removed folder used
                local_store.sweep()
        except OSError as exc:  # e.g. the file system went read-only: still end the record
            log.warning("cannot remove %s: %s", partial, exc.strerror or exc)
    record.error = scrub(message, secrets)
    jobs.finish(record, ok=False, error=record.error)
    log.warning("backup #%s failed: %s", record.pk, record.error)
    _log_attempt(record, secrets)


def _log_attempt(record, secrets, note: str = "") -> None:
    # backup_log.txt sits in the same folder tree: when the disk is full or
    # read-only it cannot be written either, and that must not hide the result.
    try:
        backup_log.append(record, secrets=secrets, note=note)
    except OSError as exc:
        log.warning("cannot write backup_log.txt: %s", exc.strerror or exc)

