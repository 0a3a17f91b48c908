"""The schedule admin: simple forms or cron, validated, and django-q2 kept in step on every save."""

import re
from datetime import time

import pytest
from django.contrib.auth.models import User
from django.utils import formats, timezone
from django_q.conf import Conf
from django_q.models import Schedule

from backups_app.models import BackupSchedule, DatabaseTarget
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
