"""The offsite copy is checked, not assumed: the store's own SHA-256 at upload, the bytes read back at verification.

Against moto and rclone's `serve s3` (tests/s3server.py), which differ in
what they keep: moto keeps the SHA-256 an upload asks for, of one request
and of a multipart upload (the composite of its parts); rclone keeps it for
one request only. The record says which check was made. A verification of
a backup that has a local copy reads the object back too: a byte flipped in
the bucket fails it, with an event, and the copy can be uploaded again.
"""

import base64
import hashlib
from datetime import time as clock

import pytest
from django.core.management import CommandError, call_command

from backups_app.models import BackupRecord, BackupSchedule, Notification, VerificationRecord
from backups_app.services.backups import copy_offsite
from backups_app.services.scheduled import run as scheduled_run
from backups_app.services.storage.s3 import S3Store
from tests.notify_records import channel
from tests.notify_servers import Receiver
from tests.restore_helpers import make_backup, run_verify
from tests.s3server import BUCKET

pytest_plugins = ["tests.s3_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

URL_ENV = "BC_TEST_OFFSITE_CHECK_HOOK"
PART = 1024 * 1024 + 3  # not a multiple of the 1 MiB the file is read in


@pytest.fixture
def s3_server(each_s3_server):
    return each_s3_server


def kind(server) -> str:
    return "rclone" if "rclone" in type(server).__name__.lower() else "moto"


def store_sha256(server, key: str) -> str:
    """What the store itself says of the object (its x-amz-checksum-sha256), "" when it keeps none."""
    return server.client().head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED").get("ChecksumSHA256", "")


def b64(hexdigest: str) -> str:
    return base64.b64encode(bytes.fromhex(hexdigest)).decode()


def fresh(backup) -> BackupRecord:
    return BackupRecord.objects.select_related("target", "offsite_storage").get(pk=backup.pk)


# -- upload -----------------------------------------------------------------------------------

def test_an_upload_has_the_store_keep_its_sha256_and_the_record_says_it_matched(pagila, make_target, backup_root,
                                                                               s3_server, s3_storage):
    backup = fresh(make_backup(make_target(pagila)))
    assert backup.offsite_status == "uploaded", backup.offsite_detail
    assert store_sha256(s3_server, backup.offsite_key) == b64(backup.sha256)
    assert "confirmed by the store's own SHA-256" in backup.offsite_detail, backup.offsite_detail


def test_a_multipart_upload_is_confirmed_by_the_composite_of_its_parts_or_says_the_store_keeps_none(
        s3_server, s3_storage, tmp_path, settings):
    settings.OFFSITE_PART_MB = 5
    path = tmp_path / "big.dump"
    path.write_bytes(hashlib.sha256(b"seed").digest() * (11 * 1024 * 1024 // 32))  # 11 MB: three parts
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    s3 = S3Store(s3_storage)
    info = s3.put_file(path, s3.key_for("database/manual/big.dump"), sha256=sha256)
    if kind(s3_server) == "moto":
        data = path.read_bytes()
        parts = [hashlib.sha256(data[i:i + 5 * 1024 * 1024]).digest() for i in range(0, len(data), 5 * 1024 * 1024)]
        assert info.store_checksum.split("-")[0] == base64.b64encode(hashlib.sha256(b"".join(parts)).digest()).decode()
        assert info.confirmation.startswith("confirmed by the store's own SHA-256")
    else:  # rclone keeps no checksum of a multipart upload: said, not passed over
        assert info.store_checksum == ""
        assert info.confirmation.startswith("the store keeps no checksum of its own")


@pytest.mark.parametrize("size", [1, PART - 1, PART, PART + 1, 3 * PART, 3 * PART + 7])
def test_the_composite_checksum_is_the_sha256_of_the_parts_sha256s_whatever_the_boundaries(tmp_path, size):
    from backups_app.services.storage import checksums

    data = (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]
    path = tmp_path / "file"
    path.write_bytes(data)
    parts = [hashlib.sha256(data[i:i + PART]).digest() for i in range(0, size, PART)]
    assert checksums.of_file(path, part=PART) == \
        f"{base64.b64encode(hashlib.sha256(b''.join(parts)).digest()).decode()}-{len(parts)}"
    assert checksums.of_file(path, part=None) == b64(hashlib.sha256(data).hexdigest())


# -- verification -----------------------------------------------------------------------------

def test_verify_reads_the_copy_back_while_the_local_copy_is_here(pagila, make_target, backup_root, s3_server,
                                                                 s3_storage):
    backup = make_backup(make_target(pagila))
    record = run_verify(fresh(backup))
    assert record.status == "succeeded", record.error
    assert "sha256 matches the record" in record.detail  # the local file
    assert f"read back s3://{BUCKET}/{backup.offsite_key}" in record.detail, record.detail


def test_a_byte_flipped_in_the_bucket_fails_verification_with_an_event_and_can_be_copied_again(
        pagila, make_target, backup_root, s3_server, s3_storage, django_capture_on_commit_callbacks):
    backup = make_backup(make_target(pagila))  # the local copy is kept, and good
    s3_server.tamper(backup.offsite_key)

    with django_capture_on_commit_callbacks(execute=True):
        record = run_verify(fresh(backup))

    assert record.status == "failed"
    assert "the copy in object storage is not the backup's" in record.error and "checksum" in record.error, \
        record.error
    assert "sha256 matches the record" in record.detail  # the local copy is fine, and the detail says so
    backup = fresh(backup)
    assert backup.last_verify_ok is False
    assert backup.offsite_status == "failed" and "is not the backup's" in backup.offsite_detail
    assert Notification.objects.filter(kind="verification_failed").count() == 1

    again = copy_offsite.copy_offsite(backup)  # the good local copy goes up again
    assert again.offsite_status == "uploaded", again.offsite_detail
    assert run_verify(fresh(backup)).status == "succeeded"


def test_verify_on_the_command_line_fails_in_one_line(pagila, make_target, backup_root, s3_server, s3_storage):
    backup = make_backup(make_target(pagila))
    s3_server.tamper(backup.offsite_key)
    with pytest.raises(CommandError) as failed:
        call_command("verify", str(backup.pk))
    assert str(failed.value).startswith(f"backup #{backup.pk} failed verification: ")
    assert "the copy in object storage is not the backup's" in str(failed.value)
    assert "\n" not in str(failed.value)


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_verification_reads_the_copy_back_and_tells_of_a_rotten_one(pagila, make_target, backup_root,
                                                                                s3_server, s3_storage, monkeypatch):
    target = make_target(pagila)
    backup = make_backup(target)
    s3_server.tamper(backup.offsite_key)
    schedule = BackupSchedule.objects.create(name="verify nightly", target=target, action="verify", kind="daily",
                                             time_of_day=clock(4, 0))
    with Receiver() as hook:
        monkeypatch.setenv(URL_ENV, hook.url())
        channel("webhook", URL_ENV)
        said = scheduled_run.run_scheduled(schedule_id=schedule.pk)
        body = hook.json()
    check = VerificationRecord.objects.get()
    assert check.status == "failed" and "not the backup's" in check.error, check.error
    assert f"verification #{check.pk} of backup #{backup.pk} failed" in said
    assert body["event"] == "verification_failed" and "not the backup's" in body["text"]
