"""The life of a job row: it waits for its target's turn, is claimed once, kept alive by a heartbeat, ended once.

Works the same on SQLite and PostgreSQL: every transition is a filtered
UPDATE whose row count says whether we won. Every write is one short
autocommit statement, so no job ever holds the console database's write lock
while it waits or works.
"""

import contextlib
import logging
import threading
import time
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from backups_app.models.jobs import JobStatus
from backups_app.services.jobs import joblog, placement, process
from backups_app.services.jobs import progress as progress_of

log = logging.getLogger(__name__)

WORKER_LOST = "job lost: it stopped reporting (worker killed or machine stopped)"
LOCK_POLL_SECONDS = 0.5
WAIT_REPORT_SECONDS = 10


class JobRefused(Exception):
    """The job cannot start (someone else has it, or it waited too long)."""


class NotQueued(JobRefused):
    """The row is not queued any more: another worker took it, or it has already ended."""


class OnAnotherHost(NotQueued):
    """The job must run on `host`, which alone has its backup's file (placement.py); the row stays queued for it."""

    def __init__(self, message: str, *, host: str):
        super().__init__(message)
        self.host = host


class TargetBusy(JobRefused):
    """Another backup or restore holds the target; `final` once the job may wait no longer.

    host: the host the job must run on, if only one can (it goes back to that host's queue).
    """

    def __init__(self, message: str, *, final: bool, host: str = ""):
        super().__init__(message)
        self.final, self.host = final, host


class JobLost(Exception):
    """The row was failed by the reaper while its work went on; the work must not be published."""


def job_models():
    names = ("BackupRecord", "RestoreRecord", "VerificationRecord", "PruneRecord", "ServerRun")
    return [apps.get_model("backups_app", name) for name in names]


# Record errors are stored text, written the same whatever the worker's language.
JOB_WORDS = {"BackupRecord": "backup", "RestoreRecord": "restore", "VerificationRecord": "verification",
             "PruneRecord": "prune", "ServerRun": "server run"}


def describe(record) -> str:
    return f"{JOB_WORDS.get(type(record).__name__, 'job')} #{record.pk}"


# --- transitions -----------------------------------------------------------

def claim(model, pk) -> bool:
    now = timezone.now()
    n = model.objects.filter(pk=pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, phase=progress_of.PREPARING, **process.identity()
    )
    return n == 1


def finish(record, *, ok: bool, error: str = "", **fields) -> None:
    """End a running row succeeded or failed (a `status` among fields says more, as a server run's "partly_failed")."""
    record.finished_at = timezone.now()
    record.status = (JobStatus.SUCCEEDED if ok else JobStatus.FAILED).value  # a plain string, as read from the row
    record.error = error
    if record.started_at:
        record.duration_seconds = (record.finished_at - record.started_at).total_seconds()
    for k, v in fields.items():
        setattr(record, k, v)
    names = {"status", "finished_at", "error", "duration_seconds", *fields}
    # Only a running row can end; a row the reaper already failed stays failed.
    n = type(record).objects.filter(pk=record.pk, status=JobStatus.RUNNING).update(
        **{name: getattr(record, name) for name in names}
    )
    if n != 1:
        record.refresh_from_db()
    else:
        _announce(record)


# Called with each record that ends, after its row is committed and outside any transaction.
# Registered by the app at start-up (notifications), so that jobs/ imports nothing above it.
_ended_listeners: list = []


def when_ended(listener) -> None:
    if listener not in _ended_listeners:
        _ended_listeners.append(listener)


# Inside a target's turn, ends are told once the target is free again: a slow notification channel
# must not keep the next backup or restore of that database waiting. Per thread; the outermost turn tells.
_held = threading.local()


def _announce(record) -> None:
    pending = getattr(_held, "records", None)
    if pending is not None:
        pending.append(record)
        return
    for listener in _ended_listeners:
        listener(record)


@contextlib.contextmanager
def _announcing_after():
    if getattr(_held, "records", None) is not None:
        yield
        return
    _held.records = []
    try:
        yield
    finally:
        records, _held.records = _held.records, None
        for record in records:
            _announce(record)


def refuse(record, message: str) -> bool:
    """A queued row that will never run ends failed, with the reason."""
    n = type(record).objects.filter(pk=record.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.FAILED, finished_at=timezone.now(), error=message
    )
    record.refresh_from_db()
    if n == 1:
        _announce(record)
    return n == 1


def ensure_running(record) -> None:
    """Raise JobLost when the row is no longer ours (checked before anything is published)."""
    if not type(record).objects.filter(pk=record.pk, status=JobStatus.RUNNING).exists():
        raise JobLost(f"{describe(record)} was marked failed while it ran ({WORKER_LOST}); its result is discarded")


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
END_POLL_SECONDS = 0.5


def wait_for_end(model, pk, *, timeout: float) -> bool:
    """Whether the job's row has ended (neither queued nor running) within timeout seconds; read twice a second."""
    deadline = time.monotonic() + max(0.0, timeout)
    while model.objects.filter(pk=pk, status__in=ACTIVE).exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(END_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    return True


# --- one job per target ----------------------------------------------------

def lock_key(record) -> str:
    return f"{type(record).__name__}:{record.pk}"


def _lease_end(now):
    return now + timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)


def _try_lock(target, holder: str) -> bool:
    from backups_app.models import DatabaseTarget

    now = timezone.now()
    free = Q(lock_holder="") | Q(lock_expires_at__lt=now)
    n = DatabaseTarget.objects.filter(free, pk=target.pk).update(lock_holder=holder, lock_expires_at=_lease_end(now))
    return n == 1


def _looks_free(target) -> bool:
    """A read first, so waiting jobs do not queue up for the write lock every half second."""
    from backups_app.models import DatabaseTarget

    holder, expires = DatabaseTarget.objects.filter(pk=target.pk).values_list("lock_holder", "lock_expires_at").get()
    return not holder or expires is None or expires < timezone.now()


def release_lock(target, holder: str) -> None:
    from backups_app.models import DatabaseTarget

    DatabaseTarget.objects.filter(pk=target.pk, lock_holder=holder).update(lock_holder="", lock_expires_at=None)


def _keep_waiting_row_alive(holder: str) -> None:
    # A caller that claimed its row before waiting must not look lost while it waits.
    name, _, pk = holder.partition(":")
    try:
        model = apps.get_model("backups_app", name)
    except LookupError:
        return
    model.objects.filter(pk=pk, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())


def acquire(target, holder: str, *, wait_seconds: float, on_wait=None) -> bool:
    """Take the target's lease, waiting up to wait_seconds; False if it stayed busy.

    on_wait(line), when given, hears at once that the job waits, for whom, and then how long it has waited.
    """
    began = time.monotonic()
    deadline = began + max(0.0, wait_seconds)
    next_beat = began + settings.JOB_HEARTBEAT_SECONDS
    next_word = began
    while not (_looks_free(target) and _try_lock(target, holder)):
        if time.monotonic() >= deadline:
            return False
        if on_wait is not None and time.monotonic() >= next_word:
            on_wait(_waiting_line(target, time.monotonic() - began, wait_seconds))
            next_word = time.monotonic() + WAIT_REPORT_SECONDS
        if time.monotonic() >= next_beat:
            _keep_waiting_row_alive(holder)
            next_beat = time.monotonic() + settings.JOB_HEARTBEAT_SECONDS
        time.sleep(min(LOCK_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    return True


def _holder_words(target) -> str:
    from backups_app.models import DatabaseTarget

    holder = DatabaseTarget.objects.filter(pk=target.pk).values_list("lock_holder", flat=True).first() or ""
    name, _, pk = holder.partition(":")
    return f"{JOB_WORDS.get(name, 'job')} #{pk}" if name else "another job"


def _waiting_line(target, waited: float, limit: float) -> str:
    return (f"waiting for target '{target.name}', busy with {_holder_words(target)}: "
            f"waited {int(waited)} s of at most {int(limit)} s")


def busy_message(target, *, waited_seconds: float) -> str:
    what = _holder_words(target)
    return (f"refused: target '{target.name}' is busy with {what}, and this job has already waited "
            f"{int(waited_seconds)} s (JOB_LOCK_WAIT_SECONDS={settings.JOB_LOCK_WAIT_SECONDS}); try again later")


@contextlib.contextmanager
def target_lock(target, holder: str, *, wait_seconds: float | None = None):
    """One backup or restore per target at a time; others wait their turn, or are refused."""
    wait = settings.JOB_LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    if not acquire(target, holder, wait_seconds=wait):
        raise TargetBusy(busy_message(target, waited_seconds=wait), final=True)
    try:
        yield
    finally:
        release_lock(target, holder)


@contextlib.contextmanager
def turn(record, *, target=None, progress=None, defer: bool = False, wait_seconds: float | None = None,
         on_wait=None):
    """Wait for the target's turn, claim the row, keep it alive; release the target at the end.

    A job that must run on another host (it reads a backup whose file only
    that host has: placement.py) raises OnAnotherHost, its row still queued.

    The row stays queued while it waits, so its start time is when its turn
    came. A job may wait until JOB_LOCK_WAIT_SECONDS after it was requested
    (or wait_seconds, when given); then it is refused. With defer=True it
    waits only JOB_TURN_SLICE_SECONDS and raises TargetBusy(final=False),
    so the queue can hand the worker to another target and try again later.
    A job that needs no target to itself (target=None: a verification reads
    a file) is claimed at once.
    """
    model, holder = type(record), lock_key(record)
    if not model.objects.filter(pk=record.pk, status=JobStatus.QUEUED).exists():
        raise NotQueued(_not_queued(record))
    host = placement.job_host(record)
    if host and placement.away(record.backup, host):
        raise OnAnotherHost(_on_another_host(record, host), host=host)
    if target is None:
        with running(record, progress=progress) as beat:
            yield beat
        return
    deadline = record.created_at + timedelta(seconds=settings.JOB_LOCK_WAIT_SECONDS)
    remaining = (deadline - timezone.now()).total_seconds() if wait_seconds is None else wait_seconds
    wait = min(remaining, settings.JOB_TURN_SLICE_SECONDS) if defer else remaining
    if not acquire(target, holder, wait_seconds=wait, on_wait=on_wait):
        final = wait >= remaining
        waited = (timezone.now() - record.created_at).total_seconds() if wait_seconds is None else wait
        # Back to this host's own list when only it can run the job; to anyone's when any worker with the file can.
        raise TargetBusy(busy_message(target, waited_seconds=waited), final=final,
                         host=host if host == process.host() else "")
    with _announcing_after():  # told after the release below
        try:
            with running(record, progress=progress, target=target) as beat:
                yield beat
        finally:
            release_lock(target, holder)


@contextlib.contextmanager
def running(record, *, progress=None, target=None):
    """Claim the queued row and keep it alive while the block runs (the caller has the target, if it needs one)."""
    if not claim(type(record), record.pk):
        raise NotQueued(_not_queued(record))
    record.refresh_from_db(fields=["status", "started_at", "heartbeat_at", "phase"])
    with joblog.collecting(record), Heartbeat(record, progress=progress, target=target) as beat:
        yield beat


def _not_queued(record) -> str:
    return f"{describe(record)} is not queued (someone else got there first, or it has ended)"


def _on_another_host(record, host: str) -> str:
    return (f"{describe(record)} must run on host {host}, which has the file of backup #{record.backup_id} "
            f"({process.host()} has not)")


# --- staying alive ---------------------------------------------------------

class Heartbeat:
    """Marks a running row alive until stopped, and its progress more often; `lost` is set if the row stops being ours.

    The bytes done are written every JOB_PROGRESS_SECONDS when they changed (a page shows them moving);
    the heartbeat and the target's lease every JOB_HEARTBEAT_SECONDS.
    """

    def __init__(self, record, *, progress=None, target=None):
        self.model, self.pk = type(record), record.pk
        self.progress, self.target, self.holder = progress, target, lock_key(record)
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.holder}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=60)

    def beat(self):
        from backups_app.models import DatabaseTarget

        now = timezone.now()
        self.report()
        if not self.model.objects.filter(pk=self.pk, status=JobStatus.RUNNING).update(heartbeat_at=now):
            self.lost.set()
            return
        if self.target is not None:
            DatabaseTarget.objects.filter(pk=self.target.pk, lock_holder=self.holder).update(
                lock_expires_at=_lease_end(now)
            )

    _reported = None

    def report(self) -> None:
        value = self.progress() if self.progress is not None else None
        if value is not None and value != self._reported:
            progress_of.report(self.model, self.pk, value)
            self._reported = value

    def _run(self):
        beat_every = settings.JOB_HEARTBEAT_SECONDS
        tick = min(settings.JOB_PROGRESS_SECONDS, beat_every) if self.progress is not None else beat_every
        next_beat = time.monotonic() + beat_every
        try:
            while not self._stop.wait(tick):
                try:
                    if time.monotonic() >= next_beat:
                        self.beat()
                        next_beat = time.monotonic() + beat_every
                    else:
                        self.report()
                except Exception:  # a missed beat is not fatal; the next one may pass
                    log.exception("heartbeat failed for %s", self.holder)
        finally:
            connection.close()
