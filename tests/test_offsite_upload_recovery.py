"""An upload whose process is gone: the next recovery pass (any command, the reaper) resumes or fails it.

Against a real S3 API server (moto_server). The killed uploader is stood in
for by the record of a process that has ended and a multipart upload left
unfinished in the bucket; tests/test_offsite_kill.py kills a real command.
"""

import hashlib
import os
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from backups_app.models import BackupRecord
from backups_app.services.jobs import process, recovery
from backups_app.services.storage import offsite
from tests.restore_helpers import make_backup
from tests.s3server import BUCKET

pytest_plugins = ["tests.s3_fixtures"]
pytestmark = pytest.mark.django_db


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def unfinished(s3_server) -> list[str]:
    return [u["Key"] for u in s3_server.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]


def as_if_killed_while_uploading(backup: BackupRecord, s3_server, *, pid=None) -> None:
    """The record and the bucket as a kill -9 halfway through the upload leaves them."""
    client = s3_server.client()
    for key in (backup.offsite_key, backup.offsite_globals_key):
        client.delete_object(Bucket=BUCKET, Key=key)
    upload = client.create_multipart_upload(Bucket=BUCKET, Key=backup.offsite_key)
    client.upload_part(Bucket=BUCKET, Key=backup.offsite_key, UploadId=upload["UploadId"], PartNumber=1,
                       Body=b"x" * (5 * 1024 * 1024))
    BackupRecord.objects.filter(pk=backup.pk).update(
        offsite_status="uploading", offsite_detail="uploading to somewhere", offsite_key="", offsite_globals_key="",
        offsite_pid=pid or dead_pid(), offsite_pid_namespace=process.pid_namespace(), offsite_boot_id=process.boot_id(),
        offsite_host=process.host(), offsite_claimed_at=timezone.now())


def test_a_lost_upload_is_resumed_from_the_verified_local_copy(pagila, make_target, backup_root, s3_server,
                                                               s3_storage):
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    as_if_killed_while_uploading(backup, s3_server)
    assert unfinished(s3_server) == [backup.offsite_key]

    lines = recovery.recover().lines

    backup.refresh_from_db()
    assert backup.offsite_status == "uploaded"
    assert backup.offsite_detail.startswith("upload lost (its process (")
    assert "resumed: uploaded to s3://" in backup.offsite_detail
    assert (backup.offsite_pid, backup.offsite_host) == (None, "")
    assert hashlib.sha256(s3_server.read(backup.offsite_key)).hexdigest() == backup.sha256
    assert s3_server.head(backup.offsite_globals_key)
    assert unfinished(s3_server) == []
    assert f"backup #{backup.pk}: aborted 1 unfinished multipart upload of s3://{BUCKET}/{backup.offsite_key}" in lines
    assert any(line.startswith(f"backup #{backup.pk}: upload lost (") and "resumed: uploaded" in line
               for line in lines)
    assert recovery.recover().lines == []  # nothing left to do


def test_a_lost_upload_whose_local_file_is_gone_is_marked_failed_with_why(pagila, make_target, backup_root,
                                                                         s3_server, s3_storage):
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    as_if_killed_while_uploading(backup, s3_server)
    backup.absolute_path.unlink()

    lines = recovery.recover().lines

    backup.refresh_from_db()
    assert backup.offsite_status == "failed"
    assert "cannot upload it again: its local file" in backup.offsite_detail and "is gone" in backup.offsite_detail
    assert unfinished(s3_server) == [] and s3_server.keys() == []
    assert any("cannot upload it again" in line for line in lines)


def test_a_lost_upload_whose_local_file_changed_is_not_uploaded(pagila, make_target, backup_root, s3_server,
                                                                s3_storage):
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    as_if_killed_while_uploading(backup, s3_server)
    with open(backup.absolute_path, "r+b") as f:
        f.seek(100)
        f.write(b"\0\1\2\3")

    recovery.recover()

    backup.refresh_from_db()
    assert backup.offsite_status == "failed"
    assert "no longer matches its sha256" in backup.offsite_detail
    assert s3_server.keys() == []


def test_an_upload_killed_after_its_objects_landed_is_marked_uploaded_without_uploading_again(
        pagila, make_target, backup_root, s3_server, s3_storage):
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    BackupRecord.objects.filter(pk=backup.pk).update(
        offsite_status="uploading", offsite_pid=dead_pid(), offsite_pid_namespace=process.pid_namespace(),
        offsite_boot_id=process.boot_id(), offsite_host=process.host(), offsite_claimed_at=timezone.now())
    backup.absolute_path.unlink()  # not needed: the object is complete

    recovery.recover()

    backup.refresh_from_db()
    assert backup.offsite_status == "uploaded"
    assert "found complete in s3://" in backup.offsite_detail


def test_an_upload_whose_process_still_runs_is_left_alone(pagila, make_target, backup_root, s3_server, s3_storage):
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    as_if_killed_while_uploading(backup, s3_server, pid=os.getpid())

    assert recovery.recover().lines == []

    backup.refresh_from_db()
    assert backup.offsite_status == "uploading"
    assert len(unfinished(s3_server)) == 1  # its upload may still finish


def test_a_failed_resume_keeps_the_local_copy_and_says_so(pagila, make_target, backup_root, s3_server, s3_storage):
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    as_if_killed_while_uploading(backup, s3_server)
    s3_server.stop()

    lines = recovery.recover().lines

    backup.refresh_from_db()
    assert backup.offsite_status == "failed"
    assert "not resumed; the local copy is kept" in backup.offsite_detail
    assert backup.absolute_path.is_file()
    assert lines


def test_the_local_copy_goes_only_after_the_upload_is_confirmed_and_recorded(pagila, make_target, backup_root,
                                                                            s3_server, s3_storage, monkeypatch):
    s3_storage.keep_local_copy = False
    s3_storage.save()
    seen = []
    remove = offsite._remove_local

    def checking(record):
        row = BackupRecord.objects.get(pk=record.pk)
        info = offsite.store(s3_storage).head(row.offsite_key)
        seen.append((row.offsite_status, info.sha256 == row.sha256, info.size == row.size_bytes,
                     record.absolute_path.is_file()))
        remove(record)

    monkeypatch.setattr(offsite, "_remove_local", checking)
    backup = make_backup(make_target(pagila))
    assert seen == [("uploaded", True, True, True)]
    backup.refresh_from_db()
    assert backup.local_removed and not backup.absolute_path.exists()


def test_the_backup_records_its_uploader_until_the_upload_ends(pagila, make_target, backup_root, s3_server,
                                                               s3_storage, monkeypatch):
    seen = []
    upload = offsite._upload

    def watching(record, s3):
        row = BackupRecord.objects.get(pk=record.pk)
        seen.append((row.status, row.offsite_status, row.offsite_pid, row.offsite_host))
        return upload(record, s3)

    monkeypatch.setattr(offsite, "_upload", watching)
    backup = make_backup(make_target(pagila))
    assert seen == [("succeeded", "uploading", os.getpid(), process.host())]
    backup.refresh_from_db()
    assert (backup.offsite_status, backup.offsite_pid) == ("uploaded", None)


def test_an_old_upload_without_a_recorded_process_is_resumed_but_not_a_recent_one(pagila, make_target, backup_root,
                                                                                  s3_server, s3_storage, settings):
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    as_if_killed_while_uploading(backup, s3_server)
    BackupRecord.objects.filter(pk=backup.pk).update(offsite_pid=None, offsite_boot_id="", offsite_host="",
                                                     offsite_claimed_at=None)
    assert recovery.recover().lines == []  # finished a moment ago: it may still be uploading

    BackupRecord.objects.filter(pk=backup.pk).update(
        finished_at=timezone.now() - timezone.timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS + 1))
    recovery.recover()
    backup.refresh_from_db()
    assert backup.offsite_status == "uploaded"
    assert backup.offsite_detail.startswith("upload lost (the process uploading it was not recorded")


def claimed_elsewhere(backup: BackupRecord, *, seconds_ago: float) -> None:
    """The record of an upload by a process on another host that last reported seconds_ago."""
    BackupRecord.objects.filter(pk=backup.pk).update(
        offsite_status="uploading", offsite_detail="uploading to somewhere", offsite_pid=4242,
        offsite_boot_id="another-boot", offsite_host="backup-host-2",
        offsite_claimed_at=timezone.now() - timedelta(seconds=seconds_ago))


def test_an_upload_on_a_host_that_stopped_reporting_ends_failed_saying_where_the_file_is(
        pagila, make_target, backup_root, s3_server, s3_storage, settings, django_capture_on_commit_callbacks):
    from backups_app.models import Notification

    settings.JOB_LOST_AFTER_SECONDS = 120
    backup = make_backup(make_target(pagila))
    claimed_elsewhere(backup, seconds_ago=121)

    with django_capture_on_commit_callbacks(execute=True):
        lines = recovery.recover().lines

    backup.refresh_from_db()
    assert (backup.status, backup.offsite_status, backup.offsite_pid, backup.offsite_host) == \
        ("succeeded", "failed", None, "")
    assert backup.offsite_detail.startswith("upload lost: host backup-host-2 stopped reporting at ")
    assert backup.offsite_detail.endswith(f"the local copy is on that host: once it is back, run manage.py backup "
                                          f"--copy-offsite {backup.pk} there")
    assert f"backup #{backup.pk}: {backup.offsite_detail}" in lines
    assert Notification.objects.filter(kind="offsite_failed").count() == 1


def test_an_upload_on_another_host_that_still_reports_is_left_to_it(pagila, make_target, backup_root, s3_server,
                                                                     s3_storage, settings):
    settings.JOB_LOST_AFTER_SECONDS = 120
    backup = make_backup(make_target(pagila))
    claimed_elsewhere(backup, seconds_ago=30)
    assert recovery.recover().lines == []
    backup.refresh_from_db()
    assert (backup.offsite_status, backup.offsite_host) == ("uploading", "backup-host-2")
