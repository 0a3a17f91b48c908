"""How the commands cron runs start: quickly, and without leaving anything switched off for long-running ones."""

import os
import stat

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


def fresh_machine_env(tmp_path, var_dir) -> dict:
    """The environment of a first start: the console's database is the default SQLite file in VAR_DIR."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    return {**env, "VAR_DIR": str(var_dir), "SECRET_KEY": "k" * 50, "BACKUP_ROOT": str(tmp_path / "backups")}


def test_migrate_on_a_fresh_machine_makes_var_dir(tmp_path):
    var = tmp_path / "not" / "yet" / "var"
    done = console_process.manage("migrate", "-v0", env=fresh_machine_env(tmp_path, var))
    assert done.returncode == 0, done.stderr
    assert (var / "console.sqlite3").is_file()
    assert stat.S_IMODE(var.stat().st_mode) == 0o700


def test_a_var_dir_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    var = tmp_path / "a-file" / "var"
    done = console_process.manage("migrate", "-v0", env=fresh_machine_env(tmp_path, var))
    assert done.returncode == 1
    assert done.stderr == (f"The console database's folder {var} cannot be made: Not a directory. "
                           "Set VAR_DIR (or DATABASE_URL) to a folder this user can make.\n")


def test_ensure_admin_before_the_database_is_migrated_waits_for_it_or_says_so_in_one_line(tmp_path):
    """A container's web role migrates as it starts; `ensure_admin` run right after `docker run` waits for it."""
    env = fresh_machine_env(tmp_path, tmp_path / "var")
    refused = console_process.manage("ensure_admin", "--wait", "0", env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "CommandError: the console database is not migrated after 0 s: start the web role, which migrates, "
        "or run: python manage.py migrate"], refused.stderr

    waiting = console_process.start_manage("ensure_admin", "--wait", "120", env=env)
    migrate = console_process.manage("migrate", "-v0", env=env)  # as the web role does, while it waits
    assert migrate.returncode == 0, migrate.stderr
    out, err = waiting.communicate(timeout=150)
    assert waiting.returncode == 0, err
    assert "Superuser admin created with password: " in out
    assert (tmp_path / "var" / "admin-password").is_file()
