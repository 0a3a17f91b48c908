"""The console's own files (database, secret key) are its owner's alone, whatever umask started it."""

import os
import shutil
import subprocess
import tempfile
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.pgcluster import free_port
from tests.qcluster import Console

as_another_user = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"),
                                     reason="needs root to read files as another OS user (runuser -u nobody)")


@contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def open_console():
    """A console whose folder every local user may enter (unlike pytest's 0700 tmp_path), started under umask 022.

    Its database is the default one under VAR_DIR and its secret key is generated, as on a fresh install.
    """
    base = Path(tempfile.mkdtemp(prefix="bc-private-", dir="/tmp"))
    base.chmod(0o755)
    var = base / "var"
    with umask(0o022):
        console = Console(base, env={"DATABASE_URL": f"sqlite:///{var / 'console.sqlite3'}"})
        console.env.pop("SECRET_KEY")
        console.var = var
        yield console
        console.close()
    shutil.rmtree(base, ignore_errors=True)


def readable_by_nobody(path: Path) -> bool:
    cmd = ["cat", str(path)] if path.is_file() else ["ls", str(path)]
    return subprocess.run(["runuser", "-u", "nobody", "--", *cmd], capture_output=True).returncode == 0


@pytest.mark.slow
@as_another_user
def test_another_user_cannot_read_what_migrate_and_runconsole_made(open_console):
    console, var = open_console, open_console.var
    console.migrate()
    port = free_port()
    console.start_runconsole(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
        assert response.status == 200
    db = var / "console.sqlite3"
    console.wait(lambda: Path(f"{db}-wal").exists() and Path(f"{db}-shm").exists(), timeout=30,
                 what="the running console to open its database in WAL mode")

    made = [var, var / "secret_key", db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in made} == {
        "var": "0o700", "secret_key": "0o600", "console.sqlite3": "0o600",
        "console.sqlite3-wal": "0o600", "console.sqlite3-shm": "0o600"}
    assert readable_by_nobody(console.base), "the test itself is wrong: nobody must reach the folder"
    assert [p for p in made if readable_by_nobody(p)] == []


def test_check_fails_when_the_database_is_open_to_others(open_console):
    console, db = open_console, open_console.var / "console.sqlite3"
    console.migrate()
    assert console.manage("check", check=False).returncode == 0

    db.chmod(0o644)
    result = console.manage("check", check=False)
    assert result.returncode != 0
    assert f"backups.E008) {db} is open to other users (mode 0644)" in result.stderr


def test_check_fails_when_var_dir_is_open_to_others(open_console):
    console, var = open_console, open_console.var
    console.migrate()
    var.chmod(0o755)
    result = console.manage("check", check=False)
    assert result.returncode != 0
    assert f"{var} is open to other users (mode 0755)" in result.stderr
    assert f"chmod 700 {var}" in result.stderr
