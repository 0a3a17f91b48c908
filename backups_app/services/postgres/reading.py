"""Programs that read a backup file without a server: pg_restore and the decompressors.

A table of contents (pg_restore --list), every block (the whole script
written to nowhere), part of an archive as a script to read, a plain SQL
script decompressed, or decompressed to its end to find pg_dump's closing
line. The program opens the file itself or, when the caller passes `stdin`
(an encrypted file decrypted on the way by crypto's age), reads that stream;
the caller owns the stream and closes it. None of them connects anywhere, so
none gets a connection's variables (connection.child_env()).
"""

import contextlib
import subprocess
from pathlib import Path

from backups_app.services.postgres.args import (
    compressor_of,
    decompressor_args,
    pg_restore_list_args,
    pg_restore_read_all_args,
    pg_restore_script_args,
)
from backups_app.services.postgres.connection import child_env
from backups_app.services.postgres.proc import Drain, Ran, completed, ran, run, spawn
from backups_app.services.storage import files

SQL_DUMP_TRAILER = b"PostgreSQL database dump complete"
TAIL = 4096  # the end of a script kept while it is read through: pg_dump's closing line is in it


class UnknownCompression(Exception):
    """A plain SQL backup whose name says no compressor the console knows."""


def list_archive(tool, path, *, verbose: bool = False, stdin=None) -> Ran:
    """pg_restore --list: the table of contents (on .stdout); reads only the head of the archive."""
    return _run(pg_restore_list_args(tool, None if stdin else path, verbose=verbose), stdin=stdin)


def archive_script(tool, path, *, stdin=None, **parts) -> Ran:
    """Part of the archive as an SQL script on .stdout, to read (parts: see args.pg_restore_script_args)."""
    return _run(pg_restore_script_args(tool, None if stdin else path, **parts), stdin=stdin)


def read_archive_to_end(tool, path, *, stdin=None) -> Ran:
    """Every block of the archive read; the first run that failed, or the last.

    A file is listed first (a damaged table of contents says so in fewer
    words), then written as a script to nowhere; a stream can be read once.
    """
    runs = [pg_restore_read_all_args(tool, None)] if stdin else [pg_restore_list_args(tool, path),
                                                                 pg_restore_read_all_args(tool, path)]
    for args in runs:
        result, _ = _read_through(args, stdin=stdin)
        if not result.ok:
            break
    return result


def decompress_to_end(path, *, stdin=None) -> tuple[Ran, bytes]:
    """The SQL script decompressed to its end, and its last bytes (pg_dump's closing line is there)."""
    return _read_through(decompressor(path, from_stdin=stdin is not None), stdin=stdin)


def decompressor(path, *, from_stdin: bool = False) -> list[str]:
    """The decompressor for path's name, reading that file or (from_stdin) the same bytes from its stdin."""
    compressor = compressor_of(path)
    if compressor is None:
        raise UnknownCompression(f"cannot tell how {Path(path).name} is compressed (expected .sql.gz or .sql.zst)")
    return decompressor_args(compressor, None if from_stdin else path)


@contextlib.contextmanager
def decompressed(path, *, stdin=None, whole: bool = False):
    """A plain SQL script as a stream of bytes.

    whole: the reader reads it to the end; otherwise it may stop early and
    the decompressor is stopped.
    """
    with child_env() as env:
        proc = spawn(decompressor(path, from_stdin=stdin is not None), env=env, stdin=stdin,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        yield proc.stdout
    finally:
        if not whole:
            proc.kill()
        proc.stdout.close()
        proc.wait()


def _run(args: list[str], *, stdin=None) -> Ran:
    with child_env() as env:
        return completed(run(args, env=env, stdin=stdin))


def _read_through(args: list[str], *, stdin=None) -> tuple[Ran, bytes]:
    """Run a reader whose output is only looked at for its end (never held whole)."""
    with child_env() as env:
        proc = spawn(args, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err, tail = Drain(proc.stderr), b""
    try:
        while chunk := proc.stdout.read(files.CHUNK):
            tail = (tail + chunk)[-TAIL:]
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.stdout.close()
        proc.wait()
        err.join()
    return ran(proc, err.data), tail
