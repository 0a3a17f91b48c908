"""The life of a job row: claimed once, kept alive by a heartbeat, ended once.

Works the same on SQLite and PostgreSQL: every transition is a filtered
UPDATE whose row count says whether we won.
"""

import contextlib
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)


class JobRefused(Exception):
    """The job cannot start (someone else has it, or it waited too long)."""


def claim(model, pk) -> bool:
    now = timezone.now()
    n = model.objects.filter(pk=pk, status="queued").update(
        status="running", started_at=now, heartbeat_at=now
    )
    return n == 1


def finish(record, *, ok: bool, error: str = "", **fields) -> None:
    record.finished_at = timezone.now()
    record.status = "succeeded" if ok else "failed"
    record.error = error
    if record.started_at:
        record.duration_seconds = (record.finished_at - record.started_at).total_seconds()
    for k, v in fields.items():
        setattr(record, k, v)
    names = {"status", "finished_at", "error", "duration_seconds", *fields}
    # Only a running row can end; a row the reaper already failed stays failed.
    n = type(record).objects.filter(pk=record.pk, status="running").update(
        **{name: getattr(record, name) for name in names}
    )
    if n != 1:
        record.refresh_from_db()


def lock_key(record) -> str:
    return f"{type(record).__name__}:{record.pk}"


def _try_lock(target, holder: str) -> bool:
    from backups_app.models import DatabaseTarget

    now = timezone.now()
    expires = now + timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)
    free = DatabaseTarget.objects.filter(pk=target.pk).filter(
        lock_holder=""
    ) | DatabaseTarget.objects.filter(pk=target.pk, lock_expires_at__lt=now)
    return free.update(lock_holder=holder, lock_expires_at=expires) == 1


def release_lock(target, holder: str) -> None:
    from backups_app.models import DatabaseTarget

    DatabaseTarget.objects.filter(pk=target.pk, lock_holder=holder).update(
        lock_holder="", lock_expires_at=None
    )


@contextlib.contextmanager
def target_lock(target, holder: str, *, wait_seconds: float | None = None):
    """One backup or restore per target at a time; others wait their turn."""
    wait = settings.JOB_LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    while not _try_lock(target, holder):
        if time.monotonic() >= deadline:
            raise JobRefused(
                f"another backup or restore of target '{target.name}' is still running "
                f"after waiting {int(wait)} s; try again later"
            )
        time.sleep(0.5)
    try:
        yield
    finally:
        release_lock(target, holder)


class Heartbeat:
    """Marks a running row alive (and its progress) until stopped."""

    def __init__(self, record, *, progress=None, target=None):
        self.model, self.pk = type(record), record.pk
        self.progress, self.target, self.holder = progress, target, lock_key(record)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.holder}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def beat(self):
        from backups_app.models import DatabaseTarget

        now = timezone.now()
        fields = {"heartbeat_at": now}
        if self.progress is not None:
            value = self.progress()
            if value is not None:
                fields["bytes_written"] = value
        self.model.objects.filter(pk=self.pk, status="running").update(**fields)
        if self.target is not None:
            DatabaseTarget.objects.filter(pk=self.target.pk, lock_holder=self.holder).update(
                lock_expires_at=now + timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)
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


def reap_lost(*, now=None) -> int:
    """Fail jobs whose worker stopped beating (killed, power loss); remove their partial files."""
    from backups_app.models import BackupRecord, DatabaseTarget, RestoreRecord, VerificationRecord
    from backups_app.services import files, layout

    close_old_connections()
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)
    reaped = 0
    for model in (BackupRecord, RestoreRecord, VerificationRecord):
        for pk in model.objects.filter(status="running", heartbeat_at__lt=cutoff).values_list("pk", flat=True):
            n = model.objects.filter(pk=pk, status="running", heartbeat_at__lt=cutoff).update(
                status="failed", finished_at=now,
                error="worker lost: the job stopped reporting (worker killed or machine stopped)",
            )
            if n:
                reaped += 1
                log.warning("marked %s #%s failed: worker lost", model.__name__, pk)
                DatabaseTarget.objects.filter(lock_holder=f"{model.__name__}:{pk}").update(
                    lock_holder="", lock_expires_at=None
                )
                if model is BackupRecord:
                    for partial in layout.partial_files(pk):
                        files.remove_quietly(partial)
    return reaped
