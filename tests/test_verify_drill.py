"""Restore drills: restore into a scratch database, check every table, drop it, record the result."""

import pytest

from backups_app.models import BackupRecord, RestoreRecord
from backups_app.services.storage.files import sha256_of
from backups_app.services.verify import drill, verify
from tests.dbcompare import row_counts
from tests.restore_helpers import database_names, dropping, flip_byte, make_backup, run_verify

pytestmark = pytest.mark.django_db


def drill_databases(cluster):
    return {name for name in database_names(cluster) if name.startswith("bc_drill_")}


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_a_drill_passes_on_a_good_backup_and_compares_exact_row_counts(pg_cluster, pagila, make_target,
                                                                        backup_root, settings, fmt):
    settings.BACKUP_ROW_COUNTS = True
    backup = make_backup(make_target(pagila), fmt)
    assert backup.row_counts == {t: n for t, n in row_counts(pg_cluster, pagila).items()}

    record = run_verify(backup, drill=True)
    assert record.status == "succeeded" and record.ok, record.error
    assert "22 tables present and readable" in record.detail
    assert "row counts equal the recorded ones for 21 tables" in record.detail  # the partitioned parent has none
    assert record.duration_seconds > 0
    drill = RestoreRecord.objects.get(is_drill=True)
    assert drill.status == "succeeded" and drill.target_database.startswith("bc_drill_")
    assert drill_databases(pg_cluster) == set(), "the scratch database is dropped"
    backup.refresh_from_db()
    assert backup.last_verify_ok is True and "drill" in backup.last_verify_detail


def test_a_drill_without_recorded_counts_still_checks_every_table(pg_cluster, pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    assert backup.row_counts == {}
    record = run_verify(backup, drill=True)
    assert record.ok, record.error
    assert "no row counts were recorded" in record.detail


def test_a_drill_fails_on_a_damaged_backup_and_leaves_no_scratch_database(pg_cluster, pagila, make_target,
                                                                           backup_root):
    backup = make_backup(make_target(pagila), "custom")
    flip_byte(backup.absolute_path, backup.size_bytes - 5000)
    record = run_verify(backup, drill=True)
    assert record.status == "failed" and record.ok is False and "checksum mismatch" in record.error
    assert drill_databases(pg_cluster) == set()


def test_a_drill_fails_when_the_restore_fails_and_still_drops_the_scratch_database(
    pg_cluster, pagila, make_target, backup_root
):
    # A damaged data block whose checksum was (wrongly) recorded. Verification would stop at reading the
    # archive to the end, so the drill is run directly: only the restore itself can tell here.
    backup = make_backup(make_target(pagila), "custom")
    flip_byte(backup.absolute_path, backup.size_bytes - 5000)
    BackupRecord.objects.filter(pk=backup.pk).update(sha256=sha256_of(backup.absolute_path)[0])
    backup.refresh_from_db()

    finding = drill.run(verify.verify_create(backup=backup, drill=True))
    assert not finding.ok and "drill restore" in finding.detail and "failed" in finding.detail
    assert drill_databases(pg_cluster) == set()


def test_a_drill_fails_when_a_row_count_differs_from_the_recorded_one(pg_cluster, pagila, make_target, backup_root,
                                                                      settings):
    settings.BACKUP_ROW_COUNTS = True
    backup = make_backup(make_target(pagila), "custom")
    counts = dict(backup.row_counts, **{"public.rental": 16045})
    BackupRecord.objects.filter(pk=backup.pk).update(row_counts=counts)
    backup.refresh_from_db()
    record = run_verify(backup, drill=True)
    assert record.status == "failed"
    assert "table public.rental has 16044 rows, 16045 when backed up" in record.error
    assert drill_databases(pg_cluster) == set()


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_a_table_whose_name_holds_a_line_break_is_found_and_counted(pg_cluster, make_target, backup_root, settings,
                                                                     fmt):
    # pg_restore --list shows a line break in a name as a space: the drill must still find the table.
    settings.BACKUP_ROW_COUNTS = True
    source = f"drill_line_break_{fmt}"
    pg_cluster.createdb(source)
    with dropping(pg_cluster, source):
        pg_cluster.sql('CREATE SCHEMA "two\nlines"; CREATE TABLE "two\nlines"."a\nb" (n int); '
                       'INSERT INTO "two\nlines"."a\nb" SELECT generate_series(1, 7); '
                       'CREATE TABLE "a b" (n int); INSERT INTO "a b" VALUES (1)', dbname=source)
        backup = make_backup(make_target(source), fmt)
        record = run_verify(backup, drill=True)
    assert record.status == "succeeded" and record.ok, record.error
    assert "2 tables present and readable; row counts equal the recorded ones for 2 tables" in record.detail


def test_a_sql_backup_whose_rows_read_like_statements_is_judged_by_its_tables_alone(pg_cluster, make_target,
                                                                                     backup_root, settings):
    settings.BACKUP_ROW_COUNTS = True
    source = "drill_lookalike_rows"
    pg_cluster.createdb(source)
    with dropping(pg_cluster, source):
        pg_cluster.sql("CREATE DOMAIN quoted AS text CHECK (VALUE <> '\"'); CREATE TABLE notes (line quoted); "
                       "INSERT INTO notes VALUES ('CREATE TABLE public.ghost (')", dbname=source)
        backup = make_backup(make_target(source), "sql")
        record = run_verify(backup, drill=True)
    assert record.status == "succeeded" and record.ok, record.error
    assert "1 tables present and readable; row counts equal the recorded ones for 1 tables" in record.detail
