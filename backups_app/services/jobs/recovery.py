"""Cleaning up after jobs whose process is gone, from any command or worker: no worker needed.

A job is lost when the process that claimed it is gone (its pid says so,
read from the same pid namespace of the same boot and host: kill -9) or,
judged from anywhere else (another machine, a reboot, another container),
when its heartbeat has been silent for JOB_LOST_AFTER_SECONDS. Its row ends
`failed` with the reason and with what was cleaned: its target's lock
released, its partial file or folder removed, a database it created dropped.
Files of the deduplicating store that no backup uses any more are removed.
Passfile folders of dead processes (of this pid namespace) go too. Steps
registered by the layers above with also_recover run in the same pass (an
upload whose process is gone). Every change is one filtered UPDATE or an
idempotent removal, so several processes may recover at once.
"""

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from backups_app.models.jobs import JobStatus
from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.jobs import placement, process
from backups_app.services.postgres.proc import pid_namespace_tag

log = logging.getLogger(__name__)


@dataclass
class Report:
    """What one pass cleaned: the jobs it ended, and one line for each thing it did."""

    jobs: int = 0
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        log.warning("%s", line)


def reap_lost(*, now=None) -> int:
    """One recovery pass; the number of jobs it ended."""
    return recover(now=now).jobs


def recover(*, now=None) -> Report:
    """Fail lost jobs and remove what they left behind; say what was done.

    Leaves the database connection alone: a command runs this inside its own
    work, and the reaper thread closes its connection after each pass.
    """
    now = now or timezone.now()
    report = Report()
    for model in jobs.job_models():
        _reap_gone(model, now, report)
        _reap_silent(model, now, report)
        _reap_never_started(model, now, report)
    _release_expired_leases(now, report)
    _remove_orphan_partials(report)
    _sweep_store(report)
    _remove_orphan_plaintext(report)
    _remove_orphan_passfiles(report)
    for work in _also:
        try:
            lines = work(now)
        except Exception:  # one failing hook must not keep the others, or the command, from running
            log.exception("recovery step %s failed", getattr(work, "__name__", work))
            continue
        for line in lines:
            report.add(line)
    return report


# Recovery steps of the layers above (an upload whose process is gone), registered by the app at start-up
# so that jobs/ imports nothing above it. Each takes `now` and returns what it did, one line each.
_also: list = []


def also_recover(work) -> None:
    if work not in _also:
        _also.append(work)


def _reap_gone(model, now, report: Report) -> None:
    rows = model.objects.filter(status=JobStatus.RUNNING, host=process.host()).exclude(pid=None)
    for pk, pid, ns, boot, host, started in rows.values_list("pk", "pid", "pid_namespace", "boot_id", "host",
                                                             "started_at"):
        why = process.gone(pid=pid, boot=boot, on_host=host, namespace=ns, claimed_at=started)
        if why:
            _end_lost(model, pk, now, f"job lost: {why}", report, Q(pid=pid))


def _reap_silent(model, now, report: Report) -> None:
    cutoff = now - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    for pk in model.objects.filter(silent, status=JobStatus.RUNNING).values_list("pk", flat=True):
        _end_lost(model, pk, now, jobs.WORKER_LOST, report, silent)


def _end_lost(model, pk, now, error: str, report: Report, still) -> None:
    """End one running row failed (if it still is, and `still` holds) and clean up after it."""
    if not model.objects.filter(still, pk=pk, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, finished_at=now, error=error):
        return
    report.jobs += 1
    record = model.objects.get(pk=pk)
    report.add(f"{jobs.describe(record)} ended failed: {error}")
    cleaned = _after_lost(record)
    for line in cleaned:
        report.add(f"{jobs.describe(record)}: {line}")
    if cleaned:
        record.error = f"{error}; cleaned up: {'; '.join(cleaned)}"
        model.objects.filter(pk=pk).update(error=record.error)
    jobs._announce(record)


def _after_lost(record) -> list[str]:
    from backups_app.models import DatabaseTarget

    done = []
    holder = jobs.lock_key(record)
    for name in DatabaseTarget.objects.filter(lock_holder=holder).values_list("name", flat=True):
        done.append(f"released target '{name}'")
    DatabaseTarget.objects.filter(lock_holder=holder).update(lock_holder="", lock_expires_at=None)
    if type(record).__name__ == "BackupRecord":
        done += _remove_partials(record.pk)
    if type(record).__name__ == "ServerRun":
        done += _remove_run_scratch(record.pk)
    if getattr(record, "created_database", ""):
        done.append(_drop_created_database(record))
    return done


def _remove_partials(record_id=None) -> list[str]:
    from backups_app.services.storage import layout

    return [f"removed its partial {_remove(p)} {p}" for p in layout.partial_files(record_id)]


# The private folder a server target's run keeps its roles file in (backups/server_run.py names it).
RUN_SCRATCH_PREFIX = "server-run-"


def _remove_run_scratch(run_id: int) -> list[str]:
    from django.conf import settings

    folders = Path(settings.BACKUP_SCRATCH_DIR).glob(f"{RUN_SCRATCH_PREFIX}{run_id}-*")
    return [f"removed its scratch {_remove(p)} {p}" for p in folders]


def _remove(path: Path) -> str:
    """Remove a partial file or folder (directory-format dumps are folders); what it was."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
        return "folder"
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return "file"


def _drop_created_database(record) -> str:
    """A restore that created its database and died leaves nothing half-made behind."""
    import psycopg

    from backups_app.services.postgres import databases
    from backups_app.services.postgres.connection import ConnectionFailed

    name = record.created_database
    try:
        with databases.maintenance(record.server) as m:
            databases.drop(m, name)
    except (ConnectionFailed, psycopg.Error) as exc:
        return f"could not drop database {name}, which it had created: {' '.join(str(exc).split())[:300]}"
    type(record).objects.filter(pk=record.pk).update(created_database="")
    return f"dropped database {name}, which it had created"


def _reap_never_started(model, now, report: Report) -> None:
    # A row still queued long after the job could have been refused was lost by the queue
    # (a crashed worker's prefetched task, a broker that lost it), or waits for a host that is
    # down (only it has the backup's file): it must not run days later.
    limit = settings.JOB_LOCK_WAIT_SECONDS + settings.JOB_LOST_AFTER_SECONDS
    stale = model.objects.filter(status=JobStatus.QUEUED, created_at__lt=now - timedelta(seconds=limit))
    n = 0
    for record in stale:
        n += model.objects.filter(pk=record.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.FAILED, finished_at=now, error=_never_started(record, limit))
    if n:
        report.jobs += n
        report.add(f"{n} {jobs.JOB_WORDS.get(model.__name__, 'job')} jobs never started: ended failed")


def _never_started(record, limit: int) -> str:
    host = placement.job_host(record)
    if host:
        return (f"never started: it must run on host {host}, which has the backup's file, and no worker there "
                f"took it within {limit} s of the request (is host {host}'s worker running?)")
    return f"never started: no worker took this job within {limit} s of the request (is the worker running?)"


def _release_expired_leases(now, report: Report) -> None:
    from backups_app.models import DatabaseTarget

    expired = DatabaseTarget.objects.exclude(lock_holder="").filter(lock_expires_at__lt=now)
    for pk, name in expired.values_list("pk", "name"):
        if DatabaseTarget.objects.filter(pk=pk, lock_expires_at__lt=now).exclude(lock_holder="").update(
                lock_holder="", lock_expires_at=None):
            report.add(f"released target '{name}': its lock had expired")


def _remove_orphan_partials(report: Report) -> None:
    """Temporary backup files and folders whose job is not running (left by a crash) go."""
    from backups_app.models import BackupRecord
    from backups_app.services.storage import layout

    for partial in layout.partial_files():
        record_id = partial.name.rpartition(layout.PARTIAL_MARK)[2]
        if record_id.isdigit() and not BackupRecord.objects.filter(
                pk=int(record_id), status=JobStatus.RUNNING).exists():
            report.add(f"removed a leftover partial {_remove(partial)} {partial}")


def _sweep_store(report: Report) -> None:
    """Store files no backup uses any more: left by a directory backup or a prune that was killed (after the
    partials above went). A file linked by a backup running now has two links and stays."""
    from backups_app.services.storage import local_store

    for line in local_store.sweep():
        report.add(line)


def _remove_orphan_plaintext(report: Report) -> None:
    """Decrypted copies and encrypted directory dumps in BACKUP_SCRATCH_DIR whose process is gone."""
    from backups_app.services.crypto import age

    folder = Path(settings.BACKUP_SCRATCH_DIR) if settings.BACKUP_SCRATCH_DIR else None
    if folder is None or not folder.is_dir():
        return
    for path in age.remove_stale_copies(folder):
        report.add(f"removed plaintext left in {path} by a process that is gone")


def _remove_orphan_passfiles(report: Report) -> None:
    """Private passfile folders of a dead process (its pid is in the folder's name) go: they hold a password."""
    from backups_app.services.postgres.connection import PASSFILE_DIR_PREFIX

    here = pid_namespace_tag()  # "" when this /proc is not our namespace's: no pid can be judged from here
    for folder in Path(tempfile.gettempdir()).glob(f"{PASSFILE_DIR_PREFIX}*-*"):
        pid, namespace = _passfile_owner(folder.name[len(PASSFILE_DIR_PREFIX):])
        if pid is not None and here and namespace == here and not _owner_alive(pid, folder):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                report.add(f"removed a dead process's passfile folder {folder}")


def _passfile_owner(name: str) -> tuple[int | None, str]:
    """The pid and pid namespace a passfile folder's name gives, after its prefix (PID-nsNUMBER-random).

    A name from before namespaces were recorded (PID-random) is taken as this namespace's, as then.
    """
    pid, _, rest = name.partition("-")
    if not pid.isdigit():
        return None, ""
    tag, _, tail = rest.partition("-")
    return int(pid), tag[2:] if tag.startswith("ns") and tail else pid_namespace_tag()


def _owner_alive(pid: int, folder: Path) -> bool:
    """Whether the process that made the folder still runs (not merely some process with its pid)."""
    began = process.started_at(pid)
    if began is None:
        return False
    try:
        made = folder.stat().st_mtime
    except OSError:
        return True
    return began <= made + process.START_SLACK_SECONDS
