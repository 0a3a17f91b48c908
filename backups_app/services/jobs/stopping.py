"""Stopping a job that runs in this process (manage.py backup, restore, verify): it ends failed, cleaned up.

Python's default SIGTERM ends the process at once, leaving temporary files,
a half-made database and a `running` row behind. Inside stop_on_signals,
SIGTERM and SIGINT raise Interrupted instead, so the job's service unwinds
as after any failure, ends its row `failed` naming the signal, and re-raises.
"""

import contextlib
import signal
import threading


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived while a job ran here; the message is the signal's name."""


@contextlib.contextmanager
def stop_on_signals():
    """Turn SIGTERM and SIGINT into Interrupted while the block runs. Only the main thread can do this."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_here(execute, record, **kwargs):
    """execute(record_id=, **kwargs) in this process; a signal ends the job failed, and the ended row is returned."""
    try:
        with stop_on_signals():
            return execute(record_id=record.pk, **kwargs)
    except Interrupted:
        record.refresh_from_db()
        return record


def interrupted(what: str, exc: BaseException) -> str:
    """The error a job ends with when exc stopped it half way ("backup interrupted by SIGTERM")."""
    if isinstance(exc, Interrupted):
        return f"{what} interrupted by {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return f"{what} interrupted by SIGINT"
    return f"{what} interrupted: {type(exc).__name__}: {exc}"
