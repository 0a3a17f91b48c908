"""Running programs for the client layer: argument lists only, private files, no orphans.

spawn and run are the only ways a program is started below services/ (besides
age's own, crypto/age.py, and the console's processes, jobs/supervisor.py):
tests/test_architecture.py fails any other. A finished program is a Ran:
its name, exit status and output, for the caller to judge.
"""

import ctypes
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

_libc = None


def _child_setup():
    # Files the child creates are the owner's only, and it dies with us.
    os.umask(0o077)
    global _libc
    try:
        _libc = _libc or ctypes.CDLL("libc.so.6", use_errno=True)
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def pid_namespace() -> str:
    """This process's pid namespace ("pid:[4026531836]"), or "" when the /proc it sees is not that namespace's own.

    A pid means a process only inside its namespace: containers on one
    machine (host networking shares the host name) each number their own.
    With a /proc of another namespace, /proc/PID is not our PID at all.
    """
    try:
        if os.readlink("/proc/self") != str(os.getpid()):
            return ""
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def pid_namespace_tag() -> str:
    """The namespace's number alone ("4026531836"; "" when unknown), for file names that carry a pid."""
    return pid_namespace().removeprefix("pid:[").removesuffix("]")


def spawn(args: list[str], *, env: dict, **kwargs) -> subprocess.Popen:
    assert isinstance(args, list), "argument lists only, never a shell string"
    return subprocess.Popen(args, env=env, preexec_fn=_child_setup, **kwargs)


def run(args: list[str], *, env: dict, timeout: float | None = None, input_bytes=None,
        stdin=None) -> subprocess.CompletedProcess:
    """Run to the end and capture output; never raises on a non-zero exit. stdin: a stream instead of input_bytes."""
    assert isinstance(args, list), "argument lists only, never a shell string"
    return subprocess.run(
        args, env=env, preexec_fn=_child_setup, capture_output=True, timeout=timeout, input=input_bytes, stdin=stdin
    )


@dataclass(frozen=True)
class Ran:
    """A program that ended: what it was, its exit status (negative: the signal that killed it), its output."""

    name: str
    returncode: int
    stderr: bytes = b""
    stdout: bytes = b""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def ran(proc: subprocess.Popen, stderr: bytes = b"", stdout: bytes = b"") -> Ran:
    return _told(Ran(Path(str(proc.args[0])).name, proc.returncode, stderr, stdout))


def completed(proc: subprocess.CompletedProcess) -> Ran:
    return _told(Ran(Path(str(proc.args[0])).name, proc.returncode, proc.stderr or b"", proc.stdout or b""))


# Told of every program that ended (the job log, services/jobs/joblog.py), registered by the app at
# start-up, so that this layer imports nothing above it.
_finished_listeners: list = []


def when_finished(listener) -> None:
    if listener not in _finished_listeners:
        _finished_listeners.append(listener)


def _told(result: Ran) -> Ran:
    for listener in _finished_listeners:
        listener(result)
    return result


def last_lines(data: bytes | str, n: int = 8) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-n:])


class Drain(threading.Thread):
    """Collects a child's stderr without ever blocking it."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.data = stream, b""
        self.start()

    def run(self):
        self.data = self.stream.read()
        self.stream.close()
