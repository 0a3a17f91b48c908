"""The schedule admin: simple forms or cron, validated, and django-q2 kept in step on every save."""

import re
from datetime import time

import pytest
from django.contrib.auth.models import Group, User
from django.utils import formats, timezone
from django_q.conf import Conf
from django_q.models import Schedule

from backups_app.models import BackupSchedule, DatabaseTarget
from backups_app.services.jobs import schedules
from backups_app.services.setup.roles import BACKUP_OPERATORS, POLICY_EDITORS, RESTORE_OPERATORS
from tests.retention_records import new_target

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/backups_app/backupschedule/"


@pytest.fixture
def admin_user_client(client):
    client.force_login(User.objects.create(username="root", is_staff=True, is_superuser=True))
    return client


def post(client, **fields):
    target = DatabaseTarget.objects.first() or new_target()
    data = {"name": "nightly", "target": target.pk, "backup_type": "daily", "format": "custom",
            "kind": "daily", "time_of_day": "02:00", "weekday": "", "day_of_month": "", "cron_expression": "",
            "enabled": "on"}
    if fields.get("kind") == "cron":
        data["time_of_day"] = ""  # a cron expression says its own time
    data.update(fields)
    return client.post(f"{CHANGELIST}add/", data)


def test_saving_a_daily_schedule_schedules_it_in_django_q_at_local_time(admin_user_client):
    assert post(admin_user_client).status_code == 302
    schedule = BackupSchedule.objects.get()
    row = Schedule.objects.get(pk=schedule.q_schedule_id)
    assert row.cron == "0 2 * * *"
    assert timezone.localtime(row.next_run).time() == time(2, 0)
    page = admin_user_client.get(CHANGELIST).content.decode()
    assert "every day at 02:00" in page
    assert formats.date_format(timezone.localtime(row.next_run), "SHORT_DATETIME_FORMAT") in page
    assert "never run" in page


def test_a_weekly_schedule_needs_its_weekday(admin_user_client):
    response = post(admin_user_client, kind="weekly")
    assert response.status_code == 200
    assert "Needed for \u201cevery week\u201d." in response.content.decode()
    assert not BackupSchedule.objects.exists() and not Schedule.objects.exists()


def test_a_bad_cron_expression_is_refused_in_words(admin_user_client):
    response = post(admin_user_client, kind="cron", cron_expression="61 2 * * *")
    assert "Not a valid cron expression" in response.content.decode()
    response = post(admin_user_client, kind="cron", cron_expression="2 * * *")
    assert "A cron expression has five fields" in response.content.decode()
    assert not BackupSchedule.objects.exists()


def test_a_time_in_the_repeated_autumn_hour_is_refused_where_summer_time_exists(admin_user_client, monkeypatch):
    monkeypatch.setattr(Conf, "TIME_ZONE", "Europe/Berlin")
    response = post(admin_user_client, time_of_day="02:30")
    assert "happens twice when summer time ends" in response.content.decode()
    assert not BackupSchedule.objects.exists()


def test_the_change_page_lists_the_next_runs(admin_user_client):
    post(admin_user_client, kind="monthly", day_of_month="15", time_of_day="03:15")
    schedule = BackupSchedule.objects.get()
    page = admin_user_client.get(f"{CHANGELIST}{schedule.pk}/change/").content.decode()
    # Dates in the language's own formats: English writes 12/15/2026 (Tue) 3:15 a.m.
    assert len(re.findall(r"\d\d/15/\d{4} \(\w{3}\) 3:15 a\.m\.", page)) == 5


def test_disabling_or_deleting_a_schedule_unschedules_it(admin_user_client):
    post(admin_user_client)
    schedule = BackupSchedule.objects.get()
    data = {"name": "nightly", "target": schedule.target_id, "backup_type": "daily", "format": "custom",
            "kind": "daily", "time_of_day": "02:00", "weekday": "", "day_of_month": "", "cron_expression": ""}
    assert admin_user_client.post(f"{CHANGELIST}{schedule.pk}/change/", data).status_code == 302
    assert not Schedule.objects.exists()
    assert "disabled" in admin_user_client.get(CHANGELIST).content.decode()
    data["enabled"] = "on"
    admin_user_client.post(f"{CHANGELIST}{schedule.pk}/change/", data)
    assert Schedule.objects.count() == 1
    admin_user_client.post(f"{CHANGELIST}{schedule.pk}/delete/", {"post": "yes"})
    assert not BackupSchedule.objects.exists() and not Schedule.objects.exists()


def test_an_incomplete_schedule_made_elsewhere_still_opens_in_the_admin(admin_user_client):
    schedule = BackupSchedule.objects.create(name="half", target=new_target(), backup_type="daily", kind="daily")
    page = admin_user_client.get(f"{CHANGELIST}{schedule.pk}/change/")
    assert page.status_code == 200
    assert "not scheduled" in admin_user_client.get(CHANGELIST).content.decode()


# -- how often, and who may ---------------------------------------------------------------------------


@pytest.mark.parametrize("expression,gap", [
    ("* * * * *", 1), ("*/30 * * * *", 30), ("0,59 2 * * *", 59), ("10,50 0,23 * * *", 20),
])
def test_a_schedule_more_often_than_the_minimum_interval_is_refused(admin_user_client, expression, gap):
    response = post(admin_user_client, kind="cron", cron_expression=expression, action="drill", backup_type="")
    assert response.status_code == 200
    assert (f"This schedule runs as often as every {gap} minutes; a schedule may run at most once every "
            f"60 minutes (SCHEDULE_MIN_INTERVAL_MINUTES).") in response.content.decode()
    assert not BackupSchedule.objects.exists() and not Schedule.objects.exists()


@pytest.mark.parametrize("expression", ["0 * * * *", "30 2,3 * * *", "59 23 * * *", "30 0,23 * * *"])
def test_hourly_or_rarer_is_allowed(admin_user_client, expression):
    assert post(admin_user_client, kind="cron", cron_expression=expression).status_code == 302
    assert Schedule.objects.get().cron == expression


def test_the_minimum_interval_is_a_setting(admin_user_client, settings):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 15
    assert post(admin_user_client, kind="cron", cron_expression="*/15 * * * *").status_code == 302
    response = post(admin_user_client, name="faster", kind="cron", cron_expression="*/10 * * * *")
    assert "at most once every 15 minutes" in response.content.decode()


@pytest.mark.parametrize("expression,gap", [
    ("10,50 0,23 * * *", 20),  # 23:50, then 00:10 the next day
    ("10,50 0,23 1 * *", 40),  # only on the 1st: no next day
    ("10,50 0,23 31,1 12,1 *", 20),  # 31 December, then 1 January
    ("10,50 0,23 29 2 *", 40),  # 29 February alone
    ("10,50 0,23 28,29 2 *", 20),  # 28 and 29 February, once in four years
])
def test_the_shortest_gap_spans_midnight_only_between_days_in_a_row(db, expression, gap):
    assert schedules.shortest_gap(expression, after=timezone.now()) == gap


def test_a_too_frequent_schedule_made_elsewhere_is_never_scheduled(db, settings):
    schedule = BackupSchedule.objects.create(name="hammer", target=new_target(), backup_type="daily", kind="cron",
                                             cron_expression="* * * * *")
    assert schedules.sync_schedule(schedule=schedule) == "refused"
    assert not Schedule.objects.exists()
    assert "as often as every 1 minutes" in schedules.schedule_problem(schedule)


@pytest.fixture
def as_role(client, django_user_model):
    def login(*roles):
        user = django_user_model.objects.create_user(username="-".join(roles) or "nobody", is_staff=True)
        user.groups.set(Group.objects.filter(name__in=roles))
        client.force_login(user)
        return client
    return login


DAILY_AT_FIVE = {"kind": "daily", "time_of_day": "05:00"}


@pytest.mark.parametrize("action,backup_type,message", [
    ("backup", "daily", "Only a user who may back up can schedule backups and verifications."),
    ("verify", "", "Only a user who may back up can schedule backups and verifications."),
    ("drill", "", "Only a user who may restore can schedule restore drills."),
])
def test_a_policy_editor_cannot_schedule_what_he_may_not_run(as_role, action, backup_type, message):
    client = as_role(POLICY_EDITORS)
    response = post(client, action=action, backup_type=backup_type, **DAILY_AT_FIVE)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not BackupSchedule.objects.exists() and not Schedule.objects.exists()


@pytest.mark.parametrize("roles,allowed", [
    ((POLICY_EDITORS, BACKUP_OPERATORS), {"backup", "verify"}),
    ((POLICY_EDITORS, RESTORE_OPERATORS), {"drill"}),
    ((POLICY_EDITORS, BACKUP_OPERATORS, RESTORE_OPERATORS), {"backup", "verify", "drill"}),
])
def test_who_may_run_it_may_schedule_it(as_role, roles, allowed):
    client = as_role(*roles)
    for action in ("backup", "verify", "drill"):
        response = post(client, name=action, action=action, backup_type="daily" if action == "backup" else "",
                        **DAILY_AT_FIVE)
        assert (response.status_code == 302) == (action in allowed), action
    assert set(BackupSchedule.objects.values_list("action", flat=True)) == allowed


def test_a_policy_editor_cannot_change_a_drill_schedule_into_something_else(as_role, admin_user_client):
    post(admin_user_client, name="weekly drill", action="drill", backup_type="", **DAILY_AT_FIVE)
    drill = BackupSchedule.objects.get()
    client = as_role(POLICY_EDITORS, BACKUP_OPERATORS)
    data = {"name": "weekly drill", "target": drill.target_id, "action": "verify", "backup_type": "",
            "format": "custom", "kind": "daily", "time_of_day": "06:00", "weekday": "", "day_of_month": "",
            "cron_expression": "", "enabled": "on"}
    response = client.post(f"{CHANGELIST}{drill.pk}/change/", data)
    assert response.status_code == 200
    assert "This schedule runs restore drills: only a user who may restore can change it." in \
        response.content.decode()
    drill.refresh_from_db()
    assert (drill.action, drill.time_of_day) == ("drill", time(5, 0))


@pytest.mark.parametrize("minimum,problems", [(0, 0), (1440, 0), (-1, 1), (1441, 1)])
def test_the_minimum_interval_has_bounds(settings, minimum, problems):
    from backups_app.checks import schedule_interval

    settings.SCHEDULE_MIN_INTERVAL_MINUTES = minimum
    assert [p.id for p in schedule_interval(None)] == ["backups.E041"] * problems


def test_with_no_minimum_every_minute_is_allowed(admin_user_client, settings):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 0
    assert post(admin_user_client, kind="cron", cron_expression="* * * * *").status_code == 302


def test_a_time_given_with_a_cron_expression_is_refused_not_ignored(admin_user_client):
    response = post(admin_user_client, kind="cron", cron_expression="30 2 * * *", time_of_day="04:00")
    assert response.status_code == 200 and not BackupSchedule.objects.exists()
    assert "A cron expression says its own time: leave the time empty" in response.content.decode()


def test_a_bad_time_is_said_once_and_how_to_write_it(admin_user_client):
    page = post(admin_user_client, time_of_day="25:99").content.decode()
    assert "Write the time as HH:MM, e.g. 02:00." in page
    assert "Needed for" not in page and "Enter a valid time." not in page


def test_a_new_schedule_starts_as_daily_backups(admin_user_client):
    form = admin_user_client.get(f"{CHANGELIST}add/").context["adminform"].form
    assert form["backup_type"].value() == "daily"


def test_the_next_run_names_its_time_zone(admin_user_client):
    post(admin_user_client)
    page = admin_user_client.get(CHANGELIST).content.decode()
    assert "JST" in page  # TIME_ZONE is Asia/Tokyo
