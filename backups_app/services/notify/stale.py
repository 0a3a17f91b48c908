"""Telling once when a target has gone without a fresh backup for longer than its schedule allows.

Freshness is monitoring/health.py's. One notice per stale spell: none is
sent again until the target has a newer succeeded backup. Checked from each
worker's reaper thread every NOTIFY_STALE_CHECK_SECONDS (0 turns it off).
"""

import logging
import time

from django.conf import settings

from backups_app.models import DatabaseTarget, Notification
from backups_app.models.notifications import EventKind
from backups_app.services.monitoring import health
from backups_app.services.notify import dispatch

log = logging.getLogger(__name__)

_last_check = [float("-inf")]


def check(*, now=None) -> list[str]:
    """Notify for each active target that is stale and not yet told; returns their names."""
    told = []
    for target in DatabaseTarget.objects.filter(is_active=True).order_by("name"):
        fresh = health.target_freshness(target, now=now)
        if fresh["ok"] or _already_told(target):
            continue
        dispatch.event(EventKind.TARGET_STALE, target=target, detail=fresh["problem"] or "")
        told.append(target.name)
    return told


def _already_told(target) -> bool:
    found = health.last_success(target)
    since = (found[0] or found[1]) if found else None
    notices = Notification.objects.filter(kind=EventKind.TARGET_STALE, target=target)
    return notices.filter(created_at__gte=since).exists() if since else notices.exists()


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
