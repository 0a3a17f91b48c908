"""Verification of backup files: checksum, size, and reading the archive to the end."""

import pytest

from backups_app.models import BackupRecord
from backups_app.services.restores import restore
from backups_app.services.verify import verify
from tests.restore_helpers import database_names, dropping, flip_byte, make_backup, run_restore, run_verify, truncate

pytestmark = pytest.mark.django_db
FORMATS = ["custom", "sql"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_good_file_passes_and_the_backup_says_so(pagila, make_target, backup_root, fmt):
    backup = make_backup(make_target(pagila), fmt)
    record = run_verify(backup)
    assert record.status == "succeeded" and record.ok is True, record.error
    assert "sha256 matches" in record.detail and "reads to the end" in record.detail
    if fmt == "custom":  # which pg_restore read it, and why that one
        assert f"newest that reads the archive written by pg_dump {backup.pg_dump_version})" in record.detail
    backup.refresh_from_db()
    assert backup.last_verify_ok is True and backup.last_verified_at == record.finished_at
    assert backup.last_verify_detail == record.detail


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_flipped_byte_fails_verification(pagila, make_target, backup_root, fmt):
    backup = make_backup(make_target(pagila), fmt)
    flip_byte(backup.absolute_path, backup.size_bytes // 2)
    record = run_verify(backup)
    assert record.status == "failed" and record.ok is False
    assert "checksum mismatch" in record.error
    backup.refresh_from_db()
    assert backup.last_verify_ok is False and "checksum mismatch" in backup.last_verify_detail


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_truncated_file_fails_verification(pagila, make_target, backup_root, fmt):
    backup = make_backup(make_target(pagila), fmt)
    truncate(backup.absolute_path)
    record = run_verify(backup)
    assert record.status == "failed" and "the file is truncated" in record.error


def test_an_archive_that_does_not_read_to_the_end_fails_even_with_a_matching_checksum(
    pagila, make_target, backup_root
):
    # pg_restore --list reads only the table of contents; a damaged data block
    # is found by reading every block.
    backup = make_backup(make_target(pagila), "custom")
    path = backup.absolute_path
    flip_byte(path, backup.size_bytes - 5000)
    from backups_app.services.storage.files import sha256_of

    BackupRecord.objects.filter(pk=backup.pk).update(sha256=sha256_of(path)[0])
    record = run_verify(backup)
    assert record.status == "failed" and "does not read to the end" in record.error


def test_a_missing_file_fails_verification(pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    backup.absolute_path.unlink()
    assert "the file is missing" in run_verify(backup).error


def test_a_backup_that_did_not_succeed_cannot_be_verified(pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    BackupRecord.objects.filter(pk=backup.pk).update(status="failed")
    backup.refresh_from_db()
    with pytest.raises(verify.VerifyRefused, match="its status is failed"):
        verify.verify_create(backup=backup)


def test_restore_refuses_a_truncated_file_before_anything_is_created(pg_cluster, pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    truncate(backup.absolute_path)
    with pytest.raises(restore.RestoreRefused, match="damaged or truncated .*--force"):
        restore.restore_create(backup=backup, into="from_truncated")


def test_restore_refuses_a_changed_file_unless_forced(pg_cluster, pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    flip_byte(backup.absolute_path, backup.size_bytes // 2)
    record = run_restore(backup, "from_flipped")
    assert record.status == "failed"
    assert "does not match its recorded checksum" in record.error and "--force" in record.error
    assert "from_flipped" not in database_names(pg_cluster)


def test_restore_refuses_a_backup_that_failed_verification_unless_forced(pg_cluster, pagila, make_target,
                                                                          backup_root):
    backup = make_backup(make_target(pagila), "custom")
    good_sha = backup.sha256
    BackupRecord.objects.filter(pk=backup.pk).update(sha256="0" * 64)  # the record, not the file, is wrong
    backup.refresh_from_db()
    assert run_verify(backup).ok is False
    backup.refresh_from_db()
    with pytest.raises(restore.RestoreRefused, match="failed its last verification"):
        restore.restore_create(backup=backup, into="from_suspect")

    with dropping(pg_cluster, "from_suspect"):
        record = run_restore(backup, "from_suspect", force=True)
        assert record.status == "succeeded", record.error
        assert "restored anyway (forced)" in record.detail
    assert good_sha != backup.sha256
