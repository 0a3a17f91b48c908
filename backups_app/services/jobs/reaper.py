"""The reaper: fails jobs whose worker died and tidies up after them, from inside every worker process.

It runs on a thread of its own in each django-q2 worker, every
JOB_REAP_SECONDS, starting the moment the worker starts. Not a scheduled
task, because a task waits in the queue behind long dumps and a lost job
could then stay "running" for hours; a thread runs whatever its worker is
doing, and a cluster that comes back after a crash tidies up first. Several
copies at once are safe: every change is one filtered UPDATE.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import connection

from backups_app.services.jobs import recovery, stopping

log = logging.getLogger(__name__)

_started = threading.Event()


def reap_once() -> int:
    try:
        return recovery.reap_lost()
    except Exception:  # the next pass may succeed; a dead reaper thread would not
        log.exception("reaping lost jobs failed")
        return 0
    finally:
        connection.close()


# Also run on each round (the stale-target check), registered by the app at start-up.
_each_round: list = []


def also_each_round(work) -> None:
    if work not in _each_round:
        _each_round.append(work)


def _loop() -> None:
    while True:
        reap_once()
        for work in _each_round:
            work()
        time.sleep(settings.JOB_REAP_SECONDS)


def start() -> None:
    """Start the reaper thread in this process (once)."""
    if _started.is_set():
        return
    _started.set()
    threading.Thread(target=_loop, name="job-reaper", daemon=True).start()


def on_worker_spawn(sender, **kwargs) -> None:
    """django-q2's post_spawn signal: sent in each new worker process."""
    stopping.install_in_worker()
    start()
