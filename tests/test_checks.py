"""System checks: a console that cannot back up says so at start, in one clear line."""


import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from backups_app.checks import backup_root_writable, backup_settings
from tests import as_user, console_process, faultkit


def problems():
    return [(p.id, p.msg) for p in backup_root_writable(None) + backup_settings(None)]


def test_a_good_configuration_has_no_problems(settings, tmp_path):
    settings.BACKUP_ROOT = tmp_path / "not" / "yet" / "created"
    assert problems() == []


def test_a_file_as_backup_root_is_one_error(settings, tmp_path):
    settings.BACKUP_ROOT = tmp_path / "a-file"
    settings.BACKUP_ROOT.write_text("")
    assert problems() == [("backups.E001", f"BACKUP_ROOT {settings.BACKUP_ROOT} is not a writable directory: "
                                           f"{settings.BACKUP_ROOT} is a file")]


def test_a_backup_root_below_a_file_is_one_error(settings, tmp_path):
    (tmp_path / "a-file").write_text("")
    settings.BACKUP_ROOT = tmp_path / "a-file" / "backups"
    (problem,) = problems()
    assert problem[0] == "backups.E001" and problem[1].endswith(f"{tmp_path / 'a-file'} is a file")


def _read_only_mount(path):
    return faultkit.read_only(path)


def _immutable(path):
    return faultkit.immutable(path)


@pytest.mark.parametrize("blocker", [_read_only_mount, _immutable], ids=["read-only mount", "immutable"])
def test_a_read_only_backup_root_is_one_error(settings, tmp_path, blocker):
    if not faultkit.can_mount():
        pytest.skip("mounts and chattr need root; see the chmod case")
    root = tmp_path / "backups"
    root.mkdir()
    settings.BACKUP_ROOT = root
    try:
        guard = blocker(root)
        guard.__enter__()
    except OSError as exc:
        pytest.skip(str(exc))
    try:
        assert problems() == [("backups.E001", f"BACKUP_ROOT {root} is not a writable directory: "
                                               f"{root} is read-only for this user")]
    finally:
        guard.__exit__(None, None, None)


def test_a_backup_root_without_write_permission_is_one_error(settings, tmp_path):
    # Root writes through file modes, so as root the check runs as another user on that user's folder.
    base = as_user.shared_folder() if as_user.running_as_root() else tmp_path
    try:
        root = base / "backups"
        root.mkdir(mode=0o500)
        settings.BACKUP_ROOT = root
        if as_user.running_as_root():
            as_user.chown_tree(root)
            found = as_user.call_as(as_user.OTHER_USER, problems)
        else:
            found = problems()
        assert found == [("backups.E001", f"BACKUP_ROOT {root} is not a writable directory: "
                                          f"{root} is read-only for this user")]
    finally:
        if base != tmp_path:
            as_user.remove_shared_folder(base)


def test_no_pg_dump_is_one_error(settings, tmp_path):
    settings.BACKUP_ROOT = tmp_path / "backups"
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = str(tmp_path), True
    assert problems() == [("backups.E002", f"no usable pg_dump found (searched only PG_BIN_DIR={tmp_path})")]


@pytest.mark.parametrize("name", ["two words", "backup-a\n", "x" * 65, "-leading-dash"])
def test_a_host_name_that_cannot_name_a_host_is_one_error(settings, tmp_path, name):
    settings.BACKUP_ROOT = tmp_path / "backups"
    settings.CONSOLE_HOST_NAME = name
    assert problems() == [("backups.E021", "CONSOLE_HOST_NAME must be at most 64 letters, digits, dots, dashes or "
                                           f"underscores, not {name!r}")]
    settings.CONSOLE_HOST_NAME = "backup-a.example_1"
    assert problems() == []


def test_the_check_command_fails_on_it(settings, tmp_path):
    settings.BACKUP_ROOT = tmp_path / "a-file"
    settings.BACKUP_ROOT.write_text("")
    with pytest.raises(SystemCheckError, match=r"\(backups\.E001\) BACKUP_ROOT .* is not a writable directory"):
        call_command("check")


@pytest.mark.parametrize("command", [["backup", "--list"], ["restore", "1", "--into", "x"], ["verify", "--latest"]])
def test_the_operational_commands_refuse_to_start_with_a_broken_configuration(pg_cluster, tmp_path, command):
    env = console_process.console_env(tmp_path, pg_cluster, "postgres", PG_BIN_DIR=tmp_path, PG_BIN_DIR_ONLY="true")
    started = console_process.manage(*command, env=env)
    assert started.returncode == 1
    assert "(backups.E002) no usable pg_dump found" in started.stderr
    assert started.stdout == ""


@pytest.mark.parametrize("seconds", [0, -1])
def test_progress_written_never_or_all_the_time_is_an_error(settings, seconds):
    settings.JOB_PROGRESS_SECONDS = seconds
    assert [p.id for p in backup_settings(None)] == ["backups.E060"]
