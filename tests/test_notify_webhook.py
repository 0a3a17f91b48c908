"""Webhook notifications, delivered to a real HTTP server on a free local port."""

import json
import logging
import time

import pytest
from django.db import transaction

from backups_app.models import BackupRecord, Notification, NotificationChannel
from backups_app.services import notify
from backups_app.services.backups import dump
from tests.notify_records import TARGET_PASSWORD, channel, ended_backup, target
from tests.notify_servers import Receiver, closed_port, silent_server

pytestmark = pytest.mark.django_db(transaction=True)

URL_ENV = "BC_TEST_WEBHOOK_URL"
TOKEN = "T0KEN-in-the-url-path-0123456789"


@pytest.fixture
def receiver(monkeypatch):
    with Receiver() as r:
        monkeypatch.setenv(URL_ENV, r.url(f"/hooks/{TOKEN}"))
        yield r


def test_a_failed_backup_posts_json_naming_the_target_and_the_error(receiver, monkeypatch):
    channel("webhook", URL_ENV)
    record = ended_backup(target(monkeypatch), ok=False, error="pg_dump: error: connection refused")
    assert len(receiver.posts) == 1
    body = receiver.json()
    assert receiver.posts[0]["path"] == f"/hooks/{TOKEN}"
    assert receiver.posts[0]["headers"]["Content-Type"] == "application/json"
    assert body["event"] == "backup_failed" and body["ok"] is False
    assert body["target"] == "sales" and body["job"] == "backup" and body["id"] == record.pk
    assert "Backup of sales failed" in body["title"]
    assert "connection refused" in body["text"]
    assert NotificationChannel.objects.get().last_sent_at is not None
    assert Notification.objects.get().delivered == 1


def test_the_slack_compatible_body_is_one_text_field(receiver, monkeypatch):
    channel("webhook", URL_ENV, slack_format=True)
    ended_backup(target(monkeypatch), ok=False, error="disk full")
    body = receiver.json()
    assert list(body) == ["text"]
    assert body["text"].startswith("*[Backup Console] Backup of sales failed*\n") and "disk full" in body["text"]


def test_no_secret_reaches_the_message(receiver, monkeypatch):
    channel("webhook", URL_ENV)
    ended_backup(target(monkeypatch), ok=False,
                 error=f"could not connect: password={TARGET_PASSWORD} host=x; also {TARGET_PASSWORD} and "
                       f"postgresql://app:{TARGET_PASSWORD}@db/x and the hook {TOKEN}")
    raw = receiver.posts[0]["body"].decode()
    assert "could not connect" in raw
    assert TARGET_PASSWORD not in raw and TOKEN not in raw


def test_a_real_backup_that_fails_is_announced_and_still_ends_as_it_would(receiver, monkeypatch, backup_root):
    channel("webhook", URL_ENV)
    record = dump.backup_create(target=target(monkeypatch, port=closed_port()), backup_type="manual", fmt="custom")
    record = dump.backup_execute(record_id=record.pk)
    assert record.status == "failed"
    assert receiver.json()["event"] == "backup_failed" and receiver.json()["id"] == record.pk


def test_successes_go_only_to_channels_that_ask_for_them(receiver, monkeypatch):
    channel("webhook", URL_ENV, name="failures only")
    db = target(monkeypatch)
    ended_backup(db, ok=True)
    assert receiver.posts == []
    channel("webhook", URL_ENV, name="everything", send_successes=True)
    ended_backup(db, ok=True)
    assert [receiver.json(i)["event"] for i in range(len(receiver.posts))] == ["succeeded"]


def test_the_first_success_after_a_failure_is_told_as_recovered(receiver, monkeypatch):
    channel("webhook", URL_ENV)
    db = target(monkeypatch)
    ended_backup(db, ok=False, error="boom")
    ended_backup(db, ok=True)
    ended_backup(db, ok=True)
    assert [receiver.json(i)["event"] for i in range(len(receiver.posts))] == ["backup_failed", "recovered"]
    assert "succeeded again" in receiver.json()["title"]


def test_a_channel_hears_only_the_events_it_chose_and_only_when_enabled(receiver, monkeypatch):
    channel("webhook", URL_ENV, name="restores", events=["restore_failed"])
    channel("webhook", URL_ENV, name="off", enabled=False)
    ended_backup(target(monkeypatch), ok=False, error="boom")
    assert receiver.posts == []


def test_nothing_is_sent_before_the_job_row_is_committed(receiver, monkeypatch):
    channel("webhook", URL_ENV)
    db = target(monkeypatch)
    with transaction.atomic():
        ended_backup(db, ok=False, error="boom")
        assert receiver.posts == []
    assert len(receiver.posts) == 1


def test_a_webhook_server_that_is_down_does_not_change_the_job_and_the_reason_is_kept(monkeypatch, caplog):
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{closed_port()}/hooks/{TOKEN}")
    channel("webhook", URL_ENV)
    with caplog.at_level(logging.WARNING):
        record = ended_backup(target(monkeypatch), ok=False, error="the real reason")
    record.refresh_from_db()
    assert record.status == "failed" and record.error == "the real reason"
    made = NotificationChannel.objects.get()
    assert "cannot reach the webhook" in made.last_error and made.last_error_at and made.last_sent_at is None
    assert TOKEN not in made.last_error and TOKEN not in caplog.text
    assert "could not deliver" in caplog.text
    assert Notification.objects.get().failed == 1


def test_a_webhook_server_that_hangs_times_out_and_the_job_still_ends(monkeypatch, settings):
    settings.NOTIFY_TIMEOUT_SECONDS = 0.5
    with silent_server() as port:
        monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{port}/hooks/{TOKEN}")
        channel("webhook", URL_ENV)
        started = time.monotonic()
        record = ended_backup(target(monkeypatch), ok=False, error="the real reason")
        took = time.monotonic() - started
    record.refresh_from_db()
    assert record.status == "failed" and record.error == "the real reason"
    assert took < 5
    made = NotificationChannel.objects.get()
    assert "timed out" in made.last_error, made.last_error


def test_a_server_error_answer_is_a_failed_delivery(monkeypatch):
    with Receiver(status=500) as r:
        monkeypatch.setenv(URL_ENV, r.url())
        channel("webhook", URL_ENV)
        ended_backup(target(monkeypatch), ok=False, error="boom")
    assert "HTTP 500" in NotificationChannel.objects.get().last_error


def test_a_sender_that_raises_is_caught(receiver, monkeypatch):
    from backups_app.services.notify import senders

    def broken(channel, message):
        raise RuntimeError(f"unexpected, with {TOKEN} inside")

    monkeypatch.setattr(senders, "send_webhook", broken)
    monkeypatch.setitem(senders.SENDERS, "webhook", broken)
    channel("webhook", URL_ENV)
    record = ended_backup(target(monkeypatch), ok=False, error="boom")
    assert record.status == "failed"
    made = NotificationChannel.objects.get()
    assert "RuntimeError" in made.last_error and TOKEN not in made.last_error


def test_the_size_anomaly_event_can_be_sent_for_a_record(receiver, monkeypatch):
    channel("webhook", URL_ENV)
    record = ended_backup(target(monkeypatch), ok=True)
    assert notify.event("size_anomaly", record, detail="size 10 kB, median of the previous 5: 2 GB") == 1
    body = receiver.json()
    assert body["event"] == "size_anomaly" and "unusual size" in body["title"] and "median" in body["text"]
    json.dumps(body)


def test_a_job_the_reaper_fails_as_lost_is_announced(receiver, monkeypatch, backup_root):
    from datetime import timedelta

    from django.utils import timezone

    from backups_app.models import BackupRecord
    from backups_app.services.jobs import lifecycle as jobs
    from backups_app.services.jobs import recovery

    channel("webhook", URL_ENV)
    record = dump.backup_create(target=target(monkeypatch), backup_type="manual", fmt="custom")
    assert jobs.claim(BackupRecord, record.pk)
    BackupRecord.objects.filter(pk=record.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert recovery.reap_lost() == 1
    assert receiver.json()["event"] == "backup_failed" and "job lost" in receiver.json()["text"]


def test_a_refused_job_is_announced(receiver, monkeypatch):
    from backups_app.services.jobs import lifecycle as jobs

    channel("webhook", URL_ENV)
    record = dump.backup_create(target=target(monkeypatch), backup_type="manual", fmt="custom")
    assert jobs.refuse(record, "refused: target 'sales' is busy")
    assert receiver.json()["event"] == "backup_failed" and "is busy" in receiver.json()["text"]


def test_a_real_backup_of_unusual_size_is_announced_as_a_size_anomaly(receiver, monkeypatch, make_target, fresh_db,
                                                                       backup_root):
    channel("webhook", URL_ENV, events=["size_anomaly"])
    source = make_target(fresh_db("anomaly_notify_src"))
    for _ in range(4):  # earlier backups of 500 MB; a real dump of an empty database is a few kilobytes
        BackupRecord.objects.create(target=source, backup_type="manual", format="custom", status="succeeded",
                                    size_bytes=500 * 2**20)
    record = dump.backup_create(target=source, backup_type="manual", fmt="custom")
    record = dump.backup_execute(record_id=record.pk)
    assert record.status == "succeeded" and record.size_anomaly_pct == pytest.approx(-100, abs=0.01)
    body = receiver.json()
    assert body["event"] == "size_anomaly" and body["id"] == record.pk
    assert "unusual size" in body["title"] and "-100% from the median" in body["text"]


HOOK_USER, HOOK_PASSWORD = "hook-user", "p@ss:w0rd/with%odd chars"


def with_login(url: str) -> str:
    """url with user and password in it, percent-encoded as a URL must carry them."""
    from urllib.parse import quote

    return url.replace("http://", f"http://{quote(HOOK_USER, safe='')}:{quote(HOOK_PASSWORD, safe='')}@", 1)


def test_a_url_with_user_and_password_is_delivered_with_basic_auth(monkeypatch):
    import base64

    with Receiver() as r:
        monkeypatch.setenv(URL_ENV, with_login(r.url(f"/hooks/{TOKEN}")))
        channel("webhook", URL_ENV)
        ended_backup(target(monkeypatch), ok=False, error="boom")
    made = NotificationChannel.objects.get()
    assert made.last_error == "" and made.last_sent_at is not None
    [post] = r.posts
    assert post["path"] == f"/hooks/{TOKEN}"
    expected = base64.b64encode(f"{HOOK_USER}:{HOOK_PASSWORD}".encode()).decode()
    assert post["headers"]["Authorization"] == f"Basic {expected}"


def test_the_password_in_a_webhook_url_is_never_shown_or_kept(monkeypatch, caplog, client, django_user_model):
    from urllib.parse import quote

    with Receiver(status=401) as r:
        monkeypatch.setenv(URL_ENV, with_login(r.url(f"/hooks/{TOKEN}")))
        made = channel("webhook", URL_ENV)
        with caplog.at_level(logging.DEBUG):
            ended_backup(target(monkeypatch), ok=False, error="boom")
    made.refresh_from_db()
    assert "HTTP 401" in made.last_error
    client.force_login(django_user_model.objects.create_superuser("root", "", None))
    pages = [client.get(f"/admin/backups_app/notificationchannel/{p}").content.decode()
             for p in ("", f"{made.pk}/change/")]
    assert "http://127.0.0.1/…" in pages[1]
    for text in [made.last_error, made.destination, caplog.text, *pages]:
        for secret in (HOOK_PASSWORD, quote(HOOK_PASSWORD, safe=""), TOKEN):
            assert secret not in text
