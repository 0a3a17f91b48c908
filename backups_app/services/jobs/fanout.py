"""Running many jobs of one request a few at a time (a server target's databases), each with its own lifecycle.

`run_each(items, work, parallel=N)` calls work(item) for every item, at most
N at once: N=1 runs them in turn in the calling thread; more run on threads,
each closing its own database connection when done. One item that raises
does not stop the others; its exception is returned in its place.

Stopping (SIGTERM or Ctrl-C while the run is in the calling thread): no item
starts any more, and the programs the running items started (this process's
children) are asked to stop, so that each running job ends failed and tidy
within seconds rather than when its dump is done. `stopping()` tells the
jobs that their programs ended because of the stop, so that their records
say so (not "pg_dump was killed by signal 15"). Then Interrupted is raised
again, with every item accounted for.
"""

import logging
import os
import signal
import threading
from pathlib import Path

from django.db import connection

from backups_app.services.jobs import stopping as stops

log = logging.getLogger(__name__)

_stop = {"signal": ""}
_stop_lock = threading.Lock()


def stopping() -> str:
    """The signal a fan-out is stopping for ("" when it is not): a job's failure then is that stop."""
    return _stop["signal"]


def run_each(items, work, *, parallel: int = 1) -> list:
    """work(item) for each item, at most `parallel` at once; each result, or the exception it raised, in order."""
    items = list(items)
    if parallel <= 1 or len(items) <= 1:
        return [_call(work, item) for item in items]
    return _on_threads(items, work, parallel)


def _call(work, item):
    try:
        return work(item)
    except Exception as exc:  # one item's failure is its own; the others go on
        log.exception("one of the jobs failed unexpectedly")
        return exc


def _on_threads(items, work, parallel: int) -> list:
    results: list = [None] * len(items)
    free = threading.Semaphore(parallel)
    threads = []

    def one(index, item):
        try:
            results[index] = _call(work, item)
        finally:
            connection.close()
            free.release()

    try:
        for index, item in enumerate(items):
            while not free.acquire(timeout=0.5):
                pass
            thread = threading.Thread(target=one, args=(index, item), name=f"fanout-{index}", daemon=True)
            threads.append(thread)
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
    except BaseException as exc:
        _stop_running(threads, exc)
        raise
    return results


def _stop_running(threads, exc: BaseException) -> None:
    """A stop while items run on threads: their programs go, and every thread ends before the stop goes on."""
    name = str(exc) if isinstance(exc, stops.Interrupted) else "SIGINT"
    with _stop_lock:
        _stop["signal"] = name
    try:
        _signal_children(signal.SIGTERM)
        for thread in threads:
            thread.join()
    finally:
        with _stop_lock:
            _stop["signal"] = ""


def _signal_children(signum) -> None:
    """This process's child programs (the running jobs' dumps and compressors) are asked to stop."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == me:
            try:
                os.kill(int(entry.name), signum)
            except ProcessLookupError:
                pass
