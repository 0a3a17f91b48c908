"""Two hosts that share the console database, the queue and object storage, each with a BACKUP_ROOT of its own.

A job that needs a host's local file runs on that host, or fails saying
which host has it; nothing is recorded "succeeded", "pruned" or "failed
verification" while the file is safe on the other host. Host A and host B
are two consoles on this machine told apart by CONSOLE_HOST_NAME: the same
console database (SQLite, so the ORM broker; or with Redis as the broker),
their own BACKUP_ROOT, VAR_DIR and scratch folder, real qclusters, a real S3
server. The admin runs on host B (its web server is a `manage.py shell`
posting the admin's forms), as a web server without the files would.
"""

import hashlib
import time

import pytest

from tests.dbcompare import row_counts
from tests.s3proxy import StallingProxy
from tests.two_hosts import add_storage, admin_on, backup_on, backup_row, task_results

pytest_plugins = ["tests.s3_fixtures", "tests.two_hosts"]
pytestmark = pytest.mark.slow

# Long enough for a worker that wrongly took a task to have done it (it polls every 0.5 s).
WRONG_HOST_SECONDS = 4


def test_a_copy_asked_for_on_one_host_runs_on_the_host_that_has_the_file(hosts, s3_server):
    a, b = hosts
    kept, lost = backup_on(a), backup_on(a)  # made before there was any object storage: local only, on host A
    (a.backup_root / lost["path"]).unlink()
    add_storage(b, s3_server)

    # Asked for on host A's web server, and on host B's, which has neither file.
    said = [admin_on(web, "backuprecord", {"action": "copy_offsite", "_selected_action": [r["id"]], "index": "0"})
            for web, r in ((a, kept), (b, lost))]

    assert said == [[f"Queued the copy of 1 backup to object storage: #{kept['id']}."],  # any worker of host A
                    [f"Queued the copy of 1 backup to object storage: #{lost['id']} (on host host-a)."]]
    with b.qcluster(workers=1):
        handed = b.wait(lambda: task_results(b), timeout=60, what="host B's worker to take the first")
        time.sleep(WRONG_HOST_SECONDS)
        assert task_results(b) == handed  # the second waits for host A's worker
    assert handed == [(f"copy backup #{kept['id']} offsite", True,
                       f"handed to host host-a, which has the file of backup #{kept['id']}")]
    assert [backup_row(a, r["id"])["offsite_status"] for r in (kept, lost)] == ["", ""]

    with a.qcluster(workers=1):
        a.wait(lambda: all(backup_row(a, r["id"])["offsite_status"] in ("uploaded", "failed") for r in (kept, lost)),
               timeout=120, what="host A's worker to copy them")
        copied, refused = backup_row(a, kept["id"]), backup_row(a, lost["id"])
        results = a.wait(lambda: len(task_results(a)) == 3 and task_results(a)[1:], timeout=30,
                         what="the tasks' results")  # one database: host B's hand-over comes first

    assert copied["offsite_status"] == "uploaded", copied["offsite_detail"]
    assert hashlib.sha256(s3_server.read(copied["offsite_key"])).hexdigest() == copied["sha256"]
    assert refused["offsite_status"] == "failed"
    assert refused["offsite_detail"] == (f"copy to object storage on host host-a refused: backup #{lost['id']} "
                                         f"cannot be uploaded: its local file {lost['path']} is gone")
    assert sorted((name, ok) for name, ok, _ in results) == [
        (f"copy backup #{kept['id']} offsite", True), (f"copy backup #{lost['id']} offsite", False)]
    assert any(f"its local file {lost['path']} is gone" in result for _, ok, result in results if not ok)


@pytest.mark.parametrize("broker", ["orm"], indirect=True)
def test_a_prune_taken_by_another_host_leaves_the_local_files_to_their_host(hosts):
    a, b = hosts
    made = [backup_on(a) for _ in range(3)]
    files = [a.backup_root / r["path"] for r in made]
    policy = b.shell_json("""
        import json
        from backups_app.models import RetentionPolicy
        print(json.dumps(RetentionPolicy.objects.create(name="newest only", keep_days=None, keep_last=1).pk))
    """)

    admin_on(b, "retentionpolicy", {"action": "prune_now", "_selected_action": [policy], "confirm": "yes"})
    with b.qcluster(workers=1):
        [(name, ok, result)] = b.wait(lambda: task_results(b), timeout=60, what="host B's worker to prune")
    assert ok and result == "pruned 0; 2 left to host host-a, which has their files"
    assert [backup_row(a, r["id"])["status"] for r in made] == ["succeeded"] * 3
    assert all(f.is_file() for f in files)

    with a.qcluster(workers=1):
        a.wait(lambda: [backup_row(a, r["id"])["status"] for r in made] == ["pruned", "pruned", "succeeded"],
               timeout=60, what="host A's worker to prune its own files")
    assert [f.is_file() for f in files] == [False, False, True]
    assert backup_row(a, made[0]["id"])["pruned_reason"].startswith("deleted: ")


@pytest.fixture
def proxy(s3_server):
    gate = StallingProxy(s3_server.port, stall_on=b"partNumber=2")
    yield gate
    gate.close()


@pytest.mark.parametrize("broker", ["orm"], indirect=True)
def test_a_backup_still_uploading_from_one_host_is_verified_there_and_not_failed_elsewhere(
        hosts, s3_server, proxy, pg_cluster, big_db):
    a, b = hosts
    for console in (a, b):
        console.env.update(DB_NAME=big_db, OFFSITE_PART_MB="5", OFFSITE_CONCURRENCY="1", OFFSITE_UPLOAD_ATTEMPTS="1")
    add_storage(a, s3_server, endpoint_url=proxy.endpoint)
    uploading = a.start("backup", args=["backup"])
    assert proxy.stalled.wait(180), f"the upload never reached its second part:\n{uploading.log()[-3000:]}"
    [row] = a.rows("SELECT * FROM backups_app_backuprecord")
    pk = row["id"]

    verify = b.manage("verify", str(pk), check=False)
    restore = b.manage("restore", str(pk), "--into", "two_hosts_restored", check=False)

    where = (f"backup #{pk}'s file is on host host-a, not on this host (host-b), and its upload to object storage "
             "has not finished")
    assert verify.returncode == 1 and verify.stderr.strip().splitlines()[-1] == \
        f"CommandError: {where}: verify it there, or here once it is uploaded"
    assert restore.returncode == 1 and restore.stderr.strip().splitlines()[-1] == \
        f"CommandError: restore refused: {where}: restore it there, or here once it is uploaded"
    assert backup_row(a, pk)["last_verify_ok"] is None
    assert a.rows("SELECT id FROM backups_app_verificationrecord") == []

    said = admin_on(b, "backuprecord", {"action": "verify_backup", "_selected_action": [pk], "apply": "1"})
    assert said == [f"Queued the verification of 1 backup: #{pk} (on host host-a)."]
    with a.qcluster(workers=1):
        [verification] = a.wait_for_jobs([1], timeout=180, table="backups_app_verificationrecord")
    assert verification["status"] == "succeeded", verification["error"]
    assert (verification["host"], backup_row(a, pk)["last_verify_ok"]) == ("host-a", 1)

    proxy.release()
    assert uploading.popen.wait(timeout=300) == 0, uploading.log()[-3000:]
    assert backup_row(a, pk)["offsite_status"] == "uploaded"


@pytest.mark.parametrize("broker", ["orm"], indirect=True)
def test_a_restore_of_a_backup_only_one_host_has_runs_on_that_host(hosts, pg_cluster):
    a, b = hosts
    made = backup_on(a)
    into = "two_hosts_restored"
    pg_cluster.dropdb(into)
    try:
        said = admin_on(b, "backuprecord", {"action": "restore_backup", "_selected_action": [made["id"]],
                                            "apply": "1", "into": into, "jobs": "1"})
        address = f"{pg_cluster.host}:{pg_cluster.port}/{into}"
        assert said == [f"Queued restore #1 of backup #{made['id']} into {address} (on host host-a)."]
        with b.qcluster(workers=1):
            time.sleep(WRONG_HOST_SECONDS)
            assert task_results(b) == []
        with a.qcluster(workers=1):
            [restored] = a.wait_for_jobs([1], timeout=180, table="backups_app_restorerecord")
        assert (restored["status"], restored["host"]) == ("succeeded", "host-a"), restored["error"]
        assert row_counts(pg_cluster, into) == row_counts(pg_cluster, a.source)
    finally:
        pg_cluster.dropdb(into)

