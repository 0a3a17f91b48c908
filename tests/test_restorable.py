"""A backup that failed its verification is not "good": pruning, --check, /healthz and /metrics agree.

Real dumps of pagila: a custom-format backup, then a plain SQL one whose
file is cut to half on disk. Verifying them, the first passes and the
second fails; from then on the console must count the first as the
target's last restorable backup, whatever the retention rules say.
"""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from backups_app.models import BackupRecord, RetentionPolicy
from backups_app.services.retention import prune as pruning
from backups_app.services.retention.preview import preview_policy
from tests.restore_helpers import make_backup, run_verify, truncate

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = pytest.mark.django_db
TOKEN = "token-for-the-restorable-tests"


@pytest.fixture
def good_then_damaged(pagila, make_target, backup_root):
    """(target, good, damaged): the custom backup verified, the newer SQL backup truncated and failing."""
    target = make_target(pagila)
    good, damaged = make_backup(target, "custom"), make_backup(target, "sql")
    truncate(damaged.absolute_path, 0.5)
    assert run_verify(good).status == "succeeded"
    failed = run_verify(damaged)
    assert failed.status == "failed" and "truncated" in failed.error
    good.refresh_from_db()
    damaged.refresh_from_db()
    return target, good, damaged


def age(*records, days: float) -> None:
    """Date the records `days` back and a minute apart, in the order given (the last one newest)."""
    start = timezone.now() - timedelta(days=days)
    for i, record in enumerate(records):
        when = start + timedelta(minutes=i)
        BackupRecord.objects.filter(pk=record.pk).update(created_at=when, finished_at=when)
        record.refresh_from_db()


def status(record) -> str:
    record.refresh_from_db()
    return record.status


def test_keep_last_0_min_keep_1_keeps_the_verified_backup_and_the_preview_says_why(good_then_damaged):
    target, good, damaged = good_then_damaged
    policy = RetentionPolicy.objects.create(name="one copy", target=target, keep_days=None, keep_last=0, min_keep=1)
    preview = preview_policy(policy=policy)
    assert good.pk not in preview.deleted_ids
    [effect] = preview.targets
    reasons = {row.id: row.reason for row in effect.kept}
    assert reasons[good.pk] == f"kept: the last restorable backup (newer #{damaged.pk} failed its verification)"

    pruning.prune_policy(policy_id=policy.pk, started_by="test")

    assert status(good) == "succeeded" and good.absolute_path.is_file()
    assert run_verify(good).status == "succeeded", "still restorable after the prune"


def test_cleanup_keep_days_keeps_the_verified_backup_when_both_are_older(good_then_damaged):
    target, good, damaged = good_then_damaged
    age(good, damaged, days=3)
    dry = StringIO()
    call_command("backup", "--cleanup", "--keep-days", "1", "--dry-run", stdout=dry)
    assert (f"#{good.pk} {target.name} manual" in dry.getvalue()
            and f"kept: the last restorable backup (newer #{damaged.pk} failed its verification)" in dry.getvalue())

    call_command("backup", "--cleanup", "--keep-days", "1", stdout=StringIO())

    assert status(good) == "succeeded" and good.absolute_path.is_file()


def test_check_does_not_say_ok_for_a_target_whose_newest_backup_failed_verification(good_then_damaged):
    target, good, damaged = good_then_damaged
    out = StringIO()
    with pytest.raises(CommandError, match=target.name):
        call_command("backup", "--check", stdout=out)
    line = next(li for li in out.getvalue().splitlines() if f" {target.name}:" in li)
    assert not line.startswith("ok")
    assert f"backup #{damaged.pk} failed its last verification" in line


def test_healthz_and_metrics_never_report_the_damaged_backup_as_the_last_success(good_then_damaged, client,
                                                                                  settings):
    target, good, damaged = good_then_damaged
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = TOKEN, []
    age(good, damaged, days=0.2)
    response = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    [row] = json.loads(response.content)["targets"]
    assert row["ok"] is False
    assert row["last_success"] == timezone.localtime(good.finished_at).isoformat()

    metrics = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    found = {(s.name, s.labels.get("target")): s.value
             for family in text_string_to_metric_families(metrics) for s in family.samples}
    assert found[("backupconsole_last_success_timestamp_seconds", target.name)] == pytest.approx(
        good.finished_at.timestamp())
