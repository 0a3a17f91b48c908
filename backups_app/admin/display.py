"""How job facts read in the admin: status badges, sizes, durations, progress. No queries here."""

import functools

from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from backups_app.models import BackupStatus as Status

ACTIVE = (Status.QUEUED, Status.RUNNING)

BADGE_COLOURS = {
    Status.QUEUED: ("#555", "#e8e8e8"),
    Status.RUNNING: ("#fff", "#1f6fb2"),
    Status.SUCCEEDED: ("#fff", "#2e7d32"),
    Status.FAILED: ("#fff", "#c62828"),
    Status.PRUNED: ("#555", "#e8e8e8"),
}


def status_badge(record):
    return _badge(record.status, str(record.get_status_display()), get_language())


@functools.lru_cache(maxsize=64)
def _badge(status: str, label: str, language: str):
    # A list page shows a hundred of these; building each once per language keeps rendering cheap.
    fg, bg = BADGE_COLOURS.get(status, ("#000", "#fff"))
    return format_html(
        '<span class="bc-status bc-status-{}" style="color:{};background:{};padding:1px 8px;'
        'border-radius:9px;white-space:nowrap;font-weight:600">{}</span>',
        status, fg, bg, label,
    )


def where_note(place) -> str:
    """A succeeded backup's file in a list, when it is not simply here: missing, or on another host."""
    if place.missing:
        return _("file missing; a copy is in object storage") if place.offsite else _("file missing")
    if place.elsewhere:
        return _("on host %(host)s") % {"host": place.elsewhere}
    return ""


def file_cell(name: str, place):
    note = where_note(place)
    if not note:
        return name
    return format_html('{} <span class="{}">{}</span>', name, "bc-where bc-missing" if place.missing else "bc-where",
                       note)


def where_in_words(place, this_host: str) -> str:
    """Where a backup's file is, on its own page: this host, another (named), object storage, or nowhere."""
    words = {"host": place.elsewhere, "here": this_host}
    if place.missing:
        return (_("missing: it is not under this host's BACKUP_ROOT (%(here)s); a copy is in object storage")
                if place.offsite else
                _("missing: it is not under this host's BACKUP_ROOT (%(here)s), nor on another host, nor in "
                  "object storage")) % words
    if place.elsewhere:
        return (_("on host %(host)s, not on this host (%(here)s); a copy is in object storage") if place.offsite
                else _("on host %(host)s, not on this host (%(here)s)")) % words
    if place.here:
        return (_("on this host (%(here)s); a copy is in object storage") if place.offsite
                else _("on this host (%(here)s)")) % words
    return _("only in object storage") if place.offsite else ""


def format_short(record) -> str:
    return record.format_short


def describe_backup(record) -> str:
    """One line that names a backup in lists of selected rows."""
    when = formats.date_format(timezone.localtime(record.created_at), "SHORT_DATETIME_FORMAT")
    source = f"{record.target.name} ({record.server_address})" if record.server_address else record.target.name
    parts = [f"#{record.pk}", source, record.get_backup_type_display(), format_short(record), when]
    if record.size_bytes is not None:
        parts.append(human_size(record.size_bytes))
    return " · ".join(str(p) for p in parts)


BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def human_size(num_bytes) -> str:
    """Binary units like `humanize.naturalsize(binary=True)`; the number written as the active language writes it."""
    if num_bytes is None:
        return ""
    if abs(num_bytes) < 1024:
        return ngettext("%(n)d byte", "%(n)d bytes", num_bytes) % {"n": num_bytes}
    value, unit = num_bytes / 1024, 0
    while abs(round(value, 1)) >= 1024 and unit < len(BINARY_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{formats.number_format(round(value, 1), 1)} {BINARY_UNITS[unit]}"


def human_duration(seconds) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return _("%(s)s s") % {"s": formats.number_format(round(seconds, 1), 1)}
    seconds = int(round(seconds))
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    if seconds < 3600:
        return _("%(m)d min %(s)02d s") % {"m": seconds // 60, "s": seconds % 60}
    return _("%(h)d h %(m)02d min") % {"h": seconds // 3600, "m": seconds % 3600 // 60}


def elapsed_seconds(record, now=None):
    """Seconds since the job started (running) or was queued (queued)."""
    since = record.started_at if record.status == Status.RUNNING else record.created_at
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
    if record.status == Status.QUEUED:
        return format_html('<span class="bc-progress">{}</span>', _("waiting for a worker for %(t)s") % {
            "t": human_duration(elapsed_seconds(record, now))})
    if record.status == Status.RUNNING:
        written = getattr(record, "bytes_written", None)
        text = _("running for %(t)s") % {"t": human_duration(elapsed_seconds(record, now))}
        if written:
            text = _("%(size)s written, running for %(t)s") % {
                "size": human_size(written), "t": human_duration(elapsed_seconds(record, now))}
        return format_html('<span class="bc-progress">{}</span>', text)
    if record.status == Status.FAILED:
        return format_html('<span class="bc-error" title="{}">{}</span>', record.error, first_line(record.error))
    return ""
