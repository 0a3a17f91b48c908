"""A worker killed in the middle of a big dump: its job fails as "job lost", tidied up; the target is free again."""

import os
import signal
import time

import pytest

pytestmark = pytest.mark.slow

# Short on purpose: the defaults (10 s beats, lost after 120 s) would make the test wait minutes.
# Eight beats of slack, so a beat delayed on a busy machine never fails the healthy follow-up backup.
FAST_REAPER = {"JOB_HEARTBEAT_SECONDS": "1", "JOB_LOST_AFTER_SECONDS": "8", "JOB_REAP_SECONDS": "1"}


@pytest.fixture
def big_target(console, pg_cluster, big_db):
    console.env.update(FAST_REAPER)
    console.add_target("big", dbname=big_db, cluster=pg_cluster)
    return "big"


def partial_files(console):
    return sorted((console.backup_root / "database").glob("*/.*partial*"))


def wait_until_dumping(console, cluster, record_id):
    """Until pg_dump has written a few MB of the temporary file; returns its pg_dump process."""
    def dumping():
        # The roles file is written beside the dump, and pg_dumpall runs `pg_dump -V`: look at the dump itself.
        sizes = [f.stat().st_size for f in partial_files(console) if ".globals." not in f.name and f.exists()]
        dumps = [p for p in cluster.children_named("pg_dump") if b"-V" not in p["cmdline"]]
        return dumps[0] if sizes and max(sizes) > 2_000_000 and dumps else None
    return console.wait(dumping, timeout=60, interval=0.05, what=f"backup #{record_id} to be halfway")


def assert_failed_as_lost_and_tidied(console, record_id, killed_at):
    # The recovery pass ends the row first (so that one pass alone claims it), then cleans up and
    # writes what it cleaned into the error: wait for that last write, not the status alone.
    def ended():
        row = console.jobs([record_id])[0]
        return row if row["status"] != "running" and "cleaned up" in row["error"] else None
    row = console.wait(ended, timeout=60, what=f"backup #{record_id} to end failed and be cleaned up")
    assert row["status"] == "failed"
    assert row["error"].startswith("job lost")
    assert time.monotonic() - killed_at < 30
    assert partial_files(console) == []
    assert row["path"] == "" and row["finished_at"] is not None
    assert console.rows("SELECT lock_holder FROM backups_app_databasetarget") == [{"lock_holder": ""}]
    # The killed worker's private passfile (it holds the target's password) goes too.
    console.wait(lambda: not list(console.tmp.glob("bc-pass-*")), timeout=10, what="the passfile to be removed")


def assert_a_new_backup_succeeds(console, target):
    [new_id] = console.enqueue_backups([target])
    [row] = console.wait_for_jobs([new_id], timeout=120)
    assert row["status"] == "succeeded", row["error"]
    assert (console.backup_root / row["path"]).stat().st_size == row["size_bytes"]


def test_a_sigkilled_worker_leaves_a_failed_record_and_no_partial_file(console, big_target):
    with console.qcluster(workers=2) as cluster:
        [record_id] = console.enqueue_backups([big_target])
        pg_dump = wait_until_dumping(console, cluster, record_id)
        worker = pg_dump["ppid"]
        os.kill(worker, signal.SIGKILL)
        killed_at = time.monotonic()

        console.wait(lambda: not cluster.children_named("pg_dump"), timeout=10, what="pg_dump to die with its worker")
        assert_failed_as_lost_and_tidied(console, record_id, killed_at)
        assert_a_new_backup_succeeds(console, big_target)
    assert "reincarnated worker" in cluster.log()


def test_after_a_power_loss_the_next_cluster_fails_the_lost_job(console, big_target):
    cluster = console.start_qcluster(workers=2)
    [record_id] = console.enqueue_backups([big_target])
    wait_until_dumping(console, cluster, record_id)
    cluster.kill()  # every process of the cluster at once, pg_dump included
    killed_at = time.monotonic()
    assert console.jobs([record_id])[0]["status"] == "running"

    with console.qcluster(workers=1):
        assert_failed_as_lost_and_tidied(console, record_id, killed_at)
        assert_a_new_backup_succeeds(console, big_target)
