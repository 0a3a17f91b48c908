"""How the commands cron runs start: quickly, and without leaving anything switched off for long-running ones."""

import subprocess
import sys
from pathlib import Path

from tests import faultkit

PROJECT = Path(__file__).resolve().parents[1]


def run_python(env: dict, script: str) -> str:
    env = {**env, "DJANGO_SETTINGS_MODULE": "backupconsole.settings"}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_the_operational_commands_start_without_the_admin(pg_cluster, tmp_path):
    """Cron runs them often: the admin's modules (and the URL checks that would load them) stay out."""
    env = faultkit.console_env(tmp_path, pg_cluster, "postgres")
    faultkit.manage("migrate", "-v0", env=env)
    loaded = run_python(env, "import sys, django; django.setup(); from django.core.management import call_command; "
                             "call_command('backup', '--list'); "
                             "print(sorted(m for m in sys.modules if m.startswith('backups_app.admin')))")
    assert loaded == "[]"


def test_manage_py_turns_the_collector_back_on_once_the_apps_are_loaded(pg_cluster, tmp_path):
    """manage.py pauses garbage collection for the start-up only: a worker or web server must collect."""
    env = faultkit.console_env(tmp_path, pg_cluster, "postgres")
    done = faultkit.manage("shell", "-c", "import gc; print(gc.isenabled(), gc.get_freeze_count() > 0)", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True True"
