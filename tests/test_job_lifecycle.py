"""A job's row: waiting for its target's turn, refused when it would wait too long, reaped when its worker dies."""

import os
import subprocess
import tempfile
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from backups_app.models import BackupRecord, DatabaseTarget, RestoreRecord
from backups_app.services.backups import dump
from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.jobs import queue, recovery
from backups_app.services.restores import restore
from backups_app.services.storage import files, layout

pytestmark = pytest.mark.django_db

# reap_lost() first closes stale connections, as a long-running worker must. Inside a
# test's transaction that closes a PostgreSQL connection under the test (SQLite's
# in-memory one is never closed), so the reaper's tests run outside one.
reaper_test = pytest.mark.django_db(transaction=True)


@pytest.fixture
def target(make_target, backup_root):
    return make_target("nowhere", name="shop")


def queued_backup(target, **fields):
    record = dump.backup_create(target=target, backup_type="manual", fmt="custom", started_by="test")
    if fields:
        BackupRecord.objects.filter(pk=record.pk).update(**fields)
        record.refresh_from_db()
    return record


def test_a_backup_whose_target_stays_busy_is_refused_with_the_reason(target, backup_root):
    holder, waiting = queued_backup(target), queued_backup(target)
    with jobs.target_lock(target, jobs.lock_key(holder)):
        record = dump.backup_execute(record_id=waiting.pk, lock_wait=0.3)
    assert record.status == "failed" and record.started_at is None
    assert record.error.startswith(f"refused: target 'shop' is busy with backup #{holder.pk}")
    assert "try again later" in record.error
    assert "result=failed" in (backup_root / "database" / "backup_log.txt").read_text()
    assert DatabaseTarget.objects.get(pk=target.pk).lock_holder == ""


def test_a_job_in_the_worker_stays_queued_while_its_target_is_busy(target, settings):
    settings.JOB_TURN_SLICE_SECONDS = 0.2
    holder, waiting = queued_backup(target), queued_backup(target)
    with jobs.target_lock(target, jobs.lock_key(holder)):
        with pytest.raises(jobs.TargetBusy) as busy:
            dump.backup_execute(record_id=waiting.pk, defer_when_busy=True)
    assert busy.value.final is False
    waiting.refresh_from_db()
    assert (waiting.status, waiting.started_at, waiting.error) == ("queued", None, "")


def test_the_queue_takes_back_a_job_whose_target_is_busy(target, settings, django_capture_on_commit_callbacks):
    settings.JOB_TURN_SLICE_SECONDS = 0.2
    holder, waiting = queued_backup(target), queued_backup(target)
    with jobs.target_lock(target, jobs.lock_key(holder)), django_capture_on_commit_callbacks(execute=True):
        result = queue.run_in_turn("run_backup", waiting.pk, dump.backup_execute)
    assert result.startswith("waiting: ")
    [task] = [q.task for q in OrmQ.objects.all()]
    assert (task["func"], task["args"], task["save"]) == ("backups_app.tasks.run_backup", (waiting.pk,), False)


@pytest.mark.parametrize("made_on,queue_key", [("this", "backupconsole@this"), ("renamed", "backupconsole")])
def test_a_job_only_this_host_can_run_waits_for_its_target_in_this_hosts_own_queue(
        target, settings, django_capture_on_commit_callbacks, made_on, queue_key):
    settings.JOB_TURN_SLICE_SECONDS, settings.CONSOLE_HOST_NAME = 0.2, "this"
    # Not in object storage: only the host that has the file can restore it. One made under another name
    # whose file is here all the same (a host renamed) can be restored by any worker that sees it.
    backup = queued_backup(target, status="succeeded", path="database/manual/shop.dump", host=made_on)
    files.create_private(layout.ensure_dir(layout.type_dir("manual")) / "shop.dump").close()
    waiting = RestoreRecord.objects.create(backup=backup, server=target, target_database="shop_copy")
    holder = queued_backup(target)
    with jobs.target_lock(target, jobs.lock_key(holder)), django_capture_on_commit_callbacks(execute=True):
        result = queue.run_in_turn("run_restore", waiting.pk, restore.restore_execute)
    assert result.startswith("waiting: ")
    assert [(q.key, q.task["args"]) for q in OrmQ.objects.all()] == [(queue_key, (waiting.pk,))]


def test_a_job_that_has_waited_past_its_deadline_is_refused_by_the_worker(target, settings):
    holder = queued_backup(target)
    late = queued_backup(target, created_at=timezone.now() - timedelta(seconds=settings.JOB_LOCK_WAIT_SECONDS + 1))
    with jobs.target_lock(target, jobs.lock_key(holder)):
        result = queue.run_in_turn("run_backup", late.pk, dump.backup_execute)
    late.refresh_from_db()
    assert result == "failed" and late.error.startswith("refused: ")


def test_a_job_already_taken_is_skipped_quietly(target):
    record = queued_backup(target, status="running")
    assert queue.run_in_turn("run_backup", record.pk, dump.backup_execute).startswith("skipped: ")


@reaper_test
def test_the_reaper_fails_a_silent_job_removes_its_partial_file_and_frees_the_target(target, settings):
    old = timezone.now() - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS + 5)
    record = queued_backup(target, status="running", started_at=old, heartbeat_at=old)
    assert jobs.acquire(target, jobs.lock_key(record), wait_seconds=0)
    folder = layout.ensure_dir(layout.type_dir("manual"))
    partial = layout.partial_path(folder / f"shop_{record.pk}.dump", record.pk)
    files.create_private(partial).close()

    assert recovery.reap_lost() == 1

    record.refresh_from_db()
    assert record.status == "failed" and record.error.startswith(jobs.WORKER_LOST)
    assert "removed its partial file" in record.error and "released target" in record.error
    assert not partial.exists()
    assert DatabaseTarget.objects.get(pk=target.pk).lock_holder == ""


@reaper_test
def test_the_reaper_leaves_a_job_with_a_fresh_heartbeat_alone(target):
    record = queued_backup(target, status="running", started_at=timezone.now(), heartbeat_at=timezone.now())
    assert recovery.reap_lost() == 0
    record.refresh_from_db()
    assert record.status == "running"


@reaper_test
def test_a_job_no_worker_took_in_time_is_failed_as_never_started(target, settings):
    limit = settings.JOB_LOCK_WAIT_SECONDS + settings.JOB_LOST_AFTER_SECONDS
    stale = queued_backup(target, created_at=timezone.now() - timedelta(seconds=limit + 1))
    fresh = queued_backup(target)
    recovery.reap_lost()
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == "failed" and stale.error.startswith("never started")
    assert fresh.status == "queued"


def test_a_reaped_job_stays_failed_when_its_worker_finishes_after_all(target):
    record = queued_backup(target, status="failed", error=jobs.WORKER_LOST, started_at=timezone.now())
    jobs.finish(record, ok=True, path="database/manual/x.dump")
    assert (record.status, record.error, record.path) == ("failed", jobs.WORKER_LOST, "")
    with pytest.raises(jobs.JobLost):
        jobs.ensure_running(record)


def test_a_waiting_job_that_claimed_first_is_kept_alive_while_it_waits(target, settings):
    settings.JOB_HEARTBEAT_SECONDS = 0.2
    holder = queued_backup(target)
    old = timezone.now() - timedelta(hours=1)
    claimed = queued_backup(target, status="running", started_at=old, heartbeat_at=old)
    with jobs.target_lock(target, jobs.lock_key(holder)):
        assert not jobs.acquire(target, jobs.lock_key(claimed), wait_seconds=0.7)
    claimed.refresh_from_db()
    assert claimed.heartbeat_at > old + timedelta(minutes=59)


@reaper_test
def test_the_reaper_removes_the_passfile_of_a_killed_process_only(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = _pid_of_a_finished_process()
    dead, live = tmp_path / f"bc-pass-{gone}-abc", tmp_path / f"bc-pass-{os.getpid()}-def"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "pgpass").write_text("*:*:*:postgres:secret\n")
    recovery.reap_lost()
    assert not dead.exists() and live.exists()


def _pid_of_a_finished_process() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("ok", [True, False])
def test_a_jobs_end_is_told_once_its_target_is_free_again(pagila, make_target, backup_root, monkeypatch, ok):
    """A slow notification channel must not keep the next backup or restore of that database waiting."""
    told = []

    def listener(record):
        told.append((record.pk, record.status, DatabaseTarget.objects.get(pk=record.target_id).lock_holder))
    monkeypatch.setattr(jobs, "_ended_listeners", [listener])
    shop = make_target(pagila if ok else "no_such_database", name="shop")
    record = dump.backup_execute(record_id=queued_backup(shop).pk)
    assert told == [(record.pk, "succeeded" if ok else "failed", "")]
