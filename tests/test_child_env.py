"""Programs the console starts get only the variables they need, never the console's whole environment.

Each program is run through a wrapper that keeps the environment it was
started with (/proc/PID/environ, as the kernel gave it) and then becomes the
real program: the PostgreSQL clients through PG_BIN_DIR, gzip and age
through PATH. The console's own secrets are planted in its environment; a
backup of each kind, restores, a verification with a drill and an encrypted
backup then run, and every environment kept must hold only what the
program needs: PATH, HOME, locale, TZ, TMPDIR, and for the PostgreSQL
programs the PG* connection variables (never PGPASSWORD or another target's).
"""

import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.pgcluster import wheel_bin_dir
from tests.restore_helpers import dropping, make_backup, run_restore, run_verify

pytest_plugins = ["tests.age_fixtures"]
pytestmark = pytest.mark.django_db

SECRETS = {
    "OFFSITE_SECRET": "offsite-secret-7f3a9c",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-5d1e8b",
    "METRICS_TOKEN": "metrics-token-2c6f4a",
    "EMAIL_HOST_PASSWORD": "smtp-password-9b7d3e",
    "ALERT_WEBHOOK_URL": "https://hook-user:hook-pass-4e2a@hooks.example/alerts",
    "BACKUP_PG_PASSWORD_OTHER": "other-target-password-1a8c5f",
}
BASE = {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR"}
NEVER = {"PGPASSWORD", "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE"}
CLIENTS = ("pg_dump", "pg_dumpall", "pg_restore", "psql")
OTHERS = ("gzip", "age")


def wrap(folder: Path, name: str, real: str, kept: Path) -> None:
    script = folder / name
    script.write_text(f'#!/bin/sh\n/bin/cat /proc/$$/environ > "{kept}/{name}.$$"\nexec "{real}" "$@"\n')
    script.chmod(stat.S_IRWXU)


@pytest.fixture
def kept_environments(tmp_path, settings, monkeypatch):
    """Every program the console starts leaves its starting environment in the returned folder."""
    kept, clients, others = tmp_path / "environments", tmp_path / "clients", tmp_path / "others"
    for folder in (kept, clients, others):
        folder.mkdir()
    for name in CLIENTS:
        wrap(clients, name, os.path.join(wheel_bin_dir(), name), kept)
    for name in OTHERS:
        wrap(others, name, shutil.which(name), kept)
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = str(clients), True
    monkeypatch.setenv("PATH", f"{others}:{os.environ['PATH']}")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return kept


def environments(folder: Path) -> dict[str, dict[str, str]]:
    found = {}
    for path in sorted(folder.iterdir()):
        items = [item.split("=", 1) for item in path.read_text().split("\0") if "=" in item]
        found[path.name] = dict(items)
    return found


def what_is_wrong(name: str, env: dict) -> list[str]:
    program = name.split(".")[0]
    wrong = [f"{name}: {k} holds the console's {v}" for k, value in env.items()
             for v, secret in SECRETS.items() if secret in value]
    for key in env:
        if key in BASE or key.startswith("LC_"):
            continue
        if program in CLIENTS and key.startswith("PG") and key not in NEVER:
            continue
        wrong.append(f"{name}: {key}")
    return wrong


def test_no_program_gets_more_than_it_needs(kept_environments, make_target, pagila, pg_cluster, age_key):
    target = make_target(pagila)
    custom, sql = make_backup(target, "custom"), make_backup(target, "sql")
    with dropping(pg_cluster, "bc_env_custom", "bc_env_sql"):
        for backup, into in ((custom, "bc_env_custom"), (sql, "bc_env_sql")):
            assert run_restore(backup, into).status == "succeeded"
    assert run_verify(custom, drill=True).status == "succeeded"
    sealed = make_backup(make_target(pagila, name="pagila-sealed", encrypt=True, age_recipients=age_key[1]))
    assert run_verify(sealed).status == "succeeded"

    kept = environments(kept_environments)
    started = {name.split(".")[0] for name in kept}
    assert started >= {*CLIENTS, *OTHERS}, f"some programs never ran: the test proves less than it says ({started})"
    wrong = {name.split(".")[0]: problems for name, env in kept.items() if (problems := what_is_wrong(name, env))}
    assert wrong == {}, "\n".join(f"{program}: {', '.join(p.split(': ', 1)[1] for p in problems)}"
                                   for program, problems in sorted(wrong.items()))
