"""How job facts read in the admin: status badges, sizes, durations, progress. No queries here."""

from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from humanize import naturalsize

ACTIVE = ("queued", "running")

BADGE_COLOURS = {
    "queued": ("#555", "#e8e8e8"),
    "running": ("#fff", "#1f6fb2"),
    "succeeded": ("#fff", "#2e7d32"),
    "failed": ("#fff", "#c62828"),
    "pruned": ("#555", "#e8e8e8"),
}


def status_badge(record):
    fg, bg = BADGE_COLOURS.get(record.status, ("#000", "#fff"))
    return format_html(
        '<span class="bc-status bc-status-{}" style="color:{};background:{};padding:1px 8px;'
        'border-radius:9px;white-space:nowrap;font-weight:600">{}</span>',
        record.status, fg, bg, record.get_status_display(),
    )


def human_size(num_bytes) -> str:
    return "" if num_bytes is None else naturalsize(num_bytes, binary=True)


def human_duration(seconds) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return _("%(s).1f s") % {"s": seconds}
    seconds = int(round(seconds))
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    if seconds < 3600:
        return _("%(m)d min %(s)02d s") % {"m": seconds // 60, "s": seconds % 60}
    return _("%(h)d h %(m)02d min") % {"h": seconds // 3600, "m": seconds % 3600 // 60}


def elapsed_seconds(record, now=None):
    """Seconds since the job started (running) or was queued (queued)."""
    since = record.started_at if record.status == "running" else record.created_at
    if since is None:
        return None
    return max(0.0, ((now or timezone.now()) - since).total_seconds())


def job_duration(record, now=None) -> str:
    if record.status in ACTIVE:
        return human_duration(elapsed_seconds(record, now))
    return human_duration(record.duration_seconds)


def first_line(text: str, limit: int = 120) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def progress(record, now=None):
    """What a job is doing now, or how it ended, in one short line."""
    if record.status == "queued":
        return format_html('<span class="bc-progress">{}</span>', _("waiting for a worker for %(t)s") % {
            "t": human_duration(elapsed_seconds(record, now))})
    if record.status == "running":
        written = getattr(record, "bytes_written", None)
        text = _("running for %(t)s") % {"t": human_duration(elapsed_seconds(record, now))}
        if written:
            text = _("%(size)s written, running for %(t)s") % {
                "size": human_size(written), "t": human_duration(elapsed_seconds(record, now))}
        return format_html('<span class="bc-progress">{}</span>', text)
    if record.status == "failed":
        return format_html('<span class="bc-error" title="{}">{}</span>', record.error, first_line(record.error))
    return ""
