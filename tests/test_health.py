"""`manage.py backup --check` and /healthz: which targets are not healthy, and who may read their names."""

import json
from datetime import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backups_app.models import BackupRecord, BackupSchedule
from backups_app.services.jobs import process
from backups_app.services.storage import offsite
from tests.retention_records import new_backup, new_target

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = pytest.mark.django_db
TOKEN = "token-for-the-health-tests"


def check(*args):
    out = StringIO()
    call_command("backup", "--check", *args, stdout=out)
    return out.getvalue()


def test_check_passes_when_every_target_has_a_recent_backup(backup_root):
    new_backup(new_target("one"), age_days=0.5)
    new_backup(new_target("two"), age_days=1)
    out = check()
    assert "ok     one" in out and "ok     two" in out
    assert "All 2 targets are healthy: each has a recent restorable backup" in out


def test_check_fails_and_names_each_stale_target(backup_root):
    new_backup(new_target("fresh"), age_days=0.5)
    new_backup(new_target("old"), age_days=3)
    new_target("never")
    new_backup(new_target("broken"), age_days=0.1, status="failed")
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("backup", "--check", stdout=out)
    assert str(failure.value) == "3 of 4 targets are not healthy: broken, never, old"
    assert "STALE  old: newest restorable backup is 72.0 hours old; expected within 26.0 hours (default)" in \
        out.getvalue()
    assert "STALE  never: no restorable backup yet" in out.getvalue()


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


def test_healthz_says_the_same_as_json_with_200_or_503(client, backup_root, settings):
    settings.METRICS_TOKEN = TOKEN
    one = new_target("one")
    new_backup(one, age_days=0.5)
    response = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["ok"] is True and body["targets"][0]["target"] == "one"
    new_target("two")
    response = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["ok"] is False
    assert [t["problem"] for t in body["targets"]] == [None, "no restorable backup yet"]


def test_healthz_speaks_english_to_machines_whatever_the_console_and_the_client_speak(client, backup_root,
                                                                                        settings):
    settings.METRICS_TOKEN, settings.LANGUAGE_CODE = TOKEN, "ja"
    new_target("two")
    three = new_target("three")
    BackupSchedule.objects.create(name="nightly", target=three, backup_type="daily", kind="daily",
                                  time_of_day=time(2, 0))
    new_backup(three, age_days=3)
    body = json.loads(client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_ACCEPT_LANGUAGE="ja").content)
    problems = {t["target"]: (t["problem"], t["expected_from"]) for t in body["targets"]}
    assert problems["two"][0] == "no restorable backup yet"
    assert problems["three"][1] == "schedule nightly" and "expected within" in problems["three"][0]


def check_failure(*args) -> tuple[str, str]:
    """(stdout, the one-line error) of a --check that must fail."""
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("backup", "--check", *args, stdout=out)
    return out.getvalue(), str(failure.value)


def test_a_newer_backup_that_failed_verification_is_not_hidden_by_an_older_good_one(backup_root):
    shop = new_target("shop")
    good = new_backup(shop, age_days=0.5)
    damaged = new_backup(shop, age_days=0.2, last_verify_ok=False, last_verify_detail="the file is truncated")
    out, error = check_failure()
    assert out.splitlines()[0] == (f"BAD    shop: the newest backup #{damaged.pk} failed its last verification; "
                                   f"the last restorable backup is #{good.pk}, 12.0 hours old")
    assert error == "1 of 1 targets are not healthy: shop"
    BackupRecord.objects.filter(pk=damaged.pk).update(last_verify_ok=True)
    assert check().startswith("ok     shop: "), "verified again, it is good again"


def test_a_target_whose_only_backup_failed_verification_has_none_restorable(backup_root):
    only = new_backup(new_target("shop"), age_days=0.1, last_verify_ok=False)
    out, _error = check_failure()
    assert out.startswith(f"BAD    shop: the newest backup #{only.pk} failed its last verification; "
                          "no backup is restorable")


def test_a_newest_backup_whose_file_is_gone_is_not_restorable(backup_root):
    shop = new_target("shop")
    good = new_backup(shop, age_days=0.5)
    gone = new_backup(shop, age_days=0.1)
    gone.absolute_path.unlink()
    out, _error = check_failure()
    assert f"BAD    shop: the file of the newest backup #{gone.pk} is missing; the last restorable backup is " \
           f"#{good.pk}" in out


def test_a_backup_kept_only_in_object_storage_counts_while_its_copy_is_confirmed(backup_root):
    shop = new_target("shop")
    only = new_backup(shop, age_days=0.1, with_file=False, path="database/daily/shop.dump", local_removed=True,
                      offsite_status="uploaded", offsite_key="backups/database/daily/shop.dump")
    assert check().startswith("ok     shop: ")
    BackupRecord.objects.filter(pk=only.pk).update(offsite_status="deleted")
    out, _error = check_failure()
    assert f"the file of the newest backup #{only.pk} is missing" in out


def test_a_local_only_backup_made_by_another_host_is_taken_at_its_word(backup_root):
    """Another host's BACKUP_ROOT cannot be seen from here; this host's own files are checked."""
    there = new_backup(new_target("shop"), age_days=0.1, with_file=False, path="database/daily/shop.dump")
    BackupRecord.objects.filter(pk=there.pk).update(host="another-host")
    assert check().startswith("ok     shop: ")
    BackupRecord.objects.filter(pk=there.pk).update(host=process.host())
    out, _error = check_failure()
    assert "is missing" in out


def test_a_failed_copy_to_object_storage_fails_the_check_while_the_backup_is_kept(backup_root):
    shop = new_target("shop")
    new_backup(shop, age_days=0.2, offsite_status="uploaded", offsite_key="k1")
    lonely = new_backup(shop, age_days=0.1, offsite_status="failed", offsite_detail="upload failed after 3 attempts")
    out, error = check_failure()
    assert out.splitlines()[0].startswith("OFFSITE  shop: 1 backups were not copied to object storage")
    assert error == "1 of 1 targets are not healthy: shop"
    # This process uploading it: the recovery every command runs first leaves a live upload alone.
    BackupRecord.objects.filter(pk=lonely.pk).update(offsite_status="uploading",
                                                     **offsite.owner_fields(process.identity()))
    assert check().startswith("ok"), "an upload under way is not a failure (yet)"
    BackupRecord.objects.filter(pk=lonely.pk).update(offsite_status="failed", status="pruned")
    assert check().startswith("ok"), "a pruned backup's failed copy no longer matters"


def test_check_target_checks_only_that_target(backup_root):
    new_backup(new_target("fresh"), age_days=0.1)
    new_backup(new_target("old"), age_days=3)
    out = check("--target", "fresh")
    assert "fresh" in out and "old" not in out
    assert out.splitlines()[-1] == "All 1 targets are healthy: each has a recent restorable backup"
    out, error = check_failure("--target", "old")
    assert "fresh" not in out and error == "1 of 1 targets are not healthy: old"
    with pytest.raises(CommandError, match="no target named 'nope'"):
        check("--target", "nope")


def test_healthz_without_login_or_token_gives_the_status_and_counts_only(client, backup_root):
    secret_name = new_target("payroll-eu")
    new_backup(secret_name, age_days=0.5)
    new_backup(new_target("crm"), age_days=3)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert set(body) == {"ok", "status", "checked_at", "counts"}
    assert body["status"] == "unhealthy"
    assert body["counts"] == {"targets": 2, "ok": 1, "stale": 1, "damaged": 0, "offsite_failed": 0}
    text = response.content.decode()
    assert "payroll" not in text and "crm" not in text and "last_success" not in text


@pytest.mark.parametrize("role, detail", [("Backup viewers", True), (None, False)])
def test_healthz_lists_the_targets_for_staff_who_may_see_them(as_role, backup_root, role, detail):
    new_backup(new_target("payroll"), age_days=0.5)
    client = as_role(role)
    body = json.loads(client.get("/healthz").content)
    assert ("targets" in body) is detail
    if detail:
        assert body["targets"][0]["target"] == "payroll" and body["targets"][0]["state"] == "ok"
