"""kill -9 of a command-line backup while its upload is in flight: the next command resumes it, or says why not.

Real processes: the console's `manage.py backup` uploads to a real moto_server
through a proxy that lets the multipart upload begin and its first part land,
then holds the second part for ever. The command is killed there; the next
command (no worker anywhere) aborts the unfinished multipart upload, uploads
again from the verified local file, and says so, or marks the upload failed
when the local file is gone.
"""

import hashlib
import os
import signal

import pytest

from tests.s3proxy import StallingProxy
from tests.s3server import BUCKET, CREDENTIALS, storage_fields

pytest_plugins = ["tests.s3_fixtures"]
pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(s3_server):
    gate = StallingProxy(s3_server.port, stall_on=b"partNumber=2")
    yield gate
    gate.close()


@pytest.fixture
def cli(console, pg_cluster, big_db, s3_server, proxy):
    """The console as cron runs it, its default storage the S3 server behind the proxy; 5 MB parts, one at a time."""
    console.env.update(DB_HOST=pg_cluster.host, DB_PORT=str(pg_cluster.port), DB_USER=pg_cluster.user,
                       DB_NAME=big_db, DB_PASSWORD=pg_cluster.password, JOB_LOST_AFTER_SECONDS="600",
                       OFFSITE_PART_MB="5", OFFSITE_CONCURRENCY="1", OFFSITE_UPLOAD_ATTEMPTS="1", **CREDENTIALS)
    fields = storage_fields(s3_server, endpoint_url=proxy.endpoint)
    console.shell(f"from backups_app.models import BackupStorage; BackupStorage.objects.create(**{fields!r})")
    return console


def unfinished(s3_server) -> list[str]:
    return [u["Key"] for u in s3_server.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]


def killed_while_uploading(cli, proxy, s3_server) -> dict:
    proc = cli.start("backup", args=["backup"])
    assert proxy.stalled.wait(180), f"the upload never reached its second part:\n{proc.log()[-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.popen.wait(timeout=30)
    [row] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert (row["status"], row["offsite_status"], row["offsite_pid"]) == ("succeeded", "uploading", proc.pid)
    assert len(unfinished(s3_server)) == 1 and s3_server.keys() == []
    proxy.release()
    return row


@pytest.mark.parametrize("keep_local_copy", [True, False])
def test_the_next_command_resumes_an_upload_killed_halfway(cli, proxy, s3_server, keep_local_copy):
    if not keep_local_copy:
        cli.shell("from backups_app.models import BackupStorage; BackupStorage.objects.update(keep_local_copy=False)")
    row = killed_while_uploading(cli, proxy, s3_server)
    assert (cli.backup_root / row["path"]).is_file()  # not removed before the upload was confirmed
    [key] = unfinished(s3_server)

    after = cli.manage("backup", "--list", timeout=300)

    [done] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert done["offsite_status"] == "uploaded", done["offsite_detail"]
    assert done["offsite_detail"].startswith(f"upload lost (its process ({row['offsite_pid']} on ")
    assert "resumed: uploaded to s3://" in done["offsite_detail"]
    assert hashlib.sha256(s3_server.read(done["offsite_key"])).hexdigest() == done["sha256"]
    assert s3_server.head(done["offsite_key"])["Metadata"]["sha256"] == done["sha256"]
    assert unfinished(s3_server) == []
    assert (cli.backup_root / row["path"]).is_file() == keep_local_copy
    assert done["local_removed"] == (not keep_local_copy)
    assert f"recovered: backup #{row['id']}: aborted 1 unfinished multipart upload of s3://{BUCKET}/{key}" \
        in after.stderr
    assert f"recovered: backup #{row['id']}: upload lost (" in after.stderr
    assert "resumed: uploaded to" in after.stderr
    assert "recovered:" not in cli.manage("backup", "--list").stderr  # once is enough


def test_the_next_command_fails_an_upload_killed_halfway_whose_local_file_is_gone(cli, proxy, s3_server):
    row = killed_while_uploading(cli, proxy, s3_server)
    (cli.backup_root / row["path"]).unlink()

    after = cli.manage("backup", "--list", timeout=300)

    [done] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert (done["status"], done["offsite_status"]) == ("succeeded", "failed")
    assert "cannot upload it again: its local file" in done["offsite_detail"]
    assert "is gone" in done["offsite_detail"]
    assert unfinished(s3_server) == [] and s3_server.keys() == []
    assert f"recovered: backup #{row['id']}: upload lost (" in after.stderr
    assert "cannot upload it again" in after.stderr


def test_a_worker_killed_during_an_upload_is_resumed_by_the_reincarnated_workers_reaper(
        console, pg_cluster, big_db, s3_server, proxy):
    console.env.update(JOB_HEARTBEAT_SECONDS="1", JOB_LOST_AFTER_SECONDS="600", JOB_REAP_SECONDS="1",
                       OFFSITE_PART_MB="5", OFFSITE_CONCURRENCY="1", OFFSITE_UPLOAD_ATTEMPTS="1", **CREDENTIALS)
    fields = storage_fields(s3_server, endpoint_url=proxy.endpoint)
    console.shell(f"from backups_app.models import BackupStorage; BackupStorage.objects.create(**{fields!r})")
    console.add_target("big", dbname=big_db, cluster=pg_cluster)
    with console.qcluster(workers=1) as cluster:
        [record_id] = console.enqueue_backups(["big"])
        assert proxy.stalled.wait(180), f"the upload never reached its second part:\n{console.logs()}"
        [row] = console.jobs([record_id])
        assert (row["status"], row["offsite_status"]) == ("succeeded", "uploading")
        os.kill(row["offsite_pid"], signal.SIGKILL)
        proxy.release()

        def ended():
            [now] = console.jobs([record_id])
            return now if now["offsite_status"] != "uploading" else None
        done = console.wait(ended, timeout=120, what="the upload to be resumed")
        assert done["offsite_status"] == "uploaded", done["offsite_detail"]
        assert done["offsite_detail"].startswith(f"upload lost (its process ({row['offsite_pid']} on ")
        assert hashlib.sha256(s3_server.read(done["offsite_key"])).hexdigest() == done["sha256"]
        assert unfinished(s3_server) == []
    assert f"backup #{record_id}: aborted 1 unfinished multipart upload" in cluster.log()


def local_backup_copied_in_the_background(cli, proxy):
    """A backup made while no storage was the default, then `backup --copy-offsite` held halfway by the proxy."""
    cli.shell("from backups_app.models import BackupStorage; BackupStorage.objects.update(is_default=False)")
    cli.manage("backup")
    cli.shell("from backups_app.models import BackupStorage; BackupStorage.objects.update(is_default=True)")
    [row] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert (row["status"], row["offsite_status"]) == ("succeeded", "")
    proc = cli.start("copy", args=["backup", "--copy-offsite", str(row["id"])])
    assert proxy.stalled.wait(180), f"the copy never reached its second part:\n{proc.log()[-3000:]}"
    [now] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert (now["offsite_status"], now["offsite_pid"]) == ("uploading", proc.pid)
    return row, proc


def test_a_copy_stopped_by_sigterm_ends_failed_and_can_be_made_again(cli, proxy, s3_server):
    row, proc = local_backup_copied_in_the_background(cli, proxy)
    proc.signal(signal.SIGTERM)
    proxy.release()  # the part held in flight fails at once instead of at the client's read timeout
    assert proc.popen.wait(timeout=120) == 1
    assert proc.log().strip().splitlines()[-1] == \
        f"CommandError: backup #{row['id']}: the upload was interrupted by SIGTERM; the local copy is kept"
    [stopped] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert (stopped["status"], stopped["offsite_status"], stopped["offsite_pid"]) == ("succeeded", "failed", None)
    assert stopped["offsite_detail"].startswith("on request: upload interrupted (")

    again = cli.manage("backup", "--copy-offsite", str(row["id"]))

    [done] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert done["offsite_status"] == "uploaded", done["offsite_detail"]
    assert again.stdout.strip() == f"backup #{row['id']}: {done['offsite_detail']}"
    assert hashlib.sha256(s3_server.read(done["offsite_key"])).hexdigest() == done["sha256"]
    assert unfinished(s3_server) == []


def test_a_copy_killed_halfway_is_resumed_by_the_next_command(cli, proxy, s3_server):
    row, proc = local_backup_copied_in_the_background(cli, proxy)
    proc.kill()
    proxy.release()

    after = cli.manage("backup", "--list", timeout=300)

    [done] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert done["offsite_status"] == "uploaded", done["offsite_detail"]
    assert done["offsite_detail"].startswith(f"upload lost (its process ({proc.pid} on ")
    assert hashlib.sha256(s3_server.read(done["offsite_key"])).hexdigest() == done["sha256"]
    assert unfinished(s3_server) == []
    assert f"recovered: backup #{row['id']}: aborted 1 unfinished multipart upload" in after.stderr


def test_a_restore_of_the_target_does_not_wait_for_its_backups_upload(cli, proxy, s3_server, pg_cluster):
    cli.env["JOB_HEARTBEAT_SECONDS"] = "0.5"
    proc = cli.start("backup", args=["backup"])
    assert proxy.stalled.wait(180), f"the upload never reached its second part:\n{proc.log()[-3000:]}"
    [row] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert (row["status"], row["offsite_status"]) == ("succeeded", "uploading")
    assert cli.rows("SELECT lock_holder FROM backups_app_databasetarget") == [{"lock_holder": ""}]
    # The uploader says it is still at it, held part and all: another host's recovery leaves it alone.
    cli.wait(lambda: cli.rows("SELECT offsite_claimed_at FROM backups_app_backuprecord")[0]["offsite_claimed_at"]
             > row["offsite_claimed_at"], timeout=30, what="the upload's heartbeat")
    into = "restored_while_uploading"
    pg_cluster.dropdb(into)
    try:
        cli.manage("restore", str(row["id"]), "--into", into, timeout=300)  # held upload and all
        assert pg_cluster.sql("SELECT count(*) FROM big", dbname=into) == [(600000,)]
    finally:
        pg_cluster.dropdb(into)
    proxy.release()
    assert proc.popen.wait(timeout=300) == 0, proc.log()[-3000:]
    [done] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert done["offsite_status"] == "uploaded", done["offsite_detail"]
    assert hashlib.sha256(s3_server.read(done["offsite_key"])).hexdigest() == done["sha256"]
