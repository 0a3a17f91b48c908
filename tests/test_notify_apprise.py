"""Chat services through Apprise (its json:// URL, to a real local HTTP server), and keeping their URLs hidden."""

import logging

import pytest
from django.core.exceptions import ValidationError

from backups_app.models import NotificationChannel
from backups_app.services.notify import destinations
from tests.admin_support import changelist, messages_of, post_action
from tests.notify_records import channel, ended_backup, target
from tests.notify_servers import Receiver, closed_port

URL_ENV = "BC_TEST_APPRISE_URL"
SECRET = "ApPr1se-Secret-Pa55"
PATH_TOKEN = "room-token-abcdef123456"


def test_a_failed_backup_reaches_a_chat_service_through_apprise(monkeypatch, transactional_db):
    with Receiver(status=200) as r:
        monkeypatch.setenv(URL_ENV, f"json://bot:{SECRET}@127.0.0.1:{r.port}/{PATH_TOKEN}")
        channel("apprise", URL_ENV)
        ended_backup(target(monkeypatch), ok=False, error="pg_dump: could not connect")
    body = r.json()
    assert r.posts[0]["path"] == f"/{PATH_TOKEN}"
    assert body["title"] == "[Backup Console] Backup of sales failed"
    assert "could not connect" in body["message"] and body["type"] == "failure"
    assert NotificationChannel.objects.get().last_error == ""


def test_an_apprise_failure_is_kept_without_the_url(monkeypatch, transactional_db, caplog):
    monkeypatch.setenv(URL_ENV, f"json://bot:{SECRET}@127.0.0.1:{closed_port()}/{PATH_TOKEN}")
    channel("apprise", URL_ENV)
    with caplog.at_level(logging.DEBUG):
        record = ended_backup(target(monkeypatch), ok=False, error="boom")
    assert record.status == "failed"
    made = NotificationChannel.objects.get()
    assert made.last_error.startswith("Apprise could not deliver"), made.last_error
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("backups_app"))
    assert "could not deliver" in ours
    for secret in (SECRET, PATH_TOKEN):
        assert secret not in made.last_error and secret not in ours


def test_apprise_own_log_lines_which_name_the_url_go_nowhere():
    # Apprise logs a channel's URL at DEBUG level; the console keeps its logger out of every handler.
    apprise_log = logging.getLogger("apprise")
    assert apprise_log.propagate is False
    assert not [h for h in apprise_log.handlers if type(h).__module__.startswith("logging")
                and not isinstance(h, logging.NullHandler)]


def test_a_url_apprise_does_not_know_is_a_failed_delivery(monkeypatch, transactional_db):
    monkeypatch.setenv(URL_ENV, "nosuchservice://whatever")
    channel("apprise", URL_ENV)
    ended_backup(target(monkeypatch), ok=False, error="boom")
    assert "does not understand" in NotificationChannel.objects.get().last_error


@pytest.mark.django_db
def test_a_channel_refuses_a_url_in_place_of_the_variable_name():
    with pytest.raises(ValidationError, match="environment variable"):
        channel("apprise", f"slack://{SECRET}/B0/C0")
    assert not NotificationChannel.objects.exists()


@pytest.mark.parametrize("url, shown", [
    (f"json://bot:{SECRET}@hooks.example.test:8080/{PATH_TOKEN}", "json://hooks.example.test/…"),
    (f"https://hooks.slack.com/services/T000/B000/{PATH_TOKEN}", "https://hooks.slack.com/…"),
    (f"slack://{SECRET}/B000/{PATH_TOKEN}", "slack://…"),
    (f"discord://{SECRET}/{PATH_TOKEN}", "discord://…"),
])
def test_only_the_scheme_and_a_harmless_host_are_shown(monkeypatch, url, shown):
    monkeypatch.setenv(URL_ENV, url)
    made = NotificationChannel(kind="apprise", destination=URL_ENV)
    assert destinations.masked(made) == f"{shown} from {URL_ENV}"


@pytest.mark.django_db
def test_the_admin_pages_never_show_the_url(admin_client, monkeypatch):
    monkeypatch.setenv(URL_ENV, f"json://bot:{SECRET}@hooks.example.test/{PATH_TOKEN}")
    made = channel("apprise", URL_ENV, last_error="")
    for page in (changelist("notificationchannel"), f"{changelist('notificationchannel')}{made.pk}/change/"):
        html = admin_client.get(page).content.decode()
        assert "json://hooks.example.test/…" in html
        assert SECRET not in html and PATH_TOKEN not in html


@pytest.mark.django_db
def test_the_admin_saves_a_channel_with_its_events(admin_client, monkeypatch):
    response = admin_client.post(f"{changelist('notificationchannel')}add/", {
        "name": "team chat", "kind": "apprise", "destination": URL_ENV, "events": ["backup_failed", "target_stale"],
        "enabled": "on"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert NotificationChannel.objects.get().events == ["backup_failed", "target_stale"]


def test_the_test_action_sends_and_reports(admin_client, monkeypatch, transactional_db):
    with Receiver(status=200) as r:
        monkeypatch.setenv(URL_ENV, f"json://127.0.0.1:{r.port}/{PATH_TOKEN}")
        good = channel("apprise", URL_ENV, name="good")
        monkeypatch.setenv("BC_TEST_DOWN_URL", f"http://127.0.0.1:{closed_port()}/{PATH_TOKEN}")
        down = channel("webhook", "BC_TEST_DOWN_URL", name="down")
        response = post_action(admin_client, "notificationchannel", "send_test_notification", [good, down])
    said = messages_of(response)
    assert "Test notification sent through good." in said
    assert any(m.startswith("down could not deliver the test notification: cannot reach") for m in said), said
    assert PATH_TOKEN not in " ".join(said)
    assert r.json()["title"] == "[Backup Console] Test notification"
    page = admin_client.get(changelist("notificationchannel")).content.decode()
    assert "cannot reach the webhook" in page and PATH_TOKEN not in page
