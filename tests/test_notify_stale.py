"""A target without a fresh backup is told once per stale spell."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backups_app.models import BackupRecord, Notification
from backups_app.services.notify import stale
from tests.notify_records import channel, target
from tests.notify_servers import Receiver
from tests.retention_records import new_backup

pytestmark = pytest.mark.django_db(transaction=True)
URL_ENV = "BC_TEST_STALE_HOOK"


@pytest.fixture
def hook(monkeypatch):
    with Receiver() as r:
        monkeypatch.setenv(URL_ENV, r.url())
        channel("webhook", URL_ENV)
        yield r


def test_a_stale_target_is_told_once_until_it_has_a_newer_backup(hook, monkeypatch, backup_root):
    old = target(monkeypatch, "old")
    fresh = target(monkeypatch, "fresh")
    new_backup(old, age_days=3)
    new_backup(fresh, age_days=0.1)

    assert stale.check() == ["old"]
    assert hook.json()["event"] == "target_stale" and hook.json()["target"] == "old"
    assert "hours old" in hook.json()["text"]
    assert stale.check() == [], "told once"

    new_backup(old, age_days=0)
    assert stale.check() == []
    later = timezone.now() + timedelta(days=3)
    assert sorted(stale.check(now=later)) == ["fresh", "old"], "a new stale spell is told again"
    assert Notification.objects.filter(kind="target_stale").count() == 3


def test_a_target_that_never_had_a_backup_is_stale(hook, monkeypatch):
    target(monkeypatch, "brand-new")
    assert stale.check() == ["brand-new"]
    assert "no restorable backup yet" in hook.json()["text"]


def test_the_reaper_checks_only_now_and_then(hook, monkeypatch, settings):
    settings.NOTIFY_STALE_CHECK_SECONDS = 3600
    monkeypatch.setattr(stale, "_last_check", [float("-inf")])
    target(monkeypatch, "never")
    stale.check_now_and_then()
    Notification.objects.all().delete()
    stale.check_now_and_then()
    assert len(hook.posts) == 1
    settings.NOTIFY_STALE_CHECK_SECONDS = 0
    monkeypatch.setattr(stale, "_last_check", [float("-inf")])
    stale.check_now_and_then()
    assert len(hook.posts) == 1


def test_a_target_whose_newest_backup_failed_verification_is_told_once_per_failure(hook, monkeypatch, backup_root):
    shop = target(monkeypatch, "shop")
    new_backup(shop, age_days=0.5)
    newest = new_backup(shop, age_days=0.1)
    assert stale.check() == [], "fresh and never verified: healthy"

    BackupRecord.objects.filter(pk=newest.pk).update(last_verify_ok=False, last_verified_at=timezone.now())
    assert stale.check() == ["shop"]
    assert hook.json()["event"] == "target_stale"
    assert f"the newest backup #{newest.pk} failed its last verification" in hook.json()["text"]
    assert stale.check() == [], "told once"

    BackupRecord.objects.filter(pk=newest.pk).update(last_verify_ok=False, last_verified_at=timezone.now())
    assert stale.check() == ["shop"], "a newer failed verification is told again"
