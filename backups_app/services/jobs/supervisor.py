"""Running the web server and the qcluster worker side by side, and stopping both cleanly (manage.py runconsole).

Stopping, on SIGTERM or Ctrl-C: the web server stops at once; the worker is
asked to stop, which lets running jobs finish. Jobs still running after
stop_timeout seconds (or at a second Ctrl-C) are interrupted: the worker is
signalled a second time, as a second Ctrl-C would, and interrupts its jobs
itself, so each job stops its own programs, ends failed "interrupted by
SIGTERM" and removes its temporary file. Its programs are never signalled
from here one by one: in a pipeline the first to die breaks the others'
pipes, and the job would end with that accident (pg_dump killed by SIGPIPE)
instead of the stop. Whatever is still alive after that is killed; the
reaper then fails its jobs as "job lost" at the next start.
"""

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
KILL_GRACE_SECONDS = 30


@dataclass
class Child:
    name: str
    argv: list[str]
    popen: subprocess.Popen | None = None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum) -> None:
        if self.alive:
            try:
                os.kill(self.popen.pid, signum)
            except ProcessLookupError:
                pass


def _own_group_dies_with_parent():
    # Its own process group: Ctrl-C in a terminal reaches only the supervisor, which decides.
    # SIGTERM if the supervisor dies: the child then stops as if asked.
    os.setpgid(0, 0)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def web_argv(addrport: str, *, threads: int = 8) -> list[str]:
    # From whatever folder runconsole was started in: the checkout's modules and gunicorn settings.
    base = Path(__file__).resolve().parents[3]
    return [sys.executable, "-m", "gunicorn", "backupconsole.wsgi:application", "--chdir", str(base),
            "--config", str(base / "gunicorn.conf.py"), "--bind", addrport, "--workers", "1",
            "--threads", str(threads), "--graceful-timeout", "10", "--access-logfile", "-"]


def worker_argv(manage_py: Path, *, stop_timeout: float = 0) -> list[str]:
    # The worker's own grace outlasts ours: this supervisor decides when running jobs are interrupted.
    grace = stop_timeout + KILL_GRACE_SECONDS if stop_timeout else 0
    return [sys.executable, str(manage_py), "qcluster", "--grace", str(grace)]


class Supervisor:
    def __init__(self, children: list[Child], *, stop_timeout: float, out=None):
        self.children = children
        self.stop_timeout = stop_timeout
        self.out = out or sys.stderr
        self._stop = threading.Event()
        self._hurry = threading.Event()

    def say(self, message: str) -> None:
        self.out.write(f"runconsole: {message}\n")
        self.out.flush()

    def request_stop(self, signum=None, frame=None) -> None:
        if self._stop.is_set():
            self._hurry.set()
        self._stop.set()

    def run(self) -> int:
        """Start every child, wait for a stop request or a child's death, then stop them all; the exit status."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        for child in self.children:
            child.popen = subprocess.Popen(child.argv, preexec_fn=_own_group_dies_with_parent)
            self.say(f"started {child.name} (pid {child.popen.pid})")
        while not self._stop.wait(0.5):
            dead = [c for c in self.children if not c.alive]
            if dead:
                self.say(f"{dead[0].name} exited with status {dead[0].popen.returncode}; stopping the rest")
                self.shutdown()
                return 1
        self.shutdown()
        return 0

    def shutdown(self) -> None:
        for child in self.children:
            child.signal(signal.SIGTERM)
        if not self._wait_all(self.stop_timeout, hurry=True):
            self.say("jobs are still running: interrupting them (they end failed)")
            for child in self.children:
                child.signal(signal.SIGTERM)  # the second request: the worker interrupts its jobs (qcluster.py)
            if not self._wait_all(KILL_GRACE_SECONDS):
                self.say("still not stopped: killing what is left")
                for child in self.children:
                    _kill_group(child.popen.pid)
                self._wait_all(10)
        self.say("stopped")

    def _wait_all(self, seconds: float, *, hurry: bool = False) -> bool:
        deadline = time.monotonic() + seconds
        while any(c.alive for c in self.children):
            if time.monotonic() >= deadline or (hurry and self._hurry.is_set()):
                return False
            time.sleep(0.1)
        return True


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
