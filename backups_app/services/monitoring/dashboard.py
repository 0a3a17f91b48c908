"""What the dashboard shows per target, read in a fixed number of queries.

Queries do not grow with targets or backups: the targets with the ids of
their newest records as subqueries, those records by id, one GROUP BY for
the counts, one query per chart series. Health follows health.py's rules
(the targets' schedules come prefetched); the last good backup is the last
restorable one.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, F, OuterRef, Prefetch, Q, Subquery, Sum, Window
from django.db.models.functions import Coalesce, Lower, RowNumber
from django.utils import timezone

from backups_app import selectors
from backups_app.models import (
    BackupRecord,
    BackupSchedule,
    BackupStatus,
    DatabaseTarget,
    OffsiteStatus,
    RestoreRecord,
    ServerRun,
    VerificationRecord,
)
from backups_app.services.jobs import schedules
from backups_app.services.monitoring import health

CHART_POINTS = 90
# Bars drawn on the whole page at most: a server's 200 databases get 30 each, not 90 (the page stays fast to
# make and to show); never fewer than MIN_CHART_POINTS.
CHART_BUDGET, MIN_CHART_POINTS = 6000, 20
# Rows whose charts come with the page; the others' charts are fetched as they scroll into view (chart_row), so a
# server's 200 databases make a page of 200 rows, not of 24,000 chart bars.
CHARTS_WITH_THE_PAGE = 25
FINISHED = [BackupStatus.SUCCEEDED, BackupStatus.FAILED, BackupStatus.PRUNED]
HAD_FILE = [BackupStatus.SUCCEEDED, BackupStatus.PRUNED]
BACKUP_FIELDS = [*health.RECORD_FIELDS, "size_bytes", "bytes_added", "duration_seconds", "error", "size_anomaly_pct",
                 "backup_type", "format"]


@dataclass
class TargetRow:
    target: DatabaseTarget
    last_success: BackupRecord | None  # the last restorable backup
    last_attempt: BackupRecord | None
    verdict: health.TargetHealth  # health.py's, the same as /healthz
    next_run: datetime | None
    kept_count: int = 0
    kept_bytes: int = 0
    failures: int = 0
    offsite_failed: int = 0
    verification: VerificationRecord | None = None
    drill_restore_seconds: float | None = None
    backups: list = field(default_factory=list)  # (created_at, size, duration, anomaly, failed), oldest first
    restore_seconds: list = field(default_factory=list)  # (created_at, seconds), restores a person asked for
    drill_seconds: list = field(default_factory=list)  # (created_at, seconds), the restores of drills
    charts_later: bool = False  # its charts are fetched on their own (chart_row) when the row is shown

    @property
    def failed(self) -> bool:
        return self.last_attempt is not None and self.last_attempt.status == BackupStatus.FAILED

    @property
    def problem(self) -> str:
        """Why the last good backup is not good enough: none recent, or the newest is not restorable."""
        return self.verdict.problem if self.verdict.state in (health.STALE, health.DAMAGED) else ""

    @property
    def anomaly(self) -> float | None:
        return self.last_success.size_anomaly_pct if self.last_success else None

    @property
    def needs_attention(self) -> bool:
        return self.failed or not self.verdict.ok or self.anomaly is not None or self.offsite_failed > 0


def _newest(model, target_path: str, **filters):
    return Subquery(_by_target(model.objects.filter(**{target_path: OuterRef("pk")}, **filters), target_path)
                    .values("pk")[:1])


def _by_target(qs, target_path: str):
    """Newest first. Ordered by the (fixed) target first: SQLite then walks that target's rows through its index
    instead of every row's status, which made the dashboard of 200 databases ten times slower."""
    return qs.order_by(F(f"{target_path}_id").desc(), "-created_at", "-id")


def chart_points(rows: int) -> int:
    """The bars of each chart for a dashboard of this many rows."""
    return max(MIN_CHART_POINTS, min(CHART_POINTS, CHART_BUDGET // max(rows, 1)))


def targets_with_newest(*, points: int = CHART_POINTS):
    """Active targets, each with the ids of its newest success, last restorable backup, attempt and
    verification; schedules prefetched."""
    # The status through an expression: matched as a plain column, SQLite (which keeps no statistics) walks every
    # succeeded restore for each target instead of the target's own, 20 times slower with 200 databases.
    drills = RestoreRecord.objects.filter(backup__target=OuterRef("pk"), is_drill=True).alias(
        state=Lower("status")).filter(state="succeeded")
    drill = _by_target(drills, "backup__target").values("duration_seconds")[:1]
    older = BackupRecord.objects.filter(target=OuterRef("pk"), status__in=HAD_FILE).order_by("-created_at", "-id")
    chart_from = Coalesce(Subquery(older.values("created_at")[points - 1:points]),
                          Subquery(older.order_by("created_at").values("created_at")[:1]))
    return (selectors.monitored_targets().select_related("server").order_by("name")
            .annotate(**health.newest_ids(),
                      attempt_id=_newest(BackupRecord, "target", status__in=FINISHED),
                      verification_id=_newest(VerificationRecord, "backup__target",
                                              status__in=["succeeded", "failed"]),
                      drill_seconds=Subquery(drill), chart_from=chart_from)
            .prefetch_related(Prefetch("schedules", queryset=BackupSchedule.objects.filter(enabled=True)),
                              Prefetch("server__schedules", queryset=BackupSchedule.objects.filter(enabled=True))))


def backup_counts(target_ids=None) -> dict[int, dict]:
    found = BackupRecord.objects.filter(target_id__in=target_ids) if target_ids is not None else BackupRecord.objects
    rows = found.values("target_id").annotate(
        kept=Count("pk", filter=Q(status=BackupStatus.SUCCEEDED)),
        kept_bytes=Sum("size_bytes", filter=Q(status=BackupStatus.SUCCEEDED)),
        failures=Count("pk", filter=Q(status=BackupStatus.FAILED)),
        # Good backups whose copy to object storage failed: they live on one host only.
        offsite_failed=Count("pk", filter=Q(status=BackupStatus.SUCCEEDED, offsite_status=OffsiteStatus.FAILED)),
    ).order_by()
    return {r["target_id"]: r for r in rows}


def last_backups(targets, *, points: int = CHART_POINTS) -> dict[int, list]:
    """The newest `points` backups that made a file, per target, oldest first, with the failed attempts among them.

    Each target's chart starts at chart_from (or its first backup), found
    through an index in targets_with_newest; one range over created_at from
    the earliest start serves all targets. Filtering by target or status in
    SQL, or numbering rows with a window, made SQLite walk every backup
    (0.2 s at 100,000 rows); the few rows too many are dropped here.
    """
    starts = [t.chart_from for t in targets if t.chart_from is not None]
    if not starts:
        return {}
    wanted = {t.pk for t in targets}
    rows = BackupRecord.objects.filter(created_at__gte=min(starts)).order_by("-created_at", "-id").values_list(
        "target_id", "status", "created_at", "size_bytes", "duration_seconds", "size_anomaly_pct")
    series: dict[int, list] = {}
    for target_id, status, *point in rows:
        if target_id in wanted and (status in HAD_FILE or status == BackupStatus.FAILED):
            kept = series.setdefault(target_id, [])
            if len(kept) < points:
                kept.append((*point, status == BackupStatus.FAILED))
    return {target_id: kept[::-1] for target_id, kept in series.items()}


def last_restores(target_ids, *, points: int = CHART_POINTS) -> dict[int, list]:
    """Durations of the newest `points` succeeded restores (drills included) of each target's backups:
    (created_at, seconds, is_drill), oldest first."""
    ranked = RestoreRecord.objects.filter(backup__target_id__in=target_ids, status="succeeded",
                                          duration_seconds__isnull=False).annotate(
        rank=Window(RowNumber(), partition_by=F("backup__target_id"),
                    order_by=[F("created_at").desc(), F("id").desc()]))
    rows = ranked.filter(rank__lte=points).order_by("created_at", "id").values_list(
        "backup__target_id", "created_at", "duration_seconds", "is_drill")
    series: dict[int, list] = {}
    for target_id, *point in rows:
        series.setdefault(target_id, []).append(tuple(point))
    return series


def next_run(target: DatabaseTarget, now: datetime, known: dict | None = None) -> datetime | None:
    """The next run of any of its schedules; known remembers each schedule's (the databases of a server share one)."""
    known = {} if known is None else known
    for s in health.schedules_of(target):
        if s.pk not in known:
            runnable = s.enabled and health.schedule_period(s, now=now) is not None
            known[s.pk] = schedules.next_runs(schedules.cron_for(s), after=now, count=1)[0] if runnable else None
    return min((known[s.pk] for s in health.schedules_of(target) if known[s.pk] is not None), default=None)


def dashboard_rows(*, now=None, with_charts: int | None = None, only: int | None = None) -> list[TargetRow]:
    """Every monitored target's row (or only the target with pk `only`); the first `with_charts` rows
    (CHARTS_WITH_THE_PAGE) with their charts' data, the others marked charts_later."""
    now = now or timezone.now()
    with_charts = CHARTS_WITH_THE_PAGE if with_charts is None else with_charts
    points = chart_points(selectors.monitored_targets().count())
    found = targets_with_newest(points=points)
    targets = list(found.filter(pk=only) if only is not None else found)
    charted = targets[:with_charts]
    ids = [t.pk for t in targets]
    wanted = {i for t in targets for i in (t.newest_id, t.good_id, t.attempt_id)}
    records = BackupRecord.objects.only(*BACKUP_FIELDS).in_bulk([i for i in wanted if i])
    verifications = VerificationRecord.objects.in_bulk([t.verification_id for t in targets if t.verification_id])
    counts = backup_counts(ids if only is not None else None)
    backups = last_backups(charted, points=points)
    restores = last_restores([t.pk for t in charted], points=points) if charted else {}
    rows, known_runs = [], {}
    for index, t in enumerate(targets):
        success, count = records.get(t.good_id), counts.get(t.pk, {})
        state = health.assess(t, newest=records.get(t.newest_id), good=success,
                              offsite_failed=count.get("offsite_failed", 0), now=now)
        rows.append(TargetRow(
            target=t, last_success=success, last_attempt=records.get(t.attempt_id), verdict=state,
            next_run=next_run(t, now, known_runs),
            kept_count=count.get("kept", 0), kept_bytes=count.get("kept_bytes") or 0,
            failures=count.get("failures", 0), offsite_failed=count.get("offsite_failed", 0),
            verification=verifications.get(t.verification_id),
            drill_restore_seconds=t.drill_seconds, backups=backups.get(t.pk, []),
            restore_seconds=[(at, s) for at, s, drill in restores.get(t.pk, []) if not drill],
            drill_seconds=[(at, s) for at, s, drill in restores.get(t.pk, []) if drill],
            charts_later=index >= with_charts,
        ))
    return rows


def chart_row(target_id: int, *, now=None) -> TargetRow | None:
    """One monitored target's row with its charts' data (the rows the page left for later); None if it is not
    monitored (any more)."""
    rows = dashboard_rows(now=now, with_charts=1, only=target_id)
    return rows[0] if rows else None


def last_server_runs() -> list:
    """The newest run of each active server target (what it found, what failed), by target name."""
    newest = ServerRun.objects.filter(target=OuterRef("target")).order_by("-created_at", "-id").values("pk")[:1]
    return list(ServerRun.objects.filter(target__is_active=True, pk=Subquery(newest))
                .select_related("target").order_by("target__name"))
