"""kill -9 of a directory backup's upload, and of a prune of shared blobs: the next command finishes or cleans up.

Real processes: the console's `manage.py backup --format directory` and
`backup --cleanup` talk to a real moto_server through a proxy that holds one
chosen request for ever (tests/s3proxy.py); the command is killed there
(GCS and SFTP too: held once 6 MB went by, in the folder's big data file).
The next command (no worker anywhere) resumes the upload or, its folder gone,
fails it and removes the blobs it had sent; a prune killed while deleting
blobs is finished by the next prune, which removes what it left and says so,
and the backup that stays still restores from the bucket alone.
"""

import hashlib
import os
import shutil
import signal
import time

import pytest

from tests.dbcompare import row_counts
from tests.s3proxy import StallingProxy
from tests.s3server import BUCKET, CREDENTIALS, PREFIX, storage_fields
from tests.storage_kinds import NETWORK_KINDS

pytest_plugins = ["tests.s3_fixtures", "tests.storage_fixtures"]
pytestmark = [pytest.mark.slow, pytest.mark.requires("sshd", "ssh-keygen", package="openssh-server")]

STORE = f"{PREFIX}/store/sha256/"
LOCKS = f"{PREFIX}/store/locks/"


def console_for(console, pg_cluster, dbname, s3_server, proxy, **env):
    console.env.update(DB_HOST=pg_cluster.host, DB_PORT=str(pg_cluster.port), DB_USER=pg_cluster.user,
                       DB_NAME=dbname, DB_PASSWORD=pg_cluster.password, JOB_LOST_AFTER_SECONDS="600",
                       OFFSITE_PART_MB="5", OFFSITE_CONCURRENCY="1", OFFSITE_UPLOAD_ATTEMPTS="1", **CREDENTIALS,
                       **env)
    fields = {**storage_fields(s3_server, endpoint_url=proxy.endpoint), "keep_local_copy": False}
    console.shell(f"from backups_app.models import BackupStorage; BackupStorage.objects.create(**{fields!r})")
    return console


def unfinished(s3_server) -> list[str]:
    return [u["Key"] for u in s3_server.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]


def blobs_of(s3_server, row) -> set[str]:
    text = s3_server.read(row["offsite_key"]).decode()
    return {f"{STORE}{line[:2]}/{line[:64]}" for line in text.splitlines()}


def stored(s3_server, prefix) -> set[str]:
    return {k for k in s3_server.keys() if k.startswith(prefix)}


@pytest.fixture
def upload_gate(s3_server):
    gate = StallingProxy(s3_server.port, stall_on=b"partNumber=2")
    yield gate
    gate.close()


def killed_while_uploading(cli, proxy, s3_server) -> dict:
    proc = cli.start("backup", args=["backup", "--format", "directory"])
    assert proxy.stalled.wait(180), f"the upload never reached its second part:\n{proc.log()[-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.popen.wait(timeout=30)
    [row] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert (row["status"], row["offsite_status"], row["offsite_pid"]) == ("succeeded", "uploading", proc.pid)
    assert len(unfinished(s3_server)) == 1
    assert not [k for k in s3_server.keys() if k.endswith(".dir")]  # no manifest: it is written last
    assert len(stored(s3_server, LOCKS)) == 1  # the killed upload's lock
    proxy.release()
    return row


def test_the_next_command_resumes_a_folder_upload_killed_halfway_and_removes_its_lock(
        console, pg_cluster, big_db, s3_server, upload_gate):
    cli = console_for(console, pg_cluster, big_db, s3_server, upload_gate)
    row = killed_while_uploading(cli, upload_gate, s3_server)
    assert (cli.backup_root / row["path"]).is_dir()  # not removed before the upload was confirmed

    after = cli.manage("backup", "--list", timeout=300)

    [done] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert done["offsite_status"] == "uploaded", done["offsite_detail"]
    assert "resumed: uploaded to s3://" in done["offsite_detail"]
    assert hashlib.sha256(s3_server.read(done["offsite_key"])).hexdigest() == done["sha256"]
    assert blobs_of(s3_server, done) == stored(s3_server, STORE)
    for key in stored(s3_server, STORE):
        assert hashlib.sha256(s3_server.read(key)).hexdigest() == key.rsplit("/", 1)[1]
    assert unfinished(s3_server) == [] and stored(s3_server, LOCKS) == set()
    assert not (cli.backup_root / row["path"]).exists() and done["local_removed"]
    assert f"recovered: backup #{row['id']}: aborted 1 unfinished multipart upload of s3://{BUCKET}/{STORE}" \
        in after.stderr
    assert f"recovered: backup #{row['id']}: removed the lock upload-{row['id']}-" in after.stderr


def test_the_next_command_fails_a_folder_upload_killed_halfway_whose_folder_is_gone_and_removes_its_blobs(
        console, pg_cluster, big_db, s3_server, upload_gate):
    cli = console_for(console, pg_cluster, big_db, s3_server, upload_gate)
    row = killed_while_uploading(cli, upload_gate, s3_server)
    shutil.rmtree(cli.backup_root / row["path"])
    sent = stored(s3_server, STORE)

    after = cli.manage("backup", "--list", timeout=300)

    [done] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert (done["status"], done["offsite_status"]) == ("succeeded", "failed")
    assert f"cannot upload it again: its local folder {row['path']} is gone" in done["offsite_detail"]
    assert unfinished(s3_server) == [] and s3_server.keys() == []
    if sent:
        assert f"deleted {len(sent)} blob" in after.stderr and "no backup names" in after.stderr
    assert f"removed the lock upload-{row['id']}-" in after.stderr


@pytest.fixture
def prune_gate(s3_server):
    gate = StallingProxy(s3_server.port, stall_on=f"DELETE /{BUCKET}/{STORE}".encode())
    yield gate
    gate.close()


def test_a_prune_killed_while_deleting_blobs_is_finished_by_the_next_one_and_the_kept_backup_restores(
        console, pg_cluster, pagila, s3_server, prune_gate):
    cli = console_for(console, pg_cluster, pagila, s3_server, prune_gate, OFFSITE_STORE_LEASE_SECONDS="2")
    for _ in range(2):
        cli.manage("backup", "--format", "directory")
    old, new = cli.rows("SELECT * FROM backups_app_backuprecord ORDER BY id")
    assert old["offsite_status"] == new["offsite_status"] == "uploaded"
    only_old = blobs_of(s3_server, old) - blobs_of(s3_server, new)
    assert only_old  # at least its table of contents
    cli.shell(f"from datetime import timedelta; from backups_app.models import BackupRecord as B; "
              f"B.objects.filter(pk={old['id']}).update(created_at=B.objects.get(pk={old['id']}).created_at"
              f" - timedelta(days=3))")

    proc = cli.start("cleanup", args=["backup", "--cleanup", "--keep-days", "1"])
    assert prune_gate.stalled.wait(180), f"the prune never deleted a blob:\n{proc.log()[-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.popen.wait(timeout=30)
    prune_gate.release()
    [half] = cli.rows(f"SELECT * FROM backups_app_backuprecord WHERE id = {old['id']}")
    assert (half["status"], half["offsite_status"]) == ("succeeded", "deleted")  # its manifest went first
    assert old["offsite_key"] not in s3_server.keys()
    assert only_old <= stored(s3_server, STORE) and len(stored(s3_server, LOCKS)) == 1  # the killed prune's

    time.sleep(2.5)  # the killed prune's lease runs out (OFFSITE_STORE_LEASE_SECONDS)
    again = cli.manage("backup", "--cleanup", "--keep-days", "1", timeout=300)

    [gone] = cli.rows(f"SELECT * FROM backups_app_backuprecord WHERE id = {old['id']}")
    assert gone["status"] == "pruned", again.stdout + again.stderr
    assert f"deleted {len(only_old)} blob" in gone["offsite_detail"], gone["offsite_detail"]
    assert "removed the lock prune-" in gone["offsite_detail"]
    assert stored(s3_server, STORE) == blobs_of(s3_server, new) and stored(s3_server, LOCKS) == set()

    try:
        cli.manage("restore", str(new["id"]), "--into", "pagila_after_killed_prune", timeout=300)
        assert row_counts(pg_cluster, "pagila_after_killed_prune") == row_counts(pg_cluster, pagila)
    finally:
        pg_cluster.dropdb("pagila_after_killed_prune")


@pytest.fixture
def kinds_gate(remote):
    gate = StallingProxy(remote.port, stall_after=6 * 1024 * 1024)
    yield gate
    gate.close()


@pytest.mark.parametrize("folder_kept", [True, False])
@pytest.mark.parametrize("remote", NETWORK_KINDS, indirect=True)
def test_a_folder_upload_killed_halfway_is_resumed_or_cleaned_away_on_every_kind(
        console, pg_cluster, big_db, remote, kinds_gate, folder_kept):
    console.env.update(DB_HOST=pg_cluster.host, DB_PORT=str(pg_cluster.port), DB_USER=pg_cluster.user,
                       DB_NAME=big_db, DB_PASSWORD=pg_cluster.password, JOB_LOST_AFTER_SECONDS="600",
                       OFFSITE_PART_MB="5", OFFSITE_CONCURRENCY="1", OFFSITE_UPLOAD_ATTEMPTS="1", **remote.env)
    fields = {**remote.via(kinds_gate.port), "keep_local_copy": False}
    console.shell(f"from backups_app.models import BackupStorage; BackupStorage.objects.create(**{fields!r})")
    proc = console.start("backup", args=["backup", "--format", "directory"])
    assert kinds_gate.stalled.wait(180), f"the upload never got halfway:\n{proc.log()[-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.popen.wait(timeout=30)
    kinds_gate.release()
    [row] = console.rows("SELECT * FROM backups_app_backuprecord")
    assert (row["status"], row["offsite_status"]) == ("succeeded", "uploading")
    assert not [k for k in remote.keys() if k.endswith(".dir")]  # no manifest: it is written last
    if not folder_kept:
        shutil.rmtree(console.backup_root / row["path"])

    after = console.manage("backup", "--list", timeout=300)

    [done] = console.rows("SELECT * FROM backups_app_backuprecord")
    assert done["offsite_status"] == ("uploaded" if folder_kept else "failed"), done["offsite_detail"]
    assert f"recovered: backup #{row['id']}: removed the lock upload-{row['id']}-" in after.stderr
    assert remote.unfinished() == [] and not [k for k in remote.keys() if "/store/locks/" in k]
    if folder_kept:
        named = {f"{remote.key('store/sha256')}/{line[:2]}/{line[:64]}"
                 for line in remote.read(done["offsite_key"]).decode().splitlines()}
        assert {k for k in remote.keys() if "/store/sha256/" in k} == named
        for key in named:
            assert hashlib.sha256(remote.read(key)).hexdigest() == key.rsplit("/", 1)[1]
    else:
        assert remote.keys() == []
