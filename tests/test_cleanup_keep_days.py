"""`manage.py backup --cleanup --keep-days N`: what it deletes, what it keeps, and why.

Each row is a backup with a real file under BACKUP_ROOT; its expected fate
is given for two keep-days values.
"""

import os
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from backups_app.models import BackupRecord, DatabaseTarget

pytestmark = pytest.mark.django_db

KEEP, GONE, SAME = "kept", "deleted", "untouched"

BACKUPS = [
    # name,            target,  type,      age (days), status,      fate at 30, fate at 60
    ("alpha-daily-1",   "alpha", "daily",   1,          "succeeded", KEEP, KEEP),
    ("alpha-daily-29",  "alpha", "daily",   29.5,       "succeeded", KEEP, KEEP),
    ("alpha-daily-31",  "alpha", "daily",   30.5,       "succeeded", GONE, KEEP),
    ("alpha-daily-45",  "alpha", "daily",   45,         "succeeded", GONE, KEEP),
    ("alpha-daily-90",  "alpha", "daily",   90,         "succeeded", GONE, GONE),
    ("alpha-daily-fail", "alpha", "daily",  100,        "failed",    SAME, SAME),
    ("alpha-daily-gone", "alpha", "daily",  120,        "pruned",    SAME, SAME),
    ("alpha-weekly-200", "alpha", "weekly", 200,        "succeeded", KEEP, KEEP),  # the only weekly
    ("alpha-monthly-100", "alpha", "monthly", 100,      "succeeded", KEEP, KEEP),  # newest monthly
    ("alpha-monthly-400", "alpha", "monthly", 400,      "succeeded", GONE, GONE),
    ("beta-daily-90",   "beta",  "daily",   90,         "succeeded", KEEP, KEEP),  # beta's newest daily
    ("beta-daily-120",  "beta",  "daily",   120,        "succeeded", GONE, GONE),
    ("beta-manual-45",  "beta",  "manual",  45,         "succeeded", KEEP, KEEP),  # beta's only manual
]


@pytest.fixture
def backups(backup_root, db):
    """The table above as records with real files; returns {name: record}."""
    targets = {name: DatabaseTarget.objects.create(name=name, dbname=name) for name in ("alpha", "beta")}
    made = {}
    for name, target, backup_type, age, status, *_ in BACKUPS:
        path = f"database/{backup_type}/{name}.dump"
        if status == "succeeded":
            file = backup_root / path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(b"PGDMP" + name.encode())
        made[name] = make_record(targets[target], backup_type, status, age, path if status != "failed" else "")
    return made


def make_record(target, backup_type, status, age_days, path) -> BackupRecord:
    record = BackupRecord.objects.create(target=target, backup_type=backup_type, format="custom", status=status,
                                         path=path, size_bytes=10 if path else None)
    BackupRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    record.refresh_from_db()
    return record


def cleanup(*args) -> list[str]:
    out = StringIO()
    call_command("backup", "--cleanup", *args, stdout=out)
    return out.getvalue().splitlines()


def fate_of(record, root) -> str:
    before = record.status
    record.refresh_from_db()
    if record.status == "pruned" and before == "succeeded":
        assert not (root / record.path).exists(), f"{record.path} is marked pruned but its file is still there"
        assert record.pruned_at and record.pruned_reason.startswith("--cleanup: deleted: older than")
        return GONE
    if record.status == before == "succeeded":
        assert (root / record.path).is_file(), f"{record.path} was kept but its file is gone"
        return KEEP
    assert record.status == before
    return SAME


@pytest.mark.parametrize("keep_days,column", [(30, 5), (60, 6)])
def test_keep_days_deletes_old_backups_but_never_the_newest_of_a_target_and_type(
    backups, backup_root, keep_days, column
):
    lines = cleanup("--keep-days", str(keep_days))
    expected = {row[0]: row[column] for row in BACKUPS}
    assert {name: fate_of(record, backup_root) for name, record in backups.items()} == expected
    gone = sorted(name for name, fate in expected.items() if fate == GONE)
    assert lines[-1] == f"Deleted {len(gone)} backups"
    assert sorted(line.split()[-1].split("/")[-1].removesuffix(".dump") for line in lines[:-1]) == gone


def test_type_limits_cleanup_to_that_type(backups, backup_root):
    cleanup("--keep-days", "30", "--type", "daily")
    fates = {name: fate_of(record, backup_root) for name, record in backups.items()}
    assert fates["alpha-monthly-400"] == KEEP, "monthly backups are not looked at with --type daily"
    assert fates["alpha-daily-45"] == fates["beta-daily-120"] == GONE


def test_target_limits_cleanup_to_that_target(backups, backup_root):
    cleanup("--keep-days", "30", "--target", "beta")
    fates = {name: fate_of(record, backup_root) for name, record in backups.items()}
    assert fates["beta-daily-120"] == GONE
    assert fates["alpha-daily-90"] == KEEP


def test_a_dry_run_says_what_and_why_and_deletes_nothing(backups, backup_root):
    files_before = sorted(backup_root.rglob("*.dump"))
    lines = cleanup("--keep-days", "30", "--dry-run")

    assert sorted(backup_root.rglob("*.dump")) == files_before
    assert all(fate_of(record, backup_root) != GONE for record in backups.values())
    said = {line.split()[0]: line for line in lines[:-1]}
    alpha_90, newest_weekly, young = backups["alpha-daily-90"], backups["alpha-weekly-200"], backups["alpha-daily-29"]
    assert said[f"#{alpha_90.pk}"].endswith(
        "database/daily/alpha-daily-90.dump: would be deleted: older than 30 days and no rule keeps it")
    assert said[f"#{newest_weekly.pk}"].endswith(": kept: newest succeeded backup")
    assert said[f"#{young.pk}"].endswith(": kept: younger than 30 days")
    assert f"#{backups['alpha-daily-fail'].pk}" not in said
    assert lines[-1] == "Would delete 5 backups (dry run)"


def test_the_default_keep_days_is_thirty(backups, backup_root):
    cleanup()
    assert fate_of(backups["alpha-daily-31"], backup_root) == GONE
    assert fate_of(backups["alpha-daily-29"], backup_root) == KEEP


ESCAPES = ["parent folder", "absolute path", "symlink out"]


@pytest.mark.parametrize("escape", ESCAPES)
def test_a_file_outside_backup_root_is_never_deleted(backups, backup_root, tmp_path, escape):
    outside = tmp_path / "precious.dump"
    outside.write_bytes(b"not a backup of ours")
    if escape == "parent folder":
        path = "database/daily/../../../precious.dump"
    elif escape == "absolute path":
        path = str(outside)
    else:
        path = "database/daily/link.dump"
        os.symlink(outside, backup_root / path)
    crafted = make_record(backups["alpha-daily-1"].target, "daily", "succeeded", 365, path)

    dry = cleanup("--keep-days", "30", "--dry-run")
    assert any(line.startswith(f"#{crafted.pk} ") and "outside BACKUP_ROOT" in line for line in dry)
    assert dry[-1] == "Would delete 5 backups (dry run)"
    lines = cleanup("--keep-days", "30")

    assert outside.read_bytes() == b"not a backup of ours"
    crafted.refresh_from_db()
    assert crafted.status == "succeeded"
    assert any(line.startswith(f"#{crafted.pk} ") and "outside BACKUP_ROOT" in line for line in lines)
    assert lines[-1] == "Deleted 5 backups"
