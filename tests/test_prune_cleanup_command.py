"""`manage.py backup --cleanup --keep-days N [--dry-run]`: the original script's cleanup, on the shared planner."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backups_app.models import BackupRecord
from tests.retention_records import new_backup, new_target

pytestmark = pytest.mark.django_db


def cleanup(*args) -> str:
    out = StringIO()
    call_command("backup", "--cleanup", *args, stdout=out)
    return out.getvalue()


def status_by_age(records) -> dict:
    return {age: BackupRecord.objects.get(pk=r.pk).status for age, r in records.items()}


@pytest.mark.parametrize("keep_days,expected", [
    (30, {1: "succeeded", 29: "succeeded", 31: "pruned", 90: "pruned"}),
    (60, {1: "succeeded", 29: "succeeded", 31: "succeeded", 90: "pruned"}),
    (1, {1: "succeeded", 29: "pruned", 31: "pruned", 90: "pruned"}),
])
def test_cleanup_deletes_succeeded_backups_older_than_keep_days(backup_root, keep_days, expected):
    target = new_target()
    records = {age: new_backup(target, age_days=age - 0.5) for age in expected}
    cleanup("--keep-days", str(keep_days))
    assert status_by_age(records) == expected
    for age, status in expected.items():
        assert records[age].absolute_path.exists() == (status == "succeeded")


def test_cleanup_never_deletes_the_newest_succeeded_backup_of_a_target_and_type(backup_root):
    one, two = new_target("one"), new_target("two")
    newest = [new_backup(one, age_days=100), new_backup(one, age_days=100, backup_type="weekly"),
              new_backup(two, age_days=100)]
    older = new_backup(one, age_days=200)
    new_backup(one, age_days=0, status="failed")
    cleanup("--keep-days", "30")
    assert [BackupRecord.objects.get(pk=r.pk).status for r in newest] == ["succeeded"] * 3
    assert BackupRecord.objects.get(pk=older.pk).status == "pruned"


def test_cleanup_with_a_type_touches_only_that_type(backup_root):
    target = new_target()
    daily = [new_backup(target, age_days=age) for age in (1, 100)]
    weekly = [new_backup(target, age_days=age, backup_type="weekly") for age in (1, 100)]
    cleanup("--keep-days", "30", "--type", "weekly")
    assert BackupRecord.objects.get(pk=daily[1].pk).status == "succeeded"
    assert BackupRecord.objects.get(pk=weekly[1].pk).status == "pruned"


def test_a_dry_run_says_what_would_go_and_why_and_changes_nothing(backup_root):
    target = new_target()
    young, old = new_backup(target, age_days=1), new_backup(target, age_days=100)
    out = cleanup("--keep-days", "30", "--dry-run")
    lines = {line.split(" ", 1)[0]: line for line in out.splitlines()}
    assert lines[f"#{old.pk}"].endswith(f"{old.path}: would be deleted: older than 30 days and no rule keeps it")
    assert lines[f"#{young.pk}"].endswith("kept: newest succeeded backup; younger than 30 days")
    assert "Would delete 1 backups (dry run)" in out
    assert old.absolute_path.exists()
    assert BackupRecord.objects.get(pk=old.pk).status == "succeeded"


def test_cleanup_does_not_touch_failed_attempts_or_retention_policies(backup_root):
    from backups_app.models import RetentionPolicy

    target = new_target()
    new_backup(target, age_days=1)
    kept_by_policy = new_backup(target, age_days=100)
    RetentionPolicy.objects.create(name="keep a year", keep_days=365)
    failed = new_backup(target, age_days=100, status="failed")
    cleanup("--keep-days", "30")
    assert BackupRecord.objects.get(pk=kept_by_policy.pk).status == "pruned", "--keep-days alone decides"
    assert BackupRecord.objects.get(pk=failed.pk).status == "failed"


def test_keep_days_below_one_is_refused(backup_root):
    with pytest.raises(CommandError, match="at least 1"):
        cleanup("--keep-days", "0")
