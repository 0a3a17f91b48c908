"""Offsite copies against a second, independent S3 implementation: rclone's `serve s3`.

moto (the other offsite tests) answers as AWS does. rclone differs where S3
allows it, e.g. it gives metadata names back capitalised (`Sha256`): the
console must still find the checksum, upload, restore and verify.
"""

import hashlib

import pytest

from backups_app.services.storage.s3 import stored_sha256
from tests.dbcompare import row_counts
from tests.restore_helpers import dropping, make_backup, run_restore, run_verify
from tests.s3server import RcloneS3

pytest_plugins = ["tests.s3_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def s3_server(tmp_path):  # in place of s3_fixtures' moto_server
    server = RcloneS3(tmp_path / "rclone.log").start()
    server.create_bucket()
    yield server
    server.stop()


def test_a_backup_is_uploaded_with_its_checksum(pagila, make_target, backup_root, s3_server, s3_storage):
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    assert backup.offsite_status == "uploaded", backup.offsite_detail
    head = s3_server.head(backup.offsite_key)
    assert "sha256" not in head["Metadata"]  # the name comes back in another case
    assert stored_sha256(head) == backup.sha256
    assert hashlib.sha256(s3_server.read(backup.offsite_key)).hexdigest() == backup.sha256


def test_with_only_the_object_left_a_restore_and_a_verification_read_it(pg_cluster, pagila, make_target, backup_root,
                                                                       s3_server, s3_storage, settings):
    s3_storage.keep_local_copy = False
    s3_storage.save()
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    assert backup.local_removed and not backup.absolute_path.exists()
    verification = run_verify(backup)
    assert verification.status == "succeeded", verification.error
    with dropping(pg_cluster, "pagila_from_rclone"):
        record = run_restore(backup, "pagila_from_rclone", with_globals=True)
        assert record.status == "succeeded", record.error
        assert row_counts(pg_cluster, "pagila_from_rclone") == row_counts(pg_cluster, pagila)
    assert list(settings.BACKUP_SCRATCH_DIR.iterdir()) == []


def test_a_second_folder_backup_uploads_only_what_changed_and_restores_from_rclone_alone(
        pg_cluster, pagila, fresh_db, make_target, backup_root, s3_server, s3_storage):
    source = fresh_db("pagila_rclone_dedup", template=pagila)
    s3_storage.keep_local_copy = False
    s3_storage.save()
    target = make_target(source)
    first = make_backup(target, "directory")
    before = {k for k in s3_server.keys() if "/store/sha256/" in k}
    pg_cluster.sql("INSERT INTO actor (first_name, last_name) VALUES ('NEW', 'ACTOR')", dbname=source)
    second = make_backup(target, "directory")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.offsite_status == second.offsite_status == "uploaded", second.offsite_detail
    added = {k for k in s3_server.keys() if "/store/sha256/" in k} - before
    assert 1 <= len(added) <= 3, added  # the actor table's data and the table of contents
    assert f"{len(added) + 1} of " in second.offsite_detail and not second.absolute_path.exists()
    with dropping(pg_cluster, "pagila_rclone_dedup_restored"):
        restored = run_restore(second, "pagila_rclone_dedup_restored")
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_rclone_dedup_restored") == row_counts(pg_cluster, source)
    assert run_verify(second).status == "succeeded"
