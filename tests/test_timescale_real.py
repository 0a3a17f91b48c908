"""TimescaleDB backups and restores against the real extension.

A throwaway cluster loads timescaledb (shared_preload_libraries). Its source
database has a hypertable of FX ticks in 30 daily chunks, the oldest 10
compressed, a continuous aggregate with a refresh policy, and a plain table.
Every restore is compared with the source chunk by chunk (rows, sum of
prices, compressed or not) and in total (with the aggregate's rows), and must
still compress and refresh afterwards.

Without TimescaleDB installed for this PostgreSQL these tests fail (never
skip), saying how to install it.
"""

import json
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command

from backups_app import tasks
from backups_app.models import BackupRecord, RestoreRecord
from backups_app.services.restores import restore, swap
from backups_app.services.setup.roles import RESTORE_OPERATORS
from tests.admin_support import post_action
from tests.console_process import console_env, manage
from tests.pgcluster import Cluster, server_bin_dir
from tests.restore_helpers import database_names, dropping, make_backup, run_restore, run_verify

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PASSWORD_ENV = "BACKUP_PG_PASSWORD_TSDB"
INSTALL = ("TimescaleDB is not installed for the PostgreSQL in {bindir}: install it with {installer} "
           "(as root; about three minutes; ../shared/tools/install-timescaledb.sh from a checkout beside shared/), "
           "then run these tests again")
INSTALL_ELSEWHERE = ("TimescaleDB is not installed for the PostgreSQL in {bindir}, and "
                     "../shared/tools/install-timescaledb.sh is not here to build it: install TimescaleDB 2.28.3 "
                     "for that PostgreSQL (Timescale's packages, timescaledb-2-postgresql-<major>, or a build of "
                     "github.com/timescale/timescaledb at 2.28.3), then run these tests again")

FX = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE symbols (symbol text PRIMARY KEY, pip numeric NOT NULL);
INSERT INTO symbols VALUES ('USDJPY', 0.01), ('EURUSD', 0.0001), ('GBPUSD', 0.0001), ('AUDUSD', 0.0001);
CREATE TABLE ticks (time timestamptz NOT NULL, symbol text NOT NULL REFERENCES symbols,
                    price numeric(12,4) NOT NULL, volume bigint NOT NULL);
SELECT create_hypertable('ticks', by_range('time', interval '1 day'));
INSERT INTO ticks
  SELECT t, s, 100 + (extract(epoch FROM t)::bigint % 997) / 10.0 + length(s) * 0.37, 1 + extract(minute FROM t)
    FROM generate_series(timestamptz '2026-01-01 00:00+00', timestamptz '2026-01-30 23:50+00', interval '10 minutes') t,
         unnest(ARRAY['USDJPY', 'EURUSD', 'GBPUSD', 'AUDUSD']) s;
ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol');
SELECT count(compress_chunk(c)) FROM show_chunks('ticks', older_than => timestamptz '2026-01-11 00:00+00') c;
CREATE MATERIALIZED VIEW ticks_hourly WITH (timescaledb.continuous) AS
  SELECT time_bucket('1 hour', time) AS bucket, symbol, avg(price) AS avg_price, count(*) AS n
    FROM ticks GROUP BY 1, 2 WITH NO DATA;
SELECT add_continuous_aggregate_policy('ticks_hourly', start_offset => NULL, end_offset => interval '1 hour',
                                       schedule_interval => interval '1 hour');
"""


@pytest.fixture(scope="module")
def ts_cluster():
    bindir = server_bin_dir()
    if not timescaledb_installed(bindir):
        installer = find_installer()
        message = INSTALL if installer else INSTALL_ELSEWHERE
        pytest.fail(message.format(bindir=bindir, installer=installer), pytrace=False)
    cluster = Cluster().init()
    with open(cluster.datadir / "postgresql.conf", "a") as f:
        f.write("shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n")
    cluster.start()
    yield cluster
    cluster.destroy()


def find_installer() -> Path | None:
    """shared/tools/install-timescaledb.sh in the nearest folder above the checkout that has it."""
    for parent in Path(__file__).resolve().parents:
        if (candidate := parent / "shared" / "tools" / "install-timescaledb.sh").exists():
            return candidate
    return None


def timescaledb_installed(bindir: str) -> bool:
    pg_config = Path(bindir) / "pg_config"
    if pg_config.exists():
        share = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True).stdout.strip()
    else:
        share = f"/usr/share/postgresql/{Path(bindir).parent.name}"
    return (Path(share) / "extension" / "timescaledb.control").exists()


@pytest.fixture
def ts_target(db, ts_cluster, monkeypatch):
    from backups_app.models import DatabaseTarget

    monkeypatch.setenv(PASSWORD_ENV, ts_cluster.password)

    def make(dbname):
        return DatabaseTarget.objects.create(
            name=dbname.replace("_", "-"), dbname=dbname, host=ts_cluster.host, port=ts_cluster.port,
            user=ts_cluster.user, password_source="env", password_env=PASSWORD_ENV)

    return make


@pytest.fixture
def fx(ts_cluster):
    """fx(name): a new FX database (dropped at the end of the test), refreshed aggregate included."""
    made = []

    def build(name):
        ts_cluster.dropdb(name)
        ts_cluster.createdb(name)
        made.append(name)
        ts_cluster.sql(FX, dbname=name)
        with ts_cluster.connect(name) as c:
            refresh(c)
        return name

    yield build
    for name in made:
        for leftover in related_databases(ts_cluster, name):
            ts_cluster.dropdb(leftover)


def related_databases(cluster, name) -> list[str]:
    return sorted(d for d in database_names(cluster) if d == name or d.startswith(name + "_"))


def snapshot(cluster, dbname) -> dict:
    """What a restore must bring back, chunk by chunk and in total."""
    with cluster.connect(dbname) as c:
        chunks = c.execute(
            "SELECT ch.range_start, ch.is_compressed, count(t.*), sum(t.price) "
            "FROM timescaledb_information.chunks ch LEFT JOIN ticks t "
            "  ON t.time >= ch.range_start AND t.time < ch.range_end "
            "WHERE ch.hypertable_name = 'ticks' GROUP BY 1, 2 ORDER BY 1").fetchall()
        totals = c.execute("SELECT count(*), sum(price), sum(volume) FROM ticks").fetchone()
        aggregate = c.execute("SELECT count(*), sum(n), round(sum(avg_price), 6) FROM ticks_hourly").fetchone()
        symbols = c.execute("SELECT count(*), sum(pip) FROM symbols").fetchone()
        policies = c.execute("SELECT proc_name FROM timescaledb_information.jobs "
                             "WHERE hypertable_name IS NOT NULL ORDER BY 1").fetchall()
    return {"chunks": chunks, "totals": totals, "compressed": sum(1 for ch in chunks if ch[1]),
            "aggregate": aggregate, "symbols": symbols, "policies": policies}


def assert_same_as_source(restored: dict, source: dict):
    assert len(restored["chunks"]) == 30 and restored["compressed"] == 10
    assert restored == source


def assert_it_still_works(cluster, dbname):
    """New rows in a new chunk compress, and the aggregate refreshes over them."""
    with cluster.connect(dbname) as c:
        assert c.execute("SHOW timescaledb.restoring").fetchone()[0] == "off"
        before = c.execute("SELECT count(*) FROM ticks_hourly").fetchone()[0]
        c.execute("INSERT INTO ticks SELECT t, 'USDJPY', 150, 1 FROM generate_series("
                  "timestamptz '2026-02-10 00:00+00', timestamptz '2026-02-10 23:50+00', interval '10 minutes') t")
        c.execute("SELECT compress_chunk(c) FROM show_chunks('ticks', newer_than => timestamptz '2026-02-01') c")
        compressed = c.execute("SELECT is_compressed FROM timescaledb_information.chunks WHERE "
                               "hypertable_name = 'ticks' AND range_start >= '2026-02-01'").fetchall()
        assert compressed == [(True,)]
        assert c.execute("SELECT count(*), sum(price) FROM ticks WHERE time >= '2026-02-10'").fetchone() == (144, 21600)
        refresh(c)
        assert c.execute("SELECT count(*) FROM ticks_hourly").fetchone()[0] == before + 24


def refresh(c, wait=30):
    """A refresh of the whole aggregate; the refresh policy may be running one at the same moment."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return c.execute("CALL refresh_continuous_aggregate('ticks_hourly', NULL, NULL)")
        except psycopg.errors.LockNotAvailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# -- into a new database --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_a_backup_restores_into_a_new_database_chunk_for_chunk(ts_cluster, ts_target, fx, backup_root, fmt):
    source = fx(f"fx_new_{fmt}")
    backup = make_backup(ts_target(source), fmt)
    assert backup.extensions["timescaledb"] == "2.28.3"
    into = f"{source}_copy"
    with dropping(ts_cluster, into):
        record = run_restore(backup, into)
        assert record.status == "succeeded", record.error
        assert "TimescaleDB 2.28.3: pre_restore, restore, post_restore, ANALYZE" in record.detail
        assert_same_as_source(snapshot(ts_cluster, into), snapshot(ts_cluster, source))
        analyzed = ts_cluster.sql("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                  "WHERE relname = 'symbols'", dbname=into)
        assert analyzed == [(True,)]
        assert_it_still_works(ts_cluster, into)


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_a_backup_adopted_from_its_file_knows_its_timescaledb_and_restores(ts_cluster, ts_target, fx, backup_root,
                                                                          fmt):
    source = fx(f"fx_adopted_{fmt}")
    made = make_backup(ts_target(source), fmt)
    BackupRecord.objects.all().delete()  # the console's database was lost
    call_command("backup", "--adopt")
    adopted = BackupRecord.objects.get()
    assert (adopted.path, adopted.sha256) == (made.path, made.sha256)
    assert adopted.extensions["timescaledb"] == "2.28.3"  # from the file, its version from the database now
    into = f"{source}_copy"
    with dropping(ts_cluster, into):
        record = run_restore(adopted, into)
        assert record.status == "succeeded", record.error
        assert_same_as_source(snapshot(ts_cluster, into), snapshot(ts_cluster, source))


def test_a_restore_that_fails_halfway_drops_the_new_database(ts_cluster, ts_target, fx, backup_root):
    source, role = fx("fx_badowner"), "fx_owner_gone"
    ts_cluster.sql(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role}; ALTER TABLE symbols OWNER TO {role}",
                   dbname=source)
    backup = make_backup(ts_target(source), "custom")
    try:
        drop_role(ts_cluster, source, role)  # owners are kept for a superuser: the restore now fails halfway
        record = run_restore(backup, "fx_badowner_copy")
        assert record.status == "failed" and f'role "{role}" does not exist' in record.error
        assert "fx_badowner_copy" not in database_names(ts_cluster)
    finally:
        drop_role(ts_cluster, source, role)


def drop_role(cluster, dbname, role):
    if cluster.sql("SELECT 1 FROM pg_roles WHERE rolname = %s", params=(role,)):
        cluster.sql(f"REASSIGN OWNED BY {role} TO {cluster.user}; DROP ROLE {role}", dbname=dbname)


def test_a_plain_table_restores_alone(ts_cluster, ts_target, fx, backup_root):
    backup = make_backup(ts_target(fx("fx_table")), "custom")
    with dropping(ts_cluster, "fx_table_symbols"):
        record = run_restore(backup, "fx_table_symbols", tables=["public.symbols"])
        assert record.status == "succeeded", record.error
        assert ts_cluster.sql("SELECT count(*), sum(pip) FROM symbols", dbname="fx_table_symbols") == \
            ts_cluster.sql("SELECT count(*), sum(pip) FROM symbols", dbname="fx_table")
        assert record.rows_restored == 4


def test_a_drill_restores_checks_and_drops_its_scratch_database(ts_cluster, ts_target, fx, backup_root, settings):
    settings.BACKUP_ROW_COUNTS = True
    backup = make_backup(ts_target(fx("fx_drill")), "custom")
    before = database_names(ts_cluster)
    verification = run_verify(backup, drill=True)
    assert verification.status == "succeeded", verification.error
    assert verification.ok, verification.detail
    assert "row counts equal the recorded ones" in verification.detail
    assert database_names(ts_cluster) == before


# -- refusals, by the real server ----------------------------------------------------------------------------

def test_a_hypertable_alone_is_refused(ts_target, fx, backup_root):
    backup = make_backup(ts_target(fx("fx_lone")), "custom")
    with pytest.raises(restore.RestoreRefused, match="public.ticks is a TimescaleDB hypertable: .* come back empty"):
        restore.restore_create(backup=backup, into="fx_lone_ticks", tables=["public.ticks"])
    assert not RestoreRecord.objects.exists()


def test_a_backup_of_another_timescaledb_version_is_refused(ts_cluster, ts_target, fx, backup_root):
    # The backup says 2.27.0; the real server answers which versions it can create (only 2.28.3 here).
    backup = make_backup(ts_target(fx("fx_oldversion")), "custom")
    BackupRecord.objects.filter(pk=backup.pk).update(extensions={**backup.extensions, "timescaledb": "2.27.0"})
    backup.refresh_from_db()
    with pytest.raises(restore.RestoreRefused, match=r"taken with TimescaleDB 2\.27\.0 and the server .* offers "
                                                     r"2\.28\.3: install TimescaleDB 2\.27\.0 there"):
        restore.restore_create(backup=backup, into="fx_oldversion_copy")
    assert "fx_oldversion_copy" not in database_names(ts_cluster)


def test_a_server_that_has_timescaledb_but_does_not_load_it_is_refused(pg_cluster, make_target, ts_target, fx,
                                                                       backup_root):
    # pg_cluster is the same PostgreSQL with the extension installed, started without shared_preload_libraries.
    backup = make_backup(ts_target(fx("fx_unloaded")), "custom")
    with pytest.raises(restore.RestoreRefused, match="installed on .* but not loaded: add timescaledb to "
                                                     "shared_preload_libraries"):
        restore.restore_create(backup=backup, into="fx_unloaded", server=make_target("postgres", name="plain"))


def test_parallel_jobs_are_refused(ts_target, fx, backup_root):
    backup = make_backup(ts_target(fx("fx_jobs")), "custom")
    with pytest.raises(restore.RestoreRefused, match="restores with one job"):
        restore.restore_create(backup=backup, into="fx_jobs_copy", jobs=2)


# -- over an existing database: restored beside it, then swapped in -------------------------------------------

def change_after_backup(cluster, dbname):
    cluster.sql("INSERT INTO ticks SELECT t, 'EURUSD', 1.1, 1 FROM generate_series("
                "timestamptz '2026-01-31 00:00+00', timestamptz '2026-01-31 23:50+00', interval '10 minutes') t; "
                "CREATE TABLE added_later (id int); "
                f"ALTER DATABASE {dbname} SET work_mem = '7MB'; COMMENT ON DATABASE {dbname} IS 'FX ticks'",
                dbname=dbname)


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_an_overwrite_swaps_in_the_restored_copy_and_keeps_the_old_database(ts_cluster, ts_target, fx,
                                                                            backup_root, fmt):
    live = fx(f"fx_over_{fmt}")
    at_backup = snapshot(ts_cluster, live)
    backup = make_backup(ts_target(live), fmt)
    change_after_backup(ts_cluster, live)
    changed = snapshot(ts_cluster, live)
    record = run_restore(backup, live, overwrite=True)
    assert record.status == "succeeded", record.error
    assert_same_as_source(snapshot(ts_cluster, live), at_backup)
    assert ts_cluster.sql("SELECT to_regclass('added_later')", dbname=live) == [(None,)]
    kept = [d for d in related_databases(ts_cluster, live) if d != live]
    assert len(kept) == 1 and kept[0].startswith(f"{live}_replaced_")
    assert snapshot(ts_cluster, kept[0]) == changed  # the safety copy is the database as it was
    assert f"kept as {kept[0]}" in record.detail and record.safety_backup is None
    with ts_cluster.connect(live) as c:  # the database's own settings came along
        assert c.execute("SHOW work_mem").fetchone()[0] == "7MB"
        assert c.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                         "WHERE datname = current_database()").fetchone()[0] == "FX ticks"
    assert_scheduler_runs(ts_cluster, live)
    assert_it_still_works(ts_cluster, live)


def assert_scheduler_runs(cluster, dbname, wait=15):
    """The refresh policy runs again: TimescaleDB's job scheduler is attached to the swapped-in database."""
    deadline = time.monotonic() + wait
    query = ("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
             "AND backend_type = 'TimescaleDB Background Worker Scheduler'")
    while cluster.sql(query, params=(dbname,)) != [(1,)]:
        assert time.monotonic() < deadline, f"no TimescaleDB job scheduler for {dbname}"
        time.sleep(0.2)


def test_without_the_kept_copy_setting_the_old_database_is_dropped(ts_cluster, ts_target, fx, backup_root,
                                                                   settings):
    settings.RESTORE_KEEP_REPLACED_DATABASE = False
    live = fx("fx_nokeep")
    backup = make_backup(ts_target(live), "custom")
    change_after_backup(ts_cluster, live)
    record = run_restore(backup, live, overwrite=True)
    assert record.status == "succeeded", record.error
    assert related_databases(ts_cluster, live) == [live]
    assert "was dropped (RESTORE_KEEP_REPLACED_DATABASE is off)" in record.detail


def test_connected_clients_refuse_the_overwrite_before_anything_is_touched(ts_cluster, ts_target, fx, backup_root):
    live = fx("fx_busy")
    backup = make_backup(ts_target(live), "custom")
    with ts_cluster.connect(live, application_name="fx-feed"):
        with pytest.raises(restore.RestoreRefused, match=r"1 client session\(s\) are connected to fx_busy "
                                                         r"\(postgres@127\.0\.0\.1 \(fx-feed\)\).*--terminate-conn"):
            restore.restore_create(backup=backup, into=live, overwrite=True)
    assert related_databases(ts_cluster, live) == [live]


def test_a_failed_restore_leaves_the_original_untouched_and_drops_the_scratch_database(ts_cluster, ts_target, fx,
                                                                                        backup_root):
    live, role = fx("fx_overfail"), "fx_over_owner_gone"
    ts_cluster.sql(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role}; ALTER TABLE symbols OWNER TO {role}",
                   dbname=live)
    backup = make_backup(ts_target(live), "custom")
    try:
        drop_role(ts_cluster, live, role)
        change_after_backup(ts_cluster, live)
        before = snapshot(ts_cluster, live)
        record = run_restore(backup, live, overwrite=True)
        assert record.status == "failed" and f'role "{role}" does not exist' in record.error
        assert related_databases(ts_cluster, live) == [live]
        assert snapshot(ts_cluster, live) == before
        assert ts_cluster.sql("SELECT to_regclass('added_later') IS NOT NULL", dbname=live) == [(True,)]
    finally:
        drop_role(ts_cluster, live, role)


def test_a_client_that_connects_during_the_restore_fails_it_at_the_swap_and_changes_nothing(
    ts_cluster, ts_target, fx, backup_root, monkeypatch
):
    live = fx("fx_latecomer")
    backup = make_backup(ts_target(live), "custom")
    change_after_backup(ts_cluster, live)
    before = snapshot(ts_cluster, live)
    latecomer = []
    real_check = swap.check_copy

    def check_while_a_client_arrives(record, scratch):
        # The hook only opens a real connection at this moment; the server itself refuses the rename.
        latecomer.append(ts_cluster.connect(live, application_name="late-report"))
        return real_check(record, scratch)

    monkeypatch.setattr(swap, "check_copy", check_while_a_client_arrives)
    try:
        record = run_restore(backup, live, overwrite=True)
        assert record.status == "failed"
        assert "connected to fx_latecomer (postgres@127.0.0.1 (late-report))" in record.error
        assert "the restored copy was dropped" in record.error
        assert related_databases(ts_cluster, live) == [live]
        assert snapshot(ts_cluster, live) == before
        assert latecomer[0].execute("SELECT 1").fetchone() == (1,)  # nobody was cut off
    finally:
        for c in latecomer:
            c.close()


# -- the real command line -------------------------------------------------------------------------------------

def test_the_command_line_overwrites_ending_the_clients_only_when_told(ts_cluster, fx, tmp_path):
    live = fx("fx_cli")
    env = console_env(tmp_path, ts_cluster, live)
    assert manage("migrate", "--verbosity", "0", env=env).returncode == 0
    made = manage("backup", "--type", "manual", "--format", "custom", env=env)
    assert made.returncode == 0, made.stderr
    listed = json.loads(manage("backup", "--list", "--json", env=env).stdout)
    backup_id = str(max(b["id"] for b in listed))
    change_after_backup(ts_cluster, live)
    client = ts_cluster.connect(live, application_name="dashboard")
    try:
        refused = manage("restore", backup_id, "--into", live, "--overwrite", env=env)
        assert refused.returncode != 0
        assert "restore refused: 1 client session(s) are connected to fx_cli" in refused.stderr
        done = manage("restore", backup_id, "--into", live, "--overwrite", "--terminate-connections", env=env)
        assert done.returncode == 0, done.stderr
        assert f"swapped in as {live}" in done.stdout and f"kept as {live}_replaced_" in done.stdout
        with pytest.raises(psycopg.OperationalError):
            client.execute("SELECT 1")
    finally:
        client.close()
    assert ts_cluster.sql("SELECT to_regclass('added_later')", dbname=live) == [(None,)]
    assert len(related_databases(ts_cluster, live)) == 2



def test_a_failed_restore_into_an_empty_database_leaves_it_out_of_restoring_mode(ts_cluster, ts_target, fx,
                                                                                 backup_root):
    source, role = fx("fx_empty_fail"), "fx_empty_owner_gone"
    ts_cluster.sql(f"DROP ROLE IF EXISTS {role}; CREATE ROLE {role}; ALTER TABLE symbols OWNER TO {role}",
                   dbname=source)
    backup = make_backup(ts_target(source), "custom")
    into = f"{source}_into"
    ts_cluster.createdb(into)
    try:
        drop_role(ts_cluster, source, role)
        record = run_restore(backup, into)
        assert record.status == "failed" and f'role "{role}" does not exist' in record.error
        # timescaledb_pre_restore() sets timescaledb.restoring on the database; post_restore must undo it.
        settings_left = ts_cluster.sql("SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d "
                                       "ON d.oid = s.setdatabase WHERE d.datname = %s", params=(into,))
        assert not any("restoring" in item for row in settings_left for item in row[0])
        with ts_cluster.connect(into) as c:
            assert c.execute("SHOW timescaledb.restoring").fetchone()[0] == "off"
    finally:
        drop_role(ts_cluster, source, role)


def test_the_admin_overwrites_ending_the_clients_only_when_ticked(ts_cluster, ts_target, fx, backup_root, as_role,
                                                                 english):
    live = fx("fx_admin")
    backup = make_backup(ts_target(live), "custom")
    change_after_backup(ts_cluster, live)
    client = as_role(RESTORE_OPERATORS)
    form = dict(apply=True, into=live, jobs="1", overwrite="on", confirm_name=live)
    feed = ts_cluster.connect(live, application_name="fx-feed")
    try:
        response = post_action(client, "backuprecord", "restore_backup", [backup], **form)
        [error] = response.context["form"].non_field_errors()
        assert error.startswith(f"1 client session(s) are connected to {live} (postgres@127.0.0.1 (fx-feed))")
        assert not RestoreRecord.objects.exists()
        response = post_action(client, "backuprecord", "restore_backup", [backup], **form,
                               terminate_connections="on")
        assert response.status_code == 302
        record = RestoreRecord.objects.get()
        assert record.terminate_connections is True
        assert tasks.run_restore(record.pk) == "succeeded", RestoreRecord.objects.get().error
        with pytest.raises(psycopg.OperationalError):
            feed.execute("SELECT 1")
    finally:
        feed.close()
    assert ts_cluster.sql("SELECT to_regclass('added_later')", dbname=live) == [(None,)]


def test_a_copy_that_fails_its_check_is_dropped_and_the_original_stays(ts_cluster, ts_target, fx, backup_root):
    live = fx("fx_badcheck")
    backup = make_backup(ts_target(live), "custom")
    # As if the backup had recorded 99 symbols: the restored copy's 4 do not match.
    BackupRecord.objects.filter(pk=backup.pk).update(row_counts={"public.symbols": 99})
    backup.refresh_from_db()
    change_after_backup(ts_cluster, live)
    before = snapshot(ts_cluster, live)
    record = run_restore(backup, live, overwrite=True)
    assert record.status == "failed"
    assert f"the restored copy {live}_restoring_{record.pk} failed its check, so {live} was left as it was: " \
           "table public.symbols has 4 rows, 99 when backed up" in record.error
    assert related_databases(ts_cluster, live) == [live]
    assert snapshot(ts_cluster, live) == before
