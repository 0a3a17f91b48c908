"""Freshness of backups, for `backup --check` and /healthz.

A target is fresh when its newest succeeded backup is younger than its
expected interval: the longest wait between two runs of its most frequent
enabled schedule, plus some slack for the backup itself (10%, at least two
hours); DEFAULT_MAX_AGE_HOURS when it has no schedule; or what the caller
asks for.
"""

from datetime import timedelta

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from backups_app.models import BackupRecord, BackupStatus, DatabaseTarget
from backups_app.services.jobs import schedules

DEFAULT_MAX_AGE_HOURS = 26
MIN_SLACK = timedelta(hours=2)


def expected_interval(target: DatabaseTarget, *, max_age_hours: float | None = None, now=None):
    """(how old the newest backup may be, where that figure comes from)."""
    if max_age_hours:
        return timedelta(hours=max_age_hours), _("--max-age-hours")
    # .all(), filtered here: the dashboard prefetches every target's schedules in one query.
    periods = [(schedule_period(s, now=now), s.name) for s in target.schedules.all() if s.enabled]
    periods = [(period, name) for period, name in periods if period is not None]
    if not periods:
        return timedelta(hours=DEFAULT_MAX_AGE_HOURS), _("default")
    period, name = min(periods)
    return period + max(MIN_SLACK, period / 10), _("schedule %(name)s") % {"name": name}


def schedule_period(schedule, *, now=None) -> timedelta | None:
    """schedules.period_of, None for a schedule that cannot run; remembered per cron string and day.

    croniter takes about 4 ms per schedule here, which a dashboard of 50
    targets would pay on every view.
    """
    now = now or timezone.now()
    try:
        cron = schedules.cron_for(schedule)
    except schedules.IncompleteSchedule:
        return None
    key = (cron, str(schedules.zone()), timezone.localdate(now))
    if key not in _PERIODS:
        if len(_PERIODS) > 1000:
            _PERIODS.clear()
        _PERIODS[key] = None if schedules.cron_problem(cron) else schedules.period_of(schedule, now=now)
    return _PERIODS[key]


_PERIODS: dict = {}


def last_success(target: DatabaseTarget):
    return (BackupRecord.objects.filter(target=target, status=BackupStatus.SUCCEEDED)
            .order_by(F("finished_at").desc(nulls_last=True), "-created_at")
            .values_list("finished_at", "created_at").first())


def target_freshness(target: DatabaseTarget, *, max_age_hours: float | None = None, now=None) -> dict:
    found = last_success(target)
    return freshness_of(target, (found[0] or found[1]) if found else None, max_age_hours=max_age_hours, now=now)


def freshness_of(target: DatabaseTarget, last, *, max_age_hours: float | None = None, now=None) -> dict:
    """target_freshness for a caller that already knows when the newest succeeded backup finished."""
    now = now or timezone.now()
    limit, source = expected_interval(target, max_age_hours=max_age_hours, now=now)
    age = now - last if last else None
    ok = age is not None and age <= limit
    hours = limit.total_seconds() / 3600
    if last is None:
        problem = _("no succeeded backup yet")
    elif not ok:
        problem = _("newest succeeded backup is %(age).1f hours old; expected within %(limit).1f hours "
                    "(%(source)s)") % {"age": age.total_seconds() / 3600, "limit": hours, "source": source}
    else:
        problem = None
    return {"target": target.name, "ok": ok, "last_success": timezone.localtime(last).isoformat() if last else None,
            "age_hours": round(age.total_seconds() / 3600, 2) if age else None,
            "max_age_hours": round(hours, 2), "expected_from": source, "problem": problem}


def freshness_report(*, max_age_hours: float | None = None, now=None) -> dict:
    now = now or timezone.now()
    targets = [target_freshness(t, max_age_hours=max_age_hours, now=now)
               for t in DatabaseTarget.objects.filter(is_active=True).prefetch_related("schedules").order_by("name")]
    return {"ok": all(t["ok"] for t in targets), "checked_at": timezone.localtime(now).isoformat(),
            "targets": targets}
