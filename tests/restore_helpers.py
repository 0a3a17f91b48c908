"""Small helpers shared by the restore, verify, globals and TimescaleDB tests."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from backups_app.services.backups import dump
from backups_app.services.restores import restore
from backups_app.services.verify import verify


def make_backup(target, fmt="custom"):
    record = dump.backup_execute(record_id=dump.backup_create(target=target, backup_type="manual", fmt=fmt).pk)
    assert record.status == "succeeded", record.error
    return record


def run_restore(backup, into, **options):
    record = restore.restore_create(backup=backup, into=into, started_by="test", **options)
    return restore.restore_execute(record_id=record.pk)


def run_verify(backup, drill=False):
    record = verify.verify_create(backup=backup, drill=drill, started_by="test")
    return verify.verify_execute(record_id=record.pk)


@contextlib.contextmanager
def dropping(cluster, *names):
    """Databases a test makes through the console, dropped at its end whatever happens."""
    try:
        yield
    finally:
        for name in names:
            cluster.dropdb(name)


def database_names(cluster) -> set:
    return {r[0] for r in cluster.sql("SELECT datname FROM pg_database")}


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def truncate(path, keep_fraction=0.6):
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(int(size * keep_fraction))


MANAGE = Path(__file__).resolve().parents[1] / "manage.py"


def console_env(base: Path, cluster, dbname: str) -> dict:
    """Environment for a console process of its own: SQLite file, BACKUP_ROOT and DB_* under base."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "PG"))}
    env.update(DATABASE_URL=f"sqlite:///{base / 'console.sqlite3'}", VAR_DIR=str(base / "var"),
               BACKUP_ROOT=str(base / "backups"), DB_HOST=cluster.host, DB_PORT=str(cluster.port),
               DB_USER=cluster.user, DB_NAME=dbname, DB_PASSWORD=cluster.password)
    return env


def manage(*args, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(MANAGE), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
