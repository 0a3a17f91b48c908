"""backup_now: the intermediate page, one queued backup per target, the queue, and the queued job really run."""

import subprocess

import pytest
from django.contrib.admin.models import LogEntry
from django_q.models import OrmQ

from backups_app import tasks
from backups_app.models import BackupRecord
from backups_app.services.postgres import binaries
from backups_app.services.setup.roles import BACKUP_OPERATORS
from backups_app.services.storage.files import sha256_of
from tests.admin_support import message_links, messages_of, post_action

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture
def small_db(fresh_db, pg_cluster):
    name = fresh_db("bc_admin_small")
    pg_cluster.sql("CREATE TABLE public.trades (id int PRIMARY KEY, symbol text); "
                   "INSERT INTO public.trades SELECT g, 'S' || g FROM generate_series(1, 500) g", dbname=name)
    return name


def queued_tasks():
    return [row.task for row in OrmQ.objects.order_by("id")]


def test_the_first_click_asks_type_and_format_and_queues_nothing(as_role, make_target):
    target = make_target("db_one")
    response = post_action(as_role(BACKUP_OPERATORS), "databasetarget", "backup_now", [target])
    assert response.status_code == 200
    assert set(response.context["form"].fields) == {"backup_type", "format"}
    assert b'name="_selected_action"' in response.content
    assert BackupRecord.objects.count() == 0


def test_it_queues_one_backup_per_selected_target(as_role, make_target, django_capture_on_commit_callbacks):
    client = as_role(BACKUP_OPERATORS)
    targets = [make_target("db_one"), make_target("db_two")]
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(client, "databasetarget", "backup_now", targets, apply=True,
                               backup_type="daily", format="sql")
    assert response.status_code == 302
    records = list(BackupRecord.objects.order_by("id"))
    assert [(r.target.name, r.backup_type, r.format, r.status) for r in records] == [
        ("db-one", "daily", "sql", "queued"), ("db-two", "daily", "sql", "queued")]
    assert all(r.requested_by == client.user and r.started_by == client.user.username for r in records)
    assert [(t["func"], t["args"]) for t in queued_tasks()] == [
        ("backups_app.tasks.run_backup", (r.pk,)) for r in records]
    [message] = messages_of(response)
    assert message == f"Queued 2 backups: db-one: #{records[0].pk}, db-two: #{records[1].pk}."
    assert message_links(response) == [f"/admin/jobs/backup/{r.pk}/" for r in records]  # each to its job
    history = LogEntry.objects.filter(user=client.user)
    assert history.count() == 4  # one line on each target, one on each new record
    assert {e.object_repr for e in history} >= {"db-one", "db-two"}


def test_nothing_is_enqueued_when_the_transaction_does_not_commit(as_role, make_target,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post_action(as_role(BACKUP_OPERATORS), "databasetarget", "backup_now", [make_target("db_one")],
                    apply=True, backup_type="manual", format="custom")
    assert len(callbacks) == 1  # the enqueue waits for the commit
    assert OrmQ.objects.count() == 0


def test_an_invalid_choice_shows_the_form_again_and_queues_nothing(as_role, make_target):
    response = post_action(as_role(BACKUP_OPERATORS), "databasetarget", "backup_now", [make_target("db_one")],
                           apply=True, backup_type="hourly", format="custom")
    assert response.status_code == 200
    assert response.context["form"].errors["backup_type"]
    assert BackupRecord.objects.count() == 0 and OrmQ.objects.count() == 0


def test_an_inactive_target_is_skipped_with_a_warning(as_role, make_target):
    active, inactive = make_target("db_one"), make_target("db_two", is_active=False)
    response = post_action(as_role(BACKUP_OPERATORS), "databasetarget", "backup_now", [active, inactive],
                           apply=True, backup_type="manual", format="custom")
    assert list(BackupRecord.objects.values_list("target__name", flat=True)) == ["db-one"]
    assert "Not backed up, because the target is inactive: db-two." in messages_of(response)


def test_the_queued_backup_runs_through_the_task_and_leaves_a_good_file(
    as_role, make_target, small_db, backup_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_action(as_role(BACKUP_OPERATORS), "databasetarget", "backup_now", [make_target(small_db)],
                    apply=True, backup_type="manual", format="custom")
    [task] = queued_tasks()
    assert tasks.run_backup(*task["args"]) == "succeeded"  # the worker's own entry point, run inline
    record = BackupRecord.objects.get()
    assert record.status == "succeeded" and record.error == ""
    path = record.absolute_path
    assert path.parent == backup_root / "database" / "manual"
    assert (record.sha256, record.size_bytes) == sha256_of(path)
    reader = binaries.pg_restore_for(path).path  # the pg_dump the console chose may be newer than PATH's
    listing = subprocess.run([reader, "--list", str(path)], capture_output=True, text=True, check=True)
    assert "TABLE DATA public trades" in listing.stdout


def test_a_directory_backup_queued_from_the_admin_runs_and_is_one_folder(
    as_role, make_target, small_db, backup_root, settings, django_capture_on_commit_callbacks
):
    settings.BACKUP_DUMP_JOBS = 2
    with django_capture_on_commit_callbacks(execute=True):
        post_action(as_role(BACKUP_OPERATORS), "databasetarget", "backup_now", [make_target(small_db)],
                    apply=True, backup_type="manual", format="directory")
    [task] = queued_tasks()
    assert tasks.run_backup(*task["args"]) == "succeeded"
    record = BackupRecord.objects.get()
    assert record.format == "directory" and record.absolute_path.is_dir()
    reader = binaries.pg_restore_for(record.absolute_path, dump_version=record.pg_dump_version).path
    listing = subprocess.run([reader, "--list", str(record.absolute_path)], capture_output=True, text=True, check=True)
    assert "TABLE DATA public trades" in listing.stdout


def test_one_backup_asked_for_opens_its_job_to_watch_it(as_role, make_target, django_capture_on_commit_callbacks):
    client = as_role(BACKUP_OPERATORS)
    with django_capture_on_commit_callbacks(execute=False):
        response = post_action(client, "databasetarget", "backup_now", [make_target("db_one")], apply=True,
                               backup_type="manual", format="custom")
    [record] = BackupRecord.objects.all()
    assert response.status_code == 302 and response["Location"] == f"/admin/jobs/backup/{record.pk}/"


def test_a_timescaledb_target_is_offered_the_directory_format_and_others_custom(
        as_role, make_target, superuser_client, django_capture_on_commit_callbacks):
    """What the target's last good backup found in its database decides (services/targets/formats.py)."""
    ticks, shop = make_target("fx_ticks"), make_target("shop")
    for target, extensions in ((ticks, {"timescaledb": "2.28.3", "plpgsql": ""}), (shop, {"plpgsql": ""})):
        BackupRecord.objects.create(target=target, backup_type="daily", format="custom", status="succeeded",
                                    path=f"database/daily/{target.name}.dump", extensions=extensions)
    client = as_role(BACKUP_OPERATORS)
    form = post_action(client, "databasetarget", "backup_now", [ticks]).context["form"]
    assert form["format"].value() == "directory"
    for chosen in ([shop], [ticks, shop]):
        assert post_action(client, "databasetarget", "backup_now", chosen).context["form"]["format"].value() == "custom"
    from django.urls import reverse
    with django_capture_on_commit_callbacks(execute=False):
        for target in (ticks, shop):
            superuser_client.post(reverse("admin:backups_app_databasetarget_backup_now", args=[target.pk]) + "?quick=1")
    queued = dict(BackupRecord.objects.filter(status="queued").values_list("target__name", "format"))
    assert queued == {ticks.name: "directory", shop.name: "custom"}
