"""The one way tests start the console as a separate process: this checkout's `python manage.py ...`.

`console_env(base, cluster, dbname)` is an environment of its own for such a
process (SQLite file, BACKUP_ROOT and VAR_DIR under base, DB_* pointing at the
test cluster), `without_db_settings(env)` the same as a new shell without DB_*,
`write_demo_env(folder, cluster, dbname)` the demo cluster's settings file;
`manage(...)` runs a command to its end, `start_manage(...)`
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


def without_db_settings(env: dict) -> dict:
    """The environment of a new shell on the same console: no DB_* (nor a demo folder named elsewhere)."""
    return {k: v for k, v in env.items() if not k.startswith("DB_") and k != "DEMO_PG_DIR"}


def write_demo_env(folder: Path, cluster, dbname: str) -> Path:
    """demo.env as services/setup/demo.py writes it (0600), naming the test cluster; VAR_DIR made private."""
    folder.parent.mkdir(mode=0o700, exist_ok=True)
    folder.mkdir(mode=0o700, exist_ok=True)
    lines = ["# The demo PostgreSQL cluster of the backup console. Private: it holds the password.",
             f"DB_HOST={cluster.host}", f"DB_PORT={cluster.port}", f"DB_NAME={dbname}", f"DB_USER={cluster.user}",
             f"DB_PASSWORD={cluster.password}", f"DEMO_PG_DATA={folder / 'cluster' / 'data'}"]
    path = folder / "demo.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


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
