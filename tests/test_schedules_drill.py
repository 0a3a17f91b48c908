"""Schedules that verify or drill: the newest good backup is checked, restored into a scratch database, dropped."""

from datetime import time as clock

import pytest

from backups_app.admin.schedule_forms import BackupScheduleForm
from backups_app.models import BackupRecord, BackupSchedule, RestoreRecord, VerificationRecord
from backups_app.services.scheduled import run as scheduled_run
from tests.notify_records import channel
from tests.notify_servers import Receiver
from tests.restore_helpers import database_names, flip_byte, make_backup

URL_ENV = "BC_TEST_DRILL_HOOK"


@pytest.fixture
def small_db(pg_cluster, fresh_db):
    name = fresh_db("drill_source")
    pg_cluster.sql("CREATE TABLE trades AS SELECT g AS id, g * 1.5 AS price FROM generate_series(1, 5000) g; "
                   "CREATE TABLE accounts (id int PRIMARY KEY, name text); "
                   "INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 50) g", dbname=name)
    return name


@pytest.fixture
def hook(monkeypatch):
    with Receiver() as r:
        monkeypatch.setenv(URL_ENV, r.url())
        yield r


def drill_schedule(target, action="drill", **fields) -> BackupSchedule:
    return BackupSchedule.objects.create(name=f"{action} {target.name}", target=target, action=action, kind="daily",
                                         time_of_day=clock(4, 0), **fields)


def scratch_databases(cluster) -> set:
    return {n for n in database_names(cluster) if n.startswith("bc_drill_")}


@pytest.mark.django_db(transaction=True)
def test_a_drill_schedule_restores_the_newest_good_backup_checks_it_drops_it_and_times_the_restore(
        pg_cluster, small_db, make_target, backup_root, settings, hook):
    settings.BACKUP_ROW_COUNTS = True
    channel("webhook", URL_ENV, send_successes=True)
    target = make_target(small_db)
    older, newest = make_backup(target), make_backup(target)
    hook.posts.clear()
    schedule = drill_schedule(target)

    said = scheduled_run.run_scheduled(schedule_id=schedule.pk)

    check = VerificationRecord.objects.get()
    assert check.backup_id == newest.pk != older.pk and check.drill
    assert check.status == "succeeded" and check.ok, check.error
    assert "2 tables present and readable" in check.detail and "row counts equal" in check.detail
    restore = RestoreRecord.objects.get(is_drill=True)
    assert check.restore_seconds == pytest.approx(restore.duration_seconds) and check.restore_seconds > 0
    assert f"restore took {check.restore_seconds:.1f} s" in said and f"drill #{check.pk}" in said
    assert scratch_databases(pg_cluster) == set()
    schedule.refresh_from_db()
    assert schedule.last_status == "succeeded" and schedule.last_run_at is not None
    assert [hook.json(i)["event"] for i in range(len(hook.posts))] == ["succeeded"], "the drill's restore is not told"
    assert "Drill restore took" in hook.json()["text"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_drill_notifies_like_a_failed_backup(pg_cluster, small_db, make_target, backup_root, hook):
    channel("webhook", URL_ENV)
    target = make_target(small_db)
    backup = make_backup(target)
    flip_byte(backup.absolute_path, backup.size_bytes // 2)
    schedule = drill_schedule(target)

    scheduled_run.run_scheduled(schedule_id=schedule.pk)

    check = VerificationRecord.objects.get()
    assert check.status == "failed" and "checksum" in check.error
    schedule.refresh_from_db()
    assert schedule.last_status == "failed"
    body = hook.json()
    assert body["event"] == "verification_failed"
    assert body["title"] == f"[Backup Console] Restore drill of {target.name} failed"
    assert "checksum" in body["text"]
    assert scratch_databases(pg_cluster) == set()


@pytest.mark.django_db(transaction=True)
def test_a_drill_with_no_backup_to_restore_fails_and_says_so(make_target, backup_root, hook):
    channel("webhook", URL_ENV)
    target = make_target("drill_nothing_yet")
    schedule = drill_schedule(target, backup_type="weekly")
    said = scheduled_run.run_scheduled(schedule_id=schedule.pk)
    assert "no succeeded weekly backup" in said
    schedule.refresh_from_db()
    assert schedule.last_status == "failed"
    assert hook.json()["event"] == "verification_failed" and "no succeeded weekly backup" in hook.json()["text"]


@pytest.mark.django_db(transaction=True)
def test_a_verify_schedule_checks_the_file_without_a_restore(pg_cluster, small_db, make_target, backup_root):
    target = make_target(small_db)
    backup = make_backup(target)
    safety = make_backup(target)
    BackupRecord.objects.filter(pk=safety.pk).update(is_safety_backup=True)
    said = scheduled_run.run_scheduled(schedule_id=drill_schedule(target, action="verify").pk)
    check = VerificationRecord.objects.get()
    assert check.backup_id == backup.pk, "a safety backup taken before a restore is not what a drill tests"
    assert check.ok and not check.drill and check.restore_seconds is None
    assert not RestoreRecord.objects.exists()
    assert said == f"verification #{check.pk} of backup #{backup.pk} succeeded"


@pytest.mark.django_db
def test_the_form_needs_a_backup_type_only_for_backups(make_target):
    target = make_target("form_db")
    data = {"name": "x", "target": target.pk, "format": "custom", "kind": "daily", "time_of_day": "03:00",
            "enabled": "on"}
    backup = BackupScheduleForm(data={**data, "action": "backup"})
    assert not backup.is_valid() and "backup_type" in backup.errors
    drill = BackupScheduleForm(data={**data, "action": "drill"})
    assert drill.is_valid(), drill.errors
    assert drill.save().backup_type == ""
