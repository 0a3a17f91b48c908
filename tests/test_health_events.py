"""health_events: what a notifier would be told about, from real records."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backups_app.services.monitoring import anomaly, events
from tests.retention_records import new_backup, new_target

pytestmark = pytest.mark.django_db

MB = 1024 ** 2


def test_failures_anomalies_and_stale_targets_since_a_moment(backup_root):
    shop, old, fine = new_target("shop"), new_target("old"), new_target("fine")
    for days in (4, 3, 2):
        new_backup(shop, age_days=days, size_bytes=100 * MB)
    new_backup(shop, age_days=1.5, status="failed", error="earlier failure")
    odd = new_backup(shop, age_days=0.2, size_bytes=10 * MB)
    anomaly.flag_size_anomaly(record=odd)
    failed = new_backup(shop, age_days=0.1, status="failed", error="pg_dump: connection refused\nsecond line")
    new_backup(old, age_days=3, size_bytes=MB)
    new_backup(fine, age_days=0.1, size_bytes=MB)
    found = list(events.health_events(since=timezone.now() - timedelta(days=1)))
    assert [(e.kind, e.target, e.backup_id) for e in found] == [
        ("size_anomaly", "shop", odd.pk), ("backup_failed", "shop", failed.pk), ("stale", "old", None)]
    assert found[0].message == f"backup #{odd.pk} of shop is {10 * MB} bytes, -90% from the median of the previous " \
                               "backups"
    assert found[1].message == f"backup #{failed.pk} of shop failed: pg_dump: connection refused"
    assert found[2].message.startswith("old: newest restorable backup is 72.0 hours old")


def test_nothing_to_tell_when_all_is_well(backup_root):
    new_backup(new_target("fine"), age_days=0.1, size_bytes=MB)
    assert list(events.health_events(since=timezone.now() - timedelta(days=1))) == []
