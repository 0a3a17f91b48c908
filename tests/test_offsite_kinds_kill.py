"""kill -9 of a command-line backup halfway through its upload, against S3, GCS and SFTP with one test body.

Real processes: the console's `manage.py backup` uploads to the kind's real
server through a proxy that lets 6 MB through (S3: its first 5 MB part
landed; GCS: its first 5 MB chunk of a resumable upload; SFTP: the first
6 MB of the temporary file) and then holds the upload for ever. The
command is killed there. Nothing the store shows is taken for the backup's
copy (no object, or only what an interrupted upload leaves); the next
command (no worker anywhere) cleans that away, uploads again from the
verified local file, and says so.
"""

import hashlib
import os
import signal

import pytest

from tests.s3proxy import StallingProxy
from tests.storage_kinds import NETWORK_KINDS

pytest_plugins = ["tests.storage_fixtures"]
pytestmark = [pytest.mark.slow, pytest.mark.requires("sshd", "ssh-keygen", package="openssh-server")]

HELD_AFTER = 6 * 1024 * 1024
LEFT_BEHIND = {"s3": "aborted 1 unfinished multipart upload of ", "sftp": "aborted 1 unfinished temporary file of ",
               "gcs": None}  # an unfinished resumable upload is no object and expires by itself


@pytest.fixture
def proxy(remote):
    gate = StallingProxy(remote.port, stall_after=HELD_AFTER)
    yield gate
    gate.close()


@pytest.mark.parametrize("remote", NETWORK_KINDS, indirect=True)
def test_the_next_command_resumes_an_upload_killed_halfway(console, pg_cluster, big_db, remote, proxy):
    console.env.update(DB_HOST=pg_cluster.host, DB_PORT=str(pg_cluster.port), DB_USER=pg_cluster.user,
                       DB_NAME=big_db, DB_PASSWORD=pg_cluster.password, JOB_LOST_AFTER_SECONDS="600",
                       OFFSITE_PART_MB="5", OFFSITE_CONCURRENCY="1", OFFSITE_UPLOAD_ATTEMPTS="1", **remote.env)
    fields = remote.via(proxy.port)
    console.shell(f"from backups_app.models import BackupStorage; BackupStorage.objects.create(**{fields!r})")
    proc = console.start("backup", args=["backup"])
    assert proxy.stalled.wait(180), f"the upload never got halfway:\n{proc.log()[-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.popen.wait(timeout=30)
    [row] = console.rows("SELECT * FROM backups_app_backuprecord")
    assert (row["status"], row["offsite_status"], row["offsite_pid"]) == ("succeeded", "uploading", proc.pid)
    assert remote.keys() == []  # nothing is taken for a complete copy
    assert bool(remote.unfinished()) == bool(LEFT_BEHIND[remote.kind])
    proxy.release()

    after = console.manage("backup", "--list", timeout=300)

    [done] = console.rows("SELECT * FROM backups_app_backuprecord")
    assert done["offsite_status"] == "uploaded", done["offsite_detail"]
    assert done["offsite_detail"].startswith(f"upload lost (its process ({row['offsite_pid']} on ")
    assert "resumed: uploaded to " in done["offsite_detail"]
    assert hashlib.sha256(remote.read(done["offsite_key"])).hexdigest() == done["sha256"]
    assert remote.label(done["offsite_key"]) == done["sha256"]
    assert remote.unfinished() == []
    if LEFT_BEHIND[remote.kind]:
        assert f"recovered: backup #{row['id']}: {LEFT_BEHIND[remote.kind]}" in after.stderr
    assert "resumed: uploaded to" in after.stderr
    assert "recovered:" not in console.manage("backup", "--list").stderr  # once is enough
