"""Taking back backup files that no record knows: after the console's own database was lost, or from the old script.

`manage.py backup --adopt` looks at the files under BACKUP_ROOT/database/TYPE/
that no record accounts for (retention/orphans.py) and gives each complete
backup a `succeeded` record again, so it is listed, kept or pruned by the
policies, verified and restored like any other:

- its type is its folder; its format its name's ending (.dump, .dir,
  .sql.gz, .sql.zst, each maybe .age); its time the stamp in its name
  (YYYYMMDD_HHMMSS, as the console and most scripts write it), else the
  file's modification time;
- its target is the one named (--target), else the only target whose
  database the name starts with;
- its size and sha256 are read now (a directory backup's from its files,
  which may be hard links it shares with others through the store: what
  it added is then not known and left empty), and it is read to the end as a
  verification would (pg_restore, the decompressor, or age with the
  private key when one is configured): what does not read is left alone;
- its roles file (NAME.globals.sql beside it) comes with it;
- pg_dump's and the server's versions come from the archive's header, and
  a TimescaleDB archive takes the version its target's database has now.

Nothing is moved, renamed or deleted. Temporary files, leftovers of pruned
backups and anything else are left alone, each with its reason. Objects in
object storage are adopted by from_storage.py, by the same rules.
"""

import contextlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.utils import timezone

from backups_app.models import BackupFormat, BackupRecord, BackupStatus, BackupType, DatabaseTarget
from backups_app.services.backups import globals_dump
from backups_app.services.crypto import age, keys
from backups_app.services.jobs import origin, process
from backups_app.services.postgres import toc
from backups_app.services.postgres.connection import conn_for, server_info
from backups_app.services.restores import source_db
from backups_app.services.restores.timescale import EXTENSION as TIMESCALEDB
from backups_app.services.retention import orphans
from backups_app.services.storage import layout, manifest
from backups_app.services.verify import integrity

log = logging.getLogger(__name__)

ADOPTED_BY = "adopted from its file"
_STAMP = re.compile(r"(\d{8}_\d{6})")


class AdoptRefused(Exception):
    """This file cannot be adopted; the message says why in one line."""


@dataclass
class Found:
    path: str  # relative to BACKUP_ROOT
    record: BackupRecord | None = None  # the record made (or, in a dry run, that would be made)
    problem: str = ""
    notes: list[str] = field(default_factory=list)
    linked: bool = False  # an object in storage that became the offsite copy of a backup adopted from its file


def adopt_all(*, target: DatabaseTarget | None = None, dry_run: bool = False) -> list[Found]:
    """Every file under BACKUP_ROOT/database that no record knows, adopted or not, and why."""
    found = []
    for orphan in orphans.find_orphans():
        entry = Found(orphan.path)
        try:
            entry.record, entry.notes = _examine(layout.absolute(orphan.path), target)
        except AdoptRefused as exc:
            entry.problem = str(exc)
        except OSError as exc:  # unreadable here (its owner, its mode): say so and go on with the others
            entry.problem = f"cannot be read: {exc.strerror or exc}"
        else:
            if not dry_run:
                save(entry.record)
        found.append(entry)
    return _without_roles_files(found)


def save(record: BackupRecord) -> None:
    made = record.created_at
    record.save()
    # created_at is set on insert; the backup was made when its name (or file) says.
    BackupRecord.objects.filter(pk=record.pk).update(created_at=made)
    record.created_at = made
    log.info("backup #%s adopted from %s", record.pk, record.path)


def _without_roles_files(found: list[Found]) -> list[Found]:
    """A roles file adopted with its backup is not also reported on its own."""
    taken = {f.record.globals_path for f in found if f.record is not None and f.record.globals_path}
    return [f for f in found if f.path not in taken]


def _examine(path: Path, target: DatabaseTarget | None) -> tuple[BackupRecord, list[str]]:
    if path.is_symlink():
        raise AdoptRefused("a symbolic link")
    record = named(layout.relative(path), target, modified=lambda: path.stat().st_mtime)
    if (record.format == BackupFormat.DIRECTORY) != path.is_dir():
        raise AdoptRefused("its name says one format and it is another kind of file")
    if record.format == BackupFormat.DIRECTORY:
        record.encrypted = sealed(path)
    record.sha256, record.size_bytes = manifest.backup_sha256(path)
    record.bytes_written = record.size_bytes
    # A directory backup's files may be links it shares with others (storage/local_store.py): which of them
    # stored a content first is history no file keeps, so what it added is not known. A single file is its own.
    record.bytes_added = None if record.format == BackupFormat.DIRECTORY else record.size_bytes
    notes = checked(record, path)
    roles = layout.absolute(roles_path(record))
    if roles.is_file():
        record.globals_path = layout.relative(roles)
        notes.append(f"with its roles file {roles.name}")
    return record, notes


def sealed(folder: Path) -> bool:
    """A directory backup whose files are encrypted each on its own (crypto/sealing.py)."""
    return (folder / (age.TOC_NAME + age.SUFFIX)).is_file()


def named(relative: str, target: DatabaseTarget | None, *, modified=None) -> BackupRecord:
    """An unsaved record of what the name tells: type, format, target, time; AdoptRefused when it does not.

    modified: the file's modification time, called when the name has no stamp (None: the name must have one).
    """
    parts = Path(relative).parts
    if len(parts) != 3 or parts[0] != layout.database_dir().name or parts[1] not in BackupType.values:
        raise AdoptRefused("not in a backup type's folder")
    backup_type, name = parts[1], parts[2]
    if name.startswith("."):
        raise AdoptRefused("a hidden file (a temporary one, of a backup being made or killed)")
    pruned = BackupRecord.objects.filter(path=relative).values_list("pk", flat=True).first()
    if pruned is not None:
        raise AdoptRefused(f"backup #{pruned} was pruned; its file is still here (the next prune removes it)")
    if name.endswith((globals_dump.SUFFIX, globals_dump.SUFFIX + age.SUFFIX)):
        raise AdoptRefused("a roles file whose backup is not here")
    fmt, compression, stem = _format_of(name)
    made = _made_at(stem, modified)
    record = BackupRecord(
        target=target or _target_named(stem, backup_type), backup_type=backup_type, format=fmt,
        status=BackupStatus.SUCCEEDED, path=relative, encrypted=name.endswith(age.SUFFIX), **origin.fields(ADOPTED_BY),
        compression=compression, created_at=made, started_at=made, finished_at=made,
        host=process.host(),  # the file is under this host's BACKUP_ROOT: jobs that need it run here
    )
    return record


def roles_path(record: BackupRecord) -> str:
    """Where the roles file of this backup lies, relative to BACKUP_ROOT."""
    return globals_dump.file_name(record.path, encrypted=record.encrypted)


def checked(record: BackupRecord, path: Path) -> list[str]:
    """Read the backup at path to the end, as a verification does; AdoptRefused when it fails. Notes on it."""
    findings = integrity.check_file(record)
    failed = [f for f in findings if not f.ok]
    if failed:
        raise AdoptRefused(f"it does not check out: {failed[0].detail}")
    record.last_verified_at, record.last_verify_ok = timezone.now(), True
    record.last_verify_detail = "; ".join(f.detail for f in findings) + " (when it was adopted)"
    return _read_header(record, path)


def _format_of(name: str) -> tuple[str, str, str]:
    """(format, a plain SQL file's compressor, the name without its endings), by the console's own endings."""
    name = name.removesuffix(age.SUFFIX)
    for key, ending in layout.FORMAT_SUFFIX.items():  # "sql.gzip": ".sql.gz" ...
        if name.endswith(ending):
            fmt, _, compression = key.partition(".")
            return fmt, compression, name.removesuffix(ending)
    if name.endswith(".sql"):
        raise AdoptRefused("plain SQL that is not compressed: compress it first (gzip -n FILE), then adopt the "
                           ".sql.gz")
    raise AdoptRefused("not a backup's name (.dump, .dir, .sql.gz or .sql.zst, maybe .age)")


def _target_named(stem: str, backup_type: str) -> DatabaseTarget:
    """The only target whose database the name starts with (as the console writes names: DBNAME_TYPE_...)."""
    prefix = stem.split(f"_{backup_type}_")[0] if f"_{backup_type}_" in stem else None
    if prefix is None:
        raise AdoptRefused("its name does not say whose backup it is: name the target with --target")
    matches = [t for t in DatabaseTarget.objects.order_by("name") if layout.safe_name(t.dbname) == prefix]
    if len(matches) != 1:
        which = "no target" if not matches else f"{len(matches)} targets ({', '.join(t.name for t in matches)})"
        raise AdoptRefused(f"{which} back up a database named {prefix}: name the target with --target")
    return matches[0]


def _made_at(stem: str, modified) -> datetime:
    stamp = _STAMP.search(stem)
    if stamp:
        try:
            return timezone.make_aware(datetime.strptime(stamp.group(1), "%Y%m%d_%H%M%S"))
        except ValueError:
            pass
    if modified is None:
        raise AdoptRefused("its name has no time (YYYYMMDD_HHMMSS)")
    return datetime.fromtimestamp(modified(), tz=timezone.get_default_timezone())


def _read_header(record: BackupRecord, path: Path) -> list[str]:
    """Versions and extensions from an archive's table of contents, or from a script's opening lines."""
    if record.encrypted and not keys.identity_configured():
        return ["encrypted, and no private key is configured here: versions and extensions unknown"]
    try:
        if record.format in layout.ARCHIVE_FORMATS:
            # An encrypted one: its head decrypted once; the newest pg_restore reads any archive's header.
            with _toc_readable(record, path) as path, age.stdin_for(path) as stream:
                contents = toc.read(path, stdin=stream)
            header = contents.header
            names = {e.name for e in contents.entries if e.kind == "EXTENSION"}
        else:
            header, names = _script_head(path)
    except (toc.ArchiveUnreadable, age.CryptoFailed, OSError):  # it read to the end above: this is a nicety
        return []
    # Its pg_dump picks the pg_restore that can read it (a stream being decrypted shows no header).
    # "17.10", as a backup records it, not "17.10 (Debian 17.10-1)".
    record.pg_dump_version = header.get("Dumped by pg_dump version", "").split(" ")[0][:100]
    record.server_version = header.get("Dumped from database version", "")[:100]
    record.extensions = dict.fromkeys(sorted(names), "")
    if TIMESCALEDB not in names:
        return []
    version = _timescaledb_now(record.target)
    record.extensions[TIMESCALEDB] = version
    if version:
        return [f"TimescaleDB {version}: the version its target's database has now"]
    return ["TimescaleDB of an unknown version: its target's database cannot be asked now"]


def _toc_readable(record: BackupRecord, path: Path):
    """An encrypted directory backup's table of contents decrypted into a private copy; any other as it is."""
    if age.sealed_folder(record):
        return age.decrypted_copy(path, toc_only=True)
    return contextlib.nullcontext(path)


_SCRIPT_HEADER = re.compile(r"^-- (Dumped (?:from database|by pg_dump) version) (.+)$")
_SCRIPT_EXTENSION = re.compile(r'^CREATE EXTENSION IF NOT EXISTS "?([^" ]+)"?')
SCRIPT_HEAD_LINES = 20000  # extensions come before the first table's data


def _script_head(path: Path) -> tuple[dict, set[str]]:
    """pg_dump's version lines and the extensions a plain SQL script creates, from its opening lines."""
    header, names = {}, set()
    with source_db.script(path) as lines:
        for n, raw in enumerate(lines):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if n >= SCRIPT_HEAD_LINES or line.startswith("COPY "):
                break
            if m := _SCRIPT_HEADER.match(line):
                header[m.group(1)] = m.group(2)
            elif m := _SCRIPT_EXTENSION.match(line):
                names.add(m.group(1))
    return header, names


def _timescaledb_now(target: DatabaseTarget) -> str:
    try:
        return server_info(conn_for(target)).extensions.get(TIMESCALEDB, "")
    except Exception as exc:  # noqa: BLE001  an unreachable server must not keep a good file from being adopted
        log.warning("cannot ask target %s for its TimescaleDB version: %s", target.name, type(exc).__name__)
        return ""
