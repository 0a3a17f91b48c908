"""Roles and tablespaces: saved beside every backup (without passwords), applied by restore --with-globals."""

import os
import stat

import pytest

from backups_app.services.backups import globals_dump
from backups_app.services.restores import restore
from tests.restore_helpers import dropping, make_backup, run_restore

pytestmark = pytest.mark.django_db


@pytest.fixture
def roles(pg_cluster):
    """Cluster-wide roles a test creates; dropped at its end (after its databases)."""
    made = []
    yield made.append
    for role in made:
        pg_cluster.sql(f"DROP ROLE IF EXISTS {role}")


def test_every_backup_saves_the_roles_beside_it_privately_and_without_passwords(
    pg_cluster, make_target, backup_root, fresh_db, roles
):
    roles("bc_reporting")
    pg_cluster.sql("DROP ROLE IF EXISTS bc_reporting; CREATE ROLE bc_reporting LOGIN PASSWORD 'not-in-any-file'")
    backup = make_backup(make_target(fresh_db("globals_src")), "custom")
    path = backup_root / backup.globals_path
    assert path.name == backup.absolute_path.name + ".globals.sql" and path.parent == backup.absolute_path.parent
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert "CREATE ROLE bc_reporting;" in text and "LOGIN" in text
    assert "PASSWORD" not in text and "SCRAM-SHA-256" not in text and "not-in-any-file" not in text
    assert pg_cluster.password not in text


def test_with_globals_recreates_missing_owners_and_leaves_existing_roles_alone(
    pg_cluster, make_target, backup_root, fresh_db, roles
):
    roles("bc_app_owner")
    roles("bc_kept")
    pg_cluster.sql("DROP ROLE IF EXISTS bc_app_owner; CREATE ROLE bc_app_owner NOLOGIN CREATEDB; "
                   "DROP ROLE IF EXISTS bc_kept; CREATE ROLE bc_kept CREATEDB")
    source = fresh_db("globals_owned")
    pg_cluster.sql("CREATE TABLE orders (id int); INSERT INTO orders VALUES (7); ALTER TABLE orders OWNER TO "
                   "bc_app_owner", dbname=source)
    backup = make_backup(make_target(source), "custom")
    # As on a new server: the owner is gone, and the other role has changed since.
    pg_cluster.sql("REASSIGN OWNED BY bc_app_owner TO postgres", dbname=source)
    pg_cluster.sql("DROP ROLE bc_app_owner; ALTER ROLE bc_kept NOCREATEDB")

    with dropping(pg_cluster, "globals_without", "globals_with"):
        assert "bc_app_owner" in run_restore(backup, "globals_without").error

        record = run_restore(backup, "globals_with", with_globals=True)
        assert record.status == "succeeded", record.error
        owner = pg_cluster.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'orders'", dbname="globals_with")
        assert owner == [("bc_app_owner",)]
        assert pg_cluster.sql("SELECT rolcreatedb, rolpassword IS NULL FROM pg_authid "
                              "WHERE rolname = 'bc_app_owner'") == [(True, True)]
        assert pg_cluster.sql("SELECT rolcreatedb FROM pg_roles WHERE rolname = 'bc_kept'") == [(False,)]
        assert "created roles: bc_app_owner" in record.detail and "bc_kept" in record.detail


def test_with_globals_is_refused_when_the_backup_has_no_roles_file(pg_cluster, make_target, backup_root, fresh_db):
    backup = make_backup(make_target(fresh_db("globals_gone")), "custom")
    (backup_root / backup.globals_path).unlink()
    with pytest.raises(restore.RestoreRefused, match="has no roles and tablespaces file"):
        restore.restore_create(backup=backup, into="globals_nowhere", with_globals=True)


SCRIPT = """SET client_encoding = 'UTF8';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
CREATE ROLE "Mixed Case";
ALTER ROLE "Mixed Case" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN;
COMMENT ON ROLE postgres IS 'a comment
on two lines';
CREATE ROLE newcomer;
ALTER ROLE newcomer WITH LOGIN;
CREATE TABLESPACE fast OWNER postgres LOCATION '/srv/fast';
CREATE TABLESPACE slow OWNER postgres LOCATION '/srv/slow';
GRANT CREATE ON TABLESPACE slow TO newcomer;
GRANT newcomer TO postgres GRANTED BY postgres;
"""


def test_the_globals_script_keeps_only_what_the_server_lacks():
    script, created, kept = globals_dump.filter_script(SCRIPT, roles={"postgres", "Mixed Case"},
                                                       tablespaces={"slow"})
    assert script.splitlines() == [
        "SET client_encoding = 'UTF8';",
        "CREATE ROLE newcomer;",
        "ALTER ROLE newcomer WITH LOGIN;",
        "CREATE TABLESPACE fast OWNER postgres LOCATION '/srv/fast';",
        "GRANT newcomer TO postgres GRANTED BY postgres;",
    ]
    assert created == {"newcomer"} and kept == {"postgres", "Mixed Case", "slow"}


def wrapped_pg_dumpall(folder, body: str):
    """A pg_dumpall first on PATH, newest of all, that runs `body` (sh) for a real run."""
    import shutil

    real = shutil.which("pg_dumpall", path="/usr/lib/postgresql/15/bin")
    folder.mkdir()
    script = folder / "pg_dumpall"
    script.write_text(f'#!/bin/sh\nif [ "$1" = --version ]; then echo "pg_dumpall (PostgreSQL) 99.0"; exit 0; fi\n'
                      f'REAL={real}\n{body}\n')
    script.chmod(0o755)
    return script


def test_the_roles_are_saved_while_pg_dump_runs(make_target, backup_root, fresh_db, tmp_path, monkeypatch):
    started = tmp_path / "pg_dumpall-started"
    folder = tmp_path / "bin"
    wrapped_pg_dumpall(folder, f'date +%s.%N > {started}\nexec "$REAL" "$@"')
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    backup = make_backup(make_target(fresh_db("globals_beside")), "custom")
    assert "CREATE ROLE" in (backup_root / backup.globals_path).read_text()
    # pg_dump's last write is its archive's mtime: pg_dumpall had started before.
    assert float(started.read_text()) < backup.absolute_path.stat().st_mtime


def test_a_failed_pg_dumpall_fails_the_backup_and_leaves_neither_file(make_target, backup_root, fresh_db, tmp_path,
                                                                      monkeypatch):
    from backups_app.services.backups import dump

    folder = tmp_path / "bin"
    wrapped_pg_dumpall(folder, 'echo "pg_dumpall: error: no roles today" >&2\nexit 1')
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    record = dump.backup_create(target=make_target(fresh_db("globals_fail")), backup_type="manual", fmt="custom")
    record = dump.backup_execute(record_id=record.pk)
    assert record.status == "failed" and "no roles today" in record.error, record.error
    assert not record.path and not record.globals_path
    left = [p for p in backup_root.rglob("*") if p.is_file() and p.name != "backup_log.txt"]
    assert left == []
