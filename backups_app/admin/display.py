"""How job facts read in the admin: status badges, sizes, durations, progress. No queries here."""

import functools
import re

from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
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
    "partly_failed": ("#fff", "#b45309"),  # a server run some of whose databases failed
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


def when(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT") if moment else ""


def server_of(target) -> str:
    """A target's database and server, as operators name them: database@host:port."""
    return f"{target.dbname}@{target.host}:{target.port}"


_ADDRESS = re.compile(r"^(?P<host>.+):(?P<port>\d+)/(?P<db>[^/]+)$")


def address(server_address: str) -> str:
    """A recorded host:port/database, written as the rest of the console writes it: database@host:port."""
    found = _ADDRESS.match(server_address or "")
    return f"{found['db']}@{found['host']}:{found['port']}" if found else (server_address or "")


def error_words(text: str) -> str:
    """A job's error: the console's own words about a lost job in the reader's language; a program's as it said."""
    from backups_app.services.jobs.lifecycle import WORKER_LOST

    if text.startswith(WORKER_LOST):
        return _("job lost: it stopped reporting (worker killed or machine stopped)") + text[len(WORKER_LOST):]
    return text


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
    return Words().size(num_bytes)


def human_duration(seconds) -> str:
    return Words().duration(seconds)


class Words:
    """Sizes and durations in the active language, its words looked up once: a page with thousands of them
    (the dashboard's chart tooltips) pays for the lookups once instead of for each value."""

    # Each looked up on first use: human_size() alone needs none of the duration words.
    point = functools.cached_property(lambda self: formats.get_format("DECIMAL_SEPARATOR"))
    tenths = functools.cached_property(lambda self: _("%(s)s s"))
    seconds = functools.cached_property(lambda self: _("%(s)d s"))
    minutes = functools.cached_property(lambda self: _("%(m)d min %(s)02d s"))
    hours = functools.cached_property(lambda self: _("%(h)d h %(m)02d min"))

    def size(self, num_bytes) -> str:
        if num_bytes is None:
            return ""
        if abs(num_bytes) < 1024:
            return ngettext("%(n)d byte", "%(n)d bytes", num_bytes) % {"n": num_bytes}
        value, unit = num_bytes / 1024, 0
        while abs(round(value, 1)) >= 1024 and unit < len(BINARY_UNITS) - 1:
            value, unit = value / 1024, unit + 1
        return f"{self.decimal(value)} {BINARY_UNITS[unit]}"

    def duration(self, seconds) -> str:
        if seconds is None:
            return ""
        if seconds < 10:
            return self.tenths % {"s": self.decimal(seconds)}
        seconds = int(round(seconds))
        if seconds < 60:
            return self.seconds % {"s": seconds}
        if seconds < 3600:
            return self.minutes % {"m": seconds // 60, "s": seconds % 60}
        return self.hours % {"h": seconds // 3600, "m": seconds % 3600 // 60}

    def decimal(self, value: float) -> str:
        """One decimal, as formats.number_format(round(value, 1), 1) writes it (no thousands grouping here)."""
        return f"{round(value, 1):.1f}".replace(".", self.point)


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
    if record.status in (Status.FAILED, "partly_failed"):
        error = error_words(record.error)
        return format_html('<span class="bc-error" title="{}">{}</span>', error, first_line(error))
    return ""


# --- who, why, what it is doing: codes put into words here --------------------------------------

JOB_KINDS = {"backup": "BackupRecord", "restore": "RestoreRecord", "verification": "VerificationRecord",
             "prune": "PruneRecord", "server-run": "ServerRun"}
KIND_OF = {model: kind for kind, model in JOB_KINDS.items()}


def job_kind(record) -> str:
    return KIND_OF[type(record).__name__]


def job_url(record) -> str:
    from django.urls import reverse

    return reverse("admin:backups_app_job", args=[job_kind(record), record.pk])


def job_link(record, text: str | None = None):
    """A link to the job's own page on the Jobs page ("#12" unless told)."""
    return format_html('<a href="{}">{}</a>', job_url(record), text or f"#{record.pk}")


def started_by(record) -> str:
    from backups_app.services.jobs import origin

    return origin.of(record)


def pruned_reason(record) -> str:
    """Why a backup was pruned, in the reader's language; as it was written when it predates the codes."""
    from backups_app.services.retention import reasons

    return reasons.words(record.pruned_why) if record.pruned_why else record.pruned_reason


def phase_label(code: str) -> str:
    from backups_app.services.jobs import progress as p

    labels = {p.WAITING: _("waiting for its turn"), p.PREPARING: _("preparing"), p.DUMPING: _("dumping"),
              p.CHECKING: _("reading the new file back"), p.PUBLISHING: _("publishing the file"),
              p.FETCHING: _("fetching from object storage"), p.RESTORING: _("restoring"),
              p.CHECKSUM: _("checking the checksum"), p.READING: _("reading the archive"),
              p.DRILL: _("restore drill"), p.PRUNING: _("pruning")}
    return labels.get(code, code)


def human_rate(rate) -> str:
    return _("%(size)s/s") % {"size": human_size(int(rate))} if rate else ""


def live_progress(record, now=None):
    """Phase, bytes, rate, time left (or that it is unknown), and a bar when the end can be known."""
    from backups_app.services.jobs import progress as p

    if record.status == Status.QUEUED:
        return progress(record, now)
    if record.status != Status.RUNNING:
        return format_html('<span class="bc-ended">{}</span>', progress(record, now) or "")
    guess = p.estimate(record, now)
    parts = [phase_label(record.phase) if record.phase else _("running")]
    if guess.done:
        parts.append(_("%(size)s written") % {"size": human_size(guess.done)} if hasattr(record, "bytes_written")
                     else _("%(size)s done") % {"size": human_size(guess.done)})
    if guess.rate:
        parts.append(human_rate(guess.rate))
    if guess.left is not None:
        parts.append(_("about %(t)s left") % {"t": human_duration(guess.left)})
    elif guess.done:
        parts.append(_("time left unknown"))
    parts.append(_("running for %(t)s") % {"t": human_duration(guess.seconds)})
    bar = format_html('<span class="bc-progressbar" role="progressbar" aria-valuenow="{}" aria-valuemin="0" '
                      'aria-valuemax="100"><span style="width:{}%"></span></span>', int(guess.fraction * 100),
                      int(guess.fraction * 100)) if guess.fraction is not None else ""
    return format_html('<span class="bc-progress" data-phase="{}">{}</span>{}', record.phase, " · ".join(
        str(x) for x in parts), bar)


def badges(record):
    """The facts beside a backup's status, each a small badge: pinned, verified, offsite, anomaly, safety."""
    found = []
    if record.pinned:
        found.append(("warn", _("pinned"), record.pinned_reason))
    if record.is_safety_backup:
        found.append(("", _("safety backup"), ""))
    if record.last_verify_ok is not None:
        found.append(("good", _("verified"), "") if record.last_verify_ok
                     else ("bad", _("verification failed"), first_line(record.last_verify_detail)))
    if record.encrypted:
        found.append(("", _("encrypted"), ""))
    offsite = {"uploaded": ("good", _("offsite: uploaded")), "failed": ("bad", _("offsite: failed")),
               "uploading": ("", _("uploading")), "deleted": ("", _("offsite: deleted"))}.get(record.offsite_status)
    if offsite:
        found.append((*offsite, first_line(record.offsite_detail)))
    if record.size_anomaly_pct is not None:
        found.append(("warn", _("size anomaly: %(pct)+.0f%% vs. median") % {"pct": record.size_anomaly_pct}, ""))
    if not found:
        return ""
    return format_html('<span class="bc-badges">{}</span>', format_html_join(
        "", '<span class="bc-badge bc-badge-{}" title="{}">{}</span>', ((k, t, label) for k, label, t in found)))


def status_cell(record, now=None, place=None):
    """One cell: the status badge, what the job does or why it ended (shortened), and the badges.

    place: where a succeeded backup's file is (selectors.file_place), said when it is not simply here.
    """
    if record.status == Status.SUCCEEDED:
        line = ""
    elif record.status == Status.PRUNED:
        line = format_html('<span class="bc-quiet">{}</span>', first_line(pruned_reason(record), 90))
    elif record.status == Status.FAILED:
        error = error_words(record.error)
        line = format_html('<span class="bc-error" title="{}">{}</span>', error, first_line(error, 90))
    else:
        line = live_progress(record, now)
    note = where_note(place) if place is not None else ""
    where = format_html('<span class="bc-badge {}">{}</span>', "bc-badge-bad bc-where bc-missing" if place.missing
                        else "bc-where", note) if note else ""
    return format_html('{}{}{}{}', status_badge(record), format_html("<br>{}", line) if line else "", where,
                       badges(record))


_CLIENT = re.compile(r"^(?P<name>\S+) (?P<version>\S+) \((?P<path>[^)]*)\): (?P<why>.*)$", re.S)


def client_program(text: str):
    """The program that ran, as data in the reader's language; why that one is the client layer's own
    technical note, kept as it wrote it and folded away."""
    found = _CLIENT.match(text or "")
    if not found:
        return text or "-"
    return format_html('{}<details class="bc-why"><summary>{}</summary><span class="bc-wrap">{}</span></details>',
                       _("%(name)s %(version)s at %(path)s") % found.groupdict(), _("why this one (technical note)"),
                       found["why"])
