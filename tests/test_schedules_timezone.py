"""Schedules in local time, checked against django-q2's own next-run computation and its real scheduler.

django-q2 reads "now" from django.utils.timezone and its own localtime();
to walk through a whole year in seconds, the tests move that clock (the
only stand-in here: waiting a year is not an option). Everything else is
django-q2's real code: Schedule.calculate_next_run, scheduler() and the ORM
broker it enqueues into.
"""

from collections import Counter
from datetime import datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import django_q.models
import django_q.scheduler
import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule

from backups_app.models import BackupSchedule
from backups_app.services.jobs import schedules
from tests.retention_records import new_target

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


class Clock:
    """django-q2's view of "now", moved by the test."""

    def __init__(self, monkeypatch, start: datetime):
        self.now = start
        monkeypatch.setattr(django_q.scheduler, "timezone", SimpleNamespace(now=lambda: self.now))
        monkeypatch.setattr(django_q.scheduler, "localtime", self.localtime)
        monkeypatch.setattr(django_q.models, "localtime", self.localtime)

    def localtime(self, value=None):
        return timezone.localtime(value or self.now, timezone=ZoneInfo(Conf.TIME_ZONE))


@pytest.fixture
def berlin(monkeypatch):
    monkeypatch.setattr(Conf, "TIME_ZONE", "Europe/Berlin")
    return BERLIN


def daily(hour, minute=0, **fields):
    return BackupSchedule(name=f"daily {hour}:{minute}", kind="daily", time_of_day=time(hour, minute),
                          backup_type="daily", **fields)


def django_q_next_run(schedule: BackupSchedule, clock: Clock) -> datetime:
    row = Schedule(schedule_type=Schedule.CRON, cron=schedules.cron_for(schedule))
    return row.calculate_next_run()


def test_daily_0200_in_tokyo_fires_at_1700_utc_the_day_before(monkeypatch):
    assert Conf.TIME_ZONE == "Asia/Tokyo", "django-q2 follows settings.TIME_ZONE"
    clock = Clock(monkeypatch, datetime(2026, 3, 9, 12, 0, tzinfo=UTC))  # 21:00 on the 9th in Tokyo
    assert django_q_next_run(daily(2), clock) == datetime(2026, 3, 9, 17, 0, tzinfo=UTC)


def test_weekly_and_monthly_schedules_fire_on_the_local_day(monkeypatch):
    clock = Clock(monkeypatch, datetime(2026, 3, 1, 0, 0, tzinfo=UTC))  # Sunday 09:00 in Tokyo
    monday = BackupSchedule(kind="weekly", weekday=0, time_of_day=time(1, 30))
    assert django_q_next_run(monday, clock) == datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # Monday 01:30 JST
    tenth = BackupSchedule(kind="monthly", day_of_month=10, time_of_day=time(3, 0))
    assert django_q_next_run(tenth, clock) == datetime(2026, 3, 9, 18, 0, tzinfo=UTC)


def test_django_q_would_loop_for_ever_inside_the_repeated_autumn_hour(monkeypatch, berlin):
    # scheduler() repeats calculate_next_run() until `next_run > localtime()`. At 02:30:07 CEST croniter
    # answers 02:30 CET: an hour later, yet not "greater" for Python, which compares one zone's times by wall
    # clock. The condition never turns true, so such a schedule must never reach django-q2.
    clock = Clock(monkeypatch, datetime(2026, 10, 25, 0, 30, 7, tzinfo=UTC))
    answer = django_q_next_run(daily(2, 30), clock)
    assert answer.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # PEP 495: a fold never equals
    assert not answer > clock.localtime()


@pytest.mark.parametrize("hour,minute", [(0, 0), (1, 30), (1, 59), (3, 0), (3, 30)])
def test_outside_the_repeated_hour_django_q_always_finds_a_later_run(monkeypatch, berlin, hour, minute):
    clock = Clock(monkeypatch, datetime(2026, 1, 1, tzinfo=UTC))
    for night in (datetime(2026, 3, 28, 22, tzinfo=UTC), datetime(2026, 10, 24, 22, tzinfo=UTC)):
        for step in range(0, 6 * 60, 1):
            clock.now = night + timedelta(minutes=step, seconds=7)
            assert django_q_next_run(daily(hour, minute), clock) > clock.localtime()


@pytest.mark.parametrize("expression", ["30 2 * * *", "0 * * * *", "*/15 2 * * 0"])
def test_a_schedule_inside_the_repeated_autumn_hour_is_refused_with_the_reason(berlin, expression):
    problem = schedules.cron_problem(expression)
    assert "02:00 to 03:00 happens twice when summer time ends" in problem
    assert "Choose another time, for example 03:00" in problem


@pytest.mark.parametrize("expression", ["30 2 * * *", "0 * * * *"])
def test_the_same_schedule_is_fine_in_a_zone_without_summer_time(expression):
    assert Conf.TIME_ZONE == "Asia/Tokyo"
    assert schedules.cron_problem(expression) is None


def test_a_repeat_of_the_same_local_time_is_not_run_twice(berlin):
    schedule = daily(2, 30)
    schedule.pk = None
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    schedule.last_run_at = first
    repeat = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, an hour later
    assert not schedules.claim_slot(schedule=schedule, slot=repeat)


# django-q2's scheduler() first closes stale connections, as its long-running process must. Inside
# a test's transaction that closes a PostgreSQL connection under the test (SQLite's in-memory one
# is never closed), so the tests that run it do so outside one.
runs_the_scheduler = pytest.mark.django_db(transaction=True)


def walk_the_real_scheduler(monkeypatch, schedule: BackupSchedule, *, start: datetime, days: int):
    """Run django-q2's scheduler() at every due time for `days`; returns the intended times it enqueued."""
    clock = Clock(monkeypatch, start)
    schedules.sync_schedule(schedule=schedule)
    row = Schedule.objects.get(pk=schedule.q_schedule_id)
    row.next_run = row.calculate_next_run()
    row.save()
    broker = get_broker()
    end = start + timedelta(days=days)
    intended = []
    while True:
        row.refresh_from_db()
        if row.next_run >= end:
            return intended
        clock.now = row.next_run + timedelta(seconds=7)  # the scheduler wakes every 30 s or so
        django_q.scheduler.scheduler(broker=broker)
        for queued in OrmQ.objects.all():
            intended.append(datetime.fromisoformat(queued.task["kwargs"][schedules.INTENDED_KWARG]))
            queued.delete()


def runs_per_local_day(schedule, intended) -> Counter:
    ran = [slot for slot in intended if schedules.claim_slot(schedule=schedule, slot=slot)]
    return Counter(slot.astimezone(BERLIN).date() for slot in ran), ran


@runs_the_scheduler
@pytest.mark.parametrize("hour,minute", [(0, 0), (1, 30), (3, 0), (3, 30)])
def test_a_daily_run_in_berlin_is_neither_skipped_nor_doubled_across_a_year(monkeypatch, berlin, hour, minute):
    schedule = daily(hour, minute, target=new_target())
    schedule.save()
    intended = walk_the_real_scheduler(monkeypatch, schedule, start=datetime(2026, 1, 1, tzinfo=UTC), days=365)
    per_day, ran = runs_per_local_day(schedule, intended)
    assert len(per_day) == 365 and set(per_day.values()) == {1}
    walls = Counter(slot.astimezone(BERLIN).strftime("%H:%M") for slot in ran)
    assert walls == {f"{hour:02d}:{minute:02d}": 365}
    offsets = Counter(slot.astimezone(BERLIN).utcoffset() for slot in ran)
    assert offsets == {timedelta(hours=1): 365 - 210, timedelta(hours=2): 210}, "both sides of the change"


@runs_the_scheduler
def test_a_weekly_sunday_run_in_berlin_happens_every_sunday_once(monkeypatch, berlin):
    schedule = BackupSchedule(name="sundays", kind="weekly", weekday=6, time_of_day=time(3, 30),
                              backup_type="weekly", target=new_target())
    schedule.save()
    intended = walk_the_real_scheduler(monkeypatch, schedule, start=datetime(2026, 1, 1, tzinfo=UTC), days=365)
    per_day, _ran = runs_per_local_day(schedule, intended)
    assert len(per_day) == 52 and set(per_day.values()) == {1}
    assert {d.weekday() for d in per_day} == {6}


@runs_the_scheduler
def test_a_schedule_missed_for_days_runs_once_then_waits_for_its_next_time(monkeypatch):
    schedule = daily(2, target=new_target())
    schedule.save()
    schedules.sync_schedule(schedule=schedule)
    row = Schedule.objects.get(pk=schedule.q_schedule_id)
    now = timezone.now()
    Schedule.objects.filter(pk=row.pk).update(next_run=now - timedelta(days=3, hours=5))  # the worker was down
    broker = get_broker()
    django_q.scheduler.scheduler(broker=broker)
    django_q.scheduler.scheduler(broker=broker)
    assert OrmQ.objects.count() == 1, "one catch-up run, not one per missed day"
    row.refresh_from_db()
    assert now < row.next_run <= now + timedelta(days=1)
