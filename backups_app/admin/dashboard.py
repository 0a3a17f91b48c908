"""The dashboard on the admin index: dashboard_rows and disk_report, put into words and charts.

Only for users who may see targets and backups (every role may); others
get the plain index.
"""

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from backups_app.admin.display import (
    Words,
    error_words,
    first_line,
    human_size,
    server_of,
    status_badge,
)
from backups_app.services.monitoring import charts, dashboard, disk, health
from backups_app.services.storage import local_store

VIEW_PERMISSIONS = ("backups_app.view_databasetarget", "backups_app.view_backuprecord")


def dashboard_context(request) -> dict:
    if not request.user.has_perms(VIEW_PERMISSIONS):
        return {}
    now = timezone.now()
    rows, words = dashboard.dashboard_rows(now=now), Words()
    return {"show_dashboard": True, "health_rows": [row_view(r, now, words) for r in rows],
            "server_runs": [run_view(r) for r in dashboard.last_server_runs()] if _servers_among(rows) else [],
            "disk": disk_view(disk.disk_report(now=now)), "store": store_view(),
            "attention_count": sum(r.needs_attention for r in rows),
            "may_back_up": request.user.has_perm("backups_app.run_backup"),
            "time_zone_name": timezone.localtime(now).tzname()}


def _servers_among(rows) -> bool:
    """Whether any row is a server target or one of its databases (else the runs are not looked for)."""
    return any(r.target.is_server or r.target.server_id for r in rows)


def when(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT") if moment else ""


def age(moment, now, words: Words) -> str:
    return words.duration((now - moment).total_seconds()) if moment else ""


def row_view(row: dashboard.TargetRow, now, words: Words) -> dict:
    last = health.finished(row.last_success)
    return {"row": row, "server": server_of(row.target), "last_success_at": when(last), "age": age(last, now, words),
            "last_result": status_badge(row.last_attempt) if row.last_attempt else "",
            "last_error": first_line(error_words(row.last_attempt.error)) if row.failed else "",
            "last_error_url": error_url(row) if row.failed else "",
            "verification": verification_text(row.verification), "next_run": when(row.next_run),
            "kept_bytes": words.size(row.kept_bytes), "added_bytes": added_text(row.last_success, words),
            "drill_restore": words.duration(row.drill_restore_seconds),
            "anomaly": _("%(pct)+.0f%% vs. median") % {"pct": row.anomaly} if row.anomaly is not None else "",
            **({} if row.charts_later else chart_views(row, words))}


def chart_views(row: dashboard.TargetRow, words: Words) -> dict:
    return {"size_chart": size_chart(row, words), "duration_chart": duration_chart(row, words),
            "restore_chart": restore_chart(row, words), "drill_chart": drill_chart(row, words)}


def charts_view(request, site, pk: int):
    """One row's charts, fetched when a row the page left for later scrolls into view."""
    from django.core.exceptions import PermissionDenied
    from django.http import Http404
    from django.template.response import TemplateResponse

    if not request.user.has_perms(VIEW_PERMISSIONS):
        raise PermissionDenied
    row = dashboard.chart_row(pk)
    if row is None:
        raise Http404(f"no monitored target #{pk}")
    return TemplateResponse(request, "admin/backups_app/dashboard_charts.html", {"v": chart_views(row, Words())})


def added_text(last, words: Words) -> str:
    """What the last good backup added, when sharing made it less than its size (a directory backup)."""
    if last is None or last.bytes_added is None or last.bytes_added == last.size_bytes:
        return ""
    return _("last one added %(added)s of its %(size)s") % {"added": words.size(last.bytes_added),
                                                            "size": words.size(last.size_bytes)}


def store_view() -> dict:
    files, size = local_store.total_bytes()
    return {"files": files, "size": human_size(size)} if files else {}


def error_url(row) -> str:
    """The failed backup's own page: the error in full."""
    from django.urls import reverse

    return reverse("admin:backups_app_backuprecord_change", args=[row.last_attempt.pk])


def run_view(run) -> dict:
    """A server target's newest run: when, how it ended, and which databases failed, appeared or went."""
    return {"run": run, "when": when(run.finished_at or run.created_at), "status": status_badge(run),
            "backed_up": len(run.databases) - len(run.failed_databases), "listed": len(run.databases),
            "failed": ", ".join(run.failed_databases), "added": ", ".join(run.added),
            "dropped": ", ".join(run.dropped), "error": first_line(run.error) if not run.databases else ""}


def verification_text(record) -> str:
    if record is None:
        return ""
    if record.drill:
        text = _("drill passed") if record.ok else _("drill failed")
    else:
        text = _("verification passed") if record.ok else _("verification failed")
    return f"{text} ({when(record.finished_at or record.created_at)})"


def stamp(moment, zone) -> str:
    # Charts have thousands of tooltips; formats.date_format and localtime cost 40 µs each, this a tenth.
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def size_label(at, size, pct, zone, words: Words) -> str:
    return f"{stamp(at, zone)}: {words.size(size)}" + (f" ({pct:+.0f}%)" if pct is not None else "")


def axis(points, zone) -> dict:
    """The time axis's two ends: the first and the last run's dates."""
    if not points:
        return {}
    return {"start": day(points[0][0], zone), "end": day(points[-1][0], zone)}


def day(moment, zone) -> str:
    return moment.astimezone(zone).strftime("%m-%d")


def failed_label(at, zone, failed: str) -> str:
    return failed % {"when": stamp(at, zone)}


def size_chart(row, words: Words) -> str:
    zone = timezone.get_current_timezone()
    failed_words = _("%(when)s: failed")
    bars = [charts.Bar(None, failed_label(at, zone, failed_words), failed=True) if failed else
            charts.Bar(size, size_label(at, size, pct, zone, words), highlight=pct is not None)
            for at, size, _seconds, pct, failed in row.backups]
    peak = max((b.value for b in bars if b.value is not None), default=None)
    made = sum(not b.failed for b in bars)
    return charts.bar_chart(bars, title=_("Backup size, last %(n)d backups") % {"n": made},
                            top_label=_("size, up to %(peak)s") % {"peak": words.size(peak)}, **axis(row.backups, zone))


def duration_chart(row, words: Words) -> str:
    zone = timezone.get_current_timezone()
    failed_words = _("%(when)s: failed")
    bars = [charts.Bar(seconds, failed_label(at, zone, failed_words) if failed else
                       f"{stamp(at, zone)}: {words.duration(seconds)}", failed=failed)
            for at, _size, seconds, _p, failed in row.backups]
    peak = max((b.value for b in bars if b.value is not None), default=None)
    return charts.bar_chart(bars, title=_("Backup duration, last %(n)d backups") % {"n": len(bars)},
                            top_label=_("duration, up to %(peak)s") % {"peak": words.duration(peak)},
                            **axis(row.backups, zone))


def restore_chart(row, words: Words) -> str:
    zone = timezone.get_current_timezone()
    bars = [charts.Bar(seconds, f"{stamp(at, zone)}: {words.duration(seconds)}") for at, seconds in row.restore_seconds]
    peak = max((b.value for b in bars), default=None)
    return charts.bar_chart(bars, title=_("Restore duration, last %(n)d restores") % {"n": len(bars)},
                            top_label=_("restore, up to %(peak)s") % {"peak": words.duration(peak)},
                            **axis(row.restore_seconds, zone))


def drill_chart(row, words: Words) -> str:
    zone = timezone.get_current_timezone()
    bars = [charts.Bar(seconds, f"{stamp(at, zone)}: {words.duration(seconds)}") for at, seconds in row.drill_seconds]
    peak = max((b.value for b in bars), default=None)
    return charts.bar_chart(bars, title=_("Drill restore duration, last %(n)d drills") % {"n": len(bars)},
                            top_label=_("drill, up to %(peak)s") % {"peak": words.duration(peak)},
                            bar_class="bc-bar-alt", **axis(row.drill_seconds, zone))


YEAR_DAYS = 365


def disk_view(report: disk.DiskReport) -> dict:
    days = report.days_left
    return {"host": report.host, "root": report.root, "free": human_size(report.free_bytes),
            "total": human_size(report.total_bytes),
            "growth": human_size(abs(report.growth_per_day or 0)), "shrinking": (report.growth_per_day or 0) < 0,
            "days_left": None if days is None else int(days), "low": days is not None and days < 14,
            "more_than_a_year": days is not None and days > YEAR_DAYS, "enough_history": report.enough_history,
            "history_days": int(report.history_days), "history_needed": disk.MIN_HISTORY_DAYS}
