"""The command line as scripts meet it: a wrong option is one line, a reader that stops early is no error."""

import os
import subprocess

import pytest

from tests import console_process

# Every command of the console, each with an option it does not have.
MISTAKES = [
    (["backup", "--bogus"], "unrecognized arguments: --bogus"),
    (["backup", "--type", "hourly"], "argument --type: invalid choice: 'hourly'"),
    (["backup", "--list", "--cleanup"], "argument --cleanup: not allowed with argument --list"),
    (["backup", "--keep-days", "many"], "argument --keep-days: invalid int value: 'many'"),
    (["restore", "3"], "the following arguments are required: --into"),
    (["verify", "--drill", "--fast"], "unrecognized arguments: --fast"),
    (["runconsole", "--threads", "x"], "argument --threads: invalid int value: 'x'"),
    (["sync_schedules", "--now"], "unrecognized arguments: --now"),
    (["setup_roles", "--now"], "unrecognized arguments: --now"),
    (["ensure_admin", "--now"], "unrecognized arguments: --now"),
    (["demo_setup", "--now"], "unrecognized arguments: --now"),
    (["qcluster", "--grace", "soon"], "argument --grace: invalid float value: 'soon'"),
]


@pytest.fixture
def env(tmp_path) -> dict:
    """Enough of a console for a command to read its options (nothing gets that far)."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    return {**base, "VAR_DIR": str(tmp_path / "var"), "SECRET_KEY": "k" * 50,
            "BACKUP_ROOT": str(tmp_path / "backups")}


@pytest.mark.parametrize("argv,message", MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_a_wrong_option_is_one_line_naming_it(env, argv, message):
    done = console_process.manage(*argv, env=env, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"manage.py {argv[0]}: error: {message}")
    assert done.stderr.rstrip().endswith(f"(manage.py {argv[0]} --help lists the options)")


def many_backups(console, count: int = 3000) -> None:
    console.shell(f"""
        from backups_app.models import BackupRecord, DatabaseTarget
        target = DatabaseTarget.objects.create(name="shop", dbname="shop")
        BackupRecord.objects.bulk_create(
            BackupRecord(target=target, backup_type="daily", format="custom", status="succeeded",
                         path=f"database/daily/shop_daily_{{i}}.dump", size_bytes=1000) for i in range({count}))
    """)


@pytest.mark.parametrize("args", [["--list"], ["--list", "--json"]])
def test_a_listing_read_only_in_part_ends_quietly(console, args):
    """`backup --list | head -1`: the reader leaves while the listing is still being written."""
    many_backups(console)
    listing = subprocess.Popen(console_process.argv("backup", *args), cwd=console_process.ROOT, env=console.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert listing.stdout.readline()
    listing.stdout.close()
    stderr = listing.stderr.read().decode()
    assert listing.wait(timeout=60) == 141, stderr  # 128 + SIGPIPE, as a shell reports `yes | head`
    assert stderr == ""


def test_a_listing_read_to_the_end_still_ends_well(console):
    many_backups(console, count=50)
    done = console_process.manage("backup", "--list", env=console.env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("50 backups")
