"""The life of a job row: it waits for its target's turn, is claimed once, kept alive by a heartbeat, ended once.

Works the same on SQLite and PostgreSQL: every transition is a filtered
UPDATE whose row count says whether we won. Every write is one short
autocommit statement, so no job ever holds the console database's write lock
while it waits or works.
"""

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from backups_app.models.jobs import JobStatus

log = logging.getLogger(__name__)

WORKER_LOST = "worker lost: the job stopped reporting (worker killed or machine stopped)"
LOCK_POLL_SECONDS = 0.5


class JobRefused(Exception):
    """The job cannot start (someone else has it, or it waited too long)."""


class NotQueued(JobRefused):
    """The row is not queued any more: another worker took it, or it has already ended."""


class TargetBusy(JobRefused):
    """Another backup or restore holds the target; `final` once the job may wait no longer."""

    def __init__(self, message: str, *, final: bool):
        super().__init__(message)
        self.final = final


class JobLost(Exception):
    """The row was failed by the reaper while its work went on; the work must not be published."""


def job_models():
    names = ("BackupRecord", "RestoreRecord", "VerificationRecord")
    return [apps.get_model("backups_app", name) for name in names]


# Record errors are stored text, written the same whatever the worker's language.
JOB_WORDS = {"BackupRecord": "backup", "RestoreRecord": "restore", "VerificationRecord": "verification"}


def describe(record) -> str:
    return f"{JOB_WORDS.get(type(record).__name__, 'job')} #{record.pk}"


# --- transitions -----------------------------------------------------------

def claim(model, pk) -> bool:
    now = timezone.now()
    n = model.objects.filter(pk=pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    return n == 1


def finish(record, *, ok: bool, error: str = "", **fields) -> None:
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


def _announce(record) -> None:
    for listener in _ended_listeners:
        listener(record)


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


def acquire(target, holder: str, *, wait_seconds: float) -> bool:
    """Take the target's lease, waiting up to wait_seconds; False if it stayed busy."""
    deadline = time.monotonic() + max(0.0, wait_seconds)
    next_beat = time.monotonic() + settings.JOB_HEARTBEAT_SECONDS
    while not (_looks_free(target) and _try_lock(target, holder)):
        if time.monotonic() >= deadline:
            return False
        if time.monotonic() >= next_beat:
            _keep_waiting_row_alive(holder)
            next_beat = time.monotonic() + settings.JOB_HEARTBEAT_SECONDS
        time.sleep(min(LOCK_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    return True


def busy_message(target, *, waited_seconds: float) -> str:
    from backups_app.models import DatabaseTarget

    holder = DatabaseTarget.objects.filter(pk=target.pk).values_list("lock_holder", flat=True).first() or ""
    name, _, pk = holder.partition(":")
    what = f"{JOB_WORDS.get(name, 'job')} #{pk}" if name else "another job"
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
def turn(record, *, target=None, progress=None, defer: bool = False, wait_seconds: float | None = None):
    """Wait for the target's turn, claim the row, keep it alive; release the target at the end.

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
    if target is None:
        with running(record, progress=progress) as beat:
            yield beat
        return
    deadline = record.created_at + timedelta(seconds=settings.JOB_LOCK_WAIT_SECONDS)
    remaining = (deadline - timezone.now()).total_seconds() if wait_seconds is None else wait_seconds
    wait = min(remaining, settings.JOB_TURN_SLICE_SECONDS) if defer else remaining
    if not acquire(target, holder, wait_seconds=wait):
        final = wait >= remaining
        waited = (timezone.now() - record.created_at).total_seconds() if wait_seconds is None else wait
        raise TargetBusy(busy_message(target, waited_seconds=waited), final=final)
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
    record.refresh_from_db(fields=["status", "started_at", "heartbeat_at"])
    with Heartbeat(record, progress=progress, target=target) as beat:
        yield beat


def _not_queued(record) -> str:
    return f"{describe(record)} is not queued (someone else got there first, or it has ended)"


# --- staying alive ---------------------------------------------------------

class Heartbeat:
    """Marks a running row alive (and its progress) until stopped; `lost` is set if the row stops being ours."""

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
        fields = {"heartbeat_at": now}
        if self.progress is not None:
            value = self.progress()
            if value is not None:
                fields["bytes_written"] = value
        if not self.model.objects.filter(pk=self.pk, status=JobStatus.RUNNING).update(**fields):
            self.lost.set()
            return
        if self.target is not None:
            DatabaseTarget.objects.filter(pk=self.target.pk, lock_holder=self.holder).update(
                lock_expires_at=_lease_end(now)
            )

    def _run(self):
        try:
            while not self._stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    self.beat()
                except Exception:  # a missed beat is not fatal; the next one may pass
                    log.exception("heartbeat failed for %s", self.holder)
        finally:
            connection.close()


# --- cleaning up after the dead --------------------------------------------

def reap_lost(*, now=None) -> int:
    """Fail jobs whose worker stopped beating (killed, power loss) or that no worker ever took; tidy up after them.

    Safe to run from several processes at once: each row changes by one filtered UPDATE.
    """
    close_old_connections()
    now = now or timezone.now()
    reaped = 0
    for model in job_models():
        reaped += _reap_running(model, now) + _reap_never_started(model, now)
    _release_expired_leases(now)
    _remove_orphan_partials()
    _remove_orphan_passfiles()
    return reaped


def _reap_running(model, now) -> int:
    cutoff = now - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)
    reaped = 0
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    stale = model.objects.filter(silent, status=JobStatus.RUNNING)
    for pk in stale.values_list("pk", flat=True):
        n = model.objects.filter(silent, pk=pk, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, finished_at=now, error=WORKER_LOST
        )
        if n:
            reaped += 1
            log.warning("marked %s #%s failed: worker lost", model.__name__, pk)
            _after_lost(model, pk)
            _announce(model.objects.get(pk=pk))
    return reaped


def _reap_never_started(model, now) -> int:
    # A row still queued long after the job could have been refused was lost by the queue
    # (a crashed worker's prefetched task, a broker that lost it): it must not run days later.
    limit = settings.JOB_LOCK_WAIT_SECONDS + settings.JOB_LOST_AFTER_SECONDS
    n = model.objects.filter(status=JobStatus.QUEUED, created_at__lt=now - timedelta(seconds=limit)).update(
        status=JobStatus.FAILED, finished_at=now,
        error=f"never started: no worker took this job within {limit} s of the request (is the worker running?)",
    )
    if n:
        log.warning("marked %s %s jobs never started", n, JOB_WORDS.get(model.__name__, "job"))
    return n


def _after_lost(model, pk) -> None:
    from backups_app.models import DatabaseTarget
    from backups_app.services.storage import files, layout

    DatabaseTarget.objects.filter(lock_holder=f"{model.__name__}:{pk}").update(lock_holder="", lock_expires_at=None)
    if model.__name__ == "BackupRecord":
        for partial in layout.partial_files(pk):
            files.remove_quietly(partial)


def _release_expired_leases(now) -> None:
    from backups_app.models import DatabaseTarget

    DatabaseTarget.objects.exclude(lock_holder="").filter(lock_expires_at__lt=now).update(
        lock_holder="", lock_expires_at=None
    )


def _remove_orphan_partials() -> None:
    """Temporary backup files whose job is not running (left by a crash) go."""
    from backups_app.models import BackupRecord
    from backups_app.services.storage import files, layout

    for partial in layout.partial_files():
        record_id = partial.name.rpartition(layout.PARTIAL_MARK)[2]
        if not record_id.isdigit():
            continue
        if not BackupRecord.objects.filter(pk=int(record_id), status=JobStatus.RUNNING).exists():
            files.remove_quietly(partial)
            log.warning("removed a leftover temporary file %s", partial)


def _remove_orphan_passfiles() -> None:
    """Private passfiles of a killed process (its pid is in the folder's name) go: they hold a password."""
    from backups_app.services.postgres.connection import PASSFILE_DIR_PREFIX

    for folder in Path(tempfile.gettempdir()).glob(f"{PASSFILE_DIR_PREFIX}*-*"):
        pid = folder.name[len(PASSFILE_DIR_PREFIX):].partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            log.warning("removed a killed process's passfile folder %s", folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to judge
        return True
    return True
