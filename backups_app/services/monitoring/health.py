"""Is every target healthy? For `backup --check`, /healthz, /metrics, the dashboard and the notifications.

A target is **healthy** when all of these hold:
- its newest succeeded backup is restorable (backups_app/selectors.py): it
  has not failed its latest verification and its file is present. An older
  good backup does not hide a newer one that failed (`damaged`);
- it has a restorable backup younger than its expected interval (`stale`
  otherwise): the longest wait between two runs of its most frequent
  enabled schedule, plus some slack for the backup itself (10%, at least
  two hours); DEFAULT_MAX_AGE_HOURS when it has no schedule; or what the
  caller asks for;
- none of its succeeded backups has a failed copy to object storage
  (`offsite_failed`: such a backup lives on one host only). An upload still
  under way (`uploading`) does not count: recovery ends a lost one `failed`.

All targets are read in a fixed number of queries (the newest succeeded
and the last restorable backup of each as subqueries, their records, one
GROUP BY), plus a stat of each target's newest backup file. Only when the
last restorable backup's file is gone from this host are the few before it
read and checked (LOOK_BACK), one query more.
"""

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from backups_app import selectors
from backups_app.models import BackupRecord, BackupStatus, DatabaseTarget, OffsiteStatus
from backups_app.services.jobs import placement, schedules

DEFAULT_MAX_AGE_HOURS = 26
MIN_SLACK = timedelta(hours=2)
OK, STALE, DAMAGED, OFFSITE_FAILED = "ok", "stale", "damaged", "offsite_failed"
STATES = (OK, STALE, DAMAGED, OFFSITE_FAILED)
LOOK_BACK = 5  # older restorable backups checked, at most, when the last one's file is gone


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

# What the checks read of a backup record (the dashboard loads only these fields).
RECORD_FIELDS = ["id", "target_id", "status", "created_at", "finished_at", "path", "host", "local_removed",
                 "offsite_status", "offsite_key", "last_verify_ok", "last_verified_at"]


def newest_ids() -> dict:
    """Annotations for targets: newest_id (their newest succeeded backup), good_id (their last restorable one).

    Newest by finished_at, walking the (target, status, finished_at) index.
    """
    def newest(condition):
        return Subquery(BackupRecord.objects.filter(condition, target=OuterRef("pk"))
                        .order_by(F("finished_at").desc(nulls_last=True), "-created_at", "-id").values("pk")[:1])

    return {"newest_id": newest(Q(status=BackupStatus.SUCCEEDED)), "good_id": newest(selectors.restorable_q())}


def offsite_failed_counts() -> dict[int, int]:
    """Per target: succeeded backups whose copy to object storage failed."""
    rows = (BackupRecord.objects.filter(status=BackupStatus.SUCCEEDED, offsite_status=OffsiteStatus.FAILED)
            .values("target_id").annotate(n=Count("pk")).order_by())
    return {r["target_id"]: r["n"] for r in rows}


def finished(record: BackupRecord | None) -> datetime | None:
    return (record.finished_at or record.created_at) if record is not None else None


@dataclass
class TargetHealth:
    target: DatabaseTarget
    state: str
    problem: str | None
    good: BackupRecord | None  # the last restorable backup
    newest: BackupRecord | None  # the newest succeeded backup
    limit: timedelta
    source: str
    offsite_failed: int = 0
    since: datetime | None = None  # when the problem began to show: it is told once from then on
    place: selectors.Place | None = None  # where the last restorable backup's file is

    @property
    def last_success_host(self) -> str | None:
        """The host whose BACKUP_ROOT holds the last restorable backup's file (None: only in object storage)."""
        return (self.place.host or None) if self.place is not None else None

    @property
    def ok(self) -> bool:
        return self.state == OK

    @property
    def last_success(self) -> datetime | None:
        return finished(self.good)

    def as_dict(self, now) -> dict:
        last = self.last_success
        age = now - last if last else None
        return {"target": self.target.name, "ok": self.ok, "state": self.state,
                "last_success": timezone.localtime(last).isoformat() if last else None,
                "last_success_id": self.good.pk if self.good is not None else None,
                "last_success_host": self.last_success_host,
                "age_hours": round(age.total_seconds() / 3600, 2) if age else None,
                "max_age_hours": round(self.limit.total_seconds() / 3600, 2), "expected_from": self.source,
                "offsite_failed": self.offsite_failed, "problem": self.problem}


def assess(target: DatabaseTarget, *, newest: BackupRecord | None, good: BackupRecord | None,
           offsite_failed: int = 0, max_age_hours: float | None = None, now=None) -> TargetHealth:
    """A target's health from its newest succeeded and last restorable backups (read by the caller)."""
    now = now or timezone.now()
    limit, source = expected_interval(target, max_age_hours=max_age_hours, now=now)
    good, place = _confirmed(good)
    health = TargetHealth(target, OK, None, good, newest, limit, source, offsite_failed, place=place)
    why = selectors.unrestorable_reason(newest) if newest is not None else ""
    if why:
        health.state, health.problem = DAMAGED, _damaged(newest, why, good, now)
        health.since = (newest.last_verified_at if why == selectors.FAILED_VERIFICATION else None) or finished(newest)
    elif good is None:
        health.state, health.problem = STALE, _("no restorable backup yet")
    elif now - finished(good) > limit:
        health.state, health.since = STALE, finished(good)
        health.problem = _("newest restorable backup is %(age).1f hours old; expected within %(limit).1f hours "
                           "(%(source)s)") % {"age": (now - finished(good)).total_seconds() / 3600,
                                              "limit": limit.total_seconds() / 3600, "source": source}
    elif offsite_failed:
        health.state = OFFSITE_FAILED
        health.problem = _("%(count)s backups were not copied to object storage (offsite failed)") % {
            "count": offsite_failed}
    return health


def _confirmed(good: BackupRecord | None) -> tuple[BackupRecord | None, selectors.Place | None]:
    """The last restorable backup by its record, when its file is present; else the newest of the few
    before it whose file is. With where that file is."""
    if good is None:
        return None, None
    for record in itertools.chain([good], _older(good)):
        place = selectors.file_place(record)
        if place.present:
            return record, place
    return None, None


def _older(good: BackupRecord):
    """The few restorable backups before good, newest first (read only when asked for)."""
    older = BackupRecord.objects.filter(selectors.restorable_q(), target_id=good.target_id,
                                        finished_at__lt=finished(good)).order_by("-finished_at")  # the index's order
    yield from older[:LOOK_BACK]


def _damaged(newest: BackupRecord, why: str, good: BackupRecord | None, now) -> str:
    if why == selectors.FAILED_VERIFICATION:
        text = _("the newest backup #%(id)s failed its last verification") % {"id": newest.pk}
    elif host := placement.file_host(newest):  # its own host: another's file is taken at its record's word
        text = _("the file of the newest backup #%(id)s is missing on host %(host)s") % {"id": newest.pk, "host": host}
    else:
        text = _("the file of the newest backup #%(id)s is missing") % {"id": newest.pk}
    if good is None:
        return _("%(problem)s; no backup is restorable") % {"problem": text}
    return _("%(problem)s; the last restorable backup is #%(id)s, %(age).1f hours old") % {
        "problem": text, "id": good.pk, "age": (now - finished(good)).total_seconds() / 3600}


def target_states(*, targets=None, max_age_hours: float | None = None, now=None) -> list[TargetHealth]:
    """The health of each target (default: the active ones), by name."""
    now = now or timezone.now()
    qs = DatabaseTarget.objects.filter(is_active=True) if targets is None else targets
    found = list(qs.order_by("name").prefetch_related("schedules").annotate(**newest_ids()))
    records = BackupRecord.objects.only(*RECORD_FIELDS).in_bulk(
        {i for t in found for i in (t.newest_id, t.good_id) if i})
    failed = offsite_failed_counts()
    return [assess(t, newest=records.get(t.newest_id), good=records.get(t.good_id),
                   offsite_failed=failed.get(t.pk, 0), max_age_hours=max_age_hours, now=now) for t in found]


def counts(states: list[TargetHealth]) -> dict:
    return {"targets": len(states), **{state: sum(s.state == state for s in states) for state in STATES}}


def health_report(*, targets=None, max_age_hours: float | None = None, now=None, detail: bool = True) -> dict:
    """What /healthz and `backup --check` say: ok, counts per state and (detail) each target's facts."""
    now = now or timezone.now()
    states = target_states(targets=targets, max_age_hours=max_age_hours, now=now)
    report = {"ok": all(s.ok for s in states), "status": "healthy" if all(s.ok for s in states) else "unhealthy",
              "checked_at": timezone.localtime(now).isoformat(), "counts": counts(states)}
    if detail:
        report["targets"] = [s.as_dict(now) for s in states]
    return report
