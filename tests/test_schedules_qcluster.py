"""A schedule run end to end: a real qcluster's scheduler fires it, the backup runs, then pruning follows."""

from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.slow

SETUP = """
    import json
    from datetime import time, timedelta
    from django.utils import timezone
    from django_q.models import Schedule
    from backups_app.models import BackupSchedule, DatabaseTarget, RetentionPolicy
    from tests.retention_records import new_backup

    RetentionPolicy.objects.create(name="thirty days everywhere", keep_days=30)
    old = {}
    for name in ("shop", "gone"):
        target = DatabaseTarget.objects.get(name=name)
        old[name] = [new_backup(target, age_days=age).pk for age in (40, 50, 60)]
        BackupSchedule.objects.create(name=f"{name} nightly", target=target, backup_type="daily", kind="daily",
                                      time_of_day=time(2, 0))
    print(json.dumps(old))
"""
DUE_NOW = """
    from datetime import timedelta
    from django.utils import timezone
    from django_q.models import Schedule
    # As if 02:00 had just passed: the first scheduler round (about 30 s after start) fires them.
    print(Schedule.objects.update(next_run=timezone.now() - timedelta(minutes=1)))
"""


def test_a_scheduled_backup_runs_in_the_cluster_and_is_followed_by_pruning_only_after_success(
        console, pg_cluster, fresh_db):
    db = fresh_db("sched_shop")
    pg_cluster.sql("CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 1000) g", dbname=db)
    console.add_target("shop", dbname=db, cluster=pg_cluster)
    console.add_target("gone", dbname="no_such_database", cluster=pg_cluster)
    old = console.shell_json(SETUP)
    assert "2 created" in console.manage("sync_schedules").stdout
    assert "2 unchanged" in console.manage("sync_schedules").stdout, "running it again changes nothing"
    assert console.shell(DUE_NOW).strip().splitlines()[-1] == "2"

    with console.qcluster(workers=2) as cluster:
        rows = console.wait(lambda: _scheduled_runs_done(console), timeout=150, what="both scheduled runs")
    assert "database is locked" not in cluster.log()

    by_target = {r["target"]: r for r in rows}
    assert by_target["shop"]["status"] == "succeeded"
    assert by_target["shop"]["started_by"] == "schedule shop nightly"
    assert (console.backup_root / by_target["shop"]["path"]).exists()
    assert by_target["gone"]["status"] == "failed"

    pruned = _statuses(console, old["shop"])
    assert [r["status"] for r in pruned] == ["pruned"] * 3, "after a successful backup, its target is pruned"
    assert all("older than 30 days" in r["pruned_reason"] for r in pruned)
    assert not any((console.backup_root / r["path"]).exists() for r in pruned)
    untouched = _statuses(console, old["gone"])
    assert [r["status"] for r in untouched] == ["succeeded"] * 3, "a failed backup is never followed by pruning"
    assert all((console.backup_root / r["path"]).exists() for r in untouched)

    schedules = {r["name"]: r for r in console.rows("SELECT name, last_status, last_run_at FROM "
                                                    "backups_app_backupschedule")}
    assert schedules["shop nightly"]["last_status"] == "succeeded" and schedules["shop nightly"]["last_run_at"]
    assert schedules["gone nightly"]["last_status"] == "failed"
    now = datetime.now(UTC).isoformat(" ", "seconds")  # UTC text: compares on SQLite and PostgreSQL alike
    future = console.rows("SELECT COUNT(*) AS n FROM django_q_schedule WHERE next_run > ?", [now])
    assert future[0]["n"] == 2, "each schedule waits for its next 02:00, no second catch-up run"


def _scheduled_runs_done(console):
    rows = console.rows("SELECT b.id, b.status, b.path, b.started_by, t.name AS target FROM backups_app_backuprecord b "
                        "JOIN backups_app_databasetarget t ON t.id = b.target_id WHERE b.schedule_id IS NOT NULL")
    if len(rows) < 2 or any(r["status"] not in ("succeeded", "failed") for r in rows):
        return None
    shop_old = console.rows("SELECT COUNT(*) AS n FROM backups_app_backuprecord b JOIN backups_app_databasetarget t "
                            "ON t.id = b.target_id WHERE t.name = 'shop' AND b.status = 'pruned'")
    succeeded = any(r["status"] == "succeeded" for r in rows)
    return rows if not succeeded or shop_old[0]["n"] == 3 else None


def _statuses(console, ids):
    marks = ",".join("?" * len(ids))
    return console.rows(f"SELECT id, status, path, pruned_reason FROM backups_app_backuprecord WHERE id IN ({marks}) "
                        "ORDER BY id", ids)
