"""Notifications: telling people when backups, restores or verifications fail, recover, or go stale.

Owns the channels (email through Django's email settings, a JSON webhook,
and chat services through one Apprise URL each), the words of every
message, and delivery. Jobs announce their end through `job_ended` (called
by the job lifecycle when a row ends; apps.py registers it); other code announces an event with
`event(kind, record, ...)`; a backup's failed copy to object storage through
`offsite_failed` (registered with storage/offsite.py the same way). Delivery runs after the job's row is committed
and its target's turn is over, with a timeout, and never raises: a channel that fails keeps the reason
(scrubbed) in `last_error`. URLs are secrets: the database holds only the
name of the environment variable that holds each one.
"""

from backups_app.services.notify.dispatch import event, job_ended, offsite_failed, send_test

__all__ = ["check_stale", "database_dropped", "event", "job_ended", "offsite_failed", "send_test"]


def database_dropped(target, *, run) -> int:
    """A server target's run found one of its databases gone (told once: later runs know it already)."""
    from django.utils.translation import gettext as _

    from backups_app.models.notifications import EventKind

    return event(EventKind.DATABASE_DROPPED, target=target, detail=_(
        "Server run #%(run)s of %(server)s no longer found database %(db)s. Its backups are kept under "
        "retention; the next runs leave it out.") % {"run": run.pk, "server": run.target.name, "db": target.dbname})


def check_stale() -> None:
    """The reaper's rounds: tell of targets gone stale (loaded late: it reads schedules)."""
    from backups_app.services.notify import stale

    stale.check_now_and_then()
