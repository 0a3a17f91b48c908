"""`manage.py backup --check` and /healthz: which targets lack a recent succeeded backup."""

import json
from datetime import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backups_app.models import BackupSchedule
from tests.retention_records import new_backup, new_target

pytestmark = pytest.mark.django_db


def check(*args):
    out = StringIO()
    call_command("backup", "--check", *args, stdout=out)
    return out.getvalue()


def test_check_passes_when_every_target_has_a_recent_backup(backup_root):
    new_backup(new_target("one"), age_days=0.5)
    new_backup(new_target("two"), age_days=1)
    out = check()
    assert "ok     one" in out and "ok     two" in out
    assert "All 2 targets have a recent succeeded backup" in out


def test_check_fails_and_names_each_stale_target(backup_root):
    new_backup(new_target("fresh"), age_days=0.5)
    new_backup(new_target("old"), age_days=3)
    new_target("never")
    new_backup(new_target("broken"), age_days=0.1, status="failed")
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("backup", "--check", stdout=out)
    assert str(failure.value) == "3 of 4 targets lack a recent succeeded backup: broken, never, old"
    assert "STALE  old: newest succeeded backup is 72.0 hours old; expected within 26.0 hours (default)" in \
        out.getvalue()
    assert "STALE  never: no succeeded backup yet" in out.getvalue()


def test_the_expected_interval_follows_the_targets_schedule(backup_root):
    weekly = new_target("weekly")
    BackupSchedule.objects.create(name="sundays", target=weekly, backup_type="weekly", kind="weekly", weekday=6,
                                  time_of_day=time(3, 0))
    new_backup(weekly, age_days=5, backup_type="weekly")
    assert "ok     weekly" in check()
    new_backup(new_target("daily"), age_days=5)
    with pytest.raises(CommandError, match="1 of 2 targets"):
        check()


def test_max_age_hours_overrides_the_schedule(backup_root):
    new_backup(new_target("one"), age_days=0.5)
    with pytest.raises(CommandError, match="one"):
        check("--max-age-hours", "6")
    assert "ok" in check("--max-age-hours", "13")
    with pytest.raises(CommandError, match="more than 0"):
        check("--max-age-hours", "0")


def test_an_inactive_target_is_not_checked(backup_root):
    new_target("retired", is_active=False)
    new_backup(new_target("live"), age_days=0.2)
    assert "retired" not in check()


def test_healthz_says_the_same_as_json_with_200_or_503(client, backup_root):
    one = new_target("one")
    new_backup(one, age_days=0.5)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["ok"] is True and body["targets"][0]["target"] == "one"
    new_target("two")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["ok"] is False
    assert [t["problem"] for t in body["targets"]] == [None, "no succeeded backup yet"]
