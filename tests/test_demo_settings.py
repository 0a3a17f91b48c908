"""The demo cluster's settings (VAR_DIR/demo-pg/demo.env) are found by every command run from the checkout.

Real console processes with no DB_* in their environment, as in a new shell
after scripts/run-console.sh; the demo.env here names the test cluster.
"""

import pytest

from tests.console_process import console_env, console_rows, manage, without_db_settings, write_demo_env

pytestmark = pytest.mark.slow

SHOW = "from django.conf import settings as s; print(s.DB_HOST, s.DB_PORT, s.DB_NAME, s.DB_SETTINGS_FILE)"


@pytest.fixture
def demo_env(pg_cluster, pagila, tmp_path):
    """The console's demo folder, naming the test cluster's pagila."""
    return write_demo_env(tmp_path / "var" / "demo-pg", pg_cluster, pagila)


@pytest.fixture
def shell(demo_env, pg_cluster, pagila, tmp_path):
    """A new shell's environment on that console."""
    return without_db_settings(console_env(tmp_path, pg_cluster, pagila))


def test_a_new_shell_backs_up_the_demo_server(shell, pg_cluster, pagila):
    assert manage("migrate", "-v0", env=shell).returncode == 0
    done = manage("backup", env=shell)
    assert done.returncode == 0, done.stderr
    assert console_rows(shell, "SELECT host, port, dbname FROM backups_app_databasetarget WHERE name = 'default'") \
        == [(pg_cluster.host, pg_cluster.port, pagila)]


def test_db_settings_of_the_environment_win_over_demo_env_as_one_group(shell, demo_env, pg_cluster, pagila):
    from_demo = manage("shell", "-v0", "-c", SHOW, env=shell)
    assert from_demo.stdout.split() == [pg_cluster.host, str(pg_cluster.port), pagila, str(demo_env)], \
        from_demo.stderr
    # One DB_* in the environment: none of demo.env's (never the demo's host with another database's name).
    one_set = manage("shell", "-v0", "-c", SHOW, env={**shell, "DB_NAME": "bc_other"})
    assert one_set.stdout.split() == ["localhost", "5432", "bc_other", "None"], one_set.stderr


def test_a_folder_named_by_demo_pg_dir_is_read_instead(shell, pg_cluster, tmp_path):
    moved = tmp_path / "elsewhere" / "demo"
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    write_demo_env(moved, pg_cluster, "bc_moved")
    done = manage("shell", "-v0", "-c", SHOW, env={**shell, "DEMO_PG_DIR": str(moved)})
    assert done.stdout.split()[2:] == ["bc_moved", str(moved / "demo.env")], done.stderr
