"""Running pg_dump and pg_dumpall, and the pipes behind them: the compressor, age, a reader checking on the way.

    custom:     pg_dump --file PATH (it writes the archive itself, with the offsets
                pg_restore needs to restore in parallel or pick single tables)
    directory:  pg_dump --format=directory --jobs N, in a process group of its own
    sql:        pg_dump -> compressor -> (here: sha256) -> file
    encrypted custom:  pg_dump -> (here) -> age -> file
                               \\-> pg_restore --list, reading the archive's table of contents back
    encrypted sql:     pg_dump -> (here) -> compressor -> age -> file
                       (here keeps the script's last 4 kB, to find pg_dump's closing line)
    globals:    pg_dumpall --globals-only --file PATH beside a dump (or -> age)

Callers say what to write and where; each function returns how every
program ended (proc.Ran) for the caller to judge, and removes nothing. The
file is created private (0600; a folder 0700) before a program writes it.
Only pg_dump and pg_dumpall get the connection's environment; the
compressor, age and the reader get none of it. The plaintext of an
encrypted backup passes through this process in fixed-size chunks and is
never on disk: the console may hold only public keys, so what was written
cannot be read back by decrypting it, and the checks read it on its way.
"""

import contextlib
import hashlib
import os
import signal
import subprocess
from dataclasses import dataclass

from backups_app.services.postgres.args import (
    pg_dump_args,
    pg_dump_directory_args,
    pg_dumpall_globals_args,
    pg_restore_list_args,
)
from backups_app.services.postgres.connection import child_env
from backups_app.services.postgres.proc import Drain, Ran, completed, ran, run, spawn
from backups_app.services.storage import files

TAIL = 4096


def dump_archive(conn, tool, path, snapshot: str | None = None) -> Ran:
    """A custom archive of conn's database, written by pg_dump into path."""
    files.create_private(path).close()
    with child_env(conn, program=tool.path) as env:
        return completed(run(pg_dump_args(tool, conn, "custom", snapshot, file=path), env=env))


def dump_directory(conn, tool, folder, snapshot: str | None = None, *, jobs: int = 1) -> Ran:
    """A directory archive of conn's database in folder (made here, empty and private), `jobs` tables at once."""
    folder.mkdir(mode=0o700)
    with child_env(conn, program=tool.path) as env:
        # A group of its own: pg_dump's workers are its children, and when pg_dump
        # itself is killed they would go on writing into the folder the caller removes.
        dump = spawn(pg_dump_directory_args(tool, conn, folder, snapshot, jobs=jobs), env=env,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, process_group=0)
        err = Drain(dump.stderr)
        try:
            dump.wait()
        finally:
            if dump.returncode is None or dump.returncode < 0:
                _kill_group(dump)
            err.join()
    return ran(dump, err.data)


@dataclass(frozen=True)
class Written:
    """A plain SQL backup: its file's sha256 and size, and how pg_dump and the compressor ended."""

    sha256: str
    size: int
    dump: Ran
    compress: Ran


def dump_sql(conn, tool, out, compressor, snapshot: str | None = None) -> Written:
    """pg_dump | compressor, into the open file `out`, hashed on the way; streamed in fixed-size chunks."""
    digest, size = hashlib.sha256(), 0
    with child_env(conn, program=tool.path) as env, child_env() as plain:
        dump = spawn(pg_dump_args(tool, conn, "sql", snapshot), env=env, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
        try:
            comp = spawn(list(compressor.compress), env=plain, stdin=dump.stdout, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        except BaseException:
            _stop(dump)
            raise
        dump.stdout.close()  # the compressor alone reads it now
        dump_err, comp_err = Drain(dump.stderr), Drain(comp.stderr)
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
    return Written(digest.hexdigest(), size, ran(dump, dump_err.data), ran(comp, comp_err.data))


@contextlib.contextmanager
def globals_beside(conn, tool, path):
    """pg_dumpall --globals-only writing path in the background; yields wait(), which returns how it ended.

    Leaving the block stops it if it still runs.
    """
    files.create_private(path).close()
    with child_env(conn, program=tool.path) as env:
        proc = spawn(pg_dumpall_globals_args(tool, conn, path), env=env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = Drain(proc.stderr)

        def wait() -> Ran:
            proc.wait()
            err.join()
            return ran(proc, err.data)
        try:
            yield wait
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            err.join()


def dump_globals(conn, tool, path) -> Ran:
    """pg_dumpall --globals-only into path."""
    files.create_private(path).close()
    with child_env(conn, program=tool.path) as env:
        return completed(run(pg_dumpall_globals_args(tool, conn, path), env=env))


# -- encrypted on the way -------------------------------------------------------

@dataclass(frozen=True)
class Pipeline:
    """What ran; `steps` from the file end back to pg_dump, the order their failures explain each other."""

    steps: list[Ran]
    lister: Ran | None = None  # the table of contents read on the way (custom archives)
    tail: bytes = b""  # the plaintext's last bytes


def dump_encrypted(conn, tool, partial, *, encrypt: list[str], what: str, snapshot: str | None = None,
                   compressor=None, lister=None) -> Pipeline:
    """pg_dump (what: custom, sql) or pg_dumpall (what: globals) into `encrypt`, which writes partial.

    encrypt: the encrypting program's argument list (crypto's age, writing the file itself).
    compressor: between pg_dump and it (plain SQL). lister: a pg_restore reading
    the archive's table of contents back on the way (custom archives).
    """
    files.create_private(partial).close()
    if what == "globals":
        dump_args = pg_dumpall_globals_args(tool, conn, None)
    else:
        dump_args = pg_dump_args(tool, conn, what, snapshot)
    list_args = pg_restore_list_args(lister, None) if lister is not None else None
    with child_env(conn, program=tool.path) as env, child_env() as plain:
        return _Pipe(plain).run(spawn(dump_args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE),
                                encrypt=encrypt, compressor=compressor, list_args=list_args)


@dataclass
class _Step:
    proc: subprocess.Popen
    err: Drain | None = None


class _Pipe:
    def __init__(self, env: dict):
        self.env, self.steps, self.lister = env, [], None

    def run(self, dump: subprocess.Popen, *, encrypt, compressor, list_args) -> Pipeline:
        self._add(dump)
        try:
            sink = self._downstream(encrypt, compressor)
            if list_args:
                self.lister = _Step(spawn(list_args, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE))
                self.lister.err = Drain(self.lister.proc.stderr)
                Drain(self.lister.proc.stdout)  # the listing itself is not needed, only that it reads
            tail = self._pump(dump, sink)
        except BaseException:
            for step in [*self.steps, self.lister]:
                if step and step.proc.poll() is None:
                    step.proc.kill()
            raise
        finally:
            self._end()
        lister = ran(self.lister.proc, self.lister.err.data) if self.lister else None
        return Pipeline([ran(s.proc, s.err.data) for s in self.steps], lister, tail)

    def _add(self, proc) -> _Step:
        step = _Step(proc, Drain(proc.stderr))
        self.steps.insert(0, step)
        return step

    def _downstream(self, encrypt: list[str], compressor):
        """Start what follows pg_dump; returns the stream to write pg_dump's output into."""
        if compressor is None:
            return self._add(self._encryptor(encrypt, subprocess.PIPE)).proc.stdin
        comp = self._add(spawn(list(compressor.compress), env=self.env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        self._add(self._encryptor(encrypt, comp.proc.stdout))
        comp.proc.stdout.close()  # the encryptor alone reads it now
        return comp.proc.stdin

    def _encryptor(self, encrypt: list[str], stdin) -> subprocess.Popen:
        return spawn(encrypt, env=self.env, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _pump(self, dump, sink) -> bytes:
        tail, listing = b"", self.lister is not None
        while chunk := dump.stdout.read(files.CHUNK):
            tail = (tail + chunk)[-TAIL:]
            try:
                sink.write(chunk)
            except BrokenPipeError:
                dump.kill()  # the file side failed; its own exit status says why
                break
            if listing:
                listing = _write_or_stop(self.lister.proc.stdin, chunk)
        return tail

    def _end(self) -> None:
        for step in reversed(self.steps):  # from pg_dump down to the encryptor: each sees its input end
            if step.proc.stdin:
                _close(step.proc.stdin)
            if step.proc.stdout:
                step.proc.stdout.close()
            step.proc.wait()
            step.err.join()
        if self.lister:
            _close(self.lister.proc.stdin)
            self.lister.proc.wait()
            self.lister.err.join()


def _write_or_stop(stream, chunk: bytes) -> bool:
    """pg_restore --list stops reading after the table of contents: that is its success, not an error."""
    try:
        stream.write(chunk)
        return True
    except BrokenPipeError:
        return False


def _close(stream) -> None:
    try:
        stream.close()
    except (BrokenPipeError, ValueError):
        pass


def _stop(*procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _kill_group(proc) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
