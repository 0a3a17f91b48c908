"""Encrypted backups: pg_dump's output is encrypted on its way to the file, so no plaintext copy is ever on disk.

    custom:  pg_dump -> (here) -> age -> partial file
                            \\-> pg_restore --list, reading the archive's table of contents back
    sql:     pg_dump -> (here) -> compressor -> age -> partial file
             (here keeps the script's last 4 kB, to find pg_dump's closing line)

The plaintext passes through this process in fixed-size chunks: the console
may hold only public keys, so what was written cannot be read back by
decrypting it; the checks read the plaintext on its way instead. age writes
the file itself and it is hashed afterwards in one pass, like a custom
archive. Written to a pipe, a custom archive has no data offsets: pg_restore
reads it start to end, and restores that must seek use a decrypted copy.
"""

import subprocess
from dataclasses import dataclass, field

from backups_app.services.crypto import age
from backups_app.services.postgres.proc import Drain, spawn
from backups_app.services.storage import files


@dataclass
class Step:
    name: str
    proc: subprocess.Popen
    err: Drain


@dataclass
class Pipeline:
    """What ran; `steps` from the file end back to pg_dump, the order their failures explain each other."""

    steps: list = field(default_factory=list)
    lister: Step | None = None
    tail: bytes = b""


def run(*, dump_args: list[str], env: dict, partial, recipients: list[str], compress_args: list[str] | None = None,
        list_args: list[str] | None = None) -> Pipeline:
    files.create_private(partial).close()
    done = Pipeline()
    dump = _step(done, dump_args[0], spawn(dump_args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        sink = _downstream(done, env, partial, recipients, compress_args)
        if list_args:
            done.lister = Step(list_args[0], spawn(list_args, env=env, stdin=subprocess.PIPE,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE), None)
            done.lister.err = Drain(done.lister.proc.stderr)
            Drain(done.lister.proc.stdout)  # the listing itself is not needed, only that it reads
        done.tail = _pump(dump.proc, sink, done.lister)
    except BaseException:
        for step in [*done.steps, done.lister]:
            if step and step.proc.poll() is None:
                step.proc.kill()
        raise
    finally:
        _end(done)
    return done


def _step(done: Pipeline, name: str, proc) -> Step:
    step = Step(name, proc, Drain(proc.stderr))
    done.steps.insert(0, step)
    return step


def _downstream(done: Pipeline, env, partial, recipients, compress_args):
    """Start what follows pg_dump; returns the stream to write pg_dump's output into."""
    if not compress_args:
        return _step(done, "age", age.spawn_encrypt(recipients, partial, stdin=subprocess.PIPE)).proc.stdin
    comp = _step(done, compress_args[0], spawn(compress_args, env=env, stdin=subprocess.PIPE,
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    _step(done, "age", age.spawn_encrypt(recipients, partial, stdin=comp.proc.stdout))
    comp.proc.stdout.close()  # age alone reads it now
    return comp.proc.stdin


def _pump(dump, sink, lister: Step | None) -> bytes:
    tail, listing = b"", lister is not None
    while chunk := dump.stdout.read(files.CHUNK):
        tail = (tail + chunk)[-4096:]
        try:
            sink.write(chunk)
        except BrokenPipeError:
            dump.kill()  # the file side failed; its own exit status says why
            break
        if listing:
            listing = _write_or_stop(lister.proc.stdin, chunk)
    return tail


def _write_or_stop(stream, chunk: bytes) -> bool:
    """pg_restore --list stops reading after the table of contents: that is its success, not an error."""
    try:
        stream.write(chunk)
        return True
    except BrokenPipeError:
        return False


def _end(done: Pipeline) -> None:
    for step in reversed(done.steps):  # from pg_dump down to age: each sees its input end
        if step.proc.stdin:
            _close(step.proc.stdin)
        if step.proc.stdout:
            step.proc.stdout.close()
        step.proc.wait()
        step.err.join()
    if done.lister:
        _close(done.lister.proc.stdin)
        done.lister.proc.wait()
        done.lister.err.join()


def _close(stream) -> None:
    try:
        stream.close()
    except (BrokenPipeError, ValueError):
        pass
