"""kill -9 at each step of a deduplicated directory backup, and of a prune: the next command cleans up and says so.

Each test runs a console of its own as a separate process (tests/console_process.py) that SIGKILLs itself
at the step under test, then checks, with the next command, that every kept backup is whole and restores
and that the store holds nothing no backup uses. The steps: pg_dump done and the manifest not yet
written ("dumped"), the manifest written, halfway through linking, everything linked and the folder not
yet published; and a prune between removing a folder and sweeping the store. A kill while pg_dump itself
runs is tests/test_backup_faults.py's (its directory backups are deduplicated too). tests/test_sealed_kill.py
does the same for encrypted directory backups with the helpers here.
"""

import subprocess
import time
from pathlib import Path

import pytest

from backups_app.services.storage import manifest
from tests import console_process
from tests.dbcompare import row_counts

pytestmark = pytest.mark.slow

# Run inside `manage.py shell`: patch one step to kill this very process, then run the command.
KILLED_AT = """
import os, signal
from django.core.management import call_command
from backups_app.services.backups import dump
from backups_app.services.retention import prune
from backups_app.services.storage import files, local_store, manifest

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

def after(real):
    return lambda *args, **kwargs: (real(*args, **kwargs), die())

added = []
def linking(real):
    def link(source, name):
        if added:  # new content is in the store, some files are linked, the others not yet
            die()
        real(source, name)
        if not str(name).endswith(".link"):
            added.append(name)
    return link

STEP
"""

STEPS = {
    "dumped": "manifest.write = die\ncall_command('backup', '--format', 'directory')",
    "manifest": "manifest.write = after(manifest.write)\ncall_command('backup', '--format', 'directory')",
    "linking": "local_store._link = linking(local_store._link)\ncall_command('backup', '--format', 'directory')",
    "publish": "files.publish_dir = die\ncall_command('backup', '--format', 'directory')",
}
PRUNE = """
from backups_app.models import BackupRecord
from django.utils import timezone
local_store.sweep_hashes = die
record = BackupRecord.objects.order_by('pk').first()
prune._prune_backup(record, reason={'pruned_reason': 'test', 'pruned_why': {}}, policy=None, now=timezone.now())
"""


SOURCE = "pagila_kill"


@pytest.fixture
def console(tmp_path, pg_cluster, pagila):
    yield prepared_console(tmp_path, pg_cluster, pagila)
    pg_cluster.dropdb(SOURCE)


def prepared_console(tmp_path, pg_cluster, pagila, *, setup=None, **extra) -> dict:
    """Two good backups (the second shares every data file with the first), then a change: the next backup
    has new content for the store (a table's file, and toc.dat). setup(env) runs after migrate."""
    pg_cluster.dropdb(SOURCE)
    pg_cluster.createdb(SOURCE, template=pagila)
    env = console_process.console_env(tmp_path, pg_cluster, SOURCE, **extra)
    assert console_process.manage("migrate", "-v0", env=env).returncode == 0
    if setup:
        setup(env)
    for second in range(2):
        if second:
            time.sleep(1.1)  # toc.dat holds pg_dump's start time in seconds: the two must differ
        made = console_process.manage("backup", "--format", "directory", env=env)
        assert made.returncode == 0, made.stderr
    pg_cluster.sql("INSERT INTO language (name) VALUES ('Esperanto')", dbname=SOURCE)
    return env


def root(env):
    return Path(env["BACKUP_ROOT"])


def store_files(env):
    return sorted(p for p in (root(env) / ".store").rglob("*") if p.is_file())


def content(store_file: Path) -> str:
    """The sha256 a manifest lists for a store file: its name, or in the keyed part its name's last part."""
    return store_file.name.rpartition(".")[2]


def killed(env, script):
    ran = console_process.manage("shell", "-c", KILLED_AT.replace("STEP", script), env=env)
    assert ran.returncode == -9, ran.stdout + ran.stderr


def kept_backups(env):
    return console_process.console_rows(env, "SELECT id, path FROM backups_app_backuprecord "
                                             "WHERE status = 'succeeded' ORDER BY id")


def assert_whole_and_tidy(env, pg_cluster, pagila, kept: int):
    """Every kept backup checks with sha256sum and restores with the rows it was made with (the first two:
    pagila's; later ones: the changed copy's)."""
    rows = {"before": row_counts(pg_cluster, pagila), "after": row_counts(pg_cluster, SOURCE)}
    backups = kept_backups(env)
    assert len(backups) == kept
    assert not list(root(env).glob("database/*/.*")), "no partial folder left"
    assert all(p.stat().st_nlink >= 2 for p in store_files(env)), "every store file is used by a backup"
    used = set()
    for pk, path in backups:
        folder = root(env) / path
        check = subprocess.run(["sha256sum", "--check", "--strict", "--quiet", manifest.NAME], cwd=folder,
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        used |= set(manifest.listed(folder).values())
        into = f"pagila_kill_{pk}"
        pg_cluster.dropdb(into)
        try:
            restored = console_process.manage("restore", str(pk), "--into", into, env=env)
            assert restored.returncode == 0, restored.stderr
            assert row_counts(pg_cluster, into) == rows["before" if pk <= 2 else "after"]
        finally:
            pg_cluster.dropdb(into)
    assert {content(p) for p in store_files(env)} == used


def partial_leftovers(env) -> list[Path]:
    """Store files whose other link is only in a partial folder (counted before that folder goes)."""
    partial = {(st.st_dev, st.st_ino) for p in root(env).glob("database/*/.*/*") if (st := p.stat())}
    return [p for p in store_files(env) if p.stat().st_nlink == 2 and (p.stat().st_dev, p.stat().st_ino) in partial]


@pytest.mark.parametrize("step", list(STEPS))
def test_a_backup_killed_at_each_step_leaves_every_kept_backup_whole_and_the_next_command_tidies(
        console, pg_cluster, pagila, step):
    killed(console, STEPS[step])
    leftovers = partial_leftovers(console)
    nxt = console_process.manage("backup", "--list", env=console)
    assert nxt.returncode == 0, nxt.stderr
    assert "ended failed: job lost" in nxt.stderr
    if step == "dumped":
        assert leftovers == [] and "store file" not in nxt.stderr
    else:
        assert "removed a leftover partial folder" in nxt.stderr or "removed its partial folder" in nxt.stderr
    # What the killed backup had added to the store is used by nobody once its folder is gone: removed, said.
    assert nxt.stderr.count("no backup uses it any more") == len(leftovers) == nxt.stderr.count("store file")
    if step in ("linking", "publish"):
        assert leftovers, "the changed table's file was new to the store"
    assert_whole_and_tidy(console, pg_cluster, pagila, kept=2)
    again = console_process.manage("backup", "--format", "directory", env=console)
    assert again.returncode == 0, again.stderr
    assert_whole_and_tidy(console, pg_cluster, pagila, kept=3)


def test_a_prune_killed_between_removing_the_folder_and_sweeping_the_store_is_finished_by_the_next_command(
        console, pg_cluster, pagila):
    prune_killed_then_finished(console, pg_cluster, pagila)


def prune_killed_then_finished(console, pg_cluster, pagila) -> str:
    """The first backup's prune killed before the sweep; the next command's stderr."""
    (first, first_path), _second = kept_backups(console)
    only_first = set(manifest.listed(root(console) / first_path).values()) - {
        content(p) for p in store_files(console) if p.stat().st_nlink > 2}
    killed(console, PRUNE)
    assert not (root(console) / first_path).exists()
    lonely = [p for p in store_files(console) if p.stat().st_nlink == 1]
    assert {content(p) for p in lonely} == only_first and lonely, "the first backup's own toc.dat"
    nxt = console_process.manage("backup", "--list", env=console)
    assert nxt.returncode == 0, nxt.stderr
    assert nxt.stderr.count("removed store file") == len(lonely)
    # Its record still says succeeded with its folder gone (not restorable: file missing) until a prune ends it.
    again = console_process.manage("shell", "-c", PRUNE.replace("local_store.sweep_hashes = die", "")
                                   .replace("from backups_app", "from backups_app.services.retention import prune\n"
                                            "from backups_app", 1), env=console)
    assert again.returncode == 0, again.stderr
    assert console_process.console_rows(console, "SELECT status FROM backups_app_backuprecord WHERE id = ?",
                                        (first,)) == [("pruned",)]
    assert_whole_and_tidy(console, pg_cluster, pagila, kept=1)
    return nxt.stderr
