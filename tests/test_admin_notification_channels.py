"""The notification channel admin: a new channel hears every event unless told otherwise."""

import re

import pytest

from backups_app.models import NotificationChannel
from backups_app.models.notifications import EventKind

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = pytest.mark.django_db

ADD = "/admin/backups_app/notificationchannel/add/"


def ticked_events(page: str) -> set[str]:
    boxes = re.findall(r'<input type="checkbox" name="events" value="([a-z_]+)"[^>]*>', page)
    ticked = re.findall(r'<input type="checkbox" name="events" value="([a-z_]+)"[^>]*\schecked[^>]*>', page)
    assert len(boxes) == len(EventKind.values)
    return set(ticked)


def test_a_new_channel_starts_with_every_event_ticked(superuser_client):
    assert ticked_events(superuser_client.get(ADD).content.decode()) == set(EventKind.values)


def test_saved_as_the_form_comes_it_hears_every_event(superuser_client, monkeypatch):
    monkeypatch.setenv("NOTIFY_TEST_HOOK", "https://alerts.example.internal/hooks/backups")
    page = superuser_client.get(ADD).content.decode()
    response = superuser_client.post(ADD, {"name": "on call", "kind": "webhook", "destination": "NOTIFY_TEST_HOOK",
                                           "events": sorted(ticked_events(page)), "enabled": "on"})
    assert response.status_code == 302
    assert sorted(NotificationChannel.objects.get().events) == sorted(EventKind.values)


def test_a_channel_keeps_the_events_it_was_given(superuser_client):
    channel = NotificationChannel.objects.create(name="quiet", kind="email", destination="ops@example.com",
                                                 events=["backup_failed"])
    page = superuser_client.get(f"/admin/backups_app/notificationchannel/{channel.pk}/change/").content.decode()
    assert ticked_events(page) == {"backup_failed"}
