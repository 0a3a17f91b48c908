"""A process in another pid namespace never takes a live job, upload or passfile for a dead one.

Containers on one machine can share its host name (host networking) and its
folders, but not its pids: pid 4242 in one namespace is another process, or
none, in the next. A job is judged by its pid only by a process in the same
pid namespace (and boot, and host); anything else is judged by the heartbeat
the running job renews. Real processes: `unshare --pid --fork --mount-proc`
runs a command in a namespace of its own, as a second container would.
"""

import os
import subprocess
import tempfile
from datetime import timedelta

import pytest
from django.utils import timezone

from backups_app.models import BackupRecord
from backups_app.services.backups import dump
from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.jobs import process, recovery
from tests.console_process import ROOT, argv
from tests.faultkit import dump_waiting_on_lock, table_held
from tests.s3proxy import StallingProxy
from tests.s3server import BUCKET, CREDENTIALS, storage_fields

pytest_plugins = ["tests.s3_fixtures"]
pytestmark = pytest.mark.requires("unshare", package="util-linux")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a pid namespace of its own needs root")
# The reaper's tests run outside a transaction (see tests/test_job_lifecycle.py).
reaper_test = pytest.mark.django_db(transaction=True)
ANOTHER_NAMESPACE = "pid:[4026500001]"


def in_own_pid_namespace(console, *args) -> subprocess.CompletedProcess:
    """manage.py run as a second container on this machine would: same host name and folders, its own pids."""
    return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", *argv(*args)], cwd=ROOT, env=console.env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def cli(console, pg_cluster, big_db):
    console.env.update(DB_HOST=pg_cluster.host, DB_PORT=str(pg_cluster.port), DB_USER=pg_cluster.user,
                       DB_NAME=big_db, DB_PASSWORD=pg_cluster.password, JOB_LOST_AFTER_SECONDS="600")
    return console


@needs_root
@pytest.mark.slow
def test_a_command_in_another_pid_namespace_leaves_a_running_backup_alone(cli, pg_cluster, big_db):
    with table_held(pg_cluster, big_db, "big"):  # the dump waits at its lock for as long as the test needs
        proc = cli.start("backup", args=["backup"])
        cli.wait(lambda: dump_waiting_on_lock(pg_cluster, big_db), timeout=60, what="pg_dump to wait at the lock")
        passfiles = sorted(cli.tmp.glob("bc-pass-*"))
        assert passfiles

        listing = in_own_pid_namespace(cli, "backup", "--list")

        assert listing.returncode == 0, listing.stderr
        assert "recovered:" not in listing.stderr
        [row] = cli.rows("SELECT * FROM backups_app_backuprecord")
        assert (row["status"], row["error"]) == ("running", "")
        assert proc.children_named("pg_dump"), "pg_dump was stopped"
        assert sorted(cli.tmp.glob("bc-pass-*")) == passfiles  # its password file is still there for it
    assert proc.popen.wait(timeout=300) == 0, proc.log()[-3000:]
    [done] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert done["status"] == "succeeded", done["error"]


@pytest.fixture
def proxy(s3_server):
    gate = StallingProxy(s3_server.port, stall_on=b"partNumber=2")
    yield gate
    gate.close()


@needs_root
@pytest.mark.slow
def test_an_upload_in_flight_is_left_to_its_process_by_a_command_in_another_pid_namespace(cli, s3_server, proxy):
    cli.env.update(OFFSITE_PART_MB="5", OFFSITE_CONCURRENCY="1", OFFSITE_UPLOAD_ATTEMPTS="1", **CREDENTIALS)
    fields = storage_fields(s3_server, endpoint_url=proxy.endpoint)
    cli.shell(f"from backups_app.models import BackupStorage; BackupStorage.objects.create(**{fields!r})")
    proc = cli.start("backup", args=["backup"])
    assert proxy.stalled.wait(180), f"the upload never reached its second part:\n{proc.log()[-3000:]}"

    listing = in_own_pid_namespace(cli, "backup", "--list")

    assert listing.returncode == 0, listing.stderr
    assert "recovered:" not in listing.stderr
    [row] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert (row["offsite_status"], row["offsite_pid"]) == ("uploading", proc.pid), row["offsite_detail"]
    assert len(s3_server.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])) == 1
    proxy.release()
    assert proc.popen.wait(timeout=300) == 0, proc.log()[-3000:]
    [done] = cli.rows("SELECT * FROM backups_app_backuprecord")
    assert done["offsite_status"] == "uploaded", done["offsite_detail"]


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.fixture
def running_elsewhere(make_target, backup_root):
    """A running backup claimed by a process of this host and boot, in another pid namespace: its pid means
    nothing here (here it is the pid of no process at all)."""
    def make(*, silent_for: float) -> BackupRecord:
        record = dump.backup_create(target=make_target("nowhere", name="shop"), backup_type="manual", fmt="custom")
        beat = timezone.now() - timedelta(seconds=silent_for)
        BackupRecord.objects.filter(pk=record.pk).update(
            status="running", started_at=beat, heartbeat_at=beat, pid=dead_pid(), boot_id=process.boot_id(),
            host=process.host(), pid_namespace=ANOTHER_NAMESPACE)
        return record
    return make


@reaper_test
def test_a_job_of_another_pid_namespace_is_not_judged_by_its_pid(running_elsewhere):
    record = running_elsewhere(silent_for=1)
    assert recovery.recover().lines == []
    record.refresh_from_db()
    assert record.status == "running"


@reaper_test
def test_a_job_of_another_pid_namespace_that_stopped_reporting_is_lost(running_elsewhere, settings):
    record = running_elsewhere(silent_for=settings.JOB_LOST_AFTER_SECONDS + 5)
    assert recovery.reap_lost() == 1
    record.refresh_from_db()
    assert record.status == "failed" and record.error.startswith(jobs.WORKER_LOST)


@reaper_test
def test_a_job_claimed_in_this_namespace_is_still_judged_by_its_pid_at_once(running_elsewhere):
    record = running_elsewhere(silent_for=1)
    BackupRecord.objects.filter(pk=record.pk).update(pid_namespace=process.pid_namespace())
    assert recovery.reap_lost() == 1
    record.refresh_from_db()
    assert record.status == "failed" and "ended without finishing it" in record.error


@reaper_test
def test_an_upload_of_another_pid_namespace_is_judged_by_its_heartbeat(running_elsewhere, settings):
    record = running_elsewhere(silent_for=1)
    claimed = timezone.now()
    BackupRecord.objects.filter(pk=record.pk).update(
        status="succeeded", offsite_status="uploading", offsite_pid=dead_pid(), offsite_boot_id=process.boot_id(),
        offsite_host=process.host(), offsite_pid_namespace=ANOTHER_NAMESPACE, offsite_claimed_at=claimed)
    assert recovery.recover().lines == []
    assert BackupRecord.objects.get(pk=record.pk).offsite_status == "uploading"

    silent = claimed - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS + 5)
    BackupRecord.objects.filter(pk=record.pk).update(offsite_claimed_at=silent)
    lines = recovery.recover().lines
    record.refresh_from_db()
    assert record.offsite_status == "failed"
    assert record.offsite_detail.startswith(f"upload lost: host {process.host()} stopped reporting at ")
    assert lines == [f"backup #{record.pk}: {record.offsite_detail}"]


@reaper_test
def test_the_reaper_leaves_the_passfile_of_a_process_in_another_pid_namespace(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = dead_pid()
    ours = process.pid_namespace().removeprefix("pid:[").removesuffix("]")
    here, elsewhere = tmp_path / f"bc-pass-{gone}-ns{ours}-abc", tmp_path / f"bc-pass-{gone}-ns4026500001-def"
    for folder in (here, elsewhere):
        folder.mkdir()
        (folder / "pgpass").write_text("*:*:*:postgres:secret\n")
    recovery.reap_lost()
    assert not here.exists() and elsewhere.exists()


def test_a_passfile_folder_is_named_after_its_process_and_pid_namespace():
    from backups_app.services.postgres.connection import Conn, child_env

    ours = process.pid_namespace().removeprefix("pid:[").removesuffix("]")
    conn = Conn(host="/tmp", port=5432, user="u", dbname="d", password="secret")
    with child_env(conn) as env:
        folder = os.path.basename(os.path.dirname(env["PGPASSFILE"]))
    assert folder.startswith(f"bc-pass-{os.getpid()}-ns{ours}-")
