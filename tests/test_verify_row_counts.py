"""Row counts recorded at backup time (BACKUP_ROW_COUNTS) are exact for the file, even while rows keep arriving."""

import threading

import pytest

from backups_app.services.postgres import binaries
from backups_app.services.postgres.args import pg_dump_args
from backups_app.services.postgres.connection import conn_for
from tests.restore_helpers import dropping, make_backup, run_restore, run_verify

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fmt", ["custom", "directory"])
def test_counts_taken_in_pg_dumps_snapshot_match_the_file_despite_concurrent_inserts(
    pg_cluster, make_target, backup_root, fresh_db, settings, fmt
):
    # A directory dump's workers each read their tables over their own connection: in the same snapshot.
    settings.BACKUP_ROW_COUNTS, settings.BACKUP_DUMP_JOBS = True, 2
    source = fresh_db("busy_source")
    pg_cluster.sql("CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp()); "
                   "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 300000) g",
                   dbname=source)
    stop, inserted = threading.Event(), []

    def writer():
        with pg_cluster.connect(source) as c:
            while not stop.is_set():
                c.execute("INSERT INTO ticks DEFAULT VALUES")
                inserted.append(1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        backup = make_backup(make_target(source), fmt)
    finally:
        stop.set()
        thread.join()
    final = pg_cluster.sql("SELECT count(*) FROM ticks", dbname=source)[0][0]
    assert 0 < backup.row_counts["public.ticks"] < final, "rows arrived during the backup"
    assert backup.row_counts["public.bulk"] == 300000

    with dropping(pg_cluster, "busy_copy"):
        assert run_restore(backup, "busy_copy").status == "succeeded"
        restored = pg_cluster.sql("SELECT count(*) FROM ticks", dbname="busy_copy")[0][0]
        assert restored == backup.row_counts["public.ticks"]
    assert run_verify(backup, drill=True).ok


def test_counting_is_off_by_default_and_pg_dump_then_gets_no_snapshot(pagila, make_target, backup_root, settings):
    assert settings.BACKUP_ROW_COUNTS is False
    assert make_backup(make_target(pagila), "sql").row_counts == {}
    assert not any(a.startswith("--snapshot") for a in pg_dump_args(
        binaries.find("pg_dump"), conn_for(make_target(pagila, name="again")), "custom"))
