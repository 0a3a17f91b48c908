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

__all__ = ["check_stale", "event", "job_ended", "offsite_failed", "send_test"]


def check_stale() -> None:
    """The reaper's rounds: tell of targets gone stale (loaded late: it reads schedules)."""
    from backups_app.services.notify import stale

    stale.check_now_and_then()
