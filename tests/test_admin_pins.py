"""pin_backup / unpin_backup: a legal hold with a reason, who and when, in the admin history."""

import pytest
from django.contrib.admin.models import LogEntry

from backups_app.models import BackupRecord, DatabaseTarget
from backups_app.services.setup.roles import BACKUP_OPERATORS
from tests.admin_support import messages_of, post_action

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture
def backups(db):
    target = DatabaseTarget.objects.create(name="main", dbname="trading_system")
    return [BackupRecord.objects.create(target=target, backup_type="daily", format="custom", status=status)
            for status in ("succeeded", "succeeded", "pruned")]


def test_pinning_asks_for_a_reason_first(as_role, backups):
    client = as_role(BACKUP_OPERATORS)
    response = post_action(client, "backuprecord", "pin_backup", backups[:1])
    assert response.status_code == 200 and "reason" in response.context["form"].fields
    response = post_action(client, "backuprecord", "pin_backup", backups[:1], apply=True, reason="   ")
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    assert not BackupRecord.objects.filter(pinned=True).exists()


def test_a_pin_records_reason_who_and_when_and_leaves_history(as_role, backups):
    client = as_role(BACKUP_OPERATORS)
    response = post_action(client, "backuprecord", "pin_backup", backups[:2], apply=True,
                           reason="  audit   ticket 42 ")
    assert response.status_code == 302
    for record in BackupRecord.objects.filter(pk__in=[b.pk for b in backups[:2]]):
        who = client.user.username
        assert (record.pinned, record.pinned_reason, record.pinned_by) == (True, "audit ticket 42", who)
        assert record.pinned_at is not None
    assert messages_of(response) == [f"Pinned #{backups[0].pk}, #{backups[1].pk}."]
    assert LogEntry.objects.filter(user=client.user, change_message="Pinned: audit ticket 42").count() == 2


def test_a_pruned_backup_cannot_be_pinned(as_role, backups):
    response = post_action(as_role(BACKUP_OPERATORS), "backuprecord", "pin_backup", backups[2:], apply=True,
                           reason="too late")
    assert not BackupRecord.objects.get(pk=backups[2].pk).pinned
    assert f"backup #{backups[2].pk} was already pruned; its file is gone" in messages_of(response)


def test_unpinning_lifts_the_hold_and_keeps_the_old_reason_in_history(as_role, backups):
    BackupRecord.objects.filter(pk=backups[0].pk).update(pinned=True, pinned_reason="court order", pinned_by="x")
    client = as_role(BACKUP_OPERATORS)
    response = post_action(client, "backuprecord", "unpin_backup", backups[:2])
    record = BackupRecord.objects.get(pk=backups[0].pk)
    assert (record.pinned, record.pinned_reason, record.pinned_by, record.pinned_at) == (False, "", "", None)
    assert messages_of(response) == [f"Unpinned #{backups[0].pk}."]
    entry = LogEntry.objects.get(user=client.user)
    assert entry.object_id == str(backups[0].pk)
    assert entry.change_message == "Unpinned (it was pinned because: court order)"
