"""Each object storage's shared files are swept at least every OFFSITE_SWEEP_HOURS, even when no prune runs.

A real S3 server (moto_server) and real directory backups: blobs no manifest names (what a prune killed
after deleting a manifest leaves) go at the next due sweep, run by the workers' reaper round and by
`backup --cleanup`; a sweep that is not due, or that another worker took, does nothing.
"""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from backups_app.models import BackupRecord, BackupStorage
from backups_app.services.storage import blobs, offsite, store_sweep
from tests.restore_helpers import make_backup

pytest_plugins = ["tests.storage_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def target(pagila, make_target, backup_root, remote_storage):
    return make_target(pagila)


def orphan_blob(store) -> str:
    """A blob no manifest names, as a prune killed between its manifest and its blobs leaves one."""
    data = b"left by a killed prune " + timezone.now().isoformat().encode()
    key = blobs.blob_key(store, hashlib.sha256(data).hexdigest())
    store.put_bytes(key, data, sha256=hashlib.sha256(data).hexdigest())
    return key


@pytest.mark.parametrize("remote", ["s3"], indirect=True)
def test_blobs_no_manifest_names_go_at_the_next_due_sweep_and_the_storage_says_so(
        target, remote, remote_storage, settings):
    backup = make_backup(target, "directory")
    store = offsite.store(remote_storage)
    used = set(remote.keys())
    key = orphan_blob(store)
    lines = store_sweep.sweep_due()
    assert key not in remote.keys() and used <= set(remote.keys())
    assert any(line.startswith(f"{remote_storage.name}: ") and "blob" in line for line in lines), lines
    storage = BackupStorage.objects.get(pk=remote_storage.pk)
    assert storage.swept_at is not None and "nothing to remove" not in storage.sweep_detail
    # Not due again for OFFSITE_SWEEP_HOURS: a new orphan waits.
    key = orphan_blob(store)
    assert store_sweep.sweep_due() == [] and key in remote.keys()
    # A day later it is due: `backup --cleanup` sweeps it and prints what it did.
    BackupStorage.objects.filter(pk=storage.pk).update(swept_at=timezone.now() - timedelta(hours=25))
    out = StringIO()
    call_command("backup", "--cleanup", stdout=out)
    assert key not in remote.keys() and f"{remote_storage.name}: " in out.getvalue()
    assert BackupRecord.objects.get(pk=backup.pk).offsite_status == "uploaded"
    assert set(blobs.parse(remote.read(backup.offsite_key).decode()).values()) <= \
        {blobs.sha_of_key(k) for k in remote.keys()}


@pytest.mark.parametrize("remote", ["s3"], indirect=True)
def test_storages_without_directory_backups_and_a_zero_interval_are_left_alone(
        target, remote, remote_storage, settings):
    make_backup(target, "custom")
    assert store_sweep.sweep_due() == []
    assert BackupStorage.objects.get(pk=remote_storage.pk).swept_at is None
    make_backup(target, "directory")
    settings.OFFSITE_SWEEP_HOURS = 0
    assert store_sweep.sweep_due() == []
    assert BackupStorage.objects.get(pk=remote_storage.pk).swept_at is None


@pytest.mark.parametrize("remote", ["s3"], indirect=True)
def test_a_storage_that_cannot_be_swept_records_why_and_the_round_goes_on(
        target, remote, remote_storage, monkeypatch):
    make_backup(target, "directory")
    BackupStorage.objects.filter(pk=remote_storage.pk).update(endpoint_url="http://127.0.0.1:9")  # nothing listens
    store_sweep.each_round()  # never raises
    storage = BackupStorage.objects.get(pk=remote_storage.pk)
    assert storage.swept_at is not None and "cannot sweep" in storage.sweep_detail


def test_the_workers_reaper_runs_the_sweep_every_round():
    from backups_app.services.jobs import reaper

    assert store_sweep.each_round in reaper._each_round
