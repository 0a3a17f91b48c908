"""The roles: made by the migration, kept exact by `manage.py setup_roles`, run again safely."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

from backups_app.services.setup import roles

pytestmark = pytest.mark.django_db


def perms_of(role: str) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name=role).permissions.all()}


def setup_roles_command() -> str:
    out = StringIO()
    call_command("setup_roles", stdout=out)
    return out.getvalue()


def test_the_migration_creates_every_role_with_exactly_its_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ROLES)
    for role, codenames in roles.ROLES.items():
        assert perms_of(role) == {f"backups_app.{c}" for c in codenames}


def test_restoring_belongs_to_one_role_only():
    assert [role for role, codenames in roles.ROLES.items() if "run_restore" in codenames] == [roles.RESTORE_OPERATORS]


def test_viewers_only_view_and_policy_editors_only_add_to_that():
    assert perms_of(roles.VIEWERS) == {f"backups_app.{c}" for c in roles.VIEW}
    extra = perms_of(roles.POLICY_EDITORS) - perms_of(roles.VIEWERS)
    assert extra == {"backups_app.add_retentionpolicy", "backups_app.change_retentionpolicy",
                     "backups_app.add_backupschedule", "backups_app.change_backupschedule"}


def test_running_it_again_changes_nothing():
    before = {role: perms_of(role) for role in roles.ROLES}
    assert setup_roles_command() == "4 roles ready (0 new, 0 corrected, 4 already right)\n"
    assert {role: perms_of(role) for role in roles.ROLES} == before
    assert Group.objects.filter(name__in=roles.ROLES).count() == 4


def test_it_recreates_a_deleted_role_and_corrects_drift():
    Group.objects.filter(name=roles.RESTORE_OPERATORS).delete()
    viewers = Group.objects.get(name=roles.VIEWERS)
    viewers.permissions.add(Permission.objects.get(codename="run_restore"))
    operators = Group.objects.get(name=roles.BACKUP_OPERATORS)
    operators.permissions.remove(Permission.objects.get(codename="run_prune"))
    out = setup_roles_command()
    assert "Restore operators: created" in out
    assert "Backup viewers: corrected; removed backups_app.run_restore" in out
    assert "Backup operators: corrected; added run_prune" in out
    assert out.endswith("4 roles ready (1 new, 2 corrected, 1 already right)\n")
    for role, codenames in roles.ROLES.items():
        assert perms_of(role) == {f"backups_app.{c}" for c in codenames}


def test_missing_permissions_are_a_clear_error_and_change_nothing():
    Permission.objects.filter(codename="run_prune").delete()
    before = perms_of(roles.VIEWERS)
    with pytest.raises(CommandError, match="permissions missing from the database: run_prune"):
        setup_roles_command()
    assert perms_of(roles.VIEWERS) == before
