"""Running django-q2's cluster (manage.py qcluster) so that SIGTERM or SIGINT always stops it within seconds.

django-q2 1.11 stops from inside its signal handler: it sets a multiprocessing
Event and joins the sentinel. When the signal reaches the whole process group
(systemd's default KillMode, supervisord's stopasgroup, `kill -TERM -- -PGID`)
the sentinel dies at once, possibly holding that Event's lock, and the main
process waits for it for ever. Here the handler only sets a flag; the main
loop then stops the cluster by signals alone, touching no shared lock:

  1. the sentinel, pusher and monitor are ended (no new task starts, no worker
     is replaced);
  2. with a grace period, workers are asked to finish their running job
     (SIGUSR1) and given that long;
  3. workers still busy get SIGTERM: their job is interrupted, ends failed
     and removes its files (stopping.install_in_worker);
  4. whatever is left after INTERRUPT_SECONDS is killed; the next command or
     worker then cleans up after it (recovery.py).

The main process is the cluster's subreaper, so workers orphaned by the
sentinel's end are still its children, waited for and never left behind.
"""

import ctypes
import logging
import os
import signal
import time
from pathlib import Path

from django_q.cluster import Cluster

log = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36
INTERRUPT_SECONDS = 20
POLL_SECONDS = 0.1


class GuardedCluster:
    def __init__(self, *, grace: float = 0.0):
        self.grace = grace
        self.sentinel = 0
        self.requests = 0  # signals received: the first stops, a second hurries

    def request_stop(self, signum, frame) -> None:
        self.requests += 1  # nothing else here: a signal handler must take no lock

    def run(self, *, run_once: bool = False) -> None:
        _become_subreaper()
        cluster = Cluster()  # installs django-q2's own handlers, replaced at once
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        cluster.start()
        while not (run_once or self.requests) and cluster.sentinel.is_alive():
            time.sleep(POLL_SECONDS)
        self.stop(cluster)

    def stop(self, cluster) -> None:
        name = cluster.name
        log.info("Q Cluster %s stopping.", name)
        self.sentinel = cluster.sentinel.pid
        # Workers, pusher and monitor. SIGUSR1 and SIGTERM end the pusher and the monitor (their default);
        # a worker leaves once its job is done (SIGUSR1), or interrupts it (SIGTERM).
        kids = _children_of(self.sentinel)
        _signal([self.sentinel], signal.SIGKILL)
        # Not join(): it waits on a pipe the workers hold open too. is_alive() waits for the pid itself.
        deadline = time.monotonic() + 10
        while cluster.sentinel.is_alive() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS / 10)
        if self.grace > 0 and _busy(kids):
            log.info("Q Cluster %s: letting running jobs finish (up to %.0f s)", name, self.grace)
            _signal(kids, signal.SIGUSR1)
            self._wait(kids, self.grace, hurry=True)
        if _busy(kids):
            _signal(kids, signal.SIGTERM)
        if not self._wait(kids + _children_of(os.getpid()), INTERRUPT_SECONDS):
            log.warning("Q Cluster %s: still not stopped, killing what is left", name)
            _signal(kids + _children_of(os.getpid()), signal.SIGKILL)
            self._wait(kids, 10)
        log.info("Q Cluster %s has stopped.", name)

    def _wait(self, pids, seconds: float, *, hurry: bool = False) -> bool:
        """Reap children until pids are gone (True) or seconds pass, or a second signal arrives with hurry."""
        asked = self.requests
        deadline = time.monotonic() + seconds
        while True:
            _reap_children(but=self.sentinel)
            if not _busy(pids):
                return True
            if time.monotonic() >= deadline or (hurry and self.requests > asked):
                return False
            time.sleep(POLL_SECONDS)


def _become_subreaper() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)
    except OSError:
        pass


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, ppid, name) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), raw[raw.index("(") + 1:raw.rindex(")")]


def _children_of(parent: int, *, zombies: bool = False) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st and st[1] == parent and (zombies or st[0] != "Z"):
                found.append(int(entry))
    return found


def _busy(pids) -> bool:
    return any((st := _stat(pid)) and st[0] != "Z" for pid in pids)


def _signal(pids, signum) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _reap_children(*, but: int) -> None:
    """Wait for exited children (the sentinel's orphans among them), but not the sentinel: multiprocessing does."""
    for pid in _children_of(os.getpid(), zombies=True):
        if pid != but:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
