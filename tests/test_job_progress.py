"""What a running job shows: its phase, bytes, rate and time left when it can be known, and its programs' own log.

The estimate and the log are services/jobs/ (progress.py, joblog.py); the Jobs
page and its live fragments show them (admin/jobs_page.py), for whoever may
see each kind of job.
"""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backups_app.models import BackupRecord, PruneRecord, RestoreRecord, VerificationRecord
from backups_app.services.jobs import joblog, progress
from backups_app.services.postgres.proc import Ran
from tests.retention_records import new_backup, new_target

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.admin_fixtures"]
MB = 1024 ** 2


def running_backup(target, *, seconds=10, done=None, expected=None, phase=progress.DUMPING):
    record = BackupRecord.objects.create(target=target, backup_type="manual", format="custom", status="running",
                                         started_at=timezone.now() - timedelta(seconds=seconds), phase=phase,
                                         progress_bytes=done, expected_bytes=expected)
    return record


def test_time_left_is_known_only_with_an_expected_size_not_yet_passed(backup_root):
    target = new_target()
    guess = progress.estimate(running_backup(target, done=40 * MB, expected=100 * MB))
    assert guess.rate == pytest.approx(4 * MB, rel=0.05)
    assert guess.left == pytest.approx(15, rel=0.05) and guess.fraction == pytest.approx(0.4)
    assert progress.estimate(running_backup(target, done=40 * MB)).left is None  # nothing to compare with
    assert progress.estimate(running_backup(target, done=120 * MB, expected=100 * MB)).left is None  # passed it


def test_the_page_says_phase_bytes_rate_and_time_left_or_that_it_is_unknown(superuser_client, backup_root):
    target = new_target()
    known = running_backup(target, done=40 * MB, expected=100 * MB)
    unknown = running_backup(target, done=40 * MB)
    page = superuser_client.get(reverse("admin:backups_app_job_progress", args=["backup", known.pk])).content.decode()
    assert re.search(r"dumping · 40.0 MiB written · [34]\.\d MiB/s · about 1\d s left · running for 1\d s", page)
    assert 'role="progressbar" aria-valuenow="40"' in page
    page = superuser_client.get(reverse("admin:backups_app_job_progress", args=["backup", unknown.pk])).content.decode()
    assert "time left unknown" in page and "progressbar" not in page


def test_a_running_jobs_fragment_asks_again_every_second_and_an_ended_one_stops(superuser_client, backup_root):
    target = new_target()
    record = running_backup(target, done=MB)
    url = reverse("admin:backups_app_job_progress", args=["backup", record.pk])
    assert 'hx-trigger="every 1s"' in superuser_client.get(url).content.decode()
    BackupRecord.objects.filter(pk=record.pk).update(status="succeeded", finished_at=timezone.now())
    assert "hx-trigger" not in superuser_client.get(url).content.decode()


def test_the_jobs_page_lists_every_kind_in_flight_and_finished(superuser_client, backup_root):
    target = new_target("shop")
    backup = new_backup(target)
    running_backup(target, done=MB)
    RestoreRecord.objects.create(backup=backup, server=target, target_database="shop_copy", status="succeeded")
    VerificationRecord.objects.create(backup=backup, drill=True, status="failed", error="drill failed")
    PruneRecord.objects.create(target=target, backup_type="daily", status="queued", started_by="schedule nightly",
                               origin="schedule", origin_name="nightly")
    page = superuser_client.get(reverse("admin:backups_app_jobs")).content.decode()
    for kind in ("backup", "restore", "verification", "prune"):
        assert f'class="bc-job bc-job-{kind}"' in page, kind
    assert f"backup #{backup.pk} into shop_copy" in page and "schedule nightly" in page
    active = superuser_client.get(reverse("admin:backups_app_jobs_rows") + "?state=active").content.decode()
    assert active.count('class="bc-job ') == 2  # the running backup and the queued prune
    assert 'hx-trigger="every 2s"' in active


def test_a_viewer_sees_the_jobs_staff_without_a_role_do_not(as_role, backup_root):
    running_backup(new_target(), done=MB)
    assert as_role("Backup viewers").get(reverse("admin:backups_app_jobs")).status_code == 200
    assert as_role(None).get(reverse("admin:backups_app_jobs")).status_code == 403


def test_a_jobs_log_keeps_what_its_programs_said_on_stderr_without_secrets(backup_root, monkeypatch):
    monkeypatch.setenv("BC_TEST_PASSWORD", "s3cret-Pa55")
    target = new_target(password_env="BC_TEST_PASSWORD")
    monkeypatch.setattr("backups_app.services.postgres.connection.names.check_password_variable", lambda n: n)
    record = running_backup(target)
    joblog.note(Ran("pg_dump", 1, b"not collecting: nobody's log"))
    with joblog.collecting(record):
        joblog.note(Ran("pg_dump", 0, b""))  # ended well and said nothing: nothing to keep
        joblog.note(Ran("pg_dump", 1, b"pg_dump: error: password s3cret-Pa55 refused; password=hunter2\n"))
    joblog.note(Ran("psql", 1, b"after the job: not its log"))
    record.refresh_from_db()
    assert record.log == "$ pg_dump (exit status 1)\npg_dump: error: password ******** refused; password=********\n"


def test_a_real_backup_goes_through_its_phases_on_its_row(make_target, pagila, backup_root, monkeypatch):
    from backups_app.services.backups import dump

    target = make_target(pagila)
    record = dump.backup_create(target=target, backup_type="manual", fmt="custom", started_by="command line")
    seen, original = [], progress.phase
    monkeypatch.setattr(progress, "phase", lambda r, code: (seen.append(code), original(r, code)))
    dump.backup_execute(record_id=record.pk)
    record.refresh_from_db()
    assert record.status == "succeeded", record.error
    assert seen == [progress.DUMPING, progress.CHECKING, progress.PUBLISHING]
    assert record.phase == progress.PUBLISHING and record.progress_bytes in (None, record.size_bytes)
    assert (record.origin, record.origin_name) == ("command", "")
