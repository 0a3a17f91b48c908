"""verify_backup: succeeded backups only, optional drill, one queued verification each."""

import pytest
from django.contrib.admin.models import LogEntry
from django_q.models import OrmQ

from backups_app.models import BackupRecord, DatabaseTarget, VerificationRecord
from backups_app.services.setup.roles import BACKUP_OPERATORS
from tests.admin_support import messages_of, post_action

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture
def backups(db):
    target = DatabaseTarget.objects.create(name="main", dbname="trading_system")
    return [BackupRecord.objects.create(target=target, backup_type="daily", format="custom", status=status)
            for status in ("succeeded", "succeeded", "failed")]


def test_the_first_click_offers_a_drill_and_queues_nothing(as_role, backups):
    response = post_action(as_role(BACKUP_OPERATORS), "backuprecord", "verify_backup", backups[:2])
    assert response.status_code == 200
    assert list(response.context["form"].fields) == ["drill"]
    assert VerificationRecord.objects.count() == 0


def test_unfinished_backups_are_left_alone_with_a_message(as_role, backups):
    response = post_action(as_role(BACKUP_OPERATORS), "backuprecord", "verify_backup", backups[2:], apply=True)
    assert response.status_code == 302
    assert messages_of(response) == [
        f"Only succeeded backups can be verified; left alone: #{backups[2].pk} (failed)."]
    assert VerificationRecord.objects.count() == 0


@pytest.mark.parametrize("drill", [False, True])
def test_each_succeeded_backup_gets_a_queued_verification(as_role, backups, drill,
                                                         django_capture_on_commit_callbacks):
    client = as_role(BACKUP_OPERATORS)
    data = {"drill": "on"} if drill else {}
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(client, "backuprecord", "verify_backup", backups, apply=True, **data)
    records = list(VerificationRecord.objects.order_by("backup_id"))
    assert [(r.backup_id, r.drill, r.status, r.requested_by) for r in records] == [
        (b.pk, drill, "queued", client.user) for b in backups[:2]]
    assert sorted((row.task["func"], row.task["args"]) for row in OrmQ.objects.all()) == sorted(
        ("backups_app.tasks.run_verify", (r.pk,)) for r in records)
    assert f"Queued the verification of 2 backups: #{backups[0].pk}, #{backups[1].pk}." in messages_of(response)
    assert LogEntry.objects.filter(user=client.user).count() == 4
