"""Each role x each page and action of the console: allowed, or refused by the server (403 / not offered)."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db.models import QuerySet
from django.urls import reverse
from django_q.models import OrmQ

from backups_app.models import (
    ApiToken,
    BackupRecord,
    BackupSchedule,
    BackupStorage,
    DatabaseTarget,
    Notification,
    NotificationChannel,
    RestoreRecord,
    RetentionPolicy,
    ServerRun,
    VerificationRecord,
)
from backups_app.services.setup.roles import BACKUP_OPERATORS, POLICY_EDITORS, RESTORE_OPERATORS, VIEWERS
from backups_app.services.web import tokens
from tests.admin_support import action_names, changelist, post_action

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

ROLES = [VIEWERS, POLICY_EDITORS, BACKUP_OPERATORS, RESTORE_OPERATORS]
MODELS = ["databasetarget", "backuprecord", "restorerecord", "verificationrecord", "retentionpolicy",
          "backupschedule"]

TARGET_ACTIONS = {"backup_now", "test_connection"}
BACKUP_ACTIONS = {"restore_backup", "verify_backup", "copy_offsite", "pin_backup", "unpin_backup"}
ALLOWED_ACTIONS = {
    VIEWERS: set(),
    POLICY_EDITORS: set(),
    BACKUP_OPERATORS: {"backup_now", "test_connection", "verify_backup", "copy_offsite", "pin_backup", "unpin_backup"},
    RESTORE_OPERATORS: {"restore_backup"},
}
CAN_ADD = {
    VIEWERS: set(),
    POLICY_EDITORS: {"retentionpolicy", "backupschedule"},
    BACKUP_OPERATORS: set(),
    RESTORE_OPERATORS: set(),
}


@pytest.fixture
def objects(db):
    # Port 1 refuses at once: test_connection fails fast without a server.
    target = DatabaseTarget.objects.create(name="t1", host="127.0.0.1", port=1, dbname="db1",
                                           password_source="none")
    backup = BackupRecord.objects.create(target=target, backup_type="manual", format="custom",
                                         status="succeeded", path="database/manual/db1.dump", size_bytes=10,
                                         pinned=True, pinned_reason="audit", pinned_by="someone")
    return {
        "databasetarget": target,
        "backuprecord": backup,
        "restorerecord": RestoreRecord.objects.create(backup=backup, server=target, target_database="db1_copy"),
        "verificationrecord": VerificationRecord.objects.create(backup=backup),
        "retentionpolicy": RetentionPolicy.objects.create(name="p1"),
        "backupschedule": BackupSchedule.objects.create(name="s1", target=target, backup_type="daily",
                                                        kind="daily"),
    }


def change_url(obj) -> str:
    return reverse(f"admin:backups_app_{obj._meta.model_name}_change", args=[obj.pk])


def add_url(model: str) -> str:
    return reverse(f"admin:backups_app_{model}_add")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_every_list_and_record(as_role, objects, role):
    client = as_role(role)
    for model in MODELS:
        assert client.get(changelist(model)).status_code == 200, model
        assert client.get(change_url(objects[model])).status_code == 200, model


@pytest.mark.parametrize("role", ROLES)
def test_a_role_adds_only_what_it_may(as_role, objects, role):
    client = as_role(role)
    for model in MODELS:
        expected = 200 if model in CAN_ADD[role] else 403
        assert client.get(add_url(model)).status_code == expected, model


@pytest.mark.parametrize("role", ROLES)
def test_no_role_may_edit_a_target(as_role, objects, role):
    target = objects["databasetarget"]
    response = as_role(role).post(change_url(target), {
        "name": "t1", "host": "evil.example", "port": 5432, "dbname": "db1", "user": "postgres",
        "password_source": "none", "password_env": "", "service_name": "", "notes": "", "is_active": "on",
    })
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.host == "127.0.0.1"


def test_policy_editors_may_change_policies_and_schedules_and_nothing_else(user_in):
    user = user_in(POLICY_EDITORS)
    allowed = {"add_retentionpolicy", "change_retentionpolicy", "add_backupschedule", "change_backupschedule"}
    for codename in allowed:
        assert user.has_perm(f"backups_app.{codename}")
    own = {p.split(".")[1] for p in user.get_all_permissions() if not p.split(".")[1].startswith("view_")}
    assert own == allowed


@pytest.mark.parametrize("role", ROLES)
def test_the_action_menus_offer_exactly_what_a_role_may_run(as_role, objects, role):
    client = as_role(role)
    offered = action_names(client.get(changelist("databasetarget"))) | action_names(
        client.get(changelist("backuprecord")))
    assert offered == ALLOWED_ACTIONS[role]


def test_a_superuser_is_offered_every_action(superuser_client, objects):
    assert TARGET_ACTIONS <= action_names(superuser_client.get(changelist("databasetarget")))
    assert action_names(superuser_client.get(changelist("backuprecord"))) == BACKUP_ACTIONS


CRAFTED = [
    ("databasetarget", "backup_now", {"backup_type": "manual", "format": "custom"}),
    ("databasetarget", "test_connection", {}),
    ("backuprecord", "restore_backup", {"into": "db1_restored", "jobs": "1"}),
    ("backuprecord", "verify_backup", {}),
    ("backuprecord", "copy_offsite", {}),
    ("backuprecord", "pin_backup", {"reason": "crafted"}),
    ("backuprecord", "unpin_backup", {}),
]


def job_rows():
    return (BackupRecord.objects.count(), RestoreRecord.objects.count(), VerificationRecord.objects.count())


REFUSED = [(role, *case) for role in [*ROLES, None] for case in CRAFTED
           if not role or case[1] not in ALLOWED_ACTIONS[role]]


@pytest.mark.parametrize("role,model,action,data", REFUSED, ids=[f"{r[0]}-{r[2]}" for r in REFUSED])
def test_a_crafted_post_of_an_action_the_role_lacks_is_refused(as_role, objects, role, model, action, data):
    client = as_role(role)
    before = job_rows()
    for apply in (False, True):
        response = post_action(client, model, action, [objects[model]], apply=apply, **data)
        assert response.status_code == 403
    assert job_rows() == before
    backup = BackupRecord.objects.get()
    assert (backup.pinned, backup.pinned_reason) == (True, "audit")


@pytest.mark.parametrize("model,action,data", CRAFTED, ids=[c[1] for c in CRAFTED])
def test_an_anonymous_post_is_sent_to_the_login_page_and_changes_nothing(client, objects, model, action, data):
    before = job_rows()
    response = post_action(client, model, action, [objects[model]], apply=True, **data)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert job_rows() == before


@pytest.mark.parametrize("model", MODELS)
def test_anonymous_users_are_sent_to_the_login_page(client, objects, model):
    for url in (changelist(model), change_url(objects[model])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_a_staff_user_without_a_role_sees_nothing(as_role, objects):
    client = as_role(None)
    for model in MODELS:
        assert client.get(changelist(model)).status_code == 403, model


@pytest.mark.parametrize("role,action", [
    (BACKUP_OPERATORS, "backup_now"), (BACKUP_OPERATORS, "verify_backup"), (BACKUP_OPERATORS, "pin_backup"),
])
def test_an_allowed_action_opens_its_form(as_role, objects, role, action):
    model = "databasetarget" if action in TARGET_ACTIONS else "backuprecord"
    response = post_action(as_role(role), model, action, [objects[model]])
    assert response.status_code == 200
    assert response.context["action"] == action and "form" in response.context


@pytest.mark.parametrize("action", ["test_connection", "unpin_backup", "copy_offsite"])
def test_an_allowed_direct_action_runs_and_returns_to_the_list(as_role, objects, action):
    model = "databasetarget" if action in TARGET_ACTIONS else "backuprecord"
    response = post_action(as_role(BACKUP_OPERATORS), model, action, [objects[model]])
    assert response.status_code == 302


def test_restore_operators_open_the_restore_form(as_role, objects):
    response = post_action(as_role(RESTORE_OPERATORS), "backuprecord", "restore_backup", [objects["backuprecord"]])
    assert response.status_code == 200
    assert response.context["action"] == "restore_backup"


def test_no_role_but_backup_operators_may_prune(user_in):
    for role in ROLES:
        assert user_in(role).has_perm("backups_app.run_prune") == (role == BACKUP_OPERATORS), role


def test_only_restore_operators_may_restore(user_in):
    for role in ROLES:
        assert user_in(role).has_perm("backups_app.run_restore") == (role == RESTORE_OPERATORS), role


def every_action() -> list[tuple[str, str]]:
    """(model, action) for every action of every admin page of the console, delete_selected included."""
    import backups_app.admin  # noqa: F401  (registers the console's pages, as the URLconf does)

    return sorted((model._meta.model_name, name) for model, page in admin.site._registry.items()
                  if model._meta.app_label == "backups_app" for _func, name, _desc in page._get_base_actions()
                  if (model._meta.model_name, name) not in EVERYONE_MAY)


# Actions every staff user may run on their own objects: revoking one's own API tokens
# (tests/test_admin_api_tokens.py shows nobody reaches another's).
EVERYONE_MAY = {("apitoken", "revoke_tokens")}


@pytest.fixture
def every_object(objects, django_user_model):
    return {**objects,
            "notificationchannel": NotificationChannel.objects.create(name="ops", kind="email",
                                                                      destination="ops@example.com"),
            "notification": Notification.objects.create(kind="backup_failed", title="Backup of t1 failed"),
            "backupstorage": BackupStorage.objects.create(name="offsite", bucket="b"),
            "serverrun": ServerRun.objects.create(target=objects["databasetarget"], backup_type="manual",
                                                  format="custom"),
            "apitoken": tokens.create(user=django_user_model.objects.create_user(username="owner", is_staff=True),
                                      name="pipeline")[0]}


def everything() -> tuple:
    models = (BackupRecord, RestoreRecord, VerificationRecord, RetentionPolicy, BackupSchedule, NotificationChannel,
              Notification, BackupStorage, ServerRun, ApiToken.objects.filter(revoked_at=None), OrmQ)
    return tuple((m if isinstance(m, QuerySet) else m.objects).count() for m in models)


@pytest.mark.parametrize("model,action", every_action(), ids=lambda v: v)
def test_a_crafted_post_of_any_action_a_viewer_may_not_run_is_refused(client, django_user_model, every_object,
                                                                       model, action):
    viewer = django_user_model.objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename=f"view_{model}"))
    client.force_login(viewer)
    assert client.get(changelist(model)).status_code == 200
    before = everything()
    for apply in (False, True):
        response = post_action(client, model, action, [every_object[model]], apply=apply, confirm="yes",
                               post="yes")
        assert response.status_code == 403
    assert everything() == before


@pytest.mark.parametrize("role", [VIEWERS, POLICY_EDITORS, RESTORE_OPERATORS])
def test_a_crafted_prune_now_by_a_role_that_may_not_prune_is_403_and_queues_nothing(as_role, objects, role):
    client, policy = as_role(role), objects["retentionpolicy"]
    for apply in (False, True):
        response = post_action(client, "retentionpolicy", "prune_now", [policy], apply=apply, confirm="yes")
        assert response.status_code == 403
    assert not OrmQ.objects.exists()


STANDARD_VIEWS = ("_changelist", "_add", "_change", "_delete", "_history", "_autocomplete")


def pages_of_their_own(objects) -> list[str]:
    """The URL of every page an admin adds with get_urls() (downloads, the orphan files list), filled in."""
    import re

    import backups_app.admin  # noqa: F401

    found = []
    for model, page in admin.site._registry.items():
        if model._meta.app_label != "backups_app":
            continue
        obj = objects.get(model._meta.model_name)
        for pattern in page.get_urls():
            if pattern.name and not pattern.name.endswith(STANDARD_VIEWS):
                route = re.sub(r"<int:\w+>", str(obj.pk if obj else 1), str(pattern.pattern))
                found.append(changelist(model._meta.model_name) + re.sub(r"<str:\w+>", "dump", route))
    return found


def test_every_page_of_its_own_refuses_a_staff_user_without_a_role(as_role, objects):
    client = as_role(None)
    pages = pages_of_their_own(objects)
    assert len(pages) >= 2
    for url in pages:
        assert client.get(url).status_code == 403, url
        assert client.post(url).status_code == 403, url
