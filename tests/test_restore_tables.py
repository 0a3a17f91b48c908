"""Restoring single tables from a custom archive: with their indexes, constraints, triggers and sequences."""

import pytest

from backups_app.models import RestoreRecord
from backups_app.services.restores import restore
from tests.dbcompare import object_counts, row_counts
from tests.restore_helpers import dropping, make_backup, run_restore

pytestmark = pytest.mark.django_db

INDEXES = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s ORDER BY 1"
CONSTRAINTS = ("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
               "ORDER BY 1")
TRIGGERS = "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY 1"


def facts(cluster, dbname, table):
    return {
        "indexes": cluster.sql(INDEXES, dbname=dbname, params=(table.split(".")[1],)),
        "constraints": cluster.sql(CONSTRAINTS, dbname=dbname, params=(table,)),
        "triggers": cluster.sql(TRIGGERS, dbname=dbname, params=(table,)),
        "rows": cluster.sql(f"SELECT count(*) FROM {table}", dbname=dbname)[0][0],
    }


def foreign_keys(cluster, dbname, table):
    return {name for name, definition in facts(cluster, dbname, table)["constraints"]
            if definition.startswith("FOREIGN KEY")}


def test_one_table_comes_back_into_a_new_database_with_its_indexes_constraints_and_triggers(
    pg_cluster, pagila, make_target, backup_root
):
    backup = make_backup(make_target(pagila), "custom")
    with dropping(pg_cluster, "rental_only"):
        record = run_restore(backup, "rental_only", tables=["public.rental"])
        assert record.status == "succeeded", record.error

        source, copy = facts(pg_cluster, pagila, "public.rental"), facts(pg_cluster, "rental_only", "public.rental")
        assert copy["rows"] == source["rows"] == 16044 == record.rows_restored
        assert copy["indexes"] == source["indexes"] and len(copy["indexes"]) == 3
        assert copy["triggers"] == source["triggers"] == [("last_updated",)]
        # Its own constraints are all there; foreign keys to tables that were not restored cannot be.
        assert [c for c in copy["constraints"] if not c[1].startswith("FOREIGN KEY")] == \
            [c for c in source["constraints"] if not c[1].startswith("FOREIGN KEY")]
        assert foreign_keys(pg_cluster, "rental_only", "public.rental") == set()
        assert "rental_customer_id_fkey" in record.detail and "not restored" in record.detail
        # Nothing else came along, and the default and trigger work.
        assert set(row_counts(pg_cluster, "rental_only")) == {"public.rental"}
        pg_cluster.sql("INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) "
                       "VALUES (now(), 1, 1, 1)", dbname="rental_only")
        assert pg_cluster.sql("SELECT max(rental_id) > 16049, bool_and(last_update IS NOT NULL) FROM rental",
                              dbname="rental_only") == [(True, True)]


def test_foreign_keys_between_restored_tables_come_back(pg_cluster, pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    with dropping(pg_cluster, "film_and_language"):
        record = run_restore(backup, "film_and_language", tables=["public.film", "public.language"])
        assert record.status == "succeeded", record.error
        expected = {"film_language_id_fkey", "film_original_language_id_fkey"}
        assert foreign_keys(pg_cluster, "film_and_language", "public.film") == expected
        assert foreign_keys(pg_cluster, pagila, "public.film") == expected
        # film's columns use a type and a domain: they came first.
        assert pg_cluster.sql("SELECT count(*) FROM film WHERE rating IS NOT NULL", dbname="film_and_language")[0][0]


def test_one_table_replaces_its_damaged_copy_in_an_existing_database_with_overwrite(
    pg_cluster, pagila, make_target, backup_root, fresh_db
):
    backup = make_backup(make_target(pagila), "custom")
    into = fresh_db("pagila_damaged", template=pagila)
    pg_cluster.sql("DELETE FROM film_actor WHERE actor_id < 100; DROP INDEX idx_fk_film_id", dbname=into)

    record = run_restore(backup, into, tables=["public.film_actor"], overwrite=True)
    assert record.status == "succeeded", record.error
    assert facts(pg_cluster, into, "public.film_actor") == facts(pg_cluster, pagila, "public.film_actor")
    assert foreign_keys(pg_cluster, into, "public.film_actor") == {"film_actor_actor_id_fkey",
                                                                   "film_actor_film_id_fkey"}
    assert record.safety_backup.status == "succeeded"
    assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)


def test_a_table_that_is_not_in_the_backup_is_refused_by_name(pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    with pytest.raises(restore.RestoreRefused, match=r"table public\.rentals is not in backup #\d+ \(it has "):
        restore.restore_create(backup=backup, into="never_made", tables=["public.rentals"])
    assert not RestoreRecord.objects.exists()


@pytest.mark.parametrize("name", ["rental", "public.rental.x", "public.", "public.rental; DROP TABLE x"])
def test_a_malformed_table_name_is_refused(pagila, make_target, backup_root, name):
    backup = make_backup(make_target(pagila), "custom")
    with pytest.raises(restore.RestoreRefused, match="is not a table name: write SCHEMA.TABLE"):
        restore.restore_create(backup=backup, into="never_made", tables=[name])


def test_single_tables_from_a_plain_sql_backup_are_refused_with_the_reason(pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "sql")
    with pytest.raises(restore.RestoreRefused, match="single-table restores need a custom-format backup"):
        restore.restore_create(backup=backup, into="never_made", tables=["public.rental"])


def test_rental_replaces_its_copy_with_the_views_and_foreign_keys_built_on_it(
    pg_cluster, pagila, make_target, backup_root, fresh_db
):
    backup = make_backup(make_target(pagila), "custom")
    into = fresh_db("pagila_rental_damaged", template=pagila)
    pg_cluster.sql("ALTER TABLE rental DISABLE TRIGGER ALL; DELETE FROM rental WHERE rental_id % 2 = 0; "
                   "ALTER TABLE rental ENABLE TRIGGER ALL", dbname=into)

    record = run_restore(backup, into, tables=["public.rental"], overwrite=True)
    assert record.status == "succeeded", record.error
    assert facts(pg_cluster, into, "public.rental") == facts(pg_cluster, pagila, "public.rental")
    # payment's foreign keys to rental and the rental_by_category view were rebuilt, not lost.
    assert object_counts(pg_cluster, into) == object_counts(pg_cluster, pagila)
    assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)
