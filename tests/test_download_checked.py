"""A download never arrives as a complete file unless its bytes are the backup's: from S3 or from BACKUP_ROOT.

The bytes are hashed as they are sent and the last chunk is held back
until the sha256 is known: on a mismatch the stream stops short of its
Content-Length (the web server cuts the connection, the browser reports
a failed download), and the admin history says why. A file found wrong
before its first byte goes out (it fits in the first chunk) is refused,
the reason on the backup's page. Against moto and
rclone's `serve s3`, each tampered with its own way (tests/s3server.py).
tests/test_browser_download.py drives the same through chromium.
"""

import hashlib

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from backups_app.services.setup.roles import RESTORE_OPERATORS
from backups_app.services.storage import files
from tests.restore_helpers import flip_byte, make_backup, truncate

pytest_plugins = ["tests.admin_fixtures", "tests.s3_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture
def s3_server(each_s3_server):
    return each_s3_server


def download_url(backup, part="dump") -> str:
    return reverse("admin:backups_app_backuprecord_download", args=[backup.pk, part])


def received(response) -> tuple[bytes, Exception | None]:
    """What a client gets before the stream ends, and the error that ended it early (None: it ran to its end)."""
    got = bytearray()
    try:
        for chunk in response.streaming_content:
            got += chunk
    except Exception as exc:  # the web server cuts the connection here
        return bytes(got), exc
    return bytes(got), None


def history(client) -> str:
    return LogEntry.objects.get(user=client.user).get_change_message()


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 64 KiB: pagila's backup is then many, and its stream starts before the end shows a mismatch
    (a file that fits in the first chunk is checked before the response, and refused)."""
    monkeypatch.setattr(files, "CHUNK", 64 * 1024)


@pytest.mark.usefixtures("small_chunks")
def test_an_s3_object_with_a_flipped_byte_never_arrives_whole(as_role, s3_only_backup, s3_server):
    s3_server.tamper(s3_only_backup.offsite_key)
    client = as_role(RESTORE_OPERATORS)
    response = client.get(download_url(s3_only_backup))
    assert response.status_code == 200  # the headers went out before the last byte was read
    body, error = received(response)
    assert error is not None, "the tampered object was sent whole"
    assert len(body) < int(response["Content-Length"]) == s3_only_backup.size_bytes
    message = history(client)
    assert message.startswith(f"Download of {s3_only_backup.absolute_path.name} (from s3://"), message
    assert "cut off" in message and "checksum" in message and "Downloaded" not in message


def test_a_sound_s3_object_arrives_whole_and_the_history_says_it_was_checked(as_role, s3_only_backup):
    client = as_role(RESTORE_OPERATORS)
    response = client.get(download_url(s3_only_backup))
    body, error = received(response)
    assert error is None
    assert hashlib.sha256(body).hexdigest() == s3_only_backup.sha256
    assert history(client) == (f"Downloaded {s3_only_backup.absolute_path.name} (from s3://bc-offsite-test/"
                               f"consoles/test/{s3_only_backup.path}); its sha256 matches the record")


@pytest.mark.usefixtures("small_chunks")
def test_a_local_file_with_a_flipped_byte_never_arrives_whole(as_role, pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila))  # no storage: BACKUP_ROOT only
    flip_byte(backup.absolute_path, backup.size_bytes // 2)
    client = as_role(RESTORE_OPERATORS)
    response = client.get(download_url(backup))
    body, error = received(response)
    assert error is not None, "the changed file was sent whole"
    assert len(body) < int(response["Content-Length"])
    message = history(client)
    assert message.startswith(f"Download of {backup.absolute_path.name} (from BACKUP_ROOT) cut off"), message
    assert f"the record says {backup.sha256}" in message


def test_a_truncated_local_file_is_refused_before_a_byte_is_sent(as_role, pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila))
    truncate(backup.absolute_path)
    client = as_role(RESTORE_OPERATORS)
    response = client.get(download_url(backup), follow=True)
    assert not response.has_header("Content-Disposition")
    page = response.content.decode()
    assert f"bytes, the record says {backup.size_bytes}" in page
    message = history(client)
    assert message.startswith(f"Download of {backup.absolute_path.name} refused:"), message


def test_a_file_found_wrong_before_its_first_byte_is_sent_is_refused_with_the_reason(
        as_role, s3_only_backup, s3_server):
    assert s3_only_backup.size_bytes < files.CHUNK  # one chunk: the whole object is checked before a response
    s3_server.tamper(s3_only_backup.offsite_key)
    client = as_role(RESTORE_OPERATORS)
    response = client.get(download_url(s3_only_backup), follow=True)
    assert not response.has_header("Content-Disposition")
    assert response.redirect_chain == [(reverse("admin:backups_app_backuprecord_change",
                                                args=[s3_only_backup.pk]), 302)]
    assert "does not match its checksum" in response.content.decode()
    message = history(client)
    assert message.startswith(f"Download of {s3_only_backup.absolute_path.name} refused: "), message
    assert "s3://" in message and "checksum" in message and LogEntry.objects.count() == 1  # told once
