"""Copying a backup to object storage again: after a failed upload, or for a backup made before its storage.

Against a real S3 API server (moto_server), from the command line and from
the admin action (its queued task run as the worker runs it).
"""

import hashlib

import pytest
from django.core.management import CommandError, call_command
from django_q.models import OrmQ

from backups_app import tasks
from backups_app.models import BackupRecord, BackupStorage
from backups_app.services.setup.roles import BACKUP_OPERATORS, VIEWERS
from tests.admin_support import messages_of, post_action
from tests.restore_helpers import make_backup
from tests.s3server import PREFIX

pytest_plugins = ["tests.s3_fixtures", "tests.admin_fixtures"]
pytestmark = pytest.mark.django_db


def copy_again(backup) -> str:
    return call_command("backup", "--copy-offsite", str(backup.pk))


def stored_sha256(s3_server, key: str) -> str:
    return hashlib.sha256(s3_server.read(key)).hexdigest()


@pytest.fixture
def failed_upload(pagila, make_target, backup_root, s3_server, s3_storage, settings):
    """A good backup whose upload failed: the S3 server was down. It is up again (empty) when the test starts."""
    settings.OFFSITE_UPLOAD_ATTEMPTS = 1
    s3_server.stop()
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    assert (backup.status, backup.offsite_status) == ("succeeded", "failed")
    s3_server.start().create_bucket()
    return backup


def test_a_failed_upload_says_how_to_copy_it_again(failed_upload):
    assert failed_upload.offsite_detail.startswith("upload failed after 1 attempt; the local copy is kept: ")
    assert failed_upload.offsite_detail.endswith("or with manage.py backup --copy-offsite ID)")


def test_the_command_copies_a_backup_whose_upload_failed(failed_upload, s3_server):
    said = copy_again(failed_upload)

    backup = BackupRecord.objects.get(pk=failed_upload.pk)
    assert backup.offsite_status == "uploaded", backup.offsite_detail
    assert backup.offsite_detail.startswith("on request: uploaded to s3://bc-offsite-test/consoles/test/database/")
    assert said == f"backup #{backup.pk}: {backup.offsite_detail}"
    assert sorted(s3_server.keys()) == sorted(f"{PREFIX}/{p}" for p in (backup.path, backup.globals_path))
    assert stored_sha256(s3_server, backup.offsite_key) == backup.sha256
    assert (backup.offsite_pid, backup.offsite_host) == (None, "")
    assert backup.absolute_path.is_file()  # the storage keeps a local copy


def test_a_copy_to_a_storage_that_keeps_no_local_copy_removes_it_only_once_uploaded(failed_upload, s3_server,
                                                                                  s3_storage):
    BackupStorage.objects.filter(pk=s3_storage.pk).update(keep_local_copy=False)
    copy_again(failed_upload)
    backup = BackupRecord.objects.get(pk=failed_upload.pk)
    assert (backup.offsite_status, backup.local_removed) == ("uploaded", True)
    assert not backup.absolute_path.exists()
    assert stored_sha256(s3_server, backup.offsite_key) == backup.sha256


def test_a_copy_that_fails_again_says_why_and_keeps_the_local_file(failed_upload, s3_server):
    s3_server.stop()
    with pytest.raises(CommandError, match=rf"^backup #{failed_upload.pk}: on request: upload failed after 1 attempt; "
                                           "the local copy is kept: endpoint: cannot upload"):
        copy_again(failed_upload)
    backup = BackupRecord.objects.get(pk=failed_upload.pk)
    assert (backup.status, backup.offsite_status, backup.offsite_pid) == ("succeeded", "failed", None)
    assert backup.absolute_path.is_file()


def test_a_changed_local_file_is_refused_and_nothing_is_uploaded(failed_upload, s3_server):
    with open(failed_upload.absolute_path, "r+b") as f:
        f.seek(100)
        f.write(b"\0changed\0")
    before = BackupRecord.objects.filter(pk=failed_upload.pk).values().get()
    with pytest.raises(CommandError, match=rf"^backup #{failed_upload.pk} cannot be uploaded: its local file "
                                           r".* no longer matches its sha256"):
        copy_again(failed_upload)
    assert BackupRecord.objects.filter(pk=failed_upload.pk).values().get() == before
    assert s3_server.keys() == []


def test_an_uploaded_backup_is_not_copied_twice(failed_upload, s3_server):
    copy_again(failed_upload)
    uploaded = BackupRecord.objects.filter(pk=failed_upload.pk).values().get()
    with pytest.raises(CommandError, match=r"is already in object storage \(consoles/test/database/"):
        copy_again(failed_upload)
    assert BackupRecord.objects.filter(pk=failed_upload.pk).values().get() == uploaded


def test_unknown_backups_and_another_targets_name_are_refused(failed_upload):
    with pytest.raises(CommandError, match="^there is no backup #99999$"):
        call_command("backup", "--copy-offsite", "99999")
    with pytest.raises(CommandError, match=rf"^backup #{failed_upload.pk} is of target '.*', not 'other'$"):
        call_command("backup", "--copy-offsite", str(failed_upload.pk), "--target", "other")
    assert BackupRecord.objects.get(pk=failed_upload.pk).offsite_status == "failed"


def test_a_directory_backup_already_uploaded_and_a_target_without_storage_are_refused(
        pagila, make_target, backup_root, s3_server, s3_storage):
    folder = make_backup(make_target(pagila), "directory")  # uploaded file by file (storage/blobs.py)
    with pytest.raises(CommandError, match="is already in object storage"):
        copy_again(folder)
    BackupStorage.objects.update(is_default=False)
    local = make_backup(make_target(pagila, name="local"))
    with pytest.raises(CommandError, match="has no object storage and there is no default one"):
        copy_again(local)
    assert BackupRecord.objects.get(pk=local.pk).offsite_status == ""
    assert not [k for k in s3_server.keys() if local.path in k]


def test_the_admin_action_queues_the_copy_of_a_backup_made_before_its_storage_existed(
        pagila, make_target, backup_root, s3_server, s3_credentials, settings, as_role,
        django_capture_on_commit_callbacks, english):
    from tests.s3server import storage_fields

    backup = make_backup(make_target(pagila))
    assert BackupRecord.objects.get(pk=backup.pk).offsite_status == ""  # no storage yet
    BackupStorage.objects.create(**storage_fields(s3_server))
    client = as_role(BACKUP_OPERATORS)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(client, "backuprecord", "copy_offsite", [backup])

    assert response.status_code == 302
    assert messages_of(response) == [f"Queued the copy of 1 backup to object storage: #{backup.pk}."]
    assert [row.task["args"] for row in OrmQ.objects.all()] == [(backup.pk,)]
    assert s3_server.keys() == []  # the worker uploads, not the web request

    said = tasks.copy_offsite(backup.pk)  # as the worker runs the queued task
    backup.refresh_from_db()
    assert said == f"offsite uploaded: {backup.offsite_detail}"
    assert stored_sha256(s3_server, backup.offsite_key) == backup.sha256
    assert tasks.copy_offsite(backup.pk).startswith(f"skipped: backup #{backup.pk} is already in object storage")


def test_the_admin_action_says_why_it_leaves_a_backup_alone(failed_upload, as_role, english,
                                                            django_capture_on_commit_callbacks):
    failed_upload.absolute_path.unlink()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(as_role(BACKUP_OPERATORS), "backuprecord", "copy_offsite", [failed_upload])
    assert messages_of(response) == [
        f"backup #{failed_upload.pk} cannot be uploaded: its local file {failed_upload.path} is gone"]
    assert not OrmQ.objects.exists()


def test_viewers_are_not_offered_the_copy(failed_upload, as_role, s3_server):
    response = post_action(as_role(VIEWERS), "backuprecord", "copy_offsite", [failed_upload])
    assert response.status_code == 403
    assert not OrmQ.objects.exists() and s3_server.keys() == []
