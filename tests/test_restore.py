"""Restoring pagila backups through the restore service: new names, existing databases, overwrite."""

import pytest

from backups_app.models import BackupRecord
from backups_app.services import dump, restore
from tests.dbcompare import object_counts, row_counts

pytestmark = pytest.mark.django_db


def make_backup(target, fmt):
    record = dump.backup_execute(record_id=dump.backup_create(target=target, backup_type="manual", fmt=fmt).pk)
    assert record.status == "succeeded", record.error
    return record


def run_restore(backup, into, **options):
    record = restore.restore_create(backup=backup, into=into, started_by="test", **options)
    return restore.restore_execute(record_id=record.pk)


@pytest.fixture
def drop_after(pg_cluster):
    names = []
    yield names.append
    for name in names:
        pg_cluster.dropdb(name)


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_a_backup_restores_into_a_new_database_under_another_name(
    pg_cluster, pagila, make_target, backup_root, drop_after, fmt
):
    backup = make_backup(make_target(pagila), fmt)
    into = f"pagila_copy_{fmt}"
    drop_after(into)
    record = run_restore(backup, into)
    assert record.status == "succeeded", record.error
    assert object_counts(pg_cluster, into) == object_counts(pg_cluster, pagila)
    assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)
    assert record.duration_seconds > 0
    assert BackupRecord.objects.filter(is_safety_backup=True).count() == 0
