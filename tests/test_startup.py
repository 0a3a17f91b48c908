"""How the commands cron runs start: quickly, and without leaving anything switched off for long-running ones."""

from tests import console_process


def test_the_operational_commands_start_without_the_admin(pg_cluster, tmp_path):
    """Cron runs them often: the admin's modules (and the URL checks that would load them) stay out."""
    env = console_process.console_env(tmp_path, pg_cluster, "postgres")
    console_process.manage("migrate", "-v0", env=env)
    # Python lists every module it imports on stderr: the real command, system checks included.
    done = console_process.manage("backup", "--list", env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr
    assert "| backups_app.models" in done.stderr  # the listing is there
    assert "backups_app.admin" not in done.stderr


def test_manage_py_turns_the_collector_back_on_once_the_apps_are_loaded(pg_cluster, tmp_path):
    """manage.py pauses garbage collection for the start-up only: a worker or web server must collect."""
    env = console_process.console_env(tmp_path, pg_cluster, "postgres")
    done = console_process.manage("shell", "-c", "import gc; print(gc.isenabled(), gc.get_freeze_count() > 0)", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True True"
