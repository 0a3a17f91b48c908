"""The words of every notification: a title, a few lines of facts, and the same as JSON. No secrets.

Every text passes through scrub() with the secrets the console knows of
(the target's password, the SMTP password); delivery scrubs once more with
the channel's own URL.
"""

import os
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from backups_app.models.notifications import SUCCEEDED, TEST, EventKind
from backups_app.services.postgres.scrub import scrub


def prefix() -> str:
    return f"[{_('Backup Console')}] "


@dataclass
class Message:
    kind: str
    title: str
    lines: list[str]
    target: str = ""
    facts: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.kind in (SUCCEEDED, EventKind.RECOVERED, TEST)

    @property
    def body(self) -> str:
        return "\n".join(self.lines)

    def as_json(self) -> dict:
        return {"event": self.kind, "ok": self.ok, "title": self.title, "text": self.body,
                "target": self.target, **self.facts, "sent_at": timezone.now().isoformat()}

    def scrubbed(self, secrets) -> "Message":
        clean = [s for s in secrets if s]
        return Message(kind=self.kind, title=scrub(self.title, clean), lines=[scrub(x, clean) for x in self.lines],
                       target=scrub(self.target, clean),
                       facts={k: scrub(v, clean) if isinstance(v, str) else v for k, v in self.facts.items()})


def known_secrets(target=None) -> list[str]:
    found = [getattr(settings, "EMAIL_HOST_PASSWORD", "")]
    if target is not None and target.password_env:
        found.append(os.environ.get(target.password_env, ""))
    return [s for s in found if s]


# --- what a record is about ------------------------------------------------------------------

JOB_WORD = {"BackupRecord": "backup", "RestoreRecord": "restore", "VerificationRecord": "verification",
            "ServerRun": "server run"}


def job_word(record) -> str:
    return JOB_WORD.get(type(record).__name__, "job")


def job_name(record) -> str:
    """The job's kind as people read it, in the active language ("Backup", "リストア"); job_word is for machines."""
    return capfirst(type(record)._meta.verbose_name)


def target_of(record):
    word = job_word(record)
    if word == "backup":
        return record.target
    if word == "restore":
        return record.server
    if word == "verification":
        return record.backup.target
    return getattr(record, "target", None)


def _target_line(target) -> str:
    return _("Target: %(name)s (%(db)s on %(host)s:%(port)s)") % {
        "name": target.name, "db": target.dbname, "host": target.host, "port": target.port}


def _job_lines(record) -> list[str]:
    word = job_word(record)
    lines = [_("%(job)s #%(id)s: %(status)s") % {
        "job": job_name(record), "id": record.pk, "status": record.get_status_display()}]
    if word == "backup":
        lines.append(_("Type: %(type)s, format: %(format)s") % {
            "type": record.get_backup_type_display(), "format": record.format})
        if record.size_bytes:
            lines.append(_("Size: %(size)s bytes") % {"size": f"{record.size_bytes:,}"})
        if record.size_anomaly_pct is not None:
            lines.append(_("Size anomaly: %(pct)+.0f%% from the median of the previous backups") % {
                "pct": record.size_anomaly_pct})
    elif word == "restore":
        lines.append(_("Backup #%(id)s into database %(db)s") % {"id": record.backup_id, "db": record.target_database})
    elif word == "verification":
        lines.append(_("Backup #%(id)s%(drill)s") % {
            "id": record.backup_id, "drill": _(", with a restore drill") if record.drill else ""})
        if record.restore_seconds is not None:
            lines.append(_("Drill restore took %(s).1f s") % {"s": record.restore_seconds})
    if record.duration_seconds is not None:
        lines.append(_("Duration: %(s).1f s") % {"s": record.duration_seconds})
    if record.started_by:
        lines.append(_("Started by: %(who)s") % {"who": record.started_by})
    if record.error:
        lines.append(_("Error: %(error)s") % {"error": record.error})
    return lines


def _title(kind: str, record, target) -> str:
    name = target.name if target is not None else "-"
    word = job_name(record) if record is not None else ""
    if kind == EventKind.VERIFICATION_FAILED and getattr(record, "drill", False):
        return prefix() + _("Restore drill of %(target)s failed") % {"target": name}
    titles = {
        EventKind.BACKUP_FAILED: _("Backup of %(target)s failed"),
        EventKind.RESTORE_FAILED: _("Restore from %(target)s failed"),
        EventKind.VERIFICATION_FAILED: _("Verification of a backup of %(target)s failed"),
        EventKind.SIZE_ANOMALY: _("Backup of %(target)s has an unusual size"),
        EventKind.TARGET_STALE: _("Backups of %(target)s are not healthy"),
        EventKind.RECOVERED: _("%(job)s of %(target)s succeeded again after a failure"),
        EventKind.OFFSITE_FAILED: _("Backup of %(target)s was not copied to object storage"),
        EventKind.DATABASE_DROPPED: _("Database %(target)s is no longer on its server"),
        SUCCEEDED: _("%(job)s of %(target)s succeeded"),
        TEST: _("Test notification"),
    }
    return prefix() + titles.get(kind, _("%(kind)s: %(target)s")) % {"target": name, "job": word, "kind": kind}


def build(kind: str, record=None, *, target=None, detail: str = "") -> Message:
    kind = str(kind)  # an EventKind member or its value
    target = target or (target_of(record) if record is not None else None)
    lines = [_target_line(target)] if target is not None else []
    if record is not None:
        lines += _job_lines(record)
    if detail:
        lines.append(detail)
    if kind == TEST:
        lines.append(_("This is a test: if you read it, the channel works."))
    facts = {"job": job_word(record), "id": record.pk, "status": record.status} if record is not None else {}
    message = Message(kind=kind, title=_title(kind, record, target), lines=lines,
                      target=target.name if target is not None else "", facts=facts)
    return message.scrubbed(known_secrets(target))
