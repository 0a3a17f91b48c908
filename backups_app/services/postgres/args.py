"""Argument lists for pg_dump, pg_dumpall, pg_restore and psql, and the compressors beside them.

The one place that knows these programs' options. Each builder takes the
program binaries.py picked (a Tool) and returns a list for proc.run or
proc.spawn; no password ever appears here (it travels in PGPASSFILE, see
connection.child_env).
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from backups_app.services.postgres import binaries


class UnsupportedSetting(Exception):
    """A setting the chosen program cannot do; the message says which and why."""


@dataclass(frozen=True)
class Compressor:
    key: str  # the layout.FORMAT_SUFFIX key of a plain SQL backup made with it
    suffix: str  # how the name of a file it wrote ends
    compress: tuple[str, ...]
    decompress: tuple[str, ...]

    @property
    def label(self) -> str:
        """How a backup's record names it, e.g. gzip:1."""
        return f"{self.compress[0]}:{self.compress[1].lstrip('-')}"

    def installed(self) -> bool:
        return shutil.which(self.compress[0]) is not None


COMPRESSORS = {
    "gzip": Compressor("sql.gzip", ".gz", ("gzip", "-1", "-n", "-c"), ("gzip", "-dc")),
    "zstd": Compressor("sql.zstd", ".zst", ("zstd", "-3", "-q", "-c"), ("zstd", "-dcq")),
}


def compressor_of(path) -> Compressor | None:
    """The compressor a plain SQL backup's file name says wrote it (a suffix after it, such as .age, is allowed)."""
    name = Path(path).name
    return next((c for c in COMPRESSORS.values() if name.endswith(c.suffix) or f"{c.suffix}." in name), None)


def decompressor_args(compressor: Compressor, path=None) -> list[str]:
    """The decompressor reading the file at path, or (path None) the same bytes from its stdin."""
    return [*compressor.decompress, *([] if path is None else [str(path)])]


AUTO = "auto"
# zstd level 1 is faster than gzip level 1, at about the size of gzip's
# default; without zstd, gzip level 1 is several times faster than the
# default for a file only a little larger.
AUTO_ZSTD, AUTO_GZIP = "zstd:1", "gzip:1"


def wants_zstd(spec: str | None = None) -> bool | None:
    """For binaries.choose_pg_dump: None (welcome, `auto`), True (needed) or False.

    lz4 counts as zstd here: both came with pg_dump 16, and builds have both or neither.
    """
    spec = spec or settings.BACKUP_CUSTOM_COMPRESSION
    if spec == AUTO:
        return None
    return spec.partition(":")[0] in ("zstd", "lz4")


def custom_compression(tool, spec: str | None = None) -> str:
    """The -Z value for this pg_dump: `auto` resolved; 'gzip:N' becomes 'N' before PostgreSQL 16.

    UnsupportedSetting when this pg_dump cannot do what the setting asks.
    """
    spec = spec or settings.BACKUP_CUSTOM_COMPRESSION
    if spec == AUTO:
        spec = AUTO_ZSTD if binaries.has_zstd(tool) else AUTO_GZIP
    method, _, level = spec.partition(":")
    if method == "zstd" and not binaries.has_zstd(tool):
        raise UnsupportedSetting(
            f"BACKUP_CUSTOM_COMPRESSION={spec} needs a pg_dump 16 or newer built with zstd; the one chosen is "
            f"{tool.version} ({tool.path}). Install newer PostgreSQL client tools, or set it to auto or gzip:1")
    if tool.major >= 16:
        return spec
    if method.isdigit():
        return method
    if method == "gzip":
        return level or "6"
    if method == "none":
        return "0"
    raise UnsupportedSetting(
        f"BACKUP_CUSTOM_COMPRESSION={spec} needs pg_dump 16 or newer; this pg_dump is {tool.version}"
    )


def pg_dump_args(tool, conn, fmt: str, snapshot: str | None = None, *, file=None) -> list[str]:
    """pg_dump of conn's database: a custom archive, or plain SQL on stdout (fmt 'sql')."""
    args = [tool.path, *conn.args(), "--dbname", conn.dbname]
    if snapshot:
        args.append(f"--snapshot={snapshot}")
    if fmt == "custom":
        args += ["--format=custom", f"--compress={custom_compression(tool)}"]
    else:
        args += ["--format=plain", "--no-sync"]
    return [*args, "--file", str(file)] if file is not None else args


def pg_dump_directory_args(tool, conn, folder, snapshot: str | None = None, *, jobs: int = 1) -> list[str]:
    """pg_dump of conn's database into a directory-format archive, `jobs` tables at a time.

    With --jobs each worker opens its own connection (jobs + 1 in all) and
    they share one snapshot, so the archive is as consistent as a custom one.
    """
    args = [tool.path, *conn.args(), "--dbname", conn.dbname]
    if snapshot:
        args.append(f"--snapshot={snapshot}")
    args += ["--format=directory", f"--compress={custom_compression(tool)}"]
    if jobs > 1:
        args.append(f"--jobs={jobs}")
    return [*args, "--file", str(folder)]


def pg_dumpall_globals_args(tool, conn, file) -> list[str]:
    """Roles and tablespaces, never their passwords; on stdout when file is None."""
    args = [tool.path, *conn.args(), "--database", conn.dbname, "--globals-only", "--no-role-passwords"]
    return [*args, "--file", str(file)] if file is not None else args


def pg_restore_args(tool, conn, path, *, jobs: int = 1, clean: bool = False, single_transaction: bool = False,
                    no_owner: bool = False, no_acl: bool = False, use_list=None, script: bool = False,
                    sections: tuple[str, ...] = ()) -> list[str]:
    """pg_restore into conn's database, or (script=True) writing the SQL script to stdout.

    sections: only these (pre-data, data, post-data); all when empty.
    """
    target = ["--file", "-"] if script else [*conn.args(), "--dbname", conn.dbname]
    args = [tool.path, *target, "--exit-on-error", *(f"--section={s}" for s in sections)]
    if single_transaction:
        args.append("--single-transaction")
    if clean:
        args += ["--clean", "--if-exists"]
    if jobs > 1:
        args.append(f"--jobs={jobs}")
    if no_owner:
        args.append("--no-owner")
    if no_acl:
        args.append("--no-acl")
    if use_list is not None:
        args += ["--use-list", str(use_list)]
    return [*args, *_archive(path)]


def pg_restore_list_args(tool, path, *, verbose: bool = False) -> list[str]:
    """The archive's table of contents on stdout; verbose adds each entry's dependencies. path None: stdin."""
    return [tool.path, "--list", *(["--verbose"] if verbose else []), *_archive(path)]


def pg_restore_read_all_args(tool, path) -> list[str]:
    """Write the whole script to nowhere: reads every block of the archive. path None: stdin."""
    return [tool.path, "--file", os.devnull, *_archive(path)]


def _archive(path) -> list[str]:
    # pg_restore reads stdin only when no file is named (not "-", and not /dev/stdin:
    # it opens a named file twice, and a pipe cannot be read twice).
    return [] if path is None else [str(path)]


def pg_restore_script_args(tool, path, *, create: bool = False, schema_only: bool = False,
                           data_only: bool = False, section: str | None = None, schema: str | None = None,
                           table: str | None = None, use_list=None) -> list[str]:
    """Part of the archive as an SQL script on stdout, to read (not to run)."""
    args = [tool.path]
    if create:
        args.append("--create")
    if schema_only:
        args.append("--schema-only")
    if section:
        args.append(f"--section={section}")
    if data_only:
        args.append("--data-only")
    if schema:
        args += ["--schema", schema]
    if table:
        args += ["--table", table]
    if use_list is not None:
        args += ["--use-list", str(use_list)]
    return [*args, "--file", "-", *_archive(path)]


def psql_args(tool, conn, *, single_transaction: bool) -> list[str]:
    """psql running the script on stdin, stopping at the first error (and saying which statement failed)."""
    args = [tool.path, *conn.args(), "--dbname", conn.dbname, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--echo-errors"]
    if single_transaction:
        args.append("--single-transaction")
    return [*args, "-f", "-"]
