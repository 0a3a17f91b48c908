"""The one way tests start the console as a separate process: this checkout's `python manage.py ...`.

`console_env(base, cluster, dbname)` is an environment of its own for such a
process (SQLite file, BACKUP_ROOT and VAR_DIR under base, DB_* pointing at the
test cluster); `manage(...)` runs a command to its end, `start_manage(...)`
starts one and returns at once, `console_rows(env, sql)` reads that console's
database. tests/qcluster.py's Console builds on the same `argv` and `manage`.
"""

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANAGE = ROOT / "manage.py"


def argv(*args) -> list[str]:
    return [sys.executable, str(MANAGE), *args]


def console_env(base: Path, cluster, dbname: str, **extra) -> dict:
    """Environment for a console of its own: SQLite file, BACKUP_ROOT and DB_* under base."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "PG"))}
    env.update(DATABASE_URL=f"sqlite:///{base / 'console.sqlite3'}", VAR_DIR=str(base / "var"),
               BACKUP_ROOT=str(base / "backups"), DB_HOST=cluster.host, DB_PORT=str(cluster.port),
               DB_USER=cluster.user, DB_NAME=dbname, DB_PASSWORD=cluster.password)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def manage(*args, env: dict, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def start_manage(*args, env: dict) -> subprocess.Popen:
    return subprocess.Popen(argv(*args), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def console_rows(env: dict, query: str, params=()) -> list:
    """Read the separate console's SQLite database directly."""
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        return db.execute(query, params).fetchall()
