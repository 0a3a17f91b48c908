"""Tools for tests that break things on purpose: big tables, processes, mounts.

Processes are only ever found through their parent (our own pid or our own
cluster's postmaster) and signalled by pid: other PostgreSQL servers on the
machine are never touched.
"""

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

TICKS_SQL = """
CREATE TABLE IF NOT EXISTS ticks AS
SELECT g AS id,
       (ARRAY['USD/JPY','EUR/USD','GBP/USD','AUD/USD','EUR/JPY'])[1 + g % 5] AS pair,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '37 ms' AS ts,
       round((140 + random() * 10)::numeric, 5) AS bid,
       round((140.01 + random() * 10)::numeric, 5) AS ask,
       md5(random()::text) AS trade_ref
FROM generate_series(1, {rows}) g
"""


def make_ticks_db(cluster, dbname: str, rows: int) -> str:
    """A database with one FX tick table; about 110 bytes per row on disk. Kept if it exists."""
    if not cluster.sql("SELECT 1 FROM pg_database WHERE datname = %s", params=(dbname,)):
        cluster.createdb(dbname)
    with cluster.connect(dbname) as c:
        c.execute(TICKS_SQL.replace("{rows}", str(int(rows))))
    return dbname


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.02, what: str = "condition", on_timeout=None):
    """predicate()'s first true value; on a timeout an AssertionError naming what, and on_timeout()'s text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    more = f"\n{on_timeout()}" if on_timeout is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{more}")


# -- processes ---------------------------------------------------------------

def _stat(pid: int):
    """(comm, ppid) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    ppid = int(raw[raw.rindex(")") + 2:].split()[1])
    return comm, ppid


def children(parent: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st and st[1] == parent:
                out.append(int(entry))
    return out


def descendants(parent: int) -> list[int]:
    found, todo = [], [parent]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def exe_name(pid: int) -> str:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def find_running(name: str, *, under: int | None = None) -> int | None:
    """A running process whose executable is `name`, below `under` (default: this process)."""
    for pid in descendants(under or os.getpid()):
        if exe_name(pid) == name:
            return pid
    return None


def running_with_args(*args: str) -> list[int]:
    """Processes whose argument list holds these consecutive arguments (e.g. our own server's port)."""
    needle = b"\0" + b"\0".join(a.encode() for a in args) + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if needle in b"\0" + Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def proc_text(pid: int, what: str) -> bytes:
    """/proc/PID/cmdline or /proc/PID/environ, NUL-separated."""
    return Path(f"/proc/{pid}/{what}").read_bytes()


def crash_cluster(cluster) -> None:
    """SIGKILL our own cluster's postmaster and its children: a crash, not a shutdown."""
    postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
    backends = children(postmaster)
    os.kill(postmaster, signal.SIGKILL)
    for pid in backends:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: all(_stat(p) is None or _zombie(p) for p in [postmaster, *backends]),
             timeout=10, what="the killed server to go away")
    try:
        wait_for(lambda: _stat(postmaster) is None, timeout=5, what="the dead postmaster to be reaped")
    except AssertionError:
        # Our init does not reap orphans: the dead postmaster stays a zombie, and
        # PostgreSQL would take its pid file for a live server. It is stale.
        (cluster.datadir / "postmaster.pid").unlink()


@contextlib.contextmanager
def table_held(cluster, dbname: str, table: str):
    """Hold ACCESS EXCLUSIVE on a table: a pg_dump of that database waits at its LOCK TABLE until the block ends.

    A gate that keeps a dump running for as long as a test needs, however fast the machine.
    """
    with cluster.connect(dbname) as c, c.transaction(force_rollback=True):
        c.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield


def dump_waiting_on_lock(cluster, dbname: str) -> bool:
    """Whether a pg_dump of dbname is waiting for a table lock (see table_held)."""
    return bool(cluster.sql(
        "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' "
        "AND query LIKE 'LOCK TABLE %% IN ACCESS SHARE MODE'", params=(dbname,)))


@contextlib.contextmanager
def dump_stalled_midway(cluster, dbname: str, *, timeout: float = 60):
    """Pause the server process that streams a table's rows to a pg_dump of dbname (SIGSTOP) until the block ends.

    The dump is caught halfway through its data, however fast the machine.
    The process comes from this cluster's own pg_stat_activity, never by name.
    """
    def copying():
        rows = cluster.sql("SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                           "AND query LIKE 'COPY %%TO stdout%%'", params=(dbname,))
        return rows[0][0] if rows else None

    backend = wait_for(copying, timeout=timeout, interval=0.01, what=f"a pg_dump of {dbname} to copy rows")
    os.kill(backend, signal.SIGSTOP)
    try:
        yield backend
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(backend, signal.SIGCONT)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class Saboteur(threading.Thread):
    """Waits in the background until `when()` is true, then does `act()` once."""

    def __init__(self, *, when, act, timeout: float = 60):
        super().__init__(daemon=True)
        self.when, self.act, self.timeout = when, act, timeout
        self.fired_at, self.error = None, None
        self.start()

    def run(self):
        try:
            wait_for(self.when, timeout=self.timeout, what="the moment to strike")
            self.fired_at = time.monotonic()
            self.act()
        except BaseException as exc:  # reported by the test through .error
            self.error = exc

    def done(self):
        self.join(timeout=self.timeout + 30)
        if self.error:
            raise self.error
        assert self.fired_at, "the saboteur never struck"


def partial_growing(folder: Path, min_bytes: int = 2 * 1024 * 1024):
    """True once a temporary backup file (or folder, of a directory backup) below folder holds min_bytes."""
    def check():
        for p in folder.glob("database/*/.*partial-*"):
            try:
                if _bytes_in(p) >= min_bytes:
                    return True
            except OSError:
                pass
        return False
    return check


def _bytes_in(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return path.stat().st_size


# -- mounts (root only) --------------------------------------------------------

def can_mount() -> bool:
    return os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small tmpfs at path (created if needed), unmounted at the end."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise OSError(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount_tmpfs(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True)


@contextlib.contextmanager
def read_only(path: Path):
    """path bind-mounted read-only over itself (root ignores file modes, not this)."""
    proc = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise OSError(f"cannot bind-mount: {proc.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True, capture_output=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def immutable(path: Path):
    """chattr +i: nothing, not even root, may create files in path."""
    proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise OSError(f"cannot chattr +i: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
