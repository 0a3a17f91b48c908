"""Running pg_restore and psql for a restore, with the arguments from args.py and the password in PGPASSFILE only.

Every run stops at the first error (pg_restore --exit-on-error, psql
ON_ERROR_STOP): what a failed run leaves is either a database the restore
created and then drops, or a single transaction that rolls back. A failure
keeps the program's first ERROR line and its context: the lines after it
often only echo the statement that failed.

Scripts written by PostgreSQL 17's pg_dump or pg_restore begin with
`SET transaction_timeout = 0;`, which servers before 17 reject; for such a
server that one line is left out of the script's opening settings (and
nowhere else: table data is never touched). For a server that rejects
pg_attver, column options lose it too (column_options.py: only statements,
never table data), and the run says how many statements that changed.
"""

import re
import subprocess
from pathlib import Path

from backups_app.services.postgres import binaries, reading
from backups_app.services.postgres.args import psql_args
from backups_app.services.postgres.column_options import ColumnOptions
from backups_app.services.postgres.connection import Conn, child_env, with_clear_text_hint
from backups_app.services.postgres.proc import Drain, Ran, completed, last_lines, run, spawn
from backups_app.services.postgres.scrub import scrub
from backups_app.services.storage import files

_NOISE = re.compile(r"^pg_restore: (?:warning: errors ignored|creating|processing|connecting)")
_ERROR = re.compile(r"\bERROR:")
# What follows an error and explains it: psql's LINE/DETAIL/HINT/CONTEXT, the caret under
# LINE, the statement that failed (psql --echo-errors, pg_restore's "Command was").
_CONTEXT = re.compile(r"^(?:\S+: (?:detail|hint|context): "
                      r"|(?:psql:\S*: )?(?:LINE \d+|DETAIL|HINT|CONTEXT|QUERY|STATEMENT):|\s+\^|Command was: )")
_LINE_LIMIT = 300


class RestoreFailed(Exception):
    """The restore did not complete; the message carries the program's own error lines."""


def run_pg_restore(args: list[str], conn: Conn, *, stdin=None) -> None:
    """stdin: the archive as a stream (args then name no file), e.g. decrypted on the way."""
    with child_env(conn, program=args[0]) as env:
        proc = run(args, env=env, stdin=stdin)
    if proc.returncode != 0:
        message = "pg_restore failed: " + error_lines(proc.stderr, proc.returncode)
        raise RestoreFailed(scrub(with_clear_text_hint(message), conn.secrets()))


def error_lines(stderr: bytes, returncode: int) -> str:
    """The first ERROR and its context when there is one, else the last lines that are not progress chatter."""
    lines = first_error(stderr) or [line for line in last_lines(stderr, 12).splitlines() if not _NOISE.match(line)]
    lines = [line if len(line) <= _LINE_LIMIT else line[:_LINE_LIMIT] + " ..." for line in lines[-8:]]
    if returncode < 0:
        lines.append(f"killed by signal {-returncode}")
    return "\n".join(lines) or f"exit status {returncode}"


def first_error(stderr: bytes | str) -> list[str]:
    """The first line holding `ERROR:` and the context lines right after it (at most five)."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines = [line for line in text.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if _ERROR.search(line)), None)
    if start is None:
        return []
    found = [lines[start]]
    for line in lines[start + 1:start + 6]:
        if not _CONTEXT.match(line):
            break
        found.append(line)
    return found


def decompress_args(path: Path, *, from_stdin: bool = False) -> list[str]:
    """The decompressor for path's name, reading that file, or (from_stdin) the same bytes from its stdin."""
    try:
        return reading.decompressor(path, from_stdin=from_stdin)
    except reading.UnknownCompression as exc:
        raise RestoreFailed(str(exc)) from None


def run_psql(conn: Conn, tool, script: bytes, *, single_transaction: bool) -> Ran:
    """psql running a short script given whole (the roles file), stopping at its first error."""
    with child_env(conn, program=tool.path) as env:
        return completed(run(psql_args(tool, conn, single_transaction=single_transaction), env=env,
                             input_bytes=script))


def run_script(source_args: list[str], tool, conn: Conn, *, single_transaction: bool, preamble: str = "",
               source_name: str, server_major: int | None = None, left_out: frozenset[bytes] = frozenset(),
               source_stdin=None, source_done=None) -> int:
    """source | psql, streamed; psql never sees the end of a script its source did not finish.

    We carry the bytes between the two ourselves: if the source (decompressor,
    or pg_restore writing a script) fails, psql is killed before its input
    ends, so it cannot commit or run a truncated script. For a server of
    server_major the script's opening settings lose what it would reject, and
    column options lose the options in left_out (column_options.refused_by):
    returns how many statements that changed (column_options.note says it).
    source_stdin: what the source reads (an archive decrypted on the way).
    source_done: called once the source has ended well and before psql's input
    ends; if it raises (the decryption feeding source_stdin failed), psql is
    killed the same way and the exception passes on.
    """
    filters = [OpeningSettings(rejected_by(server_major)), ColumnOptions(left_out)]
    args = psql_args(tool, conn, single_transaction=single_transaction)
    # The source (the decompressor, or pg_restore writing a script) connects nowhere: it gets no connection's
    # variables.
    with child_env(conn, program=tool.path) as env, child_env() as plain:
        source = spawn(source_args, env=plain, stdin=source_stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        psql = spawn(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        source_err, psql_err = Drain(source.stderr), Drain(psql.stderr)
        try:
            fed_whole = _pump(source.stdout, psql.stdin, preamble.encode(), filters)
            if not fed_whole:
                source.kill()
            source.wait()
            complete = fed_whole and source.returncode == 0
            if complete and source_done is not None:
                source_done()
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
        message = "psql failed: " + error_lines(psql_err.data, psql.returncode)
        raise RestoreFailed(scrub(with_clear_text_hint(message), conn.secrets()))
    return filters[-1].columns


def _pump(source, sink, first: bytes = b"", filters=()) -> bool:
    """Copy until the source ends (True) or the sink stops reading (False); each filter's output feeds the next."""
    try:
        sink.write(first)
        while chunk := source.read(files.CHUNK):
            sink.write(_through(filters, chunk))
        sink.write(_through(filters, b"", end=True))
    except BrokenPipeError:
        return False  # psql stopped at an error; its exit status tells
    return True


def _through(filters, chunk: bytes, *, end: bool = False) -> bytes:
    for f in filters:
        chunk = f.feed(chunk, end=end)
    return chunk


def rejected_by(server_major: int | None) -> frozenset[bytes]:
    """Lines of a script's opening settings that a server of this version does not know."""
    if server_major is not None and server_major < binaries.TRANSACTION_TIMEOUT_SINCE:
        return frozenset({b"SET transaction_timeout = 0;"})
    return frozenset()


# What pg_dump and pg_restore write before the first object: comments, settings, \restrict.
_OPENING_LINE = re.compile(rb"^(?:--.*|SET \w+ = .*;|SELECT pg_catalog\.set_config\(.*\);|\\restrict \S+|\s*)$")


class OpeningSettings:
    """Leaves the rejected lines out of a script's opening settings; everything after them passes as is.

    Only the opening is read line by line (a few dozen lines), so the data
    that follows is never looked at or changed, and costs nothing.
    """

    def __init__(self, rejected: frozenset[bytes]):
        self.rejected, self.held, self.done = rejected, b"", not rejected

    def feed(self, chunk: bytes, *, end: bool = False) -> bytes:
        if self.done:
            return chunk
        lines = (self.held + chunk).split(b"\n")
        self.held = lines.pop()  # an unfinished line waits for the next chunk
        out = []
        for i, line in enumerate(lines):
            if not _OPENING_LINE.match(line):
                self.done = True
                return b"".join(out) + b"\n".join([*lines[i:], self.held])
            if line.rstrip(b"\r") not in self.rejected:
                out.append(line + b"\n")
        if end:
            self.done = True
            if self.held.rstrip(b"\r") not in self.rejected:
                out.append(self.held)
        return b"".join(out)


def _close_quietly(stream) -> None:
    try:
        stream.close()
    except (BrokenPipeError, ValueError):
        pass


