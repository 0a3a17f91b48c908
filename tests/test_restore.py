"""Restoring whole pagila backups: into new names, into empty or existing databases, overwrite, errors."""

import threading
import time
from pathlib import Path

import pytest
from django.utils import timezone

from backups_app.models import BackupRecord, RestoreRecord
from backups_app.services.restores import restore
from tests.dbcompare import object_counts, row_counts
from tests.restore_helpers import database_names, dropping, make_backup, run_restore

pytestmark = pytest.mark.django_db
FORMATS = ["custom", "sql"]


def same_as_source(cluster, source, copy):
    assert object_counts(cluster, copy) == object_counts(cluster, source)
    assert row_counts(cluster, copy) == row_counts(cluster, source)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_backup_restores_into_a_new_database_under_another_name(pg_cluster, pagila, make_target, backup_root, fmt):
    backup = make_backup(make_target(pagila), fmt)
    into = f"pagila_copy_{fmt}"
    with dropping(pg_cluster, into):
        record = run_restore(backup, into)
        assert record.status == "succeeded", record.error
        same_as_source(pg_cluster, pagila, into)
    assert record.duration_seconds > 0
    assert not BackupRecord.objects.filter(is_safety_backup=True).exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_backup_restores_into_an_existing_empty_database(pg_cluster, pagila, make_target, backup_root, fresh_db,
                                                           fmt):
    backup = make_backup(make_target(pagila), fmt)
    into = fresh_db(f"pagila_empty_{fmt}")
    record = run_restore(backup, into)
    assert record.status == "succeeded", record.error
    same_as_source(pg_cluster, pagila, into)
    assert not BackupRecord.objects.filter(is_safety_backup=True).exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_database_holding_objects_is_refused_without_overwrite(pg_cluster, pagila, make_target, backup_root,
                                                                 fresh_db, fmt):
    backup = make_backup(make_target(pagila), fmt)
    into = fresh_db(f"pagila_busy_{fmt}")
    pg_cluster.sql("CREATE TABLE precious (id int); INSERT INTO precious VALUES (42)", dbname=into)
    with pytest.raises(restore.RestoreRefused, match="already holds objects .*table public.precious|"
                                                     "already holds objects .*relation public.precious"):
        restore.restore_create(backup=backup, into=into)
    assert not RestoreRecord.objects.exists()
    assert pg_cluster.sql("SELECT id FROM precious", dbname=into) == [(42,)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_overwrite_takes_a_safety_backup_then_replaces_the_database(pg_cluster, pagila, make_target, backup_root,
                                                                    fresh_db, fmt):
    backup = make_backup(make_target(pagila), fmt)
    into = fresh_db(f"pagila_over_{fmt}", template=pagila)
    pg_cluster.sql("TRUNCATE rental CASCADE; "
                   "CREATE TABLE scribble (note text); INSERT INTO scribble VALUES ('changed after the backup')",
                   dbname=into)
    record = run_restore(backup, into, overwrite=True)
    assert record.status == "succeeded", record.error
    # Exactly the backup's content: what was added since is gone too.
    same_as_source(pg_cluster, pagila, into)

    safety = record.safety_backup
    assert safety is not None and safety.is_safety_backup and safety.backup_type == "manual"
    assert safety.status == "succeeded" and safety.absolute_path.is_file()
    assert safety.target.dbname == into
    assert f"safety backup #{safety.pk}" in record.detail
    # The safety backup holds the database as it was just before: restore it and look.
    with dropping(pg_cluster, f"{into}_before"):
        before = run_restore(safety, f"{into}_before")
        assert before.status == "succeeded", before.error
        assert pg_cluster.sql("SELECT note FROM scribble", dbname=f"{into}_before") == [("changed after the backup",)]
        assert row_counts(pg_cluster, f"{into}_before")["public.rental"] == 0


def test_a_restore_that_hits_an_error_ends_failed_with_the_message_and_leaves_nothing(
    pg_cluster, make_target, backup_root, fresh_db
):
    source = fresh_db("owned_by_ghost")
    pg_cluster.sql("DROP ROLE IF EXISTS ghost_owner; CREATE ROLE ghost_owner")
    pg_cluster.sql("CREATE TABLE t (id int); INSERT INTO t VALUES (1); ALTER TABLE t OWNER TO ghost_owner",
                   dbname=source)
    backup = make_backup(make_target(source), "custom")
    pg_cluster.sql("REASSIGN OWNED BY ghost_owner TO postgres", dbname=source)
    pg_cluster.sql("DROP ROLE ghost_owner")

    record = run_restore(backup, "ghost_copy")
    assert record.status == "failed"
    assert 'role "ghost_owner" does not exist' in record.error
    assert "ghost_copy" not in database_names(pg_cluster), "the database the restore created is dropped again"

    # The same backup restores when owners are not kept.
    with dropping(pg_cluster, "ghost_copy"):
        record = run_restore(backup, "ghost_copy", no_owner=True)
        assert record.status == "succeeded", record.error
        assert pg_cluster.sql("SELECT id FROM t", dbname="ghost_copy") == [(1,)]


def test_a_failed_restore_into_an_existing_empty_database_changes_nothing(pg_cluster, make_target, backup_root,
                                                                         fresh_db):
    source = fresh_db("two_tables")
    pg_cluster.sql("DROP ROLE IF EXISTS ghost_two; CREATE ROLE ghost_two")
    pg_cluster.sql("CREATE TABLE a (id int); INSERT INTO a VALUES (1); CREATE TABLE b (id int); "
                   "ALTER TABLE b OWNER TO ghost_two", dbname=source)
    backup = make_backup(make_target(source), "custom")
    pg_cluster.sql("REASSIGN OWNED BY ghost_two TO postgres", dbname=source)
    pg_cluster.sql("DROP ROLE ghost_two")
    into = fresh_db("two_tables_empty")

    record = run_restore(backup, into)
    assert record.status == "failed" and "ghost_two" in record.error
    assert row_counts(pg_cluster, into) == {}, "one transaction: table a is not left behind either"


def test_restore_tools_never_see_the_password_in_their_arguments(pg_cluster, pagila, make_target, backup_root):
    backup = make_backup(make_target(pagila), "custom")
    seen, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    args = cmdline.read_bytes().split(b"\0")
                except OSError:
                    continue
                if args and Path(args[0].decode(errors="replace")).name in ("pg_restore", "psql"):
                    seen.append(b" ".join(args).decode(errors="replace"))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with dropping(pg_cluster, "pagila_argv"):
        try:
            record = run_restore(backup, "pagila_argv")
        finally:
            stop.set()
            watcher.join()
    assert record.status == "succeeded", record.error
    assert any("pagila_argv" in cmd for cmd in seen), "the watcher saw pg_restore run"
    assert not [cmd for cmd in seen if pg_cluster.password in cmd]
    assert pg_cluster.password not in record.detail + record.error


def test_the_default_name_is_derived_from_the_source_and_the_backup_time(pg_cluster, pagila, make_target,
                                                                         backup_root):
    backup = make_backup(make_target(pagila), "custom")
    stamp = timezone.localtime(backup.created_at).strftime("%Y%m%d_%H%M%S")
    assert restore.default_database_name(backup) == f"pagila_restore_{stamp}"
    assert restore.default_database_name(backup) not in database_names(pg_cluster)


def test_overwriting_the_targets_own_database_takes_its_safety_backup_inside_the_restores_lock(
    pg_cluster, pagila, make_target, backup_root, fresh_db
):
    own = fresh_db("pagila_own", template=pagila)
    target = make_target(own)
    backup = make_backup(target, "custom")
    pg_cluster.sql("TRUNCATE rental CASCADE", dbname=own)
    record = run_restore(backup, own, overwrite=True)
    assert record.status == "succeeded", record.error
    assert record.safety_backup.target == target and record.safety_backup.status == "succeeded"
    assert row_counts(pg_cluster, own) == row_counts(pg_cluster, pagila)
    target.refresh_from_db()
    assert target.lock_holder == "", "the lock is released"


def test_a_restore_waits_for_the_targets_lock_and_gives_up_with_a_clear_message(
    pg_cluster, pagila, make_target, backup_root, settings
):
    from datetime import timedelta

    from backups_app.models import DatabaseTarget

    target = make_target(pagila)
    backup = make_backup(target, "custom")
    settings.JOB_LOCK_WAIT_SECONDS = 1
    DatabaseTarget.objects.filter(pk=target.pk).update(lock_holder="BackupRecord:999",
                                                      lock_expires_at=timezone.now() + timedelta(minutes=5))
    record = run_restore(backup, "pagila_locked_out")
    assert record.status == "failed" and f"'{target.name}'" in record.error and "try again later" in record.error
    assert "pagila_locked_out" not in database_names(pg_cluster)


def test_parallel_jobs_into_an_existing_database_are_refused(pg_cluster, pagila, make_target, backup_root,
                                                              fresh_db):
    backup = make_backup(make_target(pagila), "custom")
    with pytest.raises(restore.RestoreRefused, match="--jobs works only for a new database"):
        restore.restore_create(backup=backup, into=fresh_db("pagila_empty_jobs"), jobs=2)
    with pytest.raises(restore.RestoreRefused, match="parallel restore .* needs a custom-format backup"):
        restore.restore_create(backup=make_backup(make_target(pagila, name="sql"), "sql"), into="x", jobs=2)
