"""Files under BACKUP_ROOT/database that no record knows: reported, never deleted."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from backups_app.models import BackupRecord
from backups_app.services.retention import orphans
from backups_app.services.retention import prune as pruning
from backups_app.services.storage import layout
from tests.retention_records import leftover_partial, new_backup, new_target

pytestmark = pytest.mark.django_db


def notes():
    return {o.path: o.note for o in orphans.find_orphans()}


def test_a_file_no_record_knows_is_reported(backup_root):
    new_backup(new_target(), age_days=1)
    stray = layout.ensure_dir(layout.type_dir("daily")) / "copied_by_hand.dump"
    stray.write_bytes(b"x" * 10)
    (layout.database_dir() / "notes.txt").write_text("hi")
    layout.log_path().write_text("log\n")
    assert notes() == {
        "database/daily/copied_by_hand.dump": "no backup record knows this file",
        "database/notes.txt": "not a backup folder the console uses",
    }


def test_known_files_and_running_jobs_temporary_files_are_not_orphans(backup_root):
    target = new_target()
    new_backup(target, age_days=1)
    leftover_partial(new_backup(target, status="running"))
    assert notes() == {}


def test_a_pruned_backups_file_that_is_still_there_is_reported(backup_root):
    record = new_backup(new_target(), age_days=1)
    BackupRecord.objects.filter(pk=record.pk).update(status="pruned")
    assert notes() == {record.path: f"backup #{record.pk} was pruned but its file is still here"}


def test_a_failed_attempts_file_is_reported_until_a_prune_removes_it(backup_root):
    from backups_app.models import RetentionPolicy

    target = new_target()
    new_backup(target, age_days=1)
    failed = new_backup(target, status="failed")
    partial = leftover_partial(failed)
    assert list(notes().values()) == [
        f"temporary file of backup #{failed.pk}, which is no longer running; the next prune removes it"]
    pruning.prune_policy(policy_id=RetentionPolicy.objects.create(name="p").pk)
    assert not partial.exists()
    assert notes() == {}


def test_listing_orphans_deletes_nothing_and_speaks_json(backup_root):
    stray = layout.ensure_dir(layout.type_dir("weekly")) / "mystery.sql.gz"
    stray.write_bytes(b"y" * 5)
    out = StringIO()
    call_command("backup", "--list", "--orphans", stdout=out)
    assert f"{stray}  5 Bytes" in out.getvalue()
    assert "1 files under" in out.getvalue() and "(none deleted)" in out.getvalue()
    out = StringIO()
    call_command("backup", "--list", "--orphans", "--json", stdout=out)
    [entry] = json.loads(out.getvalue())
    assert entry["path"] == str(stray) and entry["size_bytes"] == 5
    assert stray.exists()


def test_no_backup_folder_yet_means_no_orphans(backup_root):
    assert orphans.find_orphans() == []
