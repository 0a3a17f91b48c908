"""Backups that run on their own: BackupSchedule rows, mirrored into django-q2 Schedule rows.

Every kind of schedule becomes a django-q2 CRON schedule. django-q2 1.11
evaluates a cron string with croniter from the current time in its
TIME_ZONE (Q_CLUSTER "time_zone", which defaults to settings.TIME_ZONE), so
"daily at 02:00" in Asia/Tokyo fires at 17:00 UTC the day before, and in a
zone with summer time the wall-clock time holds across the change.

Summer time: a time inside the hour skipped in spring runs at the first
moment after the jump (03:00 in Europe/Berlin). A schedule that would fire
inside the hour repeated in autumn is refused (see summer_time.py: django-q2
would loop for ever there). The scheduler also hands every run the time it
was meant for (intended_date_kwarg), and a run whose local wall-clock time
is not later than the last run's is skipped: one run per local time, even if
a run is delivered twice.

Missed runs (worker down): django-q2 fires a schedule whose next_run has
passed once, then computes the next run from the current time, so after
any outage there is at most one catch-up run (Q_CLUSTER catch_up is False
as well, which makes the same true for non-cron schedule types).
"""

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.conf import Conf
from django_q.models import Schedule

from backups_app.models import BackupSchedule, BackupStatus
from backups_app.services.jobs import summer_time

log = logging.getLogger(__name__)

FUNC = "backups_app.tasks.run_scheduled_backup"
INTENDED_KWARG = "intended"


def zone() -> ZoneInfo:
    """The zone django-q2 evaluates cron strings in."""
    return ZoneInfo(Conf.TIME_ZONE)


# The right a person needs to run by hand what a schedule runs: a schedule runs nothing its author could not.
RIGHT_TO_RUN = {"backup": "backups_app.run_backup", "verify": "backups_app.run_backup",
                "drill": "backups_app.run_restore"}


def may_schedule(user, action: str) -> bool:
    return user.has_perm(RIGHT_TO_RUN[action or "backup"])


# The fields each kind of schedule needs.
NEEDS = {"daily": ["time_of_day"], "weekly": ["weekday", "time_of_day"],
         "monthly": ["day_of_month", "time_of_day"], "cron": ["cron_expression"]}


class IncompleteSchedule(ValueError):
    """A schedule lacks a field its kind needs (made outside the admin form)."""


def cron_for(schedule: BackupSchedule) -> str:
    missing = [f for f in NEEDS.get(schedule.kind, ["kind"]) if getattr(schedule, f) in (None, "")]
    if missing:
        raise IncompleteSchedule(_("This schedule is incomplete: %(fields)s missing.") % {
            "fields": ", ".join(str(BackupSchedule._meta.get_field(f).verbose_name) for f in missing)})
    if schedule.kind == "cron":
        return " ".join(schedule.cron_expression.split())
    t = schedule.time_of_day
    if schedule.kind == "daily":
        return f"{t.minute} {t.hour} * * *"
    if schedule.kind == "weekly":
        return f"{t.minute} {t.hour} * * {(schedule.weekday + 1) % 7}"  # cron counts from Sunday = 0
    return f"{t.minute} {t.hour} {schedule.day_of_month} * *"


def cron_problem(expression: str) -> str | None:
    """Why a cron expression cannot be used, in one sentence; None when it is fine."""
    fields = expression.split()
    if len(fields) != 5:
        return _("A cron expression has five fields: minute hour day-of-month month weekday, "
                 "e.g. 30 2 * * 1-5.")
    try:
        croniter(" ".join(fields), timezone.now().astimezone(zone())).get_next(datetime)
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        return _("Not a valid cron expression: %(error)s") % {"error": exc}
    except CroniterBadDateError:
        return _("This cron expression never matches a real date.")
    conflict = summer_time.first_conflict(" ".join(fields), Conf.TIME_ZONE, timezone.now().astimezone(zone()))
    if conflict is not None:
        return _("In %(zone)s the hour from %(start)s to %(end)s happens twice when summer time ends "
                 "(next on %(date)s); a backup cannot be scheduled inside it. Choose another time, "
                 "for example %(end)s.") % {
            "zone": Conf.TIME_ZONE, "start": f"{conflict.start:%H:%M}", "end": f"{conflict.end:%H:%M}",
            "date": f"{conflict.start:%Y-%m-%d}"}
    gap = shortest_gap(" ".join(fields), after=timezone.now())
    if gap < settings.SCHEDULE_MIN_INTERVAL_MINUTES:
        return _("This schedule runs as often as every %(gap)s minutes; a schedule may run at most once every "
                 "%(minimum)s minutes (SCHEDULE_MIN_INTERVAL_MINUTES).") % {
            "gap": gap, "minimum": settings.SCHEDULE_MIN_INTERVAL_MINUTES}
    return None


def shortest_gap(expression: str, *, after: datetime) -> int:
    """Minutes between the two closest runs of a valid expression, by the clock; 1440 for a day or more.

    Worked out from the times of day, not by listing runs: the closest two are on one day, or the
    last of a day and the first of the next, when two days in a row have runs.
    """
    minutes, hours = (_values(field, count) for field, count in zip(croniter(expression).expanded[:2], (60, 24),
                                                                    strict=True))
    times = sorted(h * 60 + m for h in hours for m in minutes)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    if _days_in_a_row(expression, after=after):
        gaps.append(DAY_MINUTES - times[-1] + times[0])
    return min(gaps, default=DAY_MINUTES)


DAY_MINUTES = 24 * 60


def _values(field: list, count: int) -> list[int]:
    return list(range(count)) if field == ["*"] else [int(v) for v in field]


def _days_in_a_row(expression: str, *, after: datetime) -> bool:
    """Whether two days in a row have runs, over the next four years (every calendar, 29 February too)."""
    day_fields = " ".join(["0", "0", *expression.split()[2:]])
    days = croniter(day_fields, after.astimezone(zone()))
    end = after + timedelta(days=4 * 366)
    previous = None
    while (day := days.get_next(datetime)) < end:
        if previous is not None and (day.date() - previous.date()).days == 1:
            return True
        previous = day
    return False


def schedule_problem(schedule: BackupSchedule) -> str | None:
    try:
        return cron_problem(cron_for(schedule))
    except IncompleteSchedule as exc:
        return str(exc)


def next_runs(expression: str, *, after: datetime, count: int) -> list[datetime]:
    it = croniter(expression, after.astimezone(zone()))
    return [it.get_next(datetime) for _i in range(count)]


def period_of(schedule: BackupSchedule, *, now: datetime | None = None) -> timedelta:
    """The longest wait between two runs over the next five weeks or so."""
    now = now or timezone.now()
    it = croniter(cron_for(schedule), now.astimezone(zone()))
    runs = [it.get_next(datetime)]
    while len(runs) < 400 and (len(runs) < 12 or runs[-1] - runs[0] < timedelta(days=35)):
        runs.append(it.get_next(datetime))
    # Timestamps, not a - b: Python subtracts two times of one zone by wall clock, ignoring summer time.
    return timedelta(seconds=max(b.timestamp() - a.timestamp() for a, b in zip(runs, runs[1:], strict=False)))


# --- keeping django-q2 in step ---------------------------------------------------------------


def desired_row(schedule: BackupSchedule) -> dict:
    return {
        "name": f"{schedule.name} (backup schedule #{schedule.pk})"[:100],
        "func": FUNC,
        "args": repr((schedule.pk,)),
        "schedule_type": Schedule.CRON,
        "cron": cron_for(schedule),
        "repeats": -1,
        "intended_date_kwarg": INTENDED_KWARG,
        "cluster": None,
    }


def q_row(schedule: BackupSchedule) -> Schedule | None:
    if schedule.q_schedule_id:
        row = Schedule.objects.filter(pk=schedule.q_schedule_id, func=FUNC).first()
        if row is not None:
            return row
    return Schedule.objects.filter(func=FUNC, args=repr((schedule.pk,))).order_by("pk").first()


def sync_schedule(*, schedule: BackupSchedule) -> str:
    """Make the django-q2 row match; returns created, updated, unchanged, removed or refused. Safe to repeat."""
    with transaction.atomic():
        row = q_row(schedule)
        problem = schedule_problem(schedule) if schedule.enabled else None
        if problem:
            log.error("backup schedule %r is not scheduled: %s", schedule.name, problem)
        if not schedule.enabled or problem:
            outcome = _remove(schedule, row)
            return "refused" if problem else outcome
        want = desired_row(schedule)
        if row is None:
            row = Schedule(**want)
            row.save()  # django-q2 computes next_run for a new cron row
            outcome = "created"
        else:
            outcome = _update(row, want)
        if schedule.q_schedule_id != row.pk:
            schedule.q_schedule_id = row.pk
            BackupSchedule.objects.filter(pk=schedule.pk).update(q_schedule_id=row.pk)
    return outcome


def _update(row: Schedule, want: dict) -> str:
    changed = {k for k, v in want.items() if getattr(row, k) != v}
    if not changed and row.next_run is not None:
        return "unchanged"  # keep next_run: a missed run still gets its one catch-up
    for k in changed:
        setattr(row, k, want[k])
    if "cron" in changed or "schedule_type" in changed or row.next_run is None:
        row.next_run = row.calculate_next_run()
    row.save()
    return "updated"


def _remove(schedule: BackupSchedule, row: Schedule | None) -> str:
    if schedule.q_schedule_id is not None:
        schedule.q_schedule_id = None
        BackupSchedule.objects.filter(pk=schedule.pk).update(q_schedule_id=None)
    if row is None:
        return "unchanged"
    Schedule.objects.filter(func=FUNC, args=row.args).delete()
    return "removed"


def remove_schedule(*, schedule: BackupSchedule) -> None:
    Schedule.objects.filter(func=FUNC, args=repr((schedule.pk,))).delete()


def sync_all() -> dict[str, int]:
    """Recreate every django-q2 row from the console's schedules, and drop rows nobody owns."""
    counts = {"created": 0, "updated": 0, "unchanged": 0, "removed": 0, "refused": 0}
    keep = set()
    for schedule in BackupSchedule.objects.order_by("pk"):
        outcome = sync_schedule(schedule=schedule)
        counts[outcome] += 1
        if schedule.enabled and outcome != "refused":
            keep.add(schedule.q_schedule_id)
    stale, _n = Schedule.objects.filter(func=FUNC).exclude(pk__in=keep).delete()
    counts["removed"] += stale
    return counts


# --- the slot a scheduled run claims (the run itself: scheduled/run.py) -----------------------


def wall_clock(moment: datetime) -> datetime:
    return moment.astimezone(zone()).replace(tzinfo=None)


def claim_slot(*, schedule: BackupSchedule, slot: datetime) -> bool:
    """One run per local wall-clock time: a repeat of the autumn hour, or a second delivery, loses."""
    last = schedule.last_run_at
    if last is not None and wall_clock(slot) <= wall_clock(last):
        return False
    won = BackupSchedule.objects.filter(pk=schedule.pk, last_run_at=last) if last else \
        BackupSchedule.objects.filter(pk=schedule.pk, last_run_at__isnull=True)
    if won.update(last_run_at=slot, last_status=BackupStatus.RUNNING) != 1:
        return False
    schedule.last_run_at, schedule.last_status = slot, BackupStatus.RUNNING.value
    return True
