"""A backup whose copy to object storage fails is announced: it lives on one host only.

A real webhook receiver, a real backup of pagila, and a real moto_server
that is down while the backup is made.
"""

import importlib

import pytest

from backups_app.models import Notification, NotificationChannel
from tests.notify_records import channel
from tests.notify_servers import Receiver
from tests.restore_helpers import make_backup

pytest_plugins = ["tests.s3_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

URL_ENV = "BC_TEST_OFFSITE_HOOK_URL"


@pytest.fixture
def receiver(monkeypatch):
    with Receiver() as r:
        monkeypatch.setenv(URL_ENV, r.url("/hooks/offsite"))
        yield r


def backup_while_storage_is_down(pagila, make_target, s3_server, settings, capture):
    settings.OFFSITE_UPLOAD_ATTEMPTS = 1
    s3_server.stop()
    with capture(execute=True):
        return make_backup(make_target(pagila))


def test_a_failed_copy_is_announced_with_its_reason(pagila, make_target, backup_root, s3_server, s3_storage,
                                                    settings, receiver, django_capture_on_commit_callbacks):
    channel("webhook", URL_ENV)
    backup = backup_while_storage_is_down(pagila, make_target, s3_server, settings,
                                          django_capture_on_commit_callbacks)
    backup.refresh_from_db()
    assert (backup.status, backup.offsite_status) == ("succeeded", "failed")
    [body] = [receiver.json(i) for i in range(len(receiver.posts))]
    assert (body["event"], body["ok"], body["id"], body["target"]) == ("offsite_failed", False, backup.pk, "pagila")
    assert body["title"] == "[Backup Console] Backup of pagila was not copied to object storage"
    assert "Copy to object storage: upload failed after 1 attempt; the local copy is kept" in body["text"]
    assert Notification.objects.get(kind="offsite_failed").delivered == 1


def test_a_channel_that_did_not_ask_for_it_is_not_told(pagila, make_target, backup_root, s3_server, s3_storage,
                                                       settings, receiver, django_capture_on_commit_callbacks):
    channel("webhook", URL_ENV, events=["backup_failed"])
    backup_while_storage_is_down(pagila, make_target, s3_server, settings, django_capture_on_commit_callbacks)
    assert receiver.posts == []


def test_channels_that_heard_of_failed_backups_hear_of_failed_copies_after_the_upgrade(db):
    from django.apps import apps

    migration = importlib.import_module("backups_app.migrations.0012_channels_hear_of_failed_offsite_copies")
    backups = channel("webhook", "HOOK_A", name="backups", events=["backup_failed", "restore_failed"])
    restores = channel("webhook", "HOOK_B", name="restores", events=["restore_failed"])
    migration.add(apps, None)
    migration.add(apps, None)  # twice changes nothing more
    assert NotificationChannel.objects.get(pk=backups.pk).events == ["backup_failed", "restore_failed",
                                                                       "offsite_failed"]
    assert NotificationChannel.objects.get(pk=restores.pk).events == ["restore_failed"]
    migration.remove(apps, None)
    assert NotificationChannel.objects.get(pk=backups.pk).events == ["backup_failed", "restore_failed"]
