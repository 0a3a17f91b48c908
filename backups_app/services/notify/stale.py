"""Telling once when a target is not healthy: no restorable backup for longer than its schedule allows,
or its newest backup failed its verification (or lost its file).

Health is monitoring/health.py's. One notice per spell: none is sent again
until the problem starts anew (a newer backup, a newer failed verification).
A failed copy to object storage is told per backup when it happens
(notify.offsite_failed), not here. Checked from each worker's reaper thread
every NOTIFY_STALE_CHECK_SECONDS (0 turns it off).
"""

import logging
import time

from django.conf import settings

from backups_app.models import Notification
from backups_app.models.notifications import EventKind
from backups_app.services.monitoring import health
from backups_app.services.notify import dispatch

log = logging.getLogger(__name__)

_last_check = [float("-inf")]
TOLD = (health.STALE, health.DAMAGED)  # offsite_failed is told per backup, when the upload fails


def check(*, now=None) -> list[str]:
    """Notify for each active target that is stale or damaged and not yet told; returns their names."""
    told = []
    for state in health.target_states(now=now):
        if state.state not in TOLD or _already_told(state):
            continue
        dispatch.event(EventKind.TARGET_STALE, target=state.target, detail=state.problem or "")
        told.append(state.target.name)
    return told


def _already_told(state: health.TargetHealth) -> bool:
    notices = Notification.objects.filter(kind=EventKind.TARGET_STALE, target=state.target)
    return notices.filter(created_at__gte=state.since).exists() if state.since else notices.exists()


def check_now_and_then() -> None:
    """For the reaper's loop: at most once per NOTIFY_STALE_CHECK_SECONDS, and never raises."""
    every = settings.NOTIFY_STALE_CHECK_SECONDS
    if not every or time.monotonic() - _last_check[0] < every:
        return
    _last_check[0] = time.monotonic()
    try:
        check()
    except Exception as exc:
        log.error("checking for stale targets failed: %s: %s", type(exc).__name__, exc)
