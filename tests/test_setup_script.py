"""scripts/run-console.sh --no-serve, run for real: console database, admin user, demo PostgreSQL
cluster with sample FX data and one real backup, all in temporary folders (the repository's own
var/ and backups/ are left alone, and the running virtualenv is reused instead of a new one)."""

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.hashers import check_password

from backups_app.services.postgres import binaries

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "run-console.sh"
# A secret of the console's own environment: the programs it starts, the demo's server among them, never see it.
CONSOLE_SECRET = ("OFFSITE_SECRET", "offsite-secret-for-the-demo-3c9e1a")
CREATED = re.compile(r"Superuser admin created with password: ([A-Za-z0-9_-]+) \(")
BACKUP_LINE = re.compile(r"^(/\S+\.dump) \S+ \S+ in [\d.]+s$", re.MULTILINE)


@dataclass
class Setup:
    env: dict
    var_dir: Path
    backup_root: Path
    demo_dir: Path
    first: subprocess.CompletedProcess

    def run(self, *args, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(SCRIPT), *args], env={**self.env, **(env or {})}, cwd=REPO, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=600)

    def demo_settings(self) -> dict:
        lines = (self.demo_dir / "demo.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))

    def admin_row(self):
        # closing(): a connection left to the garbage collector removes the WAL files at a random moment.
        with closing(sqlite3.connect(self.var_dir / "console.sqlite3")) as db:
            return db.execute(
                "SELECT password, is_superuser, is_staff, is_active FROM auth_user WHERE username = 'admin'"
            ).fetchone()


def _clean_env(base: Path, demo_dir: Path) -> dict:
    # Nothing of the caller's own database settings may leak into the run.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "PG")) and k not in ("DATABASE_URL", "REDIS_URL")}
    var = base / "var"
    env.update(VENV_DIR=sys.prefix, VAR_DIR=str(var), BACKUP_ROOT=str(base / "backups"),
               DEMO_PG_DIR=str(demo_dir), DATABASE_URL=f"sqlite:///{var / 'console.sqlite3'}",
               LANGUAGE_CODE="en", CI="true")
    env[CONSOLE_SECRET[0]] = CONSOLE_SECRET[1]
    return env


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    if sys.prefix == sys.base_prefix:
        pytest.skip("run the tests inside a virtualenv: the script reuses it through VENV_DIR")
    base = tmp_path_factory.mktemp("console")
    # When the tests run as root the demo server runs as postgres, which cannot enter pytest's
    # private temporary folders; this one it may pass through (0711).
    outer = Path(tempfile.mkdtemp(prefix="bc-demo-"))
    outer.chmod(0o711)
    env = _clean_env(base, outer / "demo-pg")
    s = Setup(env=env, var_dir=base / "var", backup_root=base / "backups", demo_dir=outer / "demo-pg", first=None)
    try:
        # --demo: use the demo cluster even when the repository's own .env names a database.
        s.first = s.run("--no-serve", "--demo")
        yield s
    finally:
        s.run("--stop-demo")
        shutil.rmtree(outer, ignore_errors=True)


def test_it_sets_up_everything_and_exits_zero(setup):
    assert setup.first.returncode == 0, setup.first.stdout + setup.first.stderr
    # --no-serve serves nothing, so it names no address to open; it says how to serve.
    assert "Backup Console is set up (not serving: --no-serve)." in setup.first.stdout
    assert "Serve it:  ./scripts/run-console.sh  (then http://127.0.0.1:8000/admin/)" in setup.first.stdout
    assert "URL:" not in setup.first.stdout
    assert "4 roles ready (0 new, 0 corrected, 4 already right)" in setup.first.stdout  # made by the migration


def test_its_lines_are_english_when_the_console_speaks_japanese(setup):
    again = setup.run("--no-serve", "--demo", env={"LANGUAGE_CODE": "ja"})
    assert again.returncode == 0, again.stderr
    assert "Superuser admin exists; its password is unchanged" in again.stdout
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", again.stdout + again.stderr), again.stdout


def test_its_first_backup_is_a_private_dump_of_the_sample_data(setup):
    found = BACKUP_LINE.findall(setup.first.stdout)
    assert len(found) == 1, setup.first.stdout
    path = Path(found[0])
    assert path.parent == setup.backup_root / "database" / "manual"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    reader = binaries.pg_restore_for(path).path  # the pg_dump the console chose may be newer than PATH's
    listing = subprocess.run([reader, "--list", str(path)], capture_output=True, text=True, check=True).stdout
    assert "TABLE DATA public fx_ticks" in listing
    assert "TABLE DATA public analysis_results" in listing
    log = (setup.backup_root / "database" / "backup_log.txt").read_text()
    assert "result=succeeded" in log


def test_the_printed_admin_password_logs_in(setup):
    passwords = CREATED.findall(setup.first.stdout)
    assert len(passwords) == 1, setup.first.stdout
    encoded, is_superuser, is_staff, is_active = setup.admin_row()
    assert (is_superuser, is_staff, is_active) == (1, 1, 1)
    assert check_password(passwords[0], encoded)
    assert not check_password(passwords[0] + "x", encoded)
    kept = setup.var_dir / "admin-password"
    assert kept.read_text().strip() == passwords[0]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_the_console_folder_and_its_files_are_private(setup):
    assert stat.S_IMODE(setup.var_dir.stat().st_mode) == 0o700
    for name in ("console.sqlite3", "secret_key", "admin-password"):
        assert stat.S_IMODE((setup.var_dir / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((setup.demo_dir / "demo.env").stat().st_mode) == 0o600


def _files_under(folder: Path):
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield path


def test_the_database_password_appears_in_no_output_log_or_record(setup):
    password = setup.demo_settings()["DB_PASSWORD"]
    assert len(password) >= 20
    # Compared as booleans so that a failure does not print the password itself.
    leaked = password in setup.first.stdout + setup.first.stderr
    assert not leaked
    server_log = Path(setup.demo_settings()["DEMO_PG_DATA"]).parent / "server.log"
    assert server_log.exists()
    # The console's database, its logs and the backups themselves included.
    for path in [server_log, *_files_under(setup.var_dir), *_files_under(setup.backup_root)]:
        leaked = password.encode() in path.read_bytes()
        assert not leaked, path


def test_the_demo_server_gets_none_of_the_consoles_environment(setup):
    data_dir = Path(setup.demo_settings()["DEMO_PG_DATA"])
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    environ = Path(f"/proc/{postmaster}/environ").read_bytes()
    names = {item.split(b"=", 1)[0].decode() for item in environ.split(b"\0") if b"=" in item}
    assert CONSOLE_SECRET[1].encode() not in environ
    assert not names & {CONSOLE_SECRET[0], "SECRET_KEY", "DATABASE_URL", "VAR_DIR", "BACKUP_ROOT"}, names


def test_a_second_run_keeps_the_admin_password_and_backs_up_again(setup):
    first_password = CREATED.findall(setup.first.stdout)[0]
    again = setup.run("--no-serve", "--demo")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Superuser admin exists; its password is unchanged" in again.stdout
    assert not CREATED.search(again.stdout)
    assert check_password(first_password, setup.admin_row()[0])
    leaked = setup.demo_settings()["DB_PASSWORD"] in again.stdout + again.stderr
    assert not leaked
    second = Path(BACKUP_LINE.findall(again.stdout)[0])
    assert second.exists() and second != Path(BACKUP_LINE.findall(setup.first.stdout)[0])


def test_the_demo_keeps_its_write_ahead_log_small(setup):
    data_dir = Path(setup.demo_settings()["DEMO_PG_DATA"])
    assert "max_wal_size = 64MB" in (data_dir / "demo_port.conf").read_text()


def test_stop_demo_stops_the_server_it_started(setup):
    data_dir = Path(setup.demo_settings()["DEMO_PG_DATA"])
    assert (data_dir / "postmaster.pid").exists()
    stopped = setup.run("--stop-demo")
    assert stopped.returncode == 0, stopped.stderr
    assert "Demo PostgreSQL stopped" in stopped.stdout
    assert not (data_dir / "postmaster.pid").exists()


def test_remove_demo_deletes_the_cluster_and_its_data_wherever_it_lives(setup):
    data_dir = Path(setup.demo_settings()["DEMO_PG_DATA"])
    removed = setup.run("--remove-demo")
    assert removed.returncode == 0, removed.stderr
    assert "Demo PostgreSQL removed:" in removed.stdout
    assert not data_dir.exists() and not setup.demo_dir.exists()
