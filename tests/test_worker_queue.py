"""Ten backups queued at once against two targets, run by a real qcluster with two workers on SQLite."""

import itertools
import time

import pytest

from tests.faultkit import dump_waiting_on_lock, table_held
from tests.qcluster import overlaps

pytestmark = pytest.mark.slow


@pytest.fixture
def two_targets(console, pg_cluster, pagila, fresh_db):
    for name in ("shop_a", "shop_b"):
        fresh_db(name, template=pagila)
        console.add_target(name.replace("_", "-"), dbname=name, cluster=pg_cluster)
    return ["shop-a", "shop-b"]


def run_ten_backups(console, pg_cluster, targets):
    # All of one target first: both workers meet a busy target at once, and only handing the
    # waiting job back to the queue lets the second target run alongside. Heartbeats five
    # times a second add writes from threads to the console database's load. The first dump
    # is held at its table lock for a second, so beats happen however fast the machine dumps.
    env = {"JOB_TURN_SLICE_SECONDS": "0.5", "JOB_HEARTBEAT_SECONDS": "0.2"}
    first_db = targets[0].replace("-", "_")
    with console.qcluster(workers=2, env=env) as cluster:
        with table_held(pg_cluster, first_db, "public.actor"):
            ids = console.enqueue_backups([targets[0]] * 5 + [targets[1]] * 5)
            console.wait(lambda: dump_waiting_on_lock(pg_cluster, first_db), timeout=60, what="the first dump")
            time.sleep(1.0)
        rows = console.wait_for_jobs(ids, timeout=240)
    return cluster, rows


def assert_one_dump_per_target_at_a_time(rows):
    by_target = {}
    for r in rows:
        by_target.setdefault(r["target_id"], []).append(r)
    for target_rows in by_target.values():
        target_rows.sort(key=lambda r: r["started_at"])
        for earlier, later in itertools.pairwise(target_rows):
            assert later["started_at"] >= earlier["finished_at"], (earlier["id"], later["id"])
    return list(by_target.values())


def assert_no_locking_errors(console, cluster, rows):
    log_file = console.backup_root / "database" / "backup_log.txt"
    for text in (cluster.log(), log_file.read_text(), *(r["error"] for r in rows)):
        assert "database is locked" not in text
        assert "Traceback" not in text


def test_ten_queued_backups_all_succeed_one_at_a_time_per_target(console, pg_cluster, two_targets):
    cluster, rows = run_ten_backups(console, pg_cluster, two_targets)

    assert [r["status"] for r in rows] == ["succeeded"] * 10, [(r["id"], r["error"]) for r in rows]
    for r in rows:
        assert (console.backup_root / r["path"]).stat().st_size == r["size_bytes"] > 0
    assert_no_locking_errors(console, cluster, rows)
    assert any(r["heartbeat_at"] > r["started_at"] for r in rows), "no heartbeat was written while a dump ran"
    a_rows, b_rows = assert_one_dump_per_target_at_a_time(rows)
    assert any(overlaps(a, b) for a in a_rows for b in b_rows), "different targets never ran in parallel"
    assert console.rows("SELECT lock_holder FROM backups_app_databasetarget") == [{"lock_holder": ""}] * 2
