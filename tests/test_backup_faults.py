"""A backup that cannot be made ends `failed`, says why in one line, leaves no file, and the next one works.

Tests that stop, crash or fill up things use their own throwaway cluster or
their own mounts; the session's server is left alone.
"""

import os
import signal
import stat
import subprocess
import time

import pytest

from backups_app.models import BackupRecord, DatabaseTarget
from backups_app.services.backups import dump
from backups_app.services.postgres.proc import Ran
from backups_app.services.storage import layout, local_store
from tests import as_user, console_process, faultkit
from tests.conftest import PASSWORD_ENV
from tests.pgcluster import Cluster

pytestmark = pytest.mark.django_db

OWN_PASSWORD_ENV = "BACKUP_PG_PASSWORD_FAULTS"
TICK_ROWS = 400_000  # about 45 MB on disk: pg_dump needs a second or so for it


@pytest.fixture(scope="module")
def own_cluster():
    """A server these tests may stop and crash, holding one big FX tick table."""
    if os.environ.get("TEST_PG_DSN"):
        pytest.skip("needs a server of its own to stop and crash (TEST_PG_DSN is set)")
    cluster = Cluster().init().start()
    faultkit.make_ticks_db(cluster, "fx", TICK_ROWS)
    yield cluster
    cluster.destroy()


@pytest.fixture
def fx_target(own_cluster, monkeypatch):
    """The big database on the server we may break; started again if a test left it down."""
    if not _accepting(own_cluster):
        start_again(own_cluster)
    monkeypatch.setenv(OWN_PASSWORD_ENV, own_cluster.password)
    return DatabaseTarget.objects.create(
        name="fx", host=own_cluster.host, port=own_cluster.port, user=own_cluster.user, dbname="fx",
        password_source="env", password_env=OWN_PASSWORD_ENV,
    )


def start_again(cluster) -> None:
    """Start the server after a stop or a crash; its log explains a failure."""
    try:
        cluster.start()
    except subprocess.CalledProcessError as exc:
        log = cluster.logfile.read_text()[-2000:] if cluster.logfile.exists() else ""
        raise AssertionError(f"the test server did not start again: {exc.stdout!r} {exc.stderr!r}\n{log}")


def _accepting(cluster) -> bool:
    try:
        cluster.sql("SELECT 1")
        return True
    except Exception:
        return False


def backup(target, fmt="custom", backup_type="manual") -> BackupRecord:
    record = dump.backup_create(target=target, backup_type=backup_type, fmt=fmt, started_by="test")
    return dump.backup_execute(record_id=record.pk)


def files_under(root) -> list:
    """Every file below BACKUP_ROOT except the attempt log and the store (second names of backups' files)."""
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "backup_log.txt"
                  and local_store.STORE_DIR not in p.relative_to(root).parts)


def backups_under(root) -> list:
    """The backup files below BACKUP_ROOT, without the roles/tablespaces file a backup may keep beside it."""
    return [p for p in files_under(root) if not p.name.endswith(".globals.sql")]


def assert_failed_cleanly(record, root, *words):
    record.refresh_from_db()
    assert record.status == "failed"
    assert record.error and "\n" not in record.error, record.error
    for word in words:
        assert word in record.error, record.error
    assert not record.path and record.size_bytes is None and not record.sha256
    assert files_under(root) == [], "no file under a final name and no temporary file"
    assert not [p for p in (root / local_store.STORE_DIR).rglob("*") if p.is_file()], "nothing left in the store"
    assert not list(root.glob("database/*/*.dir")) and not list(root.glob("database/*/.*partial*")), \
        "no folder under a final name and no temporary folder"
    assert record.finished_at and record.duration_seconds is not None


def assert_next_backup_works(target, root, fmt="custom"):
    record = backup(target, fmt)
    assert record.status == "succeeded", record.error
    if fmt == "directory":
        assert [p for p in root.glob("database/*/*") if p.is_dir()] == [record.absolute_path]
        assert not list(root.glob("database/*/.*partial*"))
        # The store names this backup's files and nothing else: nothing of the failed attempt is left there.
        kept = [p for p in (root / local_store.STORE_DIR).rglob("*") if p.is_file()]
        assert kept and all(p.stat().st_nlink == 2 for p in kept)
    else:
        assert backups_under(root) == [record.absolute_path]
    assert all(p.name.startswith(record.absolute_path.name) for p in files_under(root)
               if p.parent != record.absolute_path)
    return record


def test_a_wrong_password_fails_with_the_servers_words(pg_cluster, pagila, make_target, backup_root, monkeypatch):
    target = make_target(pagila)
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    record = backup(target)
    assert_failed_cleanly(record, backup_root, "password authentication failed", "check the password")
    monkeypatch.setenv(PASSWORD_ENV, pg_cluster.password)
    assert_next_backup_works(target, backup_root)


def test_a_server_that_is_down_fails_with_connection_refused(own_cluster, fx_target, backup_root):
    own_cluster.stop()
    try:
        record = backup(fx_target)
    finally:
        start_again(own_cluster)
    assert_failed_cleanly(record, backup_root, "Connection refused", "check that the server runs")
    assert_next_backup_works(fx_target, backup_root)


SERVER_ENDINGS = {
    # How the server goes away. pg_dump may or may not read the server's last
    # words before the socket closes, so its message is one of these.
    "fast shutdown": lambda c: c.stop("fast"),
    "crash": faultkit.crash_cluster,
}
SERVER_GONE = ("terminating connection due to administrator command", "server closed the connection unexpectedly",
               "SSL SYSCALL error: EOF detected")  # the same, said over TLS (the test clusters offer it)


@pytest.mark.slow
@pytest.mark.parametrize("ending", SERVER_ENDINGS)
@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_a_server_stopped_in_the_middle_of_a_dump_leaves_no_file(own_cluster, fx_target, backup_root, fmt, ending):
    stop = SERVER_ENDINGS[ending]
    saboteur = faultkit.Saboteur(when=faultkit.partial_growing(backup_root), act=lambda: stop(own_cluster))
    record = backup(fx_target, fmt)
    saboteur.done()
    assert_failed_cleanly(record, backup_root, 'pg_dump: error: Dumping the contents of table "ticks" failed')
    assert any(words in record.error for words in SERVER_GONE), record.error
    start_again(own_cluster)
    assert_next_backup_works(fx_target, backup_root, fmt)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["custom", "sql", "directory"])
def test_a_killed_pg_dump_leaves_no_file(own_cluster, fx_target, backup_root, fmt):
    def kill_pg_dump():
        os.kill(faultkit.find_running("pg_dump"), signal.SIGKILL)

    saboteur = faultkit.Saboteur(when=lambda: faultkit.partial_growing(backup_root)()
                                 and faultkit.find_running("pg_dump"), act=kill_pg_dump)
    record = backup(fx_target, fmt)
    saboteur.done()
    assert_failed_cleanly(record, backup_root, "pg_dump was killed by signal 9 (SIGKILL)")
    assert_next_backup_works(fx_target, backup_root, fmt)


@pytest.mark.slow
@pytest.mark.parametrize("fmt,sig", [("custom", signal.SIGTERM), ("sql", signal.SIGINT)],
                         ids=["custom-SIGTERM", "sql-SIGINT"])
def test_a_backup_command_stopped_by_a_signal_cleans_up(own_cluster, tmp_path, fmt, sig):
    if not _accepting(own_cluster):
        start_again(own_cluster)
    env = console_process.console_env(tmp_path, own_cluster, "fx")
    assert console_process.manage("migrate", "-v0", env=env).returncode == 0
    root = tmp_path / "backups"
    proc = console_process.start_manage("backup", "--format", fmt, env=env)
    saboteur = faultkit.Saboteur(when=faultkit.partial_growing(root), act=lambda: proc.send_signal(sig))
    out, err = proc.communicate(timeout=120)
    saboteur.done()

    assert proc.returncode == 1
    assert err.strip().count("\n") == 0, err
    assert f"backup interrupted by {sig.name}" in err
    assert files_under(root) == []
    assert faultkit.running_with_args("--port", str(own_cluster.port)) == [], "no pg_dump left running"
    (status, error), = console_process.console_rows(env, "SELECT status, error FROM backups_app_backuprecord")
    assert status == "failed" and error == f"backup interrupted by {sig.name}"
    assert console_process.console_rows(env, "SELECT lock_holder FROM backups_app_databasetarget") == [("",)]

    again = console_process.manage("backup", "--format", fmt, env=env)
    assert again.returncode == 0, again.stderr
    assert len(backups_under(root)) == 1


@pytest.mark.slow
def test_a_sigkilled_directory_backup_command_leaves_no_folder_and_the_reaper_removes_its_partial(
    own_cluster, tmp_path
):
    if not _accepting(own_cluster):
        start_again(own_cluster)
    env = console_process.console_env(tmp_path, own_cluster, "fx", JOB_HEARTBEAT_SECONDS=1,
                                       JOB_LOST_AFTER_SECONDS=3)
    assert console_process.manage("migrate", "-v0", env=env).returncode == 0
    root = tmp_path / "backups"
    proc = console_process.start_manage("backup", "--format", "directory", "--jobs", "2", env=env)
    saboteur = faultkit.Saboteur(when=faultkit.partial_growing(root), act=proc.kill)
    proc.communicate(timeout=120)
    saboteur.done()
    assert proc.returncode == -signal.SIGKILL
    # pg_dump dies with the command; a worker it forked may finish its table first.
    faultkit.wait_for(lambda: not faultkit.running_with_args("--port", str(own_cluster.port)), timeout=60,
                      what="pg_dump and its workers to end")

    assert not list(root.glob("database/*/*.dir")), "no folder under a final name"
    partial, = root.glob("database/manual/.*.dir.partial-1")
    assert partial.is_dir()
    time.sleep(4)  # the killed backup's heartbeat goes stale (JOB_LOST_AFTER_SECONDS=3)
    reaper = console_process.manage("shell", "-c", "from backups_app.services.jobs import reaper; "
                                    "print(reaper.reap_once())", env=env)
    assert reaper.stdout.strip().splitlines()[-1] == "1", reaper.stdout + reaper.stderr
    assert not partial.exists() and list(root.glob("database/*/.*")) == []
    (status, error), = console_process.console_rows(env, "SELECT status, error FROM backups_app_backuprecord")
    assert status == "failed" and "job lost" in error

    again = console_process.manage("backup", "--format", "directory", env=env)
    assert again.returncode == 0, again.stderr
    assert len([p for p in root.glob("database/manual/*.dir") if p.is_dir()]) == 1


def stand_in_pg_dump(folder, version: str):
    """A stand-in for an old pg_dump: it only answers --version (no such old binary is installed here)."""
    folder.mkdir(exist_ok=True)
    script = folder / "pg_dump"
    script.write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {version}'\n")
    script.chmod(0o755)
    return folder


def test_a_missing_pg_dump_fails_before_dumping(pagila, make_target, backup_root, settings, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = str(empty), True
    target = make_target(pagila)
    record = backup(target)
    assert_failed_cleanly(record, backup_root, "no pg_dump can work with this server, PostgreSQL 15",
                          f"found none (searched only PG_BIN_DIR={empty})")
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = "", False
    assert_next_backup_works(target, backup_root)


def test_a_pg_dump_older_than_the_server_is_refused(pagila, make_target, backup_root, settings, tmp_path):
    old = stand_in_pg_dump(tmp_path / "pg14-bin", "14.11")
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = str(old), True
    target = make_target(pagila)
    record = backup(target)
    assert_failed_cleanly(record, backup_root, "PostgreSQL 15.", "needs pg_dump 15 or newer",
                          f"found 14.11 ({old}/pg_dump)")
    assert record.pg_dump_version == ""
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = "", False
    assert_next_backup_works(target, backup_root)


def _read_only_mount(root):
    return faultkit.read_only(root)


def _immutable_folder(root):
    return faultkit.immutable(root / "database" / "manual")


class _FileInTheWay:
    def __init__(self, root):
        self.folder = root / "database" / "manual"

    def __enter__(self):
        self.folder.rmdir()
        self.folder.write_text("not a folder")

    def __exit__(self, *exc):
        self.folder.unlink()


class _NoWritePermission:
    def __init__(self, root):
        self.folder = root / "database" / "manual"

    def __enter__(self):
        self.folder.chmod(0o500)

    def __exit__(self, *exc):
        self.folder.chmod(0o700)


UNWRITABLE = {
    # way: (context manager, words in the error, needs root, refused by root's powers)
    "read-only mount": (_read_only_mount, "Read-only file system", True),
    "immutable folder": (_immutable_folder, "Operation not permitted", True),
    "a file where the folder should be": (_FileInTheWay, "it is a file, not a folder", False),
    "no write permission": (_NoWritePermission, "Permission denied", False),
}


@pytest.mark.parametrize("way", UNWRITABLE)
def test_an_unwritable_destination_fails_cleanly(pagila, make_target, backup_root, settings, way):
    make_unwritable, words, needs_root = UNWRITABLE[way]
    if needs_root and not faultkit.can_mount():
        pytest.skip(f"{way} needs root (mount, chattr)")
    # Root writes through file modes: then the backup runs as another user, in that user's folder.
    other_user = way == "no write permission" and as_user.running_as_root()
    if other_user:
        backup_root = settings.BACKUP_ROOT = as_user.shared_folder() / "backups"
    try:
        layout.ensure_dir(backup_root / "database" / "manual")
        target = make_target(pagila)
        if other_user:  # the user's own BACKUP_ROOT, but root's folder for the backups (it may not chmod it)
            as_user.chown_tree(backup_root)
            os.chown(backup_root / "database" / "manual", 0, 0)
            words = "Operation not permitted"  # the console's chmod of a folder that is not its own
        blocker = make_unwritable(backup_root)
        try:
            blocker.__enter__()
        except OSError as exc:
            pytest.skip(f"{way} is not possible here: {exc}")
        try:
            record = backup_as_other_user(target) if other_user else backup(target)
        finally:
            blocker.__exit__(None, None, None)
        assert_failed_cleanly(record, backup_root, words, str(backup_root / "database" / "manual"))
        assert record.error.startswith(("cannot write the backup file in", "cannot use"))
        assert_next_backup_works(target, backup_root)
    finally:
        if other_user:
            as_user.remove_shared_folder(backup_root.parent)


def backup_as_other_user(target) -> BackupRecord:
    """The backup run by a forked child as another user; the row it ended with is copied into this test's database."""
    record = dump.backup_create(target=target, backup_type="manual", fmt="custom", started_by="test")
    ended = as_user.call_as(as_user.OTHER_USER, dump.backup_execute, record_id=record.pk)
    assert ended.pk == record.pk
    ended.save()
    return ended


needs_root = pytest.mark.skipif(not faultkit.can_mount(), reason="a small tmpfs can only be mounted as root")


@needs_root
def test_a_disk_that_is_clearly_too_small_is_refused_with_numbers(pagila, make_target, backup_root, pg_cluster):
    target = make_target(pagila)
    db_size = pg_cluster.sql("SELECT pg_database_size(%s)", params=(pagila,))[0][0]
    with faultkit.tmpfs(backup_root, "512k"):
        record = backup(target)
        assert_failed_cleanly(record, backup_root, "not enough free space in", "512.0 KiB free",
                              "needed (a tenth of the database size)")
        assert f"about {db_size // 10 / 1024 / 1024:.1f} MiB needed" in record.error
        faultkit.remount_tmpfs(backup_root, "64m")
        assert_next_backup_works(target, backup_root)


class SecretsOnly:
    """Stands in for a connection: _check_exit asks it only for the secrets to scrub."""

    def secrets(self):
        return ["never-shown"]


@needs_root
def test_a_dump_that_failed_on_a_full_disk_says_so_when_pg_dump_lost_the_reason(tmp_path):
    lost = b"pg_dump: error: could not close data file: Success\npg_dump: error: a worker process died unexpectedly\n"
    folder = tmp_path / "full"
    with faultkit.tmpfs(folder, "64k"):
        with pytest.raises(OSError), open(folder / "filler", "wb") as f:
            while True:
                f.write(b"x" * 4096)
                f.flush()
        with pytest.raises(dump.BackupFailed) as failed:
            dump._check_exit(Ran("pg_dump", 1, lost), SecretsOnly(), folder=folder)
        assert str(failed.value) == ("pg_dump: error: could not close data file: Success pg_dump: error: a worker "
                                     f"process died unexpectedly (No space left on device: 0 bytes free in {folder})")
    with pytest.raises(dump.BackupFailed) as failed:  # with room left, the words stay pg_dump's own
        dump._check_exit(Ran("pg_dump", 1, lost), SecretsOnly(), folder=tmp_path)
    assert "No space left" not in str(failed.value)


@needs_root
@pytest.mark.parametrize("fmt,words", [
    # pg_dump says why, or (a compressed file's last write fails at its close, and pg_dump then says
    # "could not close data file: Success") the console adds it: see the test below.
    ("custom", "No space left on device"),
    ("sql", "/database/manual: No space left on device"),
    ("directory", "No space left on device"),
], ids=["custom", "sql", "directory"])
def test_a_disk_that_fills_up_during_the_dump_leaves_no_file(pagila, make_target, backup_root, settings, fmt, words):
    settings.BACKUP_PREFLIGHT = False  # so the dump really starts and really hits ENOSPC
    target = make_target(pagila)
    with faultkit.tmpfs(backup_root, "256k"):
        record = backup(target, fmt)
        assert_failed_cleanly(record, backup_root, words)
        faultkit.remount_tmpfs(backup_root, "64m")
        record = assert_next_backup_works(target, backup_root, fmt)
        assert stat.S_IMODE(record.absolute_path.stat().st_mode) == (0o700 if fmt == "directory" else 0o600)


def test_every_attempt_is_one_line_in_the_backup_log(pg_cluster, pagila, make_target, backup_root, monkeypatch):
    target = make_target(pagila)
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    backup(target)
    monkeypatch.setenv(PASSWORD_ENV, pg_cluster.password)
    backup(target, "sql")
    lines = (backup_root / "database" / "backup_log.txt").read_text().splitlines()
    assert len(lines) == 2
    assert "result=failed" in lines[0] and "error=cannot connect" in lines[0] and "file=-" in lines[0]
    assert "result=succeeded" in lines[1] and "format=sql" in lines[1] and ".sql.gz" in lines[1]
