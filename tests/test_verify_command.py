"""`manage.py verify`: by id or --latest, with or without a drill; exit status and one line on failure."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.console_process import console_env, manage
from tests.restore_helpers import flip_byte, make_backup

pytestmark = pytest.mark.django_db


def verify_cmd(*args) -> str:
    out = StringIO()
    call_command("verify", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def test_it_verifies_a_backup_by_id(pg_cluster, pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    out = verify_cmd(backup.pk)
    assert "sha256 matches the record" in out
    source = f"{pg_cluster.host}:{pg_cluster.port}/{pagila}"  # the server and database it was taken from
    assert re.search(rf"^backup #{backup.pk} of {re.escape(source)} verified in \d+\.\ds \(verification #\d+\)$",
                     out, re.MULTILINE)


def test_latest_picks_the_newest_succeeded_backup_of_the_target(pagila, make_target, backup_root):
    target = make_target(pagila)
    make_backup(target, "custom")
    newest = make_backup(target, "sql")
    make_backup(make_target(pagila, name="elsewhere"), "custom")
    out = verify_cmd("--latest", "--target", target.name, "--drill")
    assert f"backup #{newest.pk} of " in out and "drill: restore #" in out


def test_a_damaged_backup_fails_with_one_line(pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    flip_byte(backup.absolute_path, 100)
    with pytest.raises(CommandError, match=rf"backup #{backup.pk} failed verification: checksum mismatch") as failure:
        verify_cmd(backup.pk)
    assert "\n" not in str(failure.value)


@pytest.mark.parametrize("args, words", [
    ([], "give either a BACKUP_ID or --latest"),
    (["1", "--latest"], "give either a BACKUP_ID or --latest"),
    (["999"], "no backup #999"),
    (["--latest", "--target", "nope"], "no target named 'nope'"),
])
def test_bad_input_is_one_clear_error(db, args, words):
    with pytest.raises(CommandError, match=re.escape(words)):
        verify_cmd(*args)


def test_the_real_command_exits_0_then_1_once_the_file_is_damaged(pg_cluster, pagila, tmp_path):
    env = console_env(tmp_path, pg_cluster, pagila)
    assert manage("migrate", "-v0", env=env).returncode == 0
    assert manage("backup", "--type", "daily", env=env).returncode == 0

    done = manage("verify", "--latest", "--drill", env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    source = f"{pg_cluster.host}:{pg_cluster.port}/{pagila}"
    assert done.stdout.splitlines()[-1].startswith(f"backup #1 of {source} verified in ")

    dump_file = next((tmp_path / "backups" / "database" / "daily").glob("*.dump"))
    with open(dump_file, "r+b") as f:
        f.truncate(dump_file.stat().st_size // 2)
    failed = manage("verify", "1", env=env)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.count("\n") == 1
    assert failed.stderr.startswith("CommandError: backup #1 failed verification: the file is truncated: ")


def test_a_repaired_file_passes_a_drill_after_a_failed_verification(pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    intact = backup.absolute_path.read_bytes()
    flip_byte(backup.absolute_path, 100)
    with pytest.raises(CommandError, match="checksum mismatch"):
        verify_cmd(backup.pk)
    backup.absolute_path.write_bytes(intact)

    out = verify_cmd(backup.pk, "--drill")

    assert "drill: restore #" in out and f"backup #{backup.pk} of " in out and " verified in " in out
    backup.refresh_from_db()
    assert backup.last_verify_ok is True
