"""`manage.py backup`: the original script's command line, run in-process and as a real process."""

import json
import re
import time
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from humanize import naturalsize

from backups_app.models import BackupRecord, BackupStorage
from tests import console_process, faultkit
from tests.conftest import PASSWORD_ENV

pytestmark = pytest.mark.django_db

SUCCESS_LINE = re.compile(r"^(/\S+) (\d+(?:\.\d+)? (?:Bytes|KiB|MiB|GiB)) in (\d+\.\d)s$")
JSON_KEYS = {"id", "target", "type", "format", "status", "size_bytes", "sha256", "created_at", "path"}


def run(*args) -> str:
    out = StringIO()
    call_command("backup", *args, stdout=out)
    return out.getvalue()


def test_a_custom_backup_prints_one_line_with_path_size_and_duration(pagila, make_target, backup_root):
    make_target(pagila)
    out = run("--type", "manual", "--format", "custom", "--target", "pagila")
    assert out.count("\n") == 1
    path, size, seconds = SUCCESS_LINE.match(out.strip()).groups()
    record = BackupRecord.objects.get()
    assert Path(path) == record.absolute_path and Path(path).parent == backup_root / "database" / "manual"
    assert path.endswith(".dump") and record.format == "custom" and record.status == "succeeded"
    assert size == naturalsize(record.size_bytes, binary=True) and record.size_bytes > 100_000
    assert float(seconds) == pytest.approx(record.duration_seconds, abs=0.06)
    assert record.started_by == "command line"


def test_a_daily_sql_backup_lands_compressed_in_the_daily_folder(pagila, make_target, backup_root):
    make_target(pagila)
    path = Path(SUCCESS_LINE.match(run("--type", "daily", "--format", "sql", "--target", "pagila").strip())[1])
    assert path.parent == backup_root / "database" / "daily" and path.name.endswith(".sql.gz")
    assert path.name.startswith("pagila_daily_")
    assert BackupRecord.objects.get().backup_type == "daily"


def test_without_target_it_backs_up_the_database_the_db_settings_name(
    pg_cluster, pagila, backup_root, settings, monkeypatch, db
):
    settings.DB_HOST, settings.DB_PORT, settings.DB_USER, settings.DB_NAME = (
        pg_cluster.host, pg_cluster.port, pg_cluster.user, pagila)
    monkeypatch.setenv("DB_PASSWORD", pg_cluster.password)
    run("--type", "daily")
    record = BackupRecord.objects.get()
    assert (record.target.name, record.target.dbname, record.status) == ("default", pagila, "succeeded")
    assert record.format == "custom", "custom is the default format, as in the original script"


def test_an_unknown_target_is_one_clear_error(pagila, make_target, backup_root):
    make_target(pagila)
    for args in (["--target", "nope"], ["--list", "--target", "nope"], ["--cleanup", "--target", "nope"]):
        with pytest.raises(CommandError, match=r"^no target named 'nope' \(known: default, pagila\)$|"
                                               r"^no target named 'nope' \(known: pagila\)$"):
            run(*args)
    assert not BackupRecord.objects.exists()


def test_a_failed_backup_raises_one_line_with_the_reason(pagila, make_target, backup_root, monkeypatch):
    make_target(pagila)
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(CommandError) as failure:
        run("--target", "pagila")
    message = str(failure.value)
    assert message.startswith("backup #") and "failed: cannot connect" in message and "\n" not in message


def make_row(target, *, backup_type="daily", fmt="custom", status="succeeded", age_days=0.0, path="") -> BackupRecord:
    record = BackupRecord.objects.create(target=target, backup_type=backup_type, format=fmt, status=status,
                                         path=path, size_bytes=1536 if path else None)
    BackupRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    if path and status == "succeeded":  # the file is there, as after a real backup
        record.absolute_path.parent.mkdir(parents=True, exist_ok=True)
        record.absolute_path.write_bytes(b"x" * 1536)
    return record


def test_list_shows_every_backup_newest_first_and_filters_by_type(pagila, make_target, backup_root):
    target = make_target(pagila)
    old = make_row(target, age_days=3, path="database/daily/a.dump")
    new = make_row(target, age_days=1, path="database/daily/b.dump")
    weekly = make_row(target, backup_type="weekly", age_days=2, path="database/weekly/c.dump")
    failed = make_row(target, status="failed", age_days=0.5)

    lines = run("--list").splitlines()
    # ADDED (what each backup added to BACKUP_ROOT) before PATH: the columns before it keep their places.
    assert lines[0].split() == ["ID", "TARGET", "TYPE", "FORMAT", "SIZE", "CREATED", "STATUS", "ADDED", "PATH"]
    ids = [int(line.split()[0]) for line in lines[1:-1]]
    assert ids == [failed.pk, new.pk, weekly.pk, old.pk]
    assert lines[-1] == "4 backups"
    row = lines[2]
    assert "1.5 KiB" in row and "succeeded" in row and str(backup_root / "database/daily/b.dump") in row
    created = timezone.localtime(timezone.now() - timedelta(days=1))
    assert created.strftime("%Y-%m-%d") in row

    weekly_lines = run("--list", "--type", "weekly").splitlines()
    assert [int(line.split()[0]) for line in weekly_lines[1:-1]] == [weekly.pk]


def test_list_json_gives_every_field_scripts_rely_on(pagila, make_target, backup_root):
    target = make_target(pagila)
    run("--target", "pagila", "--format", "sql", "--type", "daily")
    make_row(target, backup_type="weekly", age_days=5, path="database/weekly/x.dump")

    items = json.loads(run("--list", "--json"))
    assert len(items) == 2
    assert all(JSON_KEYS <= set(item) for item in items)
    newest = items[0]
    assert newest["type"] == "daily" and newest["format"] == "sql" and newest["status"] == "succeeded"
    assert newest["target"] == "pagila" and isinstance(newest["id"], int)
    assert newest["size_bytes"] == Path(newest["path"]).stat().st_size
    assert re.fullmatch(r"[0-9a-f]{64}", newest["sha256"])
    assert Path(newest["path"]).is_absolute() and Path(newest["path"]).is_file()
    created = [datetime.fromisoformat(item["created_at"]) for item in items]
    assert all(c.utcoffset() is not None for c in created), "ISO 8601 with an offset"
    assert created == sorted(created, reverse=True)
    assert json.loads(run("--list", "--json", "--type", "weekly"))[0]["path"] == str(
        backup_root / "database/weekly/x.dump")
    assert json.loads(run("--list", "--json", "--type", "monthly")) == []


# -- as a real process: exit status, stdout and stderr as cron sees them ---------

@pytest.fixture
def migrated_console_env(pg_cluster, pagila, tmp_path):
    env = console_process.console_env(tmp_path, pg_cluster, pagila)
    migrated = console_process.manage("migrate", "-v0", env=env)
    assert migrated.returncode == 0, migrated.stderr
    return env


def test_the_real_command_succeeds_with_exit_0_and_one_line(migrated_console_env):
    done = console_process.manage("backup", "--type", "manual", "--format", "custom", env=migrated_console_env)
    assert (done.returncode, done.stderr) == (0, "")
    path = Path(SUCCESS_LINE.match(done.stdout.strip())[1])
    assert path.is_file() and done.stdout.count("\n") == 1

    listed = json.loads(console_process.manage("backup", "--list", "--json", env=migrated_console_env).stdout)
    assert [item["path"] for item in listed] == [str(path)]


@pytest.mark.parametrize("args,env_change,words", [
    (["--type", "daily"], {"DB_PASSWORD": "wrong"}, "password authentication failed"),
    (["--target", "nope"], {}, "no target named 'nope'"),
    (["--cleanup", "--keep-days", "0"], {}, "--keep-days must be at least 1"),
], ids=["wrong password", "unknown target", "bad keep-days"])
def test_the_real_command_fails_with_exit_1_and_one_line_on_stderr(migrated_console_env, args, env_change, words):
    failed = console_process.manage("backup", *args, env={**migrated_console_env, **env_change})
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("CommandError: "), failed.stderr
    assert words in failed.stderr
    assert failed.stdout == ""


@pytest.mark.slow
def test_a_running_backup_reports_its_progress(pg_cluster, migrated_console_env, tmp_path):
    """Seen from outside while it runs: heartbeat and bytes written move, then the final size is recorded."""
    faultkit.make_ticks_db(pg_cluster, "bc_ticks_300k", 300_000)
    # pg_dump's own default level is slow on purpose here, and the heartbeat fast: the dump
    # then lasts several beats even on a quiet machine.
    env = {**migrated_console_env, "DB_NAME": "bc_ticks_300k", "JOB_HEARTBEAT_SECONDS": "0.2",
           "BACKUP_CUSTOM_COMPRESSION": "gzip:6"}
    proc = console_process.start_manage("backup", "--format", "custom", env=env)
    seen = []
    while proc.poll() is None:
        seen += console_process.console_rows(env, "SELECT status, bytes_written, heartbeat_at > started_at "
                                           "FROM backups_app_backuprecord")
        time.sleep(0.2)
    assert proc.returncode == 0, proc.stderr.read()
    progress = [written for status, written, beaten in seen if status == "running" and beaten]
    assert len(set(progress)) >= 2 and progress == sorted(progress) and progress[-1] > 0, seen
    (status, written, size), = console_process.console_rows(
        env, "SELECT status, bytes_written, size_bytes FROM backups_app_backuprecord")
    # The last beats may come after pg_dump has finished (while the file is verified).
    assert status == "succeeded" and written == size >= progress[-1] and progress[0] < size


def test_list_says_which_files_are_not_where_their_records_say(pagila, make_target, backup_root, settings, tmp_path):
    target = make_target(pagila)
    here = make_row(target, age_days=1, path="database/daily/here.dump")
    gone = make_row(target, age_days=2, path="database/daily/gone.dump")
    gone.absolute_path.unlink()
    failed = make_row(target, status="failed")

    lines = run("--list").splitlines()
    row = {int(line.split()[0]): line for line in lines[1:-1]}
    assert row[gone.pk].endswith(f"{gone.absolute_path}  (file missing)")
    assert row[here.pk].endswith(str(here.absolute_path))
    assert lines[-1] == f"3 backups; 1 files missing under BACKUP_ROOT {backup_root}"
    assert {i["id"]: i["file_missing"] for i in json.loads(run("--list", "--json"))} == {
        here.pk: False, gone.pk: True, failed.pk: False}

    settings.BACKUP_ROOT = tmp_path / "moved"  # BACKUP_ROOT changed, files not moved: every file is missing
    assert run("--list").splitlines()[-1] == f"3 backups; 2 files missing under BACKUP_ROOT {tmp_path / 'moved'}"


def test_list_says_a_backup_kept_only_in_object_storage_is_not_missing(pagila, make_target, backup_root):
    target = make_target(pagila)
    stored = make_row(target, age_days=1, path="database/daily/stored.dump")
    lost = make_row(target, age_days=2, path="database/daily/lost.dump")
    storage = BackupStorage.objects.create(name="offsite", kind="s3", bucket="b")
    for record, status in ((stored, "uploaded"), (lost, "deleted")):  # the copy in object storage, removed by hand
        record.absolute_path.unlink()
        BackupRecord.objects.filter(pk=record.pk).update(local_removed=True, offsite_status=status, offsite_key="k",
                                                         offsite_storage=storage)

    lines = run("--list").splitlines()
    row = {int(line.split()[0]): line for line in lines[1:-1]}
    assert row[stored.pk].endswith(f"{stored.absolute_path}  (only in object storage)")
    assert row[lost.pk].endswith(f"{lost.absolute_path}  (file missing)")
    assert lines[-1] == f"2 backups; 1 files missing under BACKUP_ROOT {backup_root}"
    assert {i["id"]: (i["host"], i["file_missing"]) for i in json.loads(run("--list", "--json"))} == {
        stored.pk: (None, False), lost.pk: (None, True)}


def test_list_works_when_backup_root_is_read_only(migrated_console_env):
    env = migrated_console_env
    if not faultkit.can_mount():
        pytest.skip("a read-only mount needs root (root writes through file modes)")
    root = Path(env["BACKUP_ROOT"])
    assert console_process.manage("backup", "--type", "daily", env=env).returncode == 0
    with faultkit.read_only(root):
        refused = console_process.manage("backup", "--type", "daily", env=env)
        assert refused.returncode == 1, "the test needs it read-only"
        listed = console_process.manage("backup", "--list", env=env)
        assert (listed.returncode, listed.stderr) == (0, ""), listed.stderr
        assert listed.stdout.splitlines()[-1] == "1 backups"
        assert console_process.manage("backup", "--list", "--json", env=env).returncode == 0
        assert console_process.manage("backup", "--list", "--orphans", env=env).returncode == 0
