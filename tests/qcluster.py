"""A temporary console instance, and real `manage.py qcluster` / `runconsole` processes, for tests.

Everything runs as an operator would run it: subprocesses of this
checkout's manage.py (started through tests/console_process.py) with the
console's own environment (its own SQLite file via DATABASE_URL, its own
BACKUP_ROOT and VAR_DIR). The test reads the
console database directly with sqlite3 and never writes it.

    def test_something(console, pg_cluster):            # fixture from tests/conftest.py
        console.add_target("shop", dbname="shop")       # a DatabaseTarget on the test cluster
        with console.qcluster(workers=2) as cluster:    # a real cluster, stopped at the end
            ids = console.enqueue_backups(["shop"] * 3)  # the admin's path: rows + on_commit enqueue
            rows = console.wait_for_jobs(ids, timeout=120)
        assert all(r["status"] == "succeeded" for r in rows)
        assert "database is locked" not in cluster.log()

Settings for a test go in as environment variables: Console(..., env={"JOB_HEARTBEAT_SECONDS": "1"})
or console.qcluster(env={...}) for one cluster. Other helpers: console.manage(...),
console.shell(code) (Python run by `manage.py shell`, prints go to its return value),
console.rows(sql), console.wait(predicate), console.start_runconsole(port).
"""

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import textwrap
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from tests import console_process
from tests.console_process import ROOT
from tests.faultkit import wait_for

# Settings the caller's environment must not leak into a console under test.
CLEARED = ("DATABASE_URL", "REDIS_URL", "BACKUP_ROOT", "VAR_DIR", "SECRET_KEY", "Q_WORKERS", "DJANGO_SETTINGS_MODULE")


class Console:
    """One console instance: a directory holding its database, backups and logs."""

    def __init__(self, base: Path, *, env: dict | None = None):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.db_path = self.base / "console.sqlite3"
        self.backup_root = self.base / "backups"
        self.tmp = self.base / "tmp"  # the console's own TMPDIR: passfiles and scratch files land here
        self.tmp.mkdir(exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        self.env.update({
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "BACKUP_ROOT": str(self.backup_root),
            "VAR_DIR": str(self.base / "var"),
            "TMPDIR": str(self.tmp),
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DJANGO_SETTINGS_MODULE": "backupconsole.settings",
            "PYTHONUNBUFFERED": "1",
            "LANGUAGE_CODE": "en",
        })
        self.env.update(env or {})
        self.processes: list[Process] = []

    # -- running manage.py ------------------------------------------------
    def manage(self, *args, env: dict | None = None, timeout: float = 300, check: bool = True):
        proc = console_process.manage(*args, env={**self.env, **(env or {})}, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
        return proc

    def migrate(self) -> "Console":
        self.manage("migrate", "--noinput", "-v0")
        return self

    def shell(self, code: str, **kw) -> str:
        """Run Python inside the console (models importable); returns what it printed."""
        return self.manage("shell", "-c", textwrap.dedent(code), **kw).stdout

    def shell_json(self, code: str, **kw):
        """Run Python that prints one JSON document last; returns it decoded."""
        return json.loads(self.shell(code, **kw).strip().splitlines()[-1])

    # -- reading the console database --------------------------------------
    def rows(self, query: str, params=()) -> list[dict]:
        db = sqlite3.connect(self.db_path, timeout=30)
        try:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(query, params)]
        finally:
            db.close()

    def jobs(self, ids, table="backups_app_backuprecord") -> list[dict]:
        marks = ",".join("?" * len(ids))
        rows = self.rows(f"SELECT * FROM {table} WHERE id IN ({marks}) ORDER BY id", list(ids))
        for r in rows:
            for key in ("created_at", "started_at", "finished_at", "heartbeat_at"):
                r[key] = parse_time(r.get(key))
        return rows

    def wait(self, predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
        return wait_for(predicate, timeout=timeout, interval=interval, what=what)

    def wait_for_jobs(self, ids, *, timeout: float, table="backups_app_backuprecord") -> list[dict]:
        """Wait until every job has ended (succeeded or failed); returns the rows."""
        def ended():
            rows = self.jobs(ids, table)
            return rows if all(r["status"] in ("succeeded", "failed") for r in rows) else None
        try:
            return self.wait(ended, timeout=timeout, what=f"jobs {list(ids)} to end")
        except AssertionError:
            states = [(r["id"], r["status"], r["error"]) for r in self.jobs(ids, table)]
            raise AssertionError(f"jobs did not end in {timeout} s: {states}\n{self.logs()}") from None

    # -- making things the way the admin does ------------------------------
    def add_target(self, name: str, *, dbname: str, cluster, password_env: str = "BACKUP_PG_PASSWORD_TEST") -> int:
        """A DatabaseTarget on the test cluster; its password travels in password_env."""
        self.env[password_env] = cluster.password
        return self.shell_json(f"""
            import json
            from backups_app.models import DatabaseTarget
            t = DatabaseTarget.objects.create(name={name!r}, dbname={dbname!r}, host={cluster.host!r},
                port={cluster.port}, user={cluster.user!r}, password_source="env", password_env={password_env!r})
            print(json.dumps(t.pk))
        """)

    def enqueue_backups(self, target_names, *, fmt="custom", backup_type="manual") -> list[int]:
        """Create queued backup rows and enqueue their tasks on commit, as the admin action does."""
        return self.enqueue_backups_timed(target_names, fmt=fmt, backup_type=backup_type)[0]

    def enqueue_backups_timed(self, target_names, *, fmt="custom", backup_type="manual"):
        """Like enqueue_backups; also returns the wall-clock time (epoch s) right after the commit."""
        out = self.shell_json(f"""
            import json, time
            from django.db import transaction
            from backups_app.models import DatabaseTarget
            from backups_app.services.backups import dump
            from backups_app.services.jobs import queue
            ids = []
            with transaction.atomic():
                for name in {list(target_names)!r}:
                    r = dump.backup_create(target=DatabaseTarget.objects.get(name=name), backup_type={backup_type!r},
                                           fmt={fmt!r}, started_by="test")
                    queue.enqueue_backup(r)
                    ids.append(r.pk)
            print(json.dumps([ids, time.time()]))
        """)
        return out[0], out[1]

    # -- processes ----------------------------------------------------------
    def start_qcluster(self, *, workers: int = 2, env: dict | None = None, ready_timeout: float = 60) -> "Process":
        proc = self.start("qcluster", args=["qcluster"], env={"Q_WORKERS": str(workers), **(env or {})})
        proc.wait_for_log("Q Cluster", "running", timeout=ready_timeout)
        return proc

    @contextmanager
    def qcluster(self, *, workers: int = 2, env: dict | None = None):
        proc = self.start_qcluster(workers=workers, env=env)
        try:
            yield proc
        finally:
            proc.stop()

    def start_runconsole(self, port: int, *, env: dict | None = None, args=()) -> "Process":
        proc = self.start("runconsole", args=["runconsole", f"127.0.0.1:{port}", *args], env=env)
        proc.wait_for_log("Q Cluster", "running", timeout=60)
        return proc

    def start(self, name: str, *, args, env: dict | None = None) -> "Process":
        proc = Process(name, console_process.argv(*args), env={**self.env, **(env or {})},
                       log_path=self.base / f"{name}-{len(self.processes)}.log")
        self.processes.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {p.log_path.name}\n{p.log()[-4000:]}" for p in self.processes)

    def close(self) -> None:
        for proc in self.processes:
            proc.stop()


class Process:
    """A manage.py command in its own session, so it and everything it starts can be stopped or killed."""

    def __init__(self, name, argv, *, env, log_path: Path):
        self.name, self.log_path = name, log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, *needles, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(all(n in line for n in needles) for line in self.log().splitlines()):
                return
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not log {needles} within {timeout} s:\n{self.log()[-4000:]}")

    def family(self) -> list[int]:
        """Every live process of this command's session (it and all it started)."""
        return [pid for pid, info in _processes().items() if info["sid"] == self.pid]

    def children_named(self, comm: str) -> list[dict]:
        return [dict(info, pid=pid) for pid, info in _processes().items()
                if info["sid"] == self.pid and info["comm"] == comm]

    def signal(self, signum) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole session at once, as a power loss would."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=30)
        self._wait_family_gone(10)

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, as systemd or Ctrl-C would; SIGKILL whatever is left after timeout."""
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        leftovers = self._wait_family_gone(5)
        if leftovers or self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=30)
        self._log.close()
        return self.popen.returncode

    def _wait_family_gone(self, timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        while (left := self.family()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left


def _processes() -> dict[int, dict]:
    """pid -> {ppid, sid, comm, cmdline} for every live (not zombie) process, from /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue
        out[int(entry)] = {"ppid": int(fields[1]), "sid": int(fields[3]), "comm": comm,
                           "cmdline": [c.decode(errors="replace") for c in cmdline if c]}
    return out


def parse_time(value):
    """Django keeps SQLite datetimes as UTC text."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def overlaps(a, b) -> bool:
    return a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]


@contextmanager
def redis_server(base: Path):
    """A private redis-server on a free port (no persistence); yields its URL."""
    import shutil

    from tests.pgcluster import free_port

    binary = shutil.which("redis-server")
    if not binary:
        raise FileNotFoundError("redis-server is not installed")
    port = free_port()
    base.mkdir(parents=True, exist_ok=True)
    log = open(base / "redis.log", "ab")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(base)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(f"redis-server did not start:\n{(base / 'redis.log').read_text()}") from None
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
