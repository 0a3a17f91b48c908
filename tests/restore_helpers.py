"""Small helpers shared by the restore, verify, globals and TimescaleDB tests."""

import contextlib

from backups_app.services.backups import dump
from backups_app.services.restores import restore
from backups_app.services.verify import verify
from tests.faultkit import flip_byte  # noqa: F401  (the restore tests' name for it)


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


def truncate(path, keep_fraction=0.6):
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(int(size * keep_fraction))
