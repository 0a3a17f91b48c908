"""Running pg_restore and psql for a restore, with the arguments from args.py and the password in PGPASSFILE only.

Every run stops at the first error (pg_restore --exit-on-error, psql
ON_ERROR_STOP): what a failed run leaves is either a database the restore
created and then drops, or a single transaction that rolls back.
"""

import re
import subprocess
from pathlib import Path

from backups_app.services.postgres.args import COMPRESSORS, psql_args
from backups_app.services.postgres.connection import Conn, child_env
from backups_app.services.postgres.proc import Drain, last_lines, run, spawn
from backups_app.services.postgres.scrub import scrub
from backups_app.services.storage import files

_NOISE = re.compile(r"^pg_restore: (?:warning: errors ignored|creating|processing|connecting)")


class RestoreFailed(Exception):
    """The restore did not complete; the message carries the program's own error lines."""


def run_pg_restore(args: list[str], conn: Conn, *, stdin=None) -> None:
    """stdin: the archive as a stream (args then name no file), e.g. decrypted on the way."""
    with child_env(conn) as env:
        proc = run(args, env=env, stdin=stdin)
    if proc.returncode != 0:
        raise RestoreFailed(scrub("pg_restore failed: " + error_lines(proc.stderr, proc.returncode), conn.secrets()))


def error_lines(stderr: bytes, returncode: int) -> str:
    lines = [line for line in last_lines(stderr, 12).splitlines() if not _NOISE.match(line)]
    if returncode < 0:
        lines.append(f"killed by signal {-returncode}")
    return "\n".join(lines[-8:]) or f"exit status {returncode}"


def decompressor(path: Path) -> list[str]:
    for compressor in COMPRESSORS.values():
        if path.name.endswith(compressor.suffix):
            return list(compressor.decompress)
    raise RestoreFailed(f"cannot tell how {path.name} is compressed (expected .sql.gz or .sql.zst)")


def run_psql_script(tool, conn: Conn, path: Path, *, single_transaction: bool, preamble: str = "") -> None:
    """A plain SQL backup: decompressor | psql, streamed."""
    run_script([*decompressor(path), str(path)], tool, conn, single_transaction=single_transaction,
               preamble=preamble, source_name="the SQL file does not decompress")


def run_script(source_args: list[str], tool, conn: Conn, *, single_transaction: bool, preamble: str = "",
               source_name: str) -> None:
    """source | psql, streamed; psql never sees the end of a script its source did not finish.

    We carry the bytes between the two ourselves: if the source (decompressor,
    or pg_restore writing a script) fails, psql is killed before its input
    ends, so it cannot commit or run a truncated script.
    """
    args = psql_args(tool, conn, single_transaction=single_transaction)
    with child_env(conn) as env:
        source = spawn(source_args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        psql = spawn(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        source_err, psql_err = Drain(source.stderr), Drain(psql.stderr)
        try:
            fed_whole = _pump(source.stdout, psql.stdin, preamble.encode())
            if not fed_whole:
                source.kill()
            source.wait()
            complete = fed_whole and source.returncode == 0
            if complete:
                _close_quietly(psql.stdin)
            else:
                psql.kill()
        except BaseException:
            source.kill()
            psql.kill()
            raise
        finally:
            source.stdout.close()
            source.wait()
            psql.wait()
            _close_quietly(psql.stdin)  # only now: an earlier end of input would let psql commit
            source_err.join()
            psql_err.join()
    if fed_whole and not complete:
        raise RestoreFailed(scrub(f"{source_name}: {error_lines(source_err.data, source.returncode)}",
                                  conn.secrets()))
    if psql.returncode != 0:
        raise RestoreFailed(scrub("psql failed: " + error_lines(psql_err.data, psql.returncode), conn.secrets()))


def _pump(source, sink, first: bytes = b"") -> bool:
    """Copy until the source ends (True) or the sink stops reading (False)."""
    try:
        sink.write(first)
        while chunk := source.read(files.CHUNK):
            sink.write(chunk)
    except BrokenPipeError:
        return False  # psql stopped at an error; its exit status tells
    return True


def _close_quietly(stream) -> None:
    try:
        stream.close()
    except (BrokenPipeError, ValueError):
        pass


