"""The retention policy admin, as a policy editor (not a developer) and a prune operator use it."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django_q.models import OrmQ

from backups_app.models import BackupRecord, PruneRecord, RetentionPolicy
from backups_app.services.storage import layout
from tests.admin_support import message_links
from tests.retention_records import new_backup, new_target

pytestmark = pytest.mark.django_db
ADD, CHANGELIST = "/admin/backups_app/retentionpolicy/add/", "/admin/backups_app/retentionpolicy/"


def user_with(name, *codenames) -> User:
    user = User.objects.create(username=name, is_staff=True)  # force_login: no password hashing needed
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def editor(client):
    user = user_with("editor", "add_retentionpolicy", "change_retentionpolicy", "view_retentionpolicy",
                     "view_databasetarget", "view_backuprecord")
    client.force_login(user)
    return user


@pytest.fixture
def history(backup_root):
    """db1: one daily backup every ten days for a hundred days, kept by a one-year policy."""
    target = new_target()
    backups = [new_backup(target, age_days=age + 0.5) for age in range(0, 100, 10)]
    policy = RetentionPolicy.objects.create(name="a year", target=target, keep_days=365)
    return target, backups, policy


def form_data(policy: RetentionPolicy, **changes) -> dict:
    data = {"name": policy.name, "target": policy.target_id or "", "backup_type": policy.backup_type,
            "keep_days": policy.keep_days or "", "keep_last": policy.keep_last or "",
            "keep_daily": policy.keep_daily or "", "keep_weekly": policy.keep_weekly or "",
            "keep_monthly": policy.keep_monthly or "", "keep_yearly": policy.keep_yearly or "",
            "min_keep": policy.min_keep, "enabled": "on" if policy.enabled else ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def token_in(response) -> str:
    return re.search(r'name="preview_token" value="([0-9a-f]+)"', response.content.decode()).group(1)


def change_url(policy):
    return f"{CHANGELIST}{policy.pk}/change/"


def test_the_form_explains_each_rule_in_plain_words(client, editor):
    page = client.get(ADD).content.decode()
    for words in ["Keep every backup made in the last this-many days", "weeks start on Monday",
                  "Example: 24 is two years", "the newest successful backup is never deleted",
                  "Leave empty to apply it to every database"]:
        assert words in page


@pytest.mark.parametrize("field,value,message", [
    ("keep_daily", "-1", "A count cannot be negative. Leave the field empty to switch this rule off."),
    ("min_keep", "0", "At least one backup is always kept: the minimum cannot be 0 or less."),
    ("keep_days", "40000", "Keep days cannot be more than 100 years (36525 days)."),
    ("keep_days", "0", "Keep days must be at least 1. Leave it empty to switch this rule off."),
    ("keep_weekly", "99999", "That is more than can be meant; the largest allowed value is 5218."),
])
def test_an_impossible_value_gets_a_clear_message_and_nothing_is_saved(client, editor, history, field, value,
                                                                      message):
    _target, _backups, policy = history
    response = client.post(change_url(policy), form_data(policy, **{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    policy.refresh_from_db()
    assert policy.keep_days == 365 and policy.min_keep == 1


@pytest.mark.parametrize("field,value,limit", [
    ("keep_weekly", "99999999999999", 5218),
    ("keep_daily", "99999999999999", 36525),
    ("keep_monthly", "99999999999999", 1200),
    ("keep_yearly", "99999999999999", 100),
    ("keep_last", "99999999999999", 100000),
    ("min_keep", "99999999999999", 100000),
])
def test_a_huge_count_is_a_form_error_before_any_preview(client, editor, history, field, value, limit):
    _target, _backups, policy = history
    response = client.post(change_url(policy), form_data(policy, **{field: value}))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"That is more than can be meant; the largest allowed value is {limit}." in page
    assert "Nothing is saved yet." not in page, "no preview of settings that cannot be saved"
    policy.refresh_from_db()
    assert getattr(policy, field) != int(value)


@pytest.mark.parametrize("value", ["2147483648", "99999999999999"])
def test_huge_keep_days_is_a_form_error_too(client, editor, history, value):
    _target, _backups, policy = history
    response = client.post(change_url(policy), form_data(policy, keep_days=value))
    assert response.status_code == 200
    assert "Keep days cannot be more than 100 years (36525 days)." in response.content.decode()
    policy.refresh_from_db()
    assert policy.keep_days == 365


def test_a_huge_count_on_a_new_policy_is_a_form_error_too(client, editor, history):
    response = client.post(ADD, {"name": "huge", "keep_days": "2147483648", "keep_weekly": "99999999999999",
                                 "min_keep": "1", "enabled": "on"})
    assert response.status_code == 200
    assert not RetentionPolicy.objects.filter(name="huge").exists()


def test_a_policy_editor_sees_which_backups_a_change_deletes_before_it_is_saved(client, editor, history):
    _target, backups, policy = history
    response = client.post(change_url(policy), form_data(policy, keep_days=55))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing is saved yet." in page
    assert "6 backups kept, 4 deleted." in page
    for old in backups[6:]:
        assert f"<td>#{old.pk}</td>" in page
        assert old.path in page
    assert "deleted: older than 55 days and no rule keeps it" in page
    assert "kept: newest succeeded backup; younger than 55 days" in page
    policy.refresh_from_db()
    assert policy.keep_days == 365, "not saved before the preview was seen"
    assert all(BackupRecord.objects.get(pk=b.pk).status == "succeeded" for b in backups), "saving deletes nothing"

    response = client.post(change_url(policy), form_data(policy, keep_days=55, preview_token=token_in(response)))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.keep_days == 55


def test_changing_the_settings_after_the_preview_shows_a_new_preview(client, editor, history):
    _target, _backups, policy = history
    first = client.post(change_url(policy), form_data(policy, keep_days=55))
    response = client.post(change_url(policy), form_data(policy, keep_days=75, preview_token=token_in(first)))
    assert response.status_code == 200
    assert "8 backups kept, 2 deleted." in response.content.decode()
    policy.refresh_from_db()
    assert policy.keep_days == 365


def test_deleting_more_than_half_of_a_databases_backups_needs_a_second_confirmation(client, editor, history):
    _target, _backups, policy = history
    preview = client.post(change_url(policy), form_data(policy, keep_days=5))
    page = preview.content.decode()
    assert "1 backups kept, 9 deleted." in page
    assert "This change deletes more than half of the backups of one database: db1 (9 of 10)" in page
    unconfirmed = client.post(change_url(policy), form_data(policy, keep_days=5, preview_token=token_in(preview)))
    assert unconfirmed.status_code == 200
    assert "Tick the box to confirm." in unconfirmed.content.decode()
    policy.refresh_from_db()
    assert policy.keep_days == 365
    confirmed = client.post(change_url(policy), form_data(policy, keep_days=5, preview_token=token_in(unconfirmed),
                                                          confirm_large_deletion="on"))
    assert confirmed.status_code == 302
    policy.refresh_from_db()
    assert policy.keep_days == 5


def test_a_change_that_deletes_nothing_is_saved_at_once(client, editor, history):
    _target, _backups, policy = history
    response = client.post(change_url(policy), form_data(policy, keep_days=200, keep_monthly=12))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.keep_days, policy.keep_monthly) == (200, 12)


def test_every_change_is_in_the_history_with_old_and_new_values(client, editor, history):
    _target, _backups, policy = history
    client.post(change_url(policy), form_data(policy, keep_days=200, keep_weekly=13, name="a year, weeks"))
    entry = LogEntry.objects.get(object_id=str(policy.pk))
    assert entry.user == editor
    message = entry.get_change_message()
    assert "Keep days: 365 \u2192 200" in message
    assert "Weekly copies: (empty: all / off) \u2192 13" in message
    assert "Name: a year \u2192 a year, weeks" in message
    history_page = client.get(f"{CHANGELIST}{policy.pk}/history/").content.decode()
    assert "Keep days: 365 \u2192 200" in history_page


def test_a_new_policy_is_recorded_with_all_its_values(client, editor, backup_root):
    response = client.post(ADD, {"name": "two weeks", "keep_days": "14", "min_keep": "2", "enabled": "on"})
    assert response.status_code == 302
    message = LogEntry.objects.get().get_change_message()
    assert "Keep days: 14" in message and "Minimum kept: 2" in message


def test_a_policy_editor_can_neither_prune_nor_back_up_nor_restore(client, editor, history):
    _target, backups, policy = history
    assert not editor.has_perm("backups_app.run_prune")
    assert not editor.has_perm("backups_app.run_backup")
    assert not editor.has_perm("backups_app.run_restore")
    changelist = client.get(CHANGELIST)
    assert "prune_now" not in changelist.content.decode()
    crafted = client.post(CHANGELIST, {"action": "prune_now", "_selected_action": [policy.pk], "confirm": "yes"})
    assert crafted.status_code in (200, 302, 403)
    assert OrmQ.objects.count() == 0
    targets = client.get("/admin/backups_app/databasetarget/")
    actions = dict(targets.context["cl"].model_admin.get_actions(targets.wsgi_request))
    assert "backup_now" not in actions


@pytest.fixture
def operator(client):
    """The "Backup operators" role's share of this page: it may view policies and prune, not edit them."""
    user = user_with("operator", "view_retentionpolicy", "run_prune")
    client.force_login(user)
    return user


def test_prune_now_lists_each_backup_it_would_delete_and_the_rule_then_queues_the_prune(
        client, operator, history, django_capture_on_commit_callbacks):
    _target, backups, policy = history
    RetentionPolicy.objects.filter(pk=policy.pk).update(keep_days=35)
    preview = client.post(CHANGELIST, {"action": "prune_now", "_selected_action": [policy.pk]})
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "4 backups kept, 6 deleted." in page
    for old in backups[4:]:
        assert f"<td>#{old.pk}</td>" in page
    assert page.count("deleted: older than 35 days and no rule keeps it") == 6
    assert OrmQ.objects.count() == 0, "nothing is queued before the confirmation"

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(CHANGELIST, {"action": "prune_now", "_selected_action": [policy.pk], "confirm": "yes"})
    assert done.status_code == 302
    [queued] = OrmQ.objects.all()
    [prune] = PruneRecord.objects.all()  # a job of its own, watched on the Jobs page
    assert queued.task["func"] == "backups_app.tasks.run_prune_job"
    assert tuple(queued.task["args"]) == (prune.pk,)
    assert (prune.policy, prune.status, prune.started_by, prune.origin) == (policy, "queued", "operator", "user")
    assert message_links(done) == [f"/admin/jobs/prune/{prune.pk}/"]
    assert "Queued a prune" in LogEntry.objects.get(object_id=str(policy.pk)).get_change_message()
    assert all(b.absolute_path.exists() for b in backups), "the worker deletes, not the web request"


def test_the_admin_lists_files_no_record_knows(client, editor, backup_root):
    stray = layout.ensure_dir(layout.type_dir("daily")) / "hand_copy.dump"
    stray.write_bytes(b"z")
    changelist = client.get(CHANGELIST).content.decode()
    assert "1 unknown file under BACKUP_ROOT" in changelist
    page = client.get(f"{CHANGELIST}orphans/").content.decode()
    assert "database/daily/hand_copy.dump" in page and "no backup record knows this file" in page
    assert stray.exists()


def preview_of(client, policy, **changes):
    url = reverse("admin:backups_app_retentionpolicy_preview", args=[policy.pk])
    return client.post(url, form_data(policy, **changes)).content.decode()


def test_the_live_preview_shows_what_a_change_deletes_before_anything_is_saved(client, editor, history):
    _target, backups, policy = history
    page = preview_of(client, policy, keep_days=35)
    assert "4 backups kept, 6 deleted." in page
    assert "Saving deletes 6 backups' files under BACKUP_ROOT and 0 objects in object storage." in page
    assert "errornote" not in page and "Please correct" not in page  # neutral: nothing is wrong yet
    assert 'id="id_preview_token"' in page and 'hx-swap-oob="true"' in page  # Save needs no second press
    assert RetentionPolicy.objects.get(pk=policy.pk).keep_days == 365


def test_the_live_preview_says_so_when_nothing_would_be_deleted(client, editor, history):
    _target, _backups, policy = history
    page = preview_of(client, policy, keep_days=400)
    assert "Nothing would be deleted: all 10 backups it covers are kept." in page
    assert 'class="preview-nothing"' in page


def test_saving_with_the_token_the_live_preview_gave_saves_at_once(client, editor, history):
    _target, _backups, policy = history
    token = re.search(r'name="preview_token" id="id_preview_token" value="(\w+)"',
                      preview_of(client, policy, keep_days=75)).group(1)
    response = client.post(reverse("admin:backups_app_retentionpolicy_change", args=[policy.pk]),
                           form_data(policy, keep_days=75, preview_token=token))
    assert response.status_code == 302
    assert RetentionPolicy.objects.get(pk=policy.pk).keep_days == 75


def test_the_live_preview_is_only_for_those_who_may_change_the_policy(client, history):
    _target, _backups, policy = history
    client.force_login(user_with("viewer", "view_retentionpolicy"))
    url = reverse("admin:backups_app_retentionpolicy_preview", args=[policy.pk])
    assert client.post(url, form_data(policy, keep_days=1)).status_code == 403


def test_the_unknown_files_link_is_shown_only_when_there_are_some(client, editor, backup_root):
    assert "unknown file" not in client.get(CHANGELIST).content.decode()
