"""kill -9 of a command-line backup or restore: the next command, with no worker anywhere, cleans up after it.

Real processes against the real test server: the killed command leaves a
`running` row, a partial file, a passfile folder, a held lock or a half
restored database; the next command ends the row failed with why, removes
what was left, says what it cleaned, and does its own work at once.
"""

import os
import signal

import pytest

from tests.faultkit import Saboteur, dump_waiting_on_lock, table_held, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(console, pg_cluster, big_db):
    """The console with DB_* naming the big database, as cron runs it."""
    console.env.update(DB_HOST=pg_cluster.host, DB_PORT=str(pg_cluster.port), DB_USER=pg_cluster.user,
                       DB_NAME=big_db, DB_PASSWORD=pg_cluster.password, JOB_LOST_AFTER_SECONDS="600")
    return console


def kill_9(proc) -> None:
    """SIGKILL the command's own process only, as `kill -9 PID` does."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.popen.wait(timeout=30)


def passfile_folders(console) -> list:
    return sorted(console.tmp.glob("bc-pass-*"))


def partials(console) -> list:
    return sorted((console.backup_root / "database").glob("*/.*partial-*"))


def test_a_killed_backup_is_failed_and_cleaned_by_the_next_command(cli, pg_cluster, big_db):
    with table_held(pg_cluster, big_db, "big"):  # pg_dump waits at its lock: the kill lands mid-dump
        proc = cli.start("backup", args=["backup"])
        cli.wait(lambda: dump_waiting_on_lock(pg_cluster, big_db), timeout=60, what="pg_dump to wait at the lock")
        assert partials(cli) and passfile_folders(cli)
        kill_9(proc)
    [killed] = cli.rows("SELECT id, status FROM backups_app_backuprecord")
    assert killed["status"] == "running"

    listing = cli.manage("backup", "--list", "--orphans")

    row = cli.rows("SELECT status, error FROM backups_app_backuprecord WHERE id = ?", (killed["id"],))[0]
    assert row["status"] == "failed"
    assert "job lost" in row["error"] and "killed" in row["error"]
    assert "removed its partial file" in row["error"] and "released target 'default'" in row["error"]
    assert f"recovered: backup #{killed['id']} ended failed" in listing.stderr
    assert "passfile folder" in listing.stderr
    assert "0 files" in listing.stdout
    assert partials(cli) == [] and passfile_folders(cli) == []
    assert cli.rows("SELECT lock_holder FROM backups_app_databasetarget") == [{"lock_holder": ""}]

    again = cli.manage("backup", timeout=120)
    assert "waiting for target" not in again.stderr
    assert cli.rows("SELECT status FROM backups_app_backuprecord ORDER BY id")[-1]["status"] == "succeeded"


def test_a_killed_restore_into_a_new_database_is_dropped_and_the_retry_works(cli, pg_cluster, big_db):
    cli.manage("backup", timeout=120)
    [backup] = cli.rows("SELECT id FROM backups_app_backuprecord WHERE status = 'succeeded'")
    into = "big_restored_after_kill"
    pg_cluster.dropdb(into)
    try:
        proc = cli.start("restore", args=["restore", str(backup["id"]), "--into", into])
        copying = Saboteur(when=lambda: _copying_into(pg_cluster, into), act=lambda: kill_9(proc), timeout=120)
        copying.done()
        [restore] = cli.rows("SELECT id, status, created_database FROM backups_app_restorerecord")
        assert (restore["status"], restore["created_database"]) == ("running", into)
        assert _exists(pg_cluster, into)

        retry = cli.manage("restore", str(backup["id"]), "--into", into, timeout=300)

        assert f"recovered: restore #{restore['id']}: dropped database {into}" in retry.stderr
        first, second = cli.rows("SELECT status, error, created_database FROM backups_app_restorerecord ORDER BY id")
        assert first["status"] == "failed" and "job lost" in first["error"]
        assert f"dropped database {into}, which it had created" in first["error"]
        assert first["created_database"] == ""
        assert second["status"] == "succeeded"
        assert pg_cluster.sql("SELECT count(*) FROM big", dbname=into)[0][0] == 600_000
        assert passfile_folders(cli) == []
    finally:
        pg_cluster.dropdb(into)


def _copying_into(cluster, dbname: str, direction: str = "") -> bool:
    return bool(cluster.sql("SELECT 1 FROM pg_stat_activity WHERE datname = %s AND query LIKE %s",
                            params=(dbname, f"COPY %{direction}%")))


def _exists(cluster, dbname: str) -> bool:
    return bool(cluster.sql("SELECT 1 FROM pg_database WHERE datname = %s", params=(dbname,)))


def test_a_command_that_waits_for_the_target_says_so_at_once(cli, pg_cluster, big_db):
    with table_held(pg_cluster, big_db, "big"):
        first = cli.start("backup", args=["backup"])
        cli.wait(lambda: dump_waiting_on_lock(pg_cluster, big_db), timeout=60, what="the first backup to hold it")
        second = cli.start("backup", args=["backup"])
        wait_for(lambda: "waiting for target 'default', busy with backup #" in second.log(), timeout=30,
                 what="the second backup to say that it waits")
    assert first.popen.wait(timeout=120) == 0
    assert second.popen.wait(timeout=120) == 0


def test_a_killed_overwrite_leaves_the_database_as_it_was(cli, pg_cluster, big_db):
    cli.manage("backup", timeout=120)
    [backup] = cli.rows("SELECT id FROM backups_app_backuprecord WHERE status = 'succeeded'")
    live = "big_live_overwritten"
    pg_cluster.dropdb(live)
    try:
        assert cli.manage("restore", str(backup["id"]), "--into", live, timeout=300).returncode == 0
        pg_cluster.sql("DELETE FROM big WHERE id % 2 = 0; CREATE TABLE only_here (note text); "
                       "INSERT INTO only_here VALUES ('made after the backup')", dbname=live)
        proc = cli.start("restore", args=["restore", str(backup["id"]), "--into", live, "--overwrite"])
        # The replay's COPY ... FROM stdin, inside the one transaction (the safety backup copies TO stdout).
        replaying = Saboteur(when=lambda: _copying_into(pg_cluster, live, "FROM stdin"), act=lambda: kill_9(proc),
                             timeout=300)
        replaying.done()
        wait_for(lambda: not _copying_into(pg_cluster, live, "FROM stdin"), timeout=60,
                 what="the server to roll back the killed restore's transaction")

        after = cli.manage("backup", "--list")

        [restore] = cli.rows("SELECT id, status, error FROM backups_app_restorerecord WHERE overwrite = 1")
        assert restore["status"] == "failed" and "job lost" in restore["error"]
        assert f"recovered: restore #{restore['id']} ended failed" in after.stderr
        assert pg_cluster.sql("SELECT count(*) FROM big", dbname=live)[0][0] == 300_000
        assert pg_cluster.sql("SELECT note FROM only_here", dbname=live) == [("made after the backup",)]
        assert passfile_folders(cli) == []
    finally:
        pg_cluster.dropdb(live)
