"""Offsite copies against a real S3 API server (moto_server): upload, list, restore and verify from S3 only, prune."""

import hashlib

import pytest

from backups_app.models import BackupRecord, RetentionPolicy
from backups_app.services.retention import prune as pruning
from tests.dbcompare import row_counts
from tests.restore_helpers import dropping, make_backup, run_restore, run_verify
from tests.s3server import PREFIX

pytest_plugins = ["tests.s3_fixtures"]
pytestmark = pytest.mark.django_db


def keys_of(backup: BackupRecord) -> list[str]:
    return sorted([f"{PREFIX}/{backup.path}", f"{PREFIX}/{backup.globals_path}"])


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_a_backup_is_uploaded_with_its_checksum_and_the_local_copy_kept(pagila, make_target, backup_root, s3_server,
                                                                        s3_storage, fmt):
    backup = make_backup(make_target(pagila), fmt)
    backup.refresh_from_db()
    assert (backup.offsite_status, backup.offsite_storage, backup.local_removed) == ("uploaded", s3_storage, False)
    assert s3_server.keys() == keys_of(backup)
    head = s3_server.head(backup.offsite_key)
    assert head["Metadata"]["sha256"] == backup.sha256
    assert head["ContentLength"] == backup.size_bytes
    assert sha256_of(s3_server.read(backup.offsite_key)) == backup.sha256
    assert backup.absolute_path.is_file()
    assert "uploaded to s3://bc-offsite-test/consoles/test/database/manual/" in backup.offsite_detail


def test_a_target_without_storage_and_no_default_stays_local_only(pagila, make_target, backup_root, s3_server,
                                                                 s3_storage):
    s3_storage.is_default = False
    s3_storage.save()
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    assert (backup.offsite_status, backup.offsite_key) == ("", "")
    assert s3_server.keys() == []


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_with_the_local_copy_removed_a_restore_reads_the_backup_from_s3(pg_cluster, pagila, make_target, backup_root,
                                                                       s3_server, s3_storage, settings, fmt):
    s3_storage.keep_local_copy = False
    s3_storage.save()
    backup = make_backup(make_target(pagila), fmt)
    backup.refresh_from_db()
    assert backup.local_removed and not backup.absolute_path.exists()
    assert not (backup_root / backup.globals_path).exists()
    into = f"pagila_from_s3_{fmt}"
    with dropping(pg_cluster, into):
        record = run_restore(backup, into, with_globals=True)
        assert record.status == "succeeded", record.error
        assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)
    assert list(settings.BACKUP_SCRATCH_DIR.iterdir()) == []  # the fetched copy is gone again
    assert not backup.absolute_path.exists()


def test_single_tables_restore_from_s3_only(pg_cluster, pagila, make_target, backup_root, s3_server, s3_storage):
    s3_storage.keep_local_copy = False
    s3_storage.save()
    backup = make_backup(make_target(pagila))
    with dropping(pg_cluster, "pagila_one_table_s3"):
        record = run_restore(BackupRecord.objects.get(pk=backup.pk), "pagila_one_table_s3", tables=["public.actor"])
        assert record.status == "succeeded", record.error
        assert pg_cluster.sql("SELECT count(*) FROM actor", dbname="pagila_one_table_s3") == [(200,)]


def test_verification_and_a_drill_read_from_s3_and_a_changed_object_fails(pagila, make_target, backup_root,
                                                                         s3_server, s3_storage, settings):
    s3_storage.keep_local_copy = False
    s3_storage.save()
    backup = make_backup(make_target(pagila))
    record = run_verify(BackupRecord.objects.get(pk=backup.pk), drill=True)
    assert record.status == "succeeded", record.detail
    assert "fetched from consoles/test/database/manual/" in record.detail
    assert "drill: restore #" in record.detail

    # Someone replaces the object (same label, other bytes): the sha256 check on the way in catches it.
    damaged = bytearray(s3_server.read(backup.offsite_key))
    damaged[len(damaged) // 2] ^= 0xFF
    s3_server.client().put_object(Bucket="bc-offsite-test", Key=backup.offsite_key, Body=bytes(damaged),
                                  Metadata={"sha256": backup.sha256})
    record = run_verify(BackupRecord.objects.get(pk=backup.pk))
    assert record.status == "failed"
    assert "does not match its checksum" in record.error
    assert list(settings.BACKUP_SCRATCH_DIR.iterdir()) == []


def test_a_restore_of_a_damaged_object_is_refused_before_anything_is_created(pg_cluster, pagila, make_target,
                                                                            backup_root, s3_server, s3_storage):
    s3_storage.keep_local_copy = False
    s3_storage.save()
    backup = make_backup(make_target(pagila))
    s3_server.client().put_object(Bucket="bc-offsite-test", Key=backup.offsite_key, Body=b"not an archive",
                                  Metadata={"sha256": backup.sha256})
    with dropping(pg_cluster, "pagila_damaged_s3"):
        record = run_restore(BackupRecord.objects.get(pk=backup.pk), "pagila_damaged_s3")
        assert record.status == "failed"
        assert "ended after 14 of" in record.error or "does not match its checksum" in record.error
        assert "pagila_damaged_s3" not in {r[0] for r in pg_cluster.sql("SELECT datname FROM pg_database")}


def test_pruning_deletes_the_objects_and_the_local_files_and_records_it(pagila, make_target, backup_root, s3_server,
                                                                        s3_storage):
    target = make_target(pagila)
    old, new = make_backup(target), make_backup(target)
    policy = RetentionPolicy.objects.create(name="one", target=target, keep_days=None, keep_last=1, min_keep=1)
    pruned = pruning.prune_policy(policy_id=policy.pk, started_by="test")
    assert [r.pk for r in pruned] == [old.pk]
    old.refresh_from_db()
    assert (old.status, old.offsite_status) == ("pruned", "deleted")
    assert f"deleted s3://bc-offsite-test/{PREFIX}/{old.path}" in old.offsite_detail
    assert not (backup_root / old.path).exists() and not (backup_root / old.globals_path).exists()
    new.refresh_from_db()
    assert s3_server.keys() == keys_of(new)


def test_pruning_keeps_a_backup_whose_objects_cannot_be_deleted(pagila, make_target, backup_root, s3_server,
                                                                s3_storage, settings):
    target = make_target(pagila)
    old, _new = make_backup(target), make_backup(target)
    policy = RetentionPolicy.objects.create(name="one", target=target, keep_days=None, keep_last=1, min_keep=1)
    s3_server.stop()
    assert pruning.prune_policy(policy_id=policy.pk, started_by="test") == []
    old.refresh_from_db()
    assert (old.status, old.offsite_status) == ("succeeded", "uploaded")
    assert "prune could not delete" in old.offsite_detail
    assert (backup_root / old.path).is_file()


def test_a_failed_upload_is_retried_then_shown_while_the_backup_stays_good(pagila, make_target, backup_root,
                                                                          s3_server, s3_storage, settings, caplog):
    settings.OFFSITE_UPLOAD_ATTEMPTS = 2
    s3_server.stop()
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    assert (backup.status, backup.offsite_status, backup.local_removed) == ("succeeded", "failed", False)
    assert backup.offsite_detail.startswith(
        "upload failed after 2 attempts; the local copy is kept: endpoint: cannot upload")
    assert backup.absolute_path.is_file()
    assert sum("upload attempt" in r.getMessage() for r in caplog.records) == 2
    record = run_verify(backup)
    assert record.status == "succeeded", record.detail
    assert "fetched from" not in record.detail


def test_credentials_come_only_from_the_variables_the_storage_names(pagila, make_target, backup_root, s3_server,
                                                                   s3_storage, monkeypatch):
    monkeypatch.delenv("BC_TEST_S3_SECRET_KEY")
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    assert backup.offsite_status == "failed"
    assert "the environment variable BC_TEST_S3_SECRET_KEY is not set" in backup.offsite_detail
    assert "testing-access-key" not in backup.offsite_detail


def test_a_directory_format_backup_without_its_manifest_is_not_uploaded_and_says_why(
        make_target, backup_root, s3_server, s3_storage):
    from backups_app.services.storage import offsite

    folder = backup_root / "database" / "manual" / "shop_manual_1.dir"
    folder.mkdir(parents=True)
    (folder / "toc.dat").write_bytes(b"archive")
    record = BackupRecord.objects.create(target=make_target("shop"), backup_type="manual", format="directory",
                                         status="succeeded", path="database/manual/shop_manual_1.dir")
    offsite.after_backup(record)
    record.refresh_from_db()
    assert record.offsite_status == "failed"
    assert "the folder's MANIFEST.sha256 cannot be read: No such file or directory" in record.offsite_detail
    assert "the local copy is kept" in record.offsite_detail
    assert s3_server.keys() == [] and (folder / "toc.dat").is_file()
