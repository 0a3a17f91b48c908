"""One server per target, with real console processes: every shell acts on the server the backups came from.

A console is made as scripts/run-console.sh makes it (DB_* of the test
cluster, also written to the demo folder's demo.env); then commands run from
a new shell without DB_*, and from one whose DB_* name the built-in defaults
(localhost:5432/trading_system, this machine's other server).
"""

import sqlite3
from contextlib import closing

import pytest

from tests.console_process import console_env, console_rows, manage, without_db_settings, write_demo_env
from tests.restore_helpers import database_names, dropping

pytestmark = pytest.mark.slow

BUILT_IN = {"DB_HOST": "localhost", "DB_PORT": "5432", "DB_NAME": "trading_system", "DB_USER": "postgres"}


def recorded(env) -> list:
    return console_rows(env, "SELECT host, port, dbname, user FROM backups_app_databasetarget WHERE name = 'default'")


def one_line(done) -> str:
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("CommandError: "), done.stderr
    return done.stderr


@pytest.fixture
def demo_console(pg_cluster, pagila, tmp_path):
    """run-console.sh's console: DB_* exported from demo.env for its own commands, one backup made."""
    env = console_env(tmp_path, pg_cluster, pagila)
    env.pop("DEMO_PG_DIR", None)
    write_demo_env(tmp_path / "var" / "demo-pg", pg_cluster, pagila)
    assert manage("migrate", "-v0", env=env).returncode == 0
    made = manage("backup", "--format", "custom", env=env)
    assert made.returncode == 0, made.stderr
    assert recorded(env) == [(pg_cluster.host, pg_cluster.port, pagila, pg_cluster.user)]
    return env


def test_a_new_shell_finds_the_demo_settings_and_restores_onto_the_demo_server(demo_console, pg_cluster, pagila):
    shell = without_db_settings(demo_console)
    before = recorded(demo_console)
    with dropping(pg_cluster, "bc_shell_restore"):
        for args in (["verify", "--latest"], ["backup"]):
            done = manage(*args, env=shell)
            assert done.returncode == 0, done.stderr
            assert recorded(demo_console) == before, args
        done = manage("restore", "1", "--into", "bc_shell_restore", env=shell)
        assert done.returncode == 0, done.stderr
        assert f"into {pg_cluster.host}:{pg_cluster.port}/bc_shell_restore in " in done.stdout
        assert "bc_shell_restore" in database_names(pg_cluster)
    assert recorded(demo_console) == before


def test_without_any_db_settings_a_command_never_rewrites_the_default_target(demo_console, pg_cluster, tmp_path):
    # No DB_* and no demo.env either: the recorded server is used as it is (here without its password).
    (tmp_path / "var" / "demo-pg" / "demo.env").unlink()
    shell = without_db_settings(demo_console)
    before = recorded(demo_console)
    with dropping(pg_cluster, "bc_bare_restore"):
        for args in (["backup"], ["verify", "--latest"], ["restore", "1", "--into", "bc_bare_restore"]):
            manage(*args, env=shell)
            assert recorded(demo_console) == before, args


@pytest.fixture
def elsewhere(demo_console, tmp_path):
    """A shell whose DB_* name the built-in defaults, while the record names the test cluster."""
    (tmp_path / "var" / "demo-pg" / "demo.env").unlink()
    return {**without_db_settings(demo_console), **BUILT_IN, "DB_PASSWORD": "not-this-one"}


def test_other_db_settings_refuse_restores_backups_drills_and_pruning_and_change_nothing(
        demo_console, elsewhere, pg_cluster, pagila, tmp_path):
    assert manage("backup", env=demo_console).returncode == 0  # #2: #1 is no longer the newest
    before = recorded(demo_console)
    here = f"{pg_cluster.host}:{pg_cluster.port}/{pagila}"
    assert manage("migrate", "-v0", env=elsewhere).returncode == 0  # start-up does not rewrite it either
    assert recorded(demo_console) == before
    databases = database_names(pg_cluster)

    refused = one_line(manage("restore", "1", "--into", "bc_elsewhere", env=elsewhere))
    assert "restore refused: " in refused and here in refused and "localhost:5432/trading_system" in refused
    assert "default_target --adopt-environment" in refused
    assert console_rows(demo_console, "SELECT count(*) FROM backups_app_restorerecord") == [(0,)]

    refused = one_line(manage("backup", env=elsewhere))
    assert here in refused and "localhost:5432/trading_system" in refused
    assert console_rows(demo_console, "SELECT count(*) FROM backups_app_backuprecord WHERE status = 'succeeded'") \
        == [(2,)]

    refused = one_line(manage("verify", "1", "--drill", env=elsewhere))
    assert here in refused
    assert console_rows(demo_console, "SELECT last_verify_ok FROM backups_app_backuprecord WHERE id = 1") == [(None,)]

    path = tmp_path / "console.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE backups_app_backuprecord SET created_at = '2001-01-01 00:00:00' WHERE id = 1")
    refused = one_line(manage("backup", "--cleanup", "--keep-days", "1", env=elsewhere))
    assert here in refused
    assert console_rows(demo_console, "SELECT status FROM backups_app_backuprecord WHERE id = 1") == [("succeeded",)]

    # Reading goes on, and says which server the backup came from.
    verified = manage("verify", "1", env=elsewhere)
    assert verified.returncode == 0, verified.stderr
    assert here in verified.stdout and "localhost:5432/trading_system" in verified.stderr
    assert manage("backup", "--list", env=elsewhere).returncode == 0

    assert recorded(demo_console) == before
    assert database_names(pg_cluster) == databases


def test_the_operator_says_which_is_right_and_then_the_other_side_is_refused(demo_console, elsewhere, pg_cluster):
    adopted = manage("default_target", "--adopt-environment", env=elsewhere)
    assert adopted.returncode == 0, adopted.stderr
    assert "localhost:5432/trading_system" in adopted.stdout
    assert recorded(demo_console) == [("localhost", 5432, "trading_system", "postgres")]

    refused = one_line(manage("restore", "1", "--into", "bc_after_adopt", env=demo_console))
    assert "localhost:5432/trading_system" in refused

    assert manage("default_target", "--adopt-environment", env=demo_console).returncode == 0
    with dropping(pg_cluster, "bc_after_adopt"):
        done = manage("restore", "1", "--into", "bc_after_adopt", env=demo_console)
        assert done.returncode == 0, done.stderr
        assert "bc_after_adopt" in database_names(pg_cluster)
