"""Keeping django-q2's Schedule rows in step with the console's schedules, idempotently."""

from datetime import time, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Schedule

from backups_app.models import BackupSchedule
from backups_app.services.jobs import schedules
from tests.retention_records import new_target

pytestmark = pytest.mark.django_db


def make_schedule(**fields) -> BackupSchedule:
    defaults = dict(name="nightly", kind="daily", time_of_day=time(2, 0), backup_type="daily")
    if "target" not in fields:
        fields["target"] = new_target(f"db-{fields.get('name', 'nightly')}")
    return BackupSchedule.objects.create(**{**defaults, **fields})


def sync() -> str:
    out = StringIO()
    call_command("sync_schedules", stdout=out)
    return out.getvalue()


def test_each_kind_becomes_the_cron_string_django_q_runs():
    target = new_target("other")
    assert schedules.cron_for(BackupSchedule(kind="daily", time_of_day=time(2, 5))) == "5 2 * * *"
    assert schedules.cron_for(BackupSchedule(kind="weekly", weekday=0, time_of_day=time(23, 0))) == "0 23 * * 1"
    assert schedules.cron_for(BackupSchedule(kind="weekly", weekday=6, time_of_day=time(3, 0))) == "0 3 * * 0"
    assert schedules.cron_for(BackupSchedule(kind="monthly", day_of_month=28, time_of_day=time(4, 0))) == "0 4 28 * *"
    assert schedules.cron_for(BackupSchedule(kind="cron", cron_expression=" 30  2 * * 1-5 ", target=target)) == \
        "30 2 * * 1-5"


def test_syncing_creates_one_django_q_row_that_names_the_task_and_the_schedule():
    schedule = make_schedule()
    assert "1 created" in sync()
    row = Schedule.objects.get()
    assert (row.func, row.args, row.cron, row.schedule_type) == (
        "backups_app.tasks.run_scheduled_backup", f"({schedule.pk},)", "0 2 * * *", Schedule.CRON)
    assert row.intended_date_kwarg == "intended"
    assert timezone.localtime(row.next_run).time() == time(2, 0), "02:00 in TIME_ZONE"
    schedule.refresh_from_db()
    assert schedule.q_schedule_id == row.pk


def test_syncing_again_changes_nothing_not_even_a_missed_next_run():
    make_schedule()
    sync()
    missed = timezone.now() - timedelta(days=2)
    Schedule.objects.update(next_run=missed)
    assert "1 unchanged" in sync()
    assert Schedule.objects.get().next_run == missed, "the one catch-up run survives a deploy"
    assert Schedule.objects.count() == 1


def test_a_changed_time_moves_the_next_run():
    schedule = make_schedule()
    sync()
    schedule.time_of_day = time(4, 30)
    schedule.save()
    assert "1 updated" in sync()
    row = Schedule.objects.get()
    assert row.cron == "30 4 * * *"
    assert timezone.localtime(row.next_run).time() == time(4, 30)


def test_a_disabled_or_deleted_schedule_loses_its_django_q_row():
    kept, disabled, gone = make_schedule(name="kept"), make_schedule(name="off"), make_schedule(name="gone")
    sync()
    assert Schedule.objects.count() == 3
    disabled.enabled = False
    disabled.save()
    gone.delete()
    sync()
    assert list(Schedule.objects.values_list("args", flat=True)) == [f"({kept.pk},)"]


def test_a_deleted_django_q_row_is_recreated():
    make_schedule()
    sync()
    Schedule.objects.all().delete()
    assert "1 created" in sync()
    assert Schedule.objects.count() == 1


def test_a_schedule_the_scheduler_cannot_run_is_refused_loudly(monkeypatch):
    monkeypatch.setattr(Conf, "TIME_ZONE", "Europe/Berlin")
    make_schedule(time_of_day=time(2, 30))
    with pytest.raises(CommandError, match="1 refused"):
        sync()
    assert Schedule.objects.count() == 0


def test_every_dotted_task_path_a_schedule_uses_resolves():
    from django.utils.module_loading import import_string

    make_schedule()
    sync()
    for func in Schedule.objects.values_list("func", flat=True):
        assert callable(import_string(func))


def test_the_expected_interval_comes_from_the_schedule():
    assert schedules.period_of(BackupSchedule(kind="daily", time_of_day=time(2, 0))) == timedelta(days=1)
    assert schedules.period_of(BackupSchedule(kind="weekly", weekday=2, time_of_day=time(2, 0))) == timedelta(days=7)
    weekdays = BackupSchedule(kind="cron", cron_expression="0 2 * * 1-5")
    assert schedules.period_of(weekdays) == timedelta(days=3), "Friday to Monday"
    monthly = BackupSchedule(kind="monthly", day_of_month=1, time_of_day=time(2, 0))
    assert timedelta(days=28) <= schedules.period_of(monthly) <= timedelta(days=31)


def test_an_incomplete_schedule_is_refused_in_words_not_with_a_crash():
    from django.utils import translation

    incomplete = make_schedule(time_of_day=None)
    with translation.override("en"):
        assert schedules.schedule_problem(incomplete) == "This schedule is incomplete: time missing."
    assert schedules.sync_schedule(schedule=incomplete) == "refused"
    assert not Schedule.objects.exists()


def test_the_expected_interval_counts_real_hours_across_a_summer_time_change(monkeypatch):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    monkeypatch.setattr(Conf, "TIME_ZONE", "Europe/Berlin")
    spring = datetime(2026, 3, 20, tzinfo=ZoneInfo("UTC"))  # the next five weeks include 2026-03-29
    daily_3am = BackupSchedule(kind="daily", time_of_day=time(3, 0))
    assert schedules.period_of(daily_3am, now=spring) == timedelta(hours=24), "23 h on 03-29, 24 h otherwise"
    autumn = datetime(2026, 10, 20, tzinfo=ZoneInfo("UTC"))
    assert schedules.period_of(daily_3am, now=autumn) == timedelta(hours=25), "the night of 10-25 is 25 h long"
