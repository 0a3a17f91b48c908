"""Every numeric option of every command has bounds: past them, one line saying so, never a traceback."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests import console_process
from tests.retention_records import new_backup, new_target

HUGE = "1" + "0" * 30

OUT_OF_RANGE = [
    (["backup", "--cleanup", "--keep-days", "1000000000"], "--keep-days must be at least 1 and at most 36525"),
    (["backup", "--cleanup", "--keep-days", "0"], "--keep-days must be at least 1"),
    (["backup", "--cleanup", "--keep-days", "-5"], "--keep-days must be at least 1"),
    (["backup", "--check", "--max-age-hours=nan"], "--max-age-hours must be more than 0 and at most 876000, not nan"),
    (["backup", "--check", "--max-age-hours=inf"], "--max-age-hours must be more than 0 and at most 876000, not inf"),
    (["backup", "--check", "--max-age-hours=-inf"], "--max-age-hours must be more than 0"),
    (["backup", "--check", "--max-age-hours", "1e308"], "--max-age-hours must be more than 0 and at most 876000"),
    (["backup", "--check", "--max-age-hours", "0"], "--max-age-hours must be more than 0"),
    (["restore", HUGE, "--into", "scratch"], "BACKUP_ID must be at least 1 and at most 9223372036854775807"),
    (["restore", "0", "--into", "scratch"], "BACKUP_ID must be at least 1"),
    (["restore", "{id}", "--into", "scratch", "--jobs", "0"], "--jobs must be between 1 and 64"),
    (["restore", "{id}", "--into", "scratch", "--jobs", "100000"], "--jobs must be between 1 and 64"),
    (["verify", HUGE], "BACKUP_ID must be at least 1 and at most 9223372036854775807"),
    (["verify", "-1"], "BACKUP_ID must be at least 1"),
    (["runconsole", "--stop-timeout", "nan"], "--stop-timeout must be at least 0 and at most 86400, not nan"),
    (["runconsole", "--stop-timeout", "1e308"], "--stop-timeout must be at least 0 and at most 86400"),
    (["runconsole", "--stop-timeout", "-1"], "--stop-timeout must be at least 0"),
    (["runconsole", "--threads", "0"], "--threads must be at least 1 and at most 256"),
    (["runconsole", "--threads", HUGE], "--threads must be at least 1 and at most 256"),
    (["demo_setup", "--ticks-per-pair", "0"], "--ticks-per-pair must be at least 1 and at most 10000000"),
    (["demo_setup", "--ticks-per-pair", HUGE], "--ticks-per-pair must be at least 1 and at most 10000000"),
]


@pytest.mark.parametrize("argv,message", OUT_OF_RANGE, ids=[" ".join(a) for a, _ in OUT_OF_RANGE])
def test_a_number_out_of_range_is_refused_in_one_line(db, backup_root, argv, message):
    record = new_backup(new_target(), age_days=3)  # something for a date or an id to be compared with
    with pytest.raises(CommandError) as refused:
        call_command(*[a.format(id=record.pk) for a in argv], stdout=StringIO(), stderr=StringIO())
    assert message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("argv", [["--keep-days", "1000000000"], ["--keep-days", "36525"]])
def test_the_cleanup_bounds_are_checked_before_any_date_is_computed(db, backup_root, argv):
    kept = new_backup(new_target(), age_days=3)
    if argv[1] == "36525":  # the largest allowed still works
        assert call_command("backup", "--cleanup", *argv, stdout=StringIO()) == "Deleted 0 backups"
    else:
        with pytest.raises(CommandError):
            call_command("backup", "--cleanup", *argv, stdout=StringIO())
    kept.refresh_from_db()
    assert kept.status == "succeeded"


@pytest.mark.parametrize("keep_days", [0, 10**9])
def test_backup_keep_days_from_the_environment_has_the_same_bounds(db, backup_root, settings, keep_days):
    new_backup(new_target(), age_days=3)
    settings.BACKUP_KEEP_DAYS = keep_days
    with pytest.raises(CommandError, match=f"BACKUP_KEEP_DAYS must be at least 1 and at most 36525, not {keep_days}"):
        call_command("backup", "--cleanup", stdout=StringIO())


@pytest.mark.parametrize("args", [
    ["backup", "--cleanup", "--keep-days", "1000000000"],
    ["backup", "--check", "--max-age-hours", "nan"],
])
def test_the_real_command_exits_1_with_one_line_and_no_traceback(console, args):
    console.shell("""
        from tests.retention_records import new_backup, new_target
        new_backup(new_target(), age_days=3)
    """)
    done = console_process.manage(*args, env=console.env, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("CommandError: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
