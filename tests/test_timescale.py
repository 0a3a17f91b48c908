"""TimescaleDB restores: the documented procedure, in order, and the refusals that come before anything is touched.

TimescaleDB cannot be installed on this machine (it is in none of its package
registries), so two things are stood in for, honestly:
  - the source database is an ordinary one that looks like a TimescaleDB
    database where the console reads it: a `_timescaledb_catalog.hypertable`
    table naming the hypertable, and the backup record carrying the
    extension version a real server would report (BackupRecord.extensions);
  - for the one test that follows the whole procedure, the server's answer
    to "which timescaledb versions can you create" and CREATE EXTENSION are
    replaced: the stand-in creates SQL functions timescaledb_pre_restore()
    and timescaledb_post_restore() that log each call, with what the
    database held at that moment, into a table.
Everything else (pg_restore, the order of steps, ANALYZE, the refusals
against this server, which really has no TimescaleDB) runs for real. The
same flow is to be checked against a real TimescaleDB server too.
"""

import pytest
from psycopg import sql

from backups_app.models import BackupRecord, RestoreRecord
from backups_app.services.restores import restore, timescale
from tests.restore_helpers import database_names, dropping, make_backup, run_restore

pytestmark = pytest.mark.django_db
VERSION = "2.14.2"

SOURCE = """
CREATE SCHEMA _timescaledb_catalog;
CREATE TABLE _timescaledb_catalog.hypertable (id int, schema_name name, table_name name,
    associated_schema_name name, associated_table_prefix name, num_dimensions smallint);
INSERT INTO _timescaledb_catalog.hypertable VALUES (1, 'public', 'conditions', '_timescaledb_internal', '_hyper_1', 1);
CREATE TABLE conditions (time timestamptz NOT NULL, device int, temperature float8);
INSERT INTO conditions SELECT now() - i * interval '1 minute', i % 10, random() * 30 FROM generate_series(1, 500) i;
CREATE TABLE devices (id int PRIMARY KEY, name text);
INSERT INTO devices SELECT i, 'device ' || i FROM generate_series(0, 9) i;
"""

STAND_IN = """
CREATE TABLE public.standin_calls (n serial, call text, conditions_rows bigint);
CREATE FUNCTION public.standin_log(what text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE rows bigint;
BEGIN
  IF to_regclass('public.conditions') IS NULL THEN rows := NULL;
  ELSE EXECUTE 'SELECT count(*) FROM public.conditions' INTO rows;
  END IF;
  INSERT INTO public.standin_calls (call, conditions_rows) VALUES (what, rows);
END $$;
CREATE FUNCTION public.timescaledb_pre_restore() RETURNS bool LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.standin_log('pre_restore'); RETURN true; END $$;
CREATE FUNCTION public.timescaledb_post_restore() RETURNS bool LANGUAGE plpgsql AS
  $$ BEGIN PERFORM public.standin_log('post_restore'); RETURN true; END $$;
"""


@pytest.fixture
def ts_backup(pg_cluster, make_target, backup_root, fresh_db, settings):
    # The server's own client: pg_restore connects itself (test_version_matrix covers newer clients).
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = "/usr/lib/postgresql/15/bin", True
    source = fresh_db("tsdb_standin")
    pg_cluster.sql(SOURCE, dbname=source)
    backup = make_backup(make_target(source), "custom")
    extensions = {**backup.extensions, "timescaledb": VERSION}
    BackupRecord.objects.filter(pk=backup.pk).update(extensions=extensions)
    backup.refresh_from_db()
    return backup


@pytest.fixture
def standin_server(monkeypatch):
    """The server 'offers' timescaledb VERSION, and CREATE EXTENSION installs the logging stand-in."""
    monkeypatch.setattr(timescale, "server_support", lambda conn: timescale.Support((VERSION,), True))

    def create_extension(conn, version):
        conn.execute(STAND_IN)
        conn.execute(sql.SQL("SELECT public.standin_log({})").format(sql.Literal(f"create_extension {version}")))

    monkeypatch.setattr(timescale, "create_extension", create_extension)


def test_the_backup_records_the_extensions_and_versions_the_database_had(pg_cluster, make_target, backup_root,
                                                                        fresh_db):
    source = fresh_db("with_extensions")
    pg_cluster.sql("CREATE EXTENSION pg_trgm", dbname=source)
    version = pg_cluster.sql("SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'", dbname=source)[0][0]
    backup = make_backup(make_target(source), "custom")
    assert backup.extensions["pg_trgm"] == version and "plpgsql" in backup.extensions


def test_the_procedure_runs_in_order_create_pre_restore_restore_post_restore_analyze(
    pg_cluster, ts_backup, standin_server
):
    with dropping(pg_cluster, "tsdb_copy"):
        record = run_restore(ts_backup, "tsdb_copy")
        assert record.status == "succeeded", record.error
        calls = pg_cluster.sql("SELECT call, conditions_rows FROM standin_calls ORDER BY n", dbname="tsdb_copy")
        assert calls == [
            (f"create_extension {VERSION}", None),  # the backup's version, before anything else
            ("pre_restore", None),  # before the restore: no table yet
            ("post_restore", 500),  # after it: every row is there
        ]
        analyzed = pg_cluster.sql("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                  "WHERE relname = 'conditions'", dbname="tsdb_copy")
        assert analyzed == [(True,)]
        assert f"TimescaleDB {VERSION}" in record.detail


def test_a_failed_timescale_restore_still_ends_restoring_mode_and_drops_the_new_database(
    pg_cluster, ts_backup, standin_server, monkeypatch
):
    from backups_app.services.restores import run as restore_run

    posted = []
    real_post = timescale._post_restore
    monkeypatch.setattr(timescale, "_post_restore", lambda conn, analyze: posted.append(analyze) or
                        real_post(conn, analyze=analyze))
    monkeypatch.setattr(restore_run, "run_pg_restore", _failing_pg_restore)
    record = run_restore(ts_backup, "tsdb_broken")
    assert record.status == "failed" and "simulated pg_restore failure" in record.error
    assert posted == [False]  # post_restore ran, without ANALYZE
    assert "tsdb_broken" not in database_names(pg_cluster)


def _failing_pg_restore(args, conn):
    # Stands in for a pg_restore that fails half way (a real failure is tested in test_restore.py).
    raise restore.RestoreFailed("pg_restore failed: simulated pg_restore failure")


def test_a_server_without_the_backups_timescaledb_version_is_refused_before_anything_is_touched(
    pg_cluster, ts_backup
):
    # This server really has no TimescaleDB: nothing stands in here.
    with pytest.raises(restore.RestoreRefused, match=f"taken with TimescaleDB {VERSION} and the server .* offers "
                                                     f"no TimescaleDB at all: install TimescaleDB {VERSION}"):
        restore.restore_create(backup=ts_backup, into="tsdb_nowhere")
    assert not RestoreRecord.objects.exists()
    assert "tsdb_nowhere" not in database_names(pg_cluster)


def test_another_timescaledb_version_is_refused_too(ts_backup, monkeypatch):
    monkeypatch.setattr(timescale, "server_support", lambda conn: timescale.Support(("2.13.0", "2.15.1"), True))
    with pytest.raises(restore.RestoreRefused, match="offers 2.13.0, 2.15.1"):
        restore.restore_create(backup=ts_backup, into="tsdb_nowhere")


def test_a_server_that_has_timescaledb_but_does_not_load_it_is_refused(ts_backup, monkeypatch):
    monkeypatch.setattr(timescale, "server_support", lambda conn: timescale.Support((VERSION,), False))
    with pytest.raises(restore.RestoreRefused, match="not loaded: add timescaledb to shared_preload_libraries"):
        restore.restore_create(backup=ts_backup, into="tsdb_nowhere")


def test_a_hypertable_alone_is_refused_with_the_reason(ts_backup):
    with pytest.raises(restore.RestoreRefused, match="public.conditions is a TimescaleDB hypertable: its rows live "
                                                     "in chunk tables .* would come back empty"):
        restore.restore_create(backup=ts_backup, into="tsdb_one_table", tables=["public.conditions"])


def test_an_ordinary_table_of_a_timescaledb_backup_restores_alone(pg_cluster, ts_backup):
    with dropping(pg_cluster, "tsdb_devices"):
        record = run_restore(ts_backup, "tsdb_devices", tables=["public.devices"])
        assert record.status == "succeeded", record.error
        assert pg_cluster.sql("SELECT count(*) FROM devices", dbname="tsdb_devices") == [(10,)]


@pytest.mark.parametrize("options, message", [
    ({"jobs": 2}, "restores with one job"),
    ({"overwrite": True}, "cannot overwrite a database"),
])
def test_parallel_jobs_and_overwrite_are_refused_for_timescaledb(ts_backup, standin_server, options, message):
    with pytest.raises(restore.RestoreRefused, match=message):
        restore.restore_create(backup=ts_backup, into="tsdb_x", **options)
