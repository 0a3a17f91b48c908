"""Downloading a backup's files from the admin: a permission of its own, streamed from BACKUP_ROOT or S3, logged."""

import hashlib

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from backups_app.models import BackupRecord
from backups_app.services.setup.roles import BACKUP_OPERATORS, RESTORE_OPERATORS, VIEWERS
from tests.restore_helpers import make_backup

pytest_plugins = ["tests.admin_fixtures", "tests.s3_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def download_url(backup, part="dump") -> str:
    return reverse("admin:backups_app_backuprecord_download", args=[backup.pk, part])


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_restore_operator_downloads_a_backup_kept_only_in_s3(as_role, s3_only_backup):
    client = as_role(RESTORE_OPERATORS)
    response = client.get(download_url(s3_only_backup))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Disposition"] == f'attachment; filename="{s3_only_backup.absolute_path.name}"'
    assert int(response["Content-Length"]) == s3_only_backup.size_bytes
    assert hashlib.sha256(body_of(response)).hexdigest() == s3_only_backup.sha256
    entry = LogEntry.objects.get(user=client.user)
    assert entry.object_id == str(s3_only_backup.pk)
    assert entry.get_change_message() == (f"Downloaded {s3_only_backup.absolute_path.name} "
                                          f"(from s3://bc-offsite-test/consoles/test/{s3_only_backup.path}); "
                                          "its sha256 matches the record")


def test_the_roles_file_is_downloaded_beside_it(as_role, s3_only_backup):
    response = as_role(RESTORE_OPERATORS).get(download_url(s3_only_backup, "globals"))
    assert response.status_code == 200
    assert b"CREATE ROLE" in body_of(response) or b"Roles" in body_of(response)


def test_a_local_backup_is_streamed_from_backup_root(as_role, pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila))
    client = as_role(RESTORE_OPERATORS)
    response = client.get(download_url(backup))
    assert response.status_code == 200
    assert body_of(response) == backup.absolute_path.read_bytes()
    assert "(from BACKUP_ROOT)" in LogEntry.objects.get(user=client.user).get_change_message()


@pytest.mark.parametrize("role", [VIEWERS, BACKUP_OPERATORS, None])
def test_users_without_the_download_permission_get_403_and_no_link(as_role, s3_only_backup, role):
    client = as_role(role)
    assert client.get(download_url(s3_only_backup)).status_code == 403
    assert not LogEntry.objects.exists()
    if role is not None:
        page = client.get(reverse("admin:backups_app_backuprecord_change", args=[s3_only_backup.pk]))
        assert download_url(s3_only_backup) not in page.content.decode()


def test_the_change_page_links_both_files_for_a_restore_operator(as_role, s3_only_backup):
    page = as_role(RESTORE_OPERATORS).get(reverse("admin:backups_app_backuprecord_change", args=[s3_only_backup.pk]))
    html = page.content.decode()
    assert download_url(s3_only_backup) in html and download_url(s3_only_backup, "globals") in html


def test_only_the_backups_own_files_can_be_asked_for(as_role, s3_only_backup):
    client = as_role(RESTORE_OPERATORS)
    assert client.get(download_url(s3_only_backup, "settings")).status_code == 404
    crafted = client.get(f"/admin/backups_app/backuprecord/{s3_only_backup.pk}/download/..%2F..%2Fetc%2Fpasswd/")
    assert crafted.status_code != 200 and not crafted.has_header("Content-Disposition")
    failed = BackupRecord.objects.create(target=s3_only_backup.target, backup_type="manual", format="custom",
                                         status="failed", path="../../../etc/passwd")
    assert client.get(download_url(failed)).status_code == 404


def test_a_backup_whose_file_is_nowhere_says_so(as_role, s3_only_backup, s3_server):
    s3_server.client().delete_object(Bucket="bc-offsite-test", Key=s3_only_backup.offsite_key)
    client = as_role(RESTORE_OPERATORS)
    response = client.get(download_url(s3_only_backup), follow=True)
    assert "NoSuchKey" in response.content.decode() or "Not Found" in response.content.decode()
    refused = LogEntry.objects.get(user=client.user).get_change_message()
    assert refused.startswith(f"Download of {s3_only_backup.absolute_path.name} refused: cannot read s3://"), refused


def test_the_offsite_column_and_filter_show_a_failed_upload(superuser_client, pagila, make_target, backup_root,
                                                            s3_server, s3_storage):
    s3_server.stop()
    backup = make_backup(make_target(pagila))
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_changelist") + "?offsite_status=failed")
    html = page.content.decode()
    assert f'href="/admin/backups_app/backuprecord/{backup.pk}/change/' in html
    assert 'class="bc-badge bc-badge-bad"' in html and ">offsite: failed</span>" in html
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_changelist") + "?offsite_status=uploaded")
    assert f'/admin/backups_app/backuprecord/{backup.pk}/change/' not in page.content.decode()
