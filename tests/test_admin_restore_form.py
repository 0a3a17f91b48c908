"""restore_backup: only one succeeded backup, and an overwrite needs the checkbox plus the typed name."""

import pytest

from backups_app.forms import RestoreForm
from backups_app.models import BackupRecord, DatabaseTarget, RestoreRecord
from backups_app.services.restores import restore
from backups_app.services.setup.roles import RESTORE_OPERATORS
from tests.admin_support import messages_of, post_action

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def form(**data):
    return RestoreForm({"into": "pagila_copy", "jobs": "1", **data})


def test_a_new_database_needs_no_confirmation():
    f = form()
    assert f.is_valid(), f.errors
    assert (f.cleaned_data["into"], f.cleaned_data["overwrite"], f.cleaned_data["tables"]) == ("pagila_copy", False, [])


def test_overwrite_without_the_typed_name_is_refused():
    f = form(overwrite="on")
    assert not f.is_valid()
    assert f.errors["confirm_name"] == ["Type pagila_copy exactly to overwrite it."]


def test_overwrite_with_a_different_typed_name_is_refused():
    assert "confirm_name" in form(overwrite="on", confirm_name="pagila").errors


def test_a_typed_name_without_the_checkbox_is_refused():
    assert "overwrite" in form(confirm_name="pagila_copy").errors


def test_overwrite_with_checkbox_and_typed_name_is_accepted():
    f = form(overwrite="on", confirm_name="pagila_copy")
    assert f.is_valid(), f.errors
    assert f.cleaned_data["overwrite"] is True


def test_tables_are_schema_qualified_and_deduplicated():
    f = form(tables="public.rental, public.film\npublic.rental")
    assert f.is_valid(), f.errors
    assert f.cleaned_data["tables"] == ["public.rental", "public.film"]
    assert "rental" in form(tables="rental").errors["tables"][0]


@pytest.mark.parametrize("name", ["", "a b", "x;drop", "a" * 64, 'quo"te'])
def test_a_database_name_that_is_not_plain_is_refused(name):
    assert "into" in form(into=name).errors


@pytest.fixture
def backups(db):
    target = DatabaseTarget.objects.create(name="main", dbname="trading_system")
    return {status: BackupRecord.objects.create(target=target, backup_type="manual", format="custom", status=status)
            for status in ("succeeded", "failed", "running")}


@pytest.mark.parametrize("status", ["failed", "running"])
def test_only_a_succeeded_backup_can_be_restored(as_role, backups, status):
    response = post_action(as_role(RESTORE_OPERATORS), "backuprecord", "restore_backup", [backups[status]],
                           apply=True, into="copy", jobs="1")
    assert response.status_code == 302
    assert RestoreRecord.objects.count() == 0
    [message] = messages_of(response)
    assert message.startswith("Only succeeded backups can be restored; left alone: #")


def test_one_backup_at_a_time(as_role, backups):
    response = post_action(as_role(RESTORE_OPERATORS), "backuprecord", "restore_backup",
                           [backups["succeeded"], backups["failed"]])
    assert messages_of(response) == ["Choose exactly one backup to restore."]
    assert RestoreRecord.objects.count() == 0


def test_the_form_proposes_a_new_database_name(as_role, backups):
    backup = backups["succeeded"]
    response = post_action(as_role(RESTORE_OPERATORS), "backuprecord", "restore_backup", [backup])
    assert response.status_code == 200
    assert response.context["form"]["into"].value() == restore.default_database_name(backup)
    assert RestoreRecord.objects.count() == 0



def test_tables_known_from_the_archive_are_picked_not_typed():
    form = RestoreForm({"into": "copy", "jobs": 1, "tables": ["public.actor"]}, tables=["public.actor", "public.film"])
    assert form.is_valid(), form.errors
    assert form.cleaned_data["tables"] == ["public.actor"]
    assert 'id="id_tables"' in str(form["tables"]) and "SelectFilter" in str(form.media)
    refused = RestoreForm({"into": "copy", "jobs": 1, "tables": ["public.nope"]}, tables=["public.actor"])
    assert not refused.is_valid() and "tables" in refused.errors
