"""The default target and DB_*: one server per target, in this process (services/targets/agreement.py).

DB_* here are set the way settings read them (the settings and the
environment together); a disagreeing process names the built-in defaults,
localhost:5432/trading_system, while the record names the test cluster.
"""

from datetime import time as clock
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backups_app import tasks
from backups_app.models import BackupRecord, BackupSchedule, DatabaseTarget, RestoreRecord, RetentionPolicy
from backups_app.services.restores import restore
from backups_app.services.scheduled import run as scheduled_run
from backups_app.services.targets import agreement, connection_test, lookup
from backups_app.services.verify import verify
from tests.admin_support import changelist, messages_of, post_action
from tests.restore_helpers import database_names, dropping, make_backup, run_verify

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

BUILT_IN = ("localhost", 5432, "trading_system", "postgres")


@pytest.fixture
def db_settings(settings, monkeypatch):
    """DB_* of this process: point(host, port, dbname, user[, password]); point(None) takes them away."""
    def point(host, port=None, dbname=None, user=None, password=None):
        for name in ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        if host is None:
            settings.DB_HOST, settings.DB_PORT, settings.DB_NAME, settings.DB_USER = BUILT_IN
            return
        settings.DB_HOST, settings.DB_PORT, settings.DB_NAME, settings.DB_USER = host, port, dbname, user
        for name, value in (("DB_HOST", host), ("DB_PORT", port), ("DB_NAME", dbname), ("DB_USER", user),
                            ("DB_PASSWORD", password)):
            if value is not None:
                monkeypatch.setenv(name, str(value))
    return point


@pytest.fixture
def default(make_target, pagila, backup_root):
    """The default target on the test cluster, with one succeeded backup taken from it."""
    target = make_target(pagila, name="default")
    make_backup(target)
    return target


def where(target) -> tuple:
    target.refresh_from_db()
    return target.host, target.port, target.dbname, target.user


def test_without_db_settings_the_default_target_is_used_as_it_is(default, db_settings, pg_cluster, pagila):
    db_settings(None)
    assert where(lookup.get_target("default")) == (pg_cluster.host, pg_cluster.port, pagila, pg_cluster.user)
    assert lookup.sync_default() is None
    assert where(default) == (pg_cluster.host, pg_cluster.port, pagila, pg_cluster.user)


def test_it_follows_db_settings_until_a_backup_of_it_succeeds(make_target, db_settings, pg_cluster, pagila,
                                                               backup_root):
    target = make_target(pagila, name="default", host="elsewhere.invalid", port=6543)
    BackupRecord.objects.create(target=target, backup_type="manual", format="custom", status="failed")
    db_settings(pg_cluster.host, pg_cluster.port, pagila, pg_cluster.user)
    assert where(lookup.get_target("default")) == (pg_cluster.host, pg_cluster.port, pagila, pg_cluster.user)
    target.refresh_from_db()
    make_backup(target)

    db_settings(*BUILT_IN)
    assert where(lookup.get_target("default")) == (pg_cluster.host, pg_cluster.port, pagila, pg_cluster.user)
    assert lookup.sync_default() is not None
    assert where(target) == (pg_cluster.host, pg_cluster.port, pagila, pg_cluster.user)


def test_a_disagreeing_process_refuses_a_restore_and_creates_nothing(default, db_settings, pg_cluster):
    db_settings(*BUILT_IN)
    backup = BackupRecord.objects.get()
    before = database_names(pg_cluster)
    with pytest.raises(restore.RestoreRefused) as refused:
        restore.restore_create(backup=backup, into="bc_disagree")
    message = str(refused.value)
    assert f"{pg_cluster.host}:{pg_cluster.port}/" in message and "localhost:5432/trading_system" in message
    assert "\n" not in message and not RestoreRecord.objects.exists()
    assert database_names(pg_cluster) == before


def test_a_queued_restore_runs_where_it_was_asked_for_or_not_at_all(default, db_settings, pg_cluster):
    record = restore.restore_create(backup=BackupRecord.objects.get(), into="bc_moved_since")
    assert record.server_address == f"{pg_cluster.host}:{pg_cluster.port}/bc_moved_since"
    DatabaseTarget.objects.filter(pk=default.pk).update(port=pg_cluster.port + 1)  # moved before the worker ran
    with dropping(pg_cluster, "bc_moved_since"):
        record = restore.restore_execute(record_id=record.pk)
        assert record.status == "failed" and "as when this job was asked for" in record.error
        assert "bc_moved_since" not in database_names(pg_cluster)


def test_a_queued_backup_from_a_disagreeing_worker_is_refused_with_the_reason(default, db_settings):
    from backups_app.services.backups import dump

    record = dump.backup_create(target=default, backup_type="manual", fmt="custom")
    db_settings(*BUILT_IN)
    record = dump.backup_execute(record_id=record.pk)
    assert record.status == "failed" and "localhost:5432/trading_system" in record.error
    assert not record.path


def test_back_up_now_from_a_disagreeing_web_server_queues_nothing(default, db_settings, superuser_client):
    db_settings(*BUILT_IN)
    response = post_action(superuser_client, "databasetarget", "backup_now", [default], apply=True,
                           backup_type="manual", format="custom")
    assert any("localhost:5432/trading_system" in m for m in messages_of(response))
    assert BackupRecord.objects.count() == 1  # the one the fixture made


def test_a_scheduled_drill_is_refused_and_the_backups_verification_stays_as_it_was(default, db_settings):
    db_settings(*BUILT_IN)
    schedule = BackupSchedule.objects.create(name="drill default", target=default, action="drill", kind="daily",
                                             time_of_day=clock(4, 0))
    said = scheduled_run.run_scheduled(schedule_id=schedule.pk)
    assert "drill of backup" in said and "localhost:5432/trading_system" in said
    schedule.refresh_from_db()
    assert schedule.last_status == "failed"
    backup = BackupRecord.objects.get()
    assert backup.last_verify_ok is None and not RestoreRecord.objects.exists()


def test_a_queued_drill_in_a_disagreeing_worker_is_refused_not_failed(default, db_settings):
    record = verify.verify_create(backup=BackupRecord.objects.get(), drill=True)
    db_settings(*BUILT_IN)
    record = verify.verify_execute(record_id=record.pk)
    assert record.status == "failed" and record.error.startswith("drill refused: target default names ")
    assert BackupRecord.objects.get().last_verify_ok is None


def test_pruning_the_default_targets_backups_is_refused_and_deletes_nothing(default, db_settings):
    old = BackupRecord.objects.get()
    BackupRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=90))
    make_backup(default)
    policy = RetentionPolicy.objects.create(name="thirty days", keep_days=30, min_keep=1)
    db_settings(*BUILT_IN)
    with pytest.raises(agreement.Disagreement, match="localhost:5432/trading_system"):
        tasks.run_prune(policy.pk)
    old.refresh_from_db()
    assert old.status == "succeeded" and old.absolute_path.exists()


def test_the_admin_does_not_queue_a_prune_it_would_refuse(default, db_settings, superuser_client):
    policy = RetentionPolicy.objects.create(name="thirty days", keep_days=30, min_keep=1)
    db_settings(*BUILT_IN)
    response = superuser_client.post(changelist("retentionpolicy"), {
        "action": "prune_now", "_selected_action": [policy.pk], "confirm": "yes"}, follow=True)
    said = " ".join(messages_of(response))
    assert "thirty days was not queued: target default names" in said


def test_the_targets_page_says_so_and_leaves_the_target_alone(default, db_settings, superuser_client, pg_cluster):
    db_settings(*BUILT_IN)
    before = where(default)
    for url in (changelist("databasetarget"), reverse("admin:backups_app_databasetarget_change", args=[default.pk])):
        response = superuser_client.get(url)
        said = " ".join(messages_of(response))
        assert f"{pg_cluster.host}:{pg_cluster.port}" in said and "localhost:5432/trading_system" in said
        assert "manage.py default_target --adopt-environment" in said
        assert where(default) == before


def test_test_connection_names_the_disagreement(default, db_settings):
    db_settings(*BUILT_IN)
    report = connection_test.connection_check(target=default)
    assert not report.ok
    assert any("localhost:5432/trading_system" in p and "--adopt-environment" in p for p in report.problems)


def test_the_operator_adopts_the_environment_and_earlier_backups_keep_their_server(default, db_settings,
                                                                                   pg_cluster, pagila):
    db_settings(None)
    with pytest.raises(agreement.Disagreement, match="DB_\\* are not set here"):
        agreement.adopt()
    db_settings(*BUILT_IN)
    said = agreement.adopt()
    assert "now names localhost:5432/trading_system as postgres" in said
    assert where(default) == BUILT_IN
    assert BackupRecord.objects.get().server_address == f"{pg_cluster.host}:{pg_cluster.port}/{pagila}"


def test_a_demo_cluster_restarted_on_another_port_takes_its_targets_along(db):
    demo = DatabaseTarget.objects.create(name="default", host="127.0.0.1", port=40001, dbname="trading_system")
    other = DatabaseTarget.objects.create(name="other", host="127.0.0.1", port=40002, dbname="trading_system")
    assert lookup.server_moved(host="127.0.0.1", old_port=40001, new_port=40003) == 1
    assert where(demo)[1] == 40003 and where(other)[1] == 40002


# --- pages and outputs name the server --------------------------------------------------------

def test_the_restore_pages_name_the_server_and_database(default, superuser_client, pg_cluster, pagila,
                                                        django_capture_on_commit_callbacks):
    backup = BackupRecord.objects.get()
    server = f"{pg_cluster.host}:{pg_cluster.port}"
    page = post_action(superuser_client, "backuprecord", "restore_backup", [backup]).content.decode()
    assert f"Backup #{backup.pk} of {server}/{pagila} (target default)" in page
    assert f"It is restored on {server}, the server of target default" in page
    assert f"default ({server})" in page  # the server choices

    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(superuser_client, "backuprecord", "restore_backup", [backup], apply=True,
                               into="bc_named_server", jobs="1")
    record = RestoreRecord.objects.get()
    assert messages_of(response) == [f"Queued restore #{record.pk} of backup #{backup.pk} into "
                                     f"{server}/bc_named_server."]
    page = superuser_client.get(reverse("admin:backups_app_restorerecord_change", args=[record.pk])).content
    assert f"{server}/bc_named_server".encode() in page
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_change", args=[backup.pk])).content
    assert f"{server}/{pagila}".encode() in page


def test_the_verification_pages_name_the_server_the_backup_came_from_and_the_drills(
        default, superuser_client, pg_cluster, pagila):
    backup = BackupRecord.objects.get()
    server = f"{pg_cluster.host}:{pg_cluster.port}"
    page = post_action(superuser_client, "backuprecord", "verify_backup", [backup]).content.decode()
    assert f"default ({server}/{pagila})" in page
    record = run_verify(backup, drill=True)
    assert record.ok, record.error
    scratch = f"{server}/bc_drill_{backup.pk}_{record.pk}"
    assert f"into the scratch database {scratch} took" in record.detail
    page = superuser_client.get(reverse("admin:backups_app_verificationrecord_change", args=[record.pk])).content
    assert f"{server}/{pagila}".encode() in page and scratch.encode() in page
