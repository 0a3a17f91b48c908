"""Stopping a job that runs in this process (manage.py backup, restore, verify): it ends failed, cleaned up.

Python's default SIGTERM ends the process at once, leaving temporary files,
a half-made database and a `running` row behind. Inside stop_on_signals,
SIGTERM and SIGINT raise Interrupted instead, so the job's service unwinds
as after any failure, ends its row `failed` naming the signal, and re-raises.
"""

import contextlib
import os
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
    """execute(record_id=, **kwargs) in this process; a signal ends the job failed, and the ended row is returned.

    A job only another host can run (its backup's file is there) is refused here, saying so.
    """
    from backups_app.services.jobs import lifecycle

    try:
        with stop_on_signals():
            return execute(record_id=record.pk, **kwargs)
    except Interrupted:
        record.refresh_from_db()
        return record
    except lifecycle.OnAnotherHost as exc:
        lifecycle.refuse(record, str(exc))
        return record


def interrupted(what: str, exc: BaseException) -> str:
    """The error a job ends with when exc stopped it half way ("backup interrupted by SIGTERM")."""
    if isinstance(exc, Interrupted):
        return f"{what} interrupted by {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return f"{what} interrupted by SIGINT"
    return f"{what} interrupted: {type(exc).__name__}: {exc}"


# --- inside a django-q2 worker process ------------------------------------------------------
# The worker's parent (the sentinel) leaves SIGTERM at its default, which ends a worker at
# once, job and all, like kill -9. Installed in each worker when it starts, these make a
# stop clean however it is delivered (to the worker alone or to the whole process group):
# SIGTERM / SIGINT interrupt the running job, which ends failed and tidy, then the worker
# leaves; SIGUSR1 lets the running job finish first. An idle worker leaves at once.

_worker = {"in_task": False, "interrupting": False, "leaving": False}


def install_in_worker() -> None:
    from django_q.signals import post_execute_in_worker, pre_execute

    pre_execute.connect(_task_starts, dispatch_uid="backups_app.stopping.starts")
    post_execute_in_worker.connect(_task_ends, dispatch_uid="backups_app.stopping.ends")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _worker_interrupt)
    signal.signal(signal.SIGUSR1, _worker_leave)


def _task_starts(sender=None, **kwargs) -> None:
    _worker["in_task"] = True


def _task_ends(sender=None, **kwargs) -> None:
    _worker["in_task"] = False
    if _worker["leaving"] or _worker["interrupting"]:
        os._exit(0)


def _worker_interrupt(signum, frame):
    if not _worker["in_task"]:
        os._exit(0)
    if not _worker["interrupting"]:  # a second signal must not break the job's own clean-up
        _worker["interrupting"] = True
        raise Interrupted(signal.Signals(signum).name)


def _worker_leave(signum, frame):
    if not _worker["in_task"]:
        os._exit(0)
    _worker["leaving"] = True
