"""`manage.py restore`: the command line, in-process and as a real process (exit status, stdout, stderr)."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.console_process import console_env, manage
from tests.dbcompare import row_counts
from tests.pgcluster import DEBIAN_15, encrypted_only
from tests.restore_helpers import database_names, dropping, make_backup

pytestmark = pytest.mark.django_db


def restore_cmd(*args) -> str:
    out = StringIO()
    call_command("restore", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def test_it_restores_and_prints_one_summary_line(pg_cluster, pagila, make_target, backup_root, settings,
                                                 monkeypatch):
    # The server's own client, so --jobs 2 applies and nothing needs saying (test_version_matrix has the rest).
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = DEBIAN_15, True
    encrypted_only(monkeypatch)
    backup = make_backup(make_target(pagila), "custom")
    with dropping(pg_cluster, "pagila_cli"):
        out = restore_cmd(backup.pk, "--into", "pagila_cli", "--jobs", "2")
        into = re.escape(f"{pg_cluster.host}:{pg_cluster.port}/pagila_cli")  # the server it restored into, too
        assert re.fullmatch(rf"restored backup #{backup.pk} into {into} in \d+\.\ds \(restore #\d+\)\n", out)
        assert row_counts(pg_cluster, "pagila_cli") == row_counts(pg_cluster, pagila)


def test_tables_can_be_named_one_by_one_or_together(pg_cluster, pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    with dropping(pg_cluster, "pagila_two_tables"):
        out = restore_cmd(backup.pk, "--into", "pagila_two_tables", "--table", "public.actor", "--table",
                          "public.film_actor", "public.film", "public.language")
        assert ", 6668 rows (restore #" in out  # 200 actors, 5462 film_actor, 1000 films, 6 languages
        assert set(row_counts(pg_cluster, "pagila_two_tables")) == {
            "public.actor", "public.film_actor", "public.film", "public.language"}


@pytest.mark.parametrize("args, words", [
    (["--into", "template1"], "template database"),
    (["--into", "postgres"], "postgres is the server's maintenance database; restore into another name"),
    (["--into", "bad name"], "is not a usable database name"),
    (["--into", "x", "--table", "rental"], "is not a table name"),
    (["--into", "x", "--jobs", "0"], "--jobs must be between 1 and 64"),
    (["--into", "x", "--target", "nope"], "no target named 'nope'"),
])
def test_bad_input_is_one_clear_error_and_nothing_happens(pg_cluster, pagila, make_target, backup_root, args, words):
    backup = make_backup(make_target(pagila), "custom")
    before = database_names(pg_cluster)
    with pytest.raises(CommandError, match=re.escape(words)) as failure:
        restore_cmd(backup.pk, *args)
    assert "\n" not in str(failure.value)
    assert database_names(pg_cluster) == before


def test_an_unknown_backup_is_one_clear_error(db):
    with pytest.raises(CommandError, match=r"no backup #999 \(see manage.py backup --list\)"):
        restore_cmd(999, "--into", "x")


@pytest.fixture
def console_env_with_a_backup(pg_cluster, pagila, tmp_path):
    env = console_env(tmp_path, pg_cluster, pagila)
    assert manage("migrate", "-v0", env=env).returncode == 0
    made = manage("backup", "--type", "manual", "--format", "sql", env=env)
    assert made.returncode == 0, made.stderr
    return env


def test_the_real_command_exits_0_and_restores(pg_cluster, pagila, console_env_with_a_backup):
    with dropping(pg_cluster, "pagila_real"):
        done = manage("restore", "1", "--into", "pagila_real", env=console_env_with_a_backup)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert done.stdout.startswith(f"restored backup #1 into {pg_cluster.host}:{pg_cluster.port}/pagila_real in ")
        assert row_counts(pg_cluster, "pagila_real") == row_counts(pg_cluster, pagila)


def test_the_real_command_exits_1_with_one_line_on_stderr(pg_cluster, pagila, console_env_with_a_backup):
    failed = manage("restore", "1", "--into", pagila, env=console_env_with_a_backup)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("CommandError: restore refused: ")
    assert "database pagila already holds objects" in failed.stderr
    assert pg_cluster.password not in failed.stderr
