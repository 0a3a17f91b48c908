"""Directory-format backups in object storage: each file once by its content, the backup as its manifest.

Real pagila copies backed up with pg_dump -Fd and uploaded through the
console's own services to each kind's real server (S3 on moto_server, GCS,
SFTP, a folder): a second backup uploads only the files that changed; with
the local folders gone, a backup restores, verifies and is adopted from
the bucket alone; pruning one backup leaves the blobs another still names;
a damaged or missing blob is named by the verification of every backup that
uses it, and a restore refuses before it creates anything; a prune and an
upload of the same store never meet (blob_sweep.py's locks).
tests/test_offsite_dedup_kill.py kills uploads and prunes with -9.
"""

import logging

import pytest

from backups_app.models import BackupRecord, BackupStorage, RestoreRecord, RetentionPolicy, VerificationRecord
from backups_app.services.adoption import from_storage
from backups_app.services.backups import copy_offsite
from backups_app.services.retention import prune as pruning
from backups_app.services.storage import blob_sweep, blobs, downloads, offsite
from tests.dbcompare import row_counts
from tests.restore_helpers import dropping, make_backup, run_restore, run_verify

pytest_plugins = ["tests.storage_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.requires("sshd", "ssh-keygen", package="openssh-server")]


def fresh(backup) -> BackupRecord:
    return BackupRecord.objects.select_related("target", "offsite_storage").get(pk=backup.pk)


def blob_keys(remote) -> set[str]:
    return {k for k in remote.keys() if blobs.sha_of_key(k)}


def listing(remote, backup) -> dict[str, str]:
    return blobs.parse(remote.read(backup.offsite_key).decode())


@pytest.fixture
def source(pagila, fresh_db):
    return fresh_db("pagila_dedup_source", template=pagila)


@pytest.fixture
def target(source, make_target, backup_root, remote_storage):
    BackupStorage.objects.update(keep_local_copy=False)
    return make_target(source)


def add_rows(cluster, dbname: str) -> None:
    cluster.sql("INSERT INTO actor (first_name, last_name) SELECT 'NEW', 'ACTOR ' || g FROM generate_series(1, 50) g",
                dbname=dbname)


def test_a_second_backup_uploads_only_what_changed_and_restores_from_the_bucket_after_the_first_is_pruned(
        pg_cluster, source, target, remote, remote_storage, settings):
    first = fresh(make_backup(target, "directory"))
    assert (first.offsite_status, first.local_removed) == ("uploaded", True), first.offsite_detail
    assert not first.absolute_path.exists()
    assert first.offsite_key == remote.key(first.path)
    assert remote.label(first.offsite_key) == first.sha256
    names = listing(remote, first)
    assert blob_keys(remote) == {blobs.blob_key(offsite.store(remote_storage), s) for s in names.values()}
    assert f"{len(set(names.values())) + 1} of {len(names) + 1} files new to the store" in first.offsite_detail \
        or f"of {len(names) + 1} files new to the store" in first.offsite_detail
    before = blob_keys(remote)

    add_rows(pg_cluster, source)
    second = fresh(make_backup(target, "directory"))
    assert second.offsite_status == "uploaded", second.offsite_detail
    added = blob_keys(remote) - before
    changed = {n for n, s in listing(remote, second).items() if s not in set(names.values())}
    # The actor table's data and the table of contents: everything else was already there.
    assert len(added) == len(changed) and 1 <= len(changed) <= 3, changed
    assert "toc.dat" in changed
    assert f"{len(changed) + 1} of {len(names) + 1} files new to the store" in second.offsite_detail

    policy = RetentionPolicy.objects.create(name="one", target=target, keep_days=None, keep_last=1, min_keep=1)
    assert [r.pk for r in pruning.prune_policy(policy_id=policy.pk, started_by="test")] == [first.pk]
    first = fresh(first)
    assert (first.status, first.offsite_status) == ("pruned", "deleted"), first.offsite_detail
    assert first.offsite_key not in remote.keys()
    store = offsite.store(remote_storage)
    assert blob_keys(remote) == {blobs.blob_key(store, s) for s in listing(remote, second).values()}
    assert "deleted " in first.offsite_detail and "blob" in first.offsite_detail

    with dropping(pg_cluster, "pagila_dedup_restored"):
        restored = run_restore(fresh(second), "pagila_dedup_restored", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_dedup_restored") == row_counts(pg_cluster, source)
    check = run_verify(fresh(second))
    assert check.status == "succeeded", check.error
    assert list(settings.BACKUP_SCRATCH_DIR.iterdir()) == []


def test_a_damaged_blob_is_named_by_the_verification_of_every_backup_that_uses_it(
        pg_cluster, source, target, remote, remote_storage):
    first, second = (fresh(make_backup(target, "directory")) for _ in range(2))
    shared = sorted(set(listing(remote, first).items()) & set(listing(remote, second).items()))
    name, sha = next((n, s) for n, s in shared if n.endswith((".gz", ".zst", ".lz4")))
    remote.tamper(blobs.blob_key(offsite.store(remote_storage), sha))

    for backup in (first, second):
        check = run_verify(fresh(backup))
        assert check.status == "failed"
        assert f"its file {name}" in check.error, check.error
    with dropping(pg_cluster, "pagila_dedup_refused"):
        restored = run_restore(fresh(second), "pagila_dedup_refused", force=True)  # past its failed verification
        assert restored.status == "failed" and f"its file {name} is damaged in the store" in restored.error
        assert not pg_cluster.sql("SELECT 1 FROM pg_database WHERE datname = 'pagila_dedup_refused'")


def test_a_missing_blob_fails_restore_in_one_line_and_a_folder_backup_is_not_downloaded(
        pg_cluster, source, target, remote, remote_storage):
    backup = fresh(make_backup(target, "directory"))
    name, sha = sorted(listing(remote, backup).items())[0]
    offsite.store(remote_storage).delete(blobs.blob_key(offsite.store(remote_storage), sha))
    with dropping(pg_cluster, "pagila_dedup_missing"):
        restored = run_restore(backup, "pagila_dedup_missing")
        assert restored.status == "failed"
        assert f"its file {name} is missing from the store" in restored.error
        assert "\n" not in restored.error
        assert not pg_cluster.sql("SELECT 1 FROM pg_database WHERE datname = 'pagila_dedup_missing'")
    with pytest.raises(downloads.DownloadRefused, match="directory-format backup"):
        downloads.open_file(backup)


def test_folder_backups_kept_only_in_the_bucket_are_adopted_from_their_manifests(
        source, target, remote, remote_storage):
    made = [fresh(make_backup(target, "directory")) for _ in range(2)]
    for model in (RestoreRecord, VerificationRecord, BackupRecord):  # the console's records are lost
        model.objects.all().delete()
    found = from_storage.adopt_from_storages()
    assert [f.problem for f in found] == ["", ""]
    again = list(BackupRecord.objects.order_by("created_at"))
    assert [(b.path, b.sha256, b.size_bytes, b.offsite_key, b.format, b.offsite_status) for b in again] == [
        (b.path, b.sha256, b.size_bytes, b.offsite_key, "directory", "uploaded") for b in made]


def test_a_prune_deletes_no_blob_while_an_upload_of_the_store_is_running(source, target, remote, remote_storage):
    backup = fresh(make_backup(target, "directory"))
    store = offsite.store(remote_storage)
    store.delete(backup.offsite_key)  # its blobs are named by no manifest now
    BackupRecord.objects.filter(pk=backup.pk).update(offsite_status="uploading")
    with blob_sweep.uploading(store, backup.pk):
        lines = blob_sweep.sweep(store)
    assert any("an upload is running" in line for line in lines), lines
    assert blob_keys(remote)  # nothing deleted

    # What a kill -9 leaves: its upload's lock (the backup no longer uploading) and a blob half sent; the next
    # prune removes them and the blobs no manifest names, and says so.
    blob_sweep._write_lock(store, blob_sweep._lock_key(store, f"upload-{backup.pk}-dead"), backup=backup.pk)
    half = store.leave_unfinished(blobs.blob_key(store, "ab" * 32))
    BackupRecord.objects.filter(pk=backup.pk).update(offsite_status="failed")
    lines = blob_sweep.sweep(store)
    assert f"removed the lock upload-{backup.pk}-dead left by a stopped upload" in lines
    assert any(line.startswith("deleted ") and "blobs no backup names" in line for line in lines), lines
    assert any(line.startswith("aborted 1 unfinished") for line in lines) == bool(half and remote.kind != "gcs")
    assert remote.unfinished() == []
    assert blob_keys(remote) == set() and not [k for k in remote.keys() if "/store/locks/" in k]


def test_an_upload_waits_while_a_prune_holds_the_store(source, target, remote, remote_storage, settings, caplog):
    settings.OFFSITE_STORE_LEASE_SECONDS = 5
    BackupStorage.objects.update(is_default=False)
    backup = fresh(make_backup(target, "directory"))  # kept here: copied offsite below, on request
    BackupStorage.objects.update(is_default=True)
    store = offsite.store(remote_storage)
    blob_sweep._write_lock(store, blob_sweep._lock_key(store, "prune-held"))  # a prune that was killed
    with caplog.at_level(logging.INFO, logger="backups_app.services.storage.blob_sweep"):
        backup = copy_offsite.copy_offsite(backup)
    assert backup.offsite_status == "uploaded", backup.offsite_detail
    assert "waiting for the prune holding" in caplog.text
    assert run_verify(backup).status == "succeeded"


def test_a_blob_deleted_before_the_manifest_lands_is_uploaded_again_before_the_copy_is_recorded(
        source, target, remote, remote_storage, monkeypatch, caplog):
    first = fresh(make_backup(target, "directory"))
    store = offsite.store(remote_storage)
    victim = blobs.blob_key(store, sorted(listing(remote, first).values())[0])
    kind = type(store)
    put_file = kind.put_file

    def prune_got_in_first(self, path, key, *, sha256):  # as a prune that took no lock would
        if key.endswith(".dir"):
            self.delete(victim)
        return put_file(self, path, key, sha256=sha256)

    monkeypatch.setattr(kind, "put_file", prune_got_in_first)
    with caplog.at_level(logging.WARNING, logger="backups_app.services.storage.blobs"):
        second = fresh(make_backup(target, "directory"))
    assert second.offsite_status == "uploaded", second.offsite_detail
    assert victim in remote.keys()
    assert "1 blobs were gone after the manifest was written and were uploaded again" in caplog.text
    monkeypatch.setattr(kind, "put_file", put_file)
    check = run_verify(second)
    assert check.status == "succeeded", check.error


def test_a_prune_that_cannot_read_every_manifest_deletes_no_blob(source, target, remote, remote_storage):
    first, second = (fresh(make_backup(target, "directory")) for _ in range(2))
    blobs_before = blob_keys(remote)
    remote.tamper(second.offsite_key)  # its label no longer matches: what it names is unknown
    policy = RetentionPolicy.objects.create(name="one", target=target, keep_days=None, keep_last=1, min_keep=1)
    assert [r.pk for r in pruning.prune_policy(policy_id=policy.pk, started_by="test")] == [first.pk]
    first = fresh(first)
    assert first.offsite_key not in remote.keys()
    assert "blobs no backup names were left for the next prune" in first.offsite_detail, first.offsite_detail
    assert blob_keys(remote) == blobs_before
