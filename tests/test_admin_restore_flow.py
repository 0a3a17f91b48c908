"""restore_backup and verify_backup with real backups: queued from the admin, run by the worker's own tasks."""

import pytest
from django.contrib.admin.models import LogEntry
from django_q.models import OrmQ

from backups_app import tasks
from backups_app.models import BackupRecord, RestoreRecord, VerificationRecord
from backups_app.services.backups import dump
from backups_app.services.setup.roles import BACKUP_OPERATORS, RESTORE_OPERATORS
from tests.admin_support import changelist, messages_of, post_action

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture
def source(fresh_db, pg_cluster):
    name = fresh_db("bc_admin_source")
    pg_cluster.sql("CREATE TABLE public.trades (id int PRIMARY KEY, symbol text NOT NULL); "
                   "CREATE INDEX trades_symbol ON public.trades (symbol); "
                   "CREATE TABLE public.quotes (id int); "
                   "INSERT INTO public.trades SELECT g, 'S' || g FROM generate_series(1, 500) g; "
                   "INSERT INTO public.quotes SELECT generate_series(1, 20)", dbname=name)
    return name


@pytest.fixture
def backup(source, make_target, backup_root):
    record = dump.backup_create(target=make_target(source), backup_type="manual", fmt="custom")
    record = dump.backup_execute(record_id=record.pk)
    assert record.status == "succeeded", record.error
    return record


@pytest.fixture
def dropped(pg_cluster):
    """Names of databases a restore creates, dropped at the end of the test."""
    names = []
    yield names.append
    for name in names:
        pg_cluster.dropdb(name)


def queued(func: str):
    return [row.task["args"] for row in OrmQ.objects.all() if row.task["func"] == f"backups_app.tasks.{func}"]


def test_a_backup_restores_into_a_new_database_from_the_admin(as_role, backup, pg_cluster, dropped,
                                                               django_capture_on_commit_callbacks):
    client = as_role(RESTORE_OPERATORS)
    into = "bc_admin_restored"
    dropped(into)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(client, "backuprecord", "restore_backup", [backup], apply=True, into=into, jobs="1")
    assert response.status_code == 302
    record = RestoreRecord.objects.get()
    assert messages_of(response) == [
        f"Queued restore #{record.pk} of backup #{backup.pk} into {pg_cluster.host}:{pg_cluster.port}/{into}."]
    assert queued("run_restore") == [(record.pk,)]
    history = LogEntry.objects.filter(user=client.user)
    assert {(e.content_type.model, e.object_id) for e in history} == {
        ("backuprecord", str(backup.pk)), ("restorerecord", str(record.pk))}
    assert all(e.change_message == f"Queued restore #{record.pk} into database {into}." for e in history)
    assert tasks.run_restore(record.pk) == "succeeded"
    assert pg_cluster.sql("SELECT count(*) FROM public.trades", dbname=into) == [(500,)]
    assert pg_cluster.sql("SELECT count(*) FROM public.quotes", dbname=into) == [(20,)]


def test_one_table_restores_with_its_index(as_role, backup, pg_cluster, dropped,
                                           django_capture_on_commit_callbacks):
    into = "bc_admin_one_table"
    dropped(into)
    with django_capture_on_commit_callbacks(execute=True):
        post_action(as_role(RESTORE_OPERATORS), "backuprecord", "restore_backup", [backup], apply=True, into=into,
                    tables="public.trades", jobs="1")
    record = RestoreRecord.objects.get()
    assert record.tables == ["public.trades"]
    assert tasks.run_restore(record.pk) == "succeeded", RestoreRecord.objects.get().error
    tables = pg_cluster.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", dbname=into)
    assert tables == [("trades",)]
    indexes = {r[0] for r in pg_cluster.sql("SELECT indexname FROM pg_indexes WHERE tablename = 'trades'",
                                            dbname=into)}
    assert indexes == {"trades_pkey", "trades_symbol"}


def test_a_refused_restore_says_why_on_the_form_and_creates_nothing(as_role, backup, source):
    response = post_action(as_role(RESTORE_OPERATORS), "backuprecord", "restore_backup", [backup], apply=True,
                           into=source, jobs="1")
    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors()
    assert error.startswith(f"database {source} already holds objects")
    assert RestoreRecord.objects.count() == 0 and OrmQ.objects.count() == 0


def test_overwriting_needs_the_typed_name_and_then_is_queued_as_an_overwrite(as_role, backup, source):
    client = as_role(RESTORE_OPERATORS)
    response = post_action(client, "backuprecord", "restore_backup", [backup], apply=True, into=source, jobs="1",
                           overwrite="on", confirm_name="something else")
    assert response.status_code == 200 and "confirm_name" in response.context["form"].errors
    assert RestoreRecord.objects.count() == 0
    response = post_action(client, "backuprecord", "restore_backup", [backup], apply=True, into=source, jobs="1",
                           overwrite="on", confirm_name=source)
    assert response.status_code == 302
    record = RestoreRecord.objects.get()
    assert (record.target_database, record.overwrite, record.status) == (source, True, "queued")
    assert messages_of(response)[0].endswith(f"into {record.server_address}.") and record.server_address.endswith(
        f"/{source}")


@pytest.mark.parametrize("drill", [False, True], ids=["checksum", "drill"])
def test_a_verification_queued_from_the_admin_runs_and_shows_on_the_list(
    as_role, backup, drill, django_capture_on_commit_callbacks
):
    client = as_role(BACKUP_OPERATORS)
    with django_capture_on_commit_callbacks(execute=True):
        post_action(client, "backuprecord", "verify_backup", [backup], apply=True, **({"drill": "on"} if drill else {}))
    record = VerificationRecord.objects.get()
    assert (record.drill, queued("run_verify")) == (drill, [(record.pk,)])
    assert tasks.run_verify(record.pk) == "succeeded", VerificationRecord.objects.get().error
    assert BackupRecord.objects.get(pk=backup.pk).last_verify_ok is True
    assert b'title="">verified</span>' in client.get(changelist("backuprecord")).content  # its badge


def test_skipping_owners_and_grants_is_passed_on_and_left_automatic_otherwise(as_role, backup, dropped):
    client = as_role(RESTORE_OPERATORS)
    dropped("bc_admin_opts")
    post_action(client, "backuprecord", "restore_backup", [backup], apply=True, into="bc_admin_opts", jobs="1",
                no_owner="on", no_acl="on")
    post_action(client, "backuprecord", "restore_backup", [backup], apply=True, into="bc_admin_opts2", jobs="1")
    assert list(RestoreRecord.objects.order_by("id").values_list("no_owner", "no_acl")) == [
        (True, True), (None, None)]
