"""Uploads whose process is gone: claimed by this process, then resumed or failed (storage/offsite.py's resume).

A backup ends `succeeded` with offsite `uploading` and the uploading
process's pid, pid namespace, boot and host; a kill -9 or a reboot during the
upload would leave it so for ever. Every recovery pass (any command, the
worker's reaper) looks at the uploads whose process it can judge by its pid
(jobs/process.py: the same host, boot and pid namespace): when the process is
gone, one filtered UPDATE hands the upload to this process (so two recovering
at once never both resume it), and offsite.resume aborts the unfinished
multipart upload, then uploads again from the local copy checked by sha256,
or marks the upload `failed` with why. Any other upload (another host, a
reboot, another container of the same name) is left to its process while it
reports (the uploader beats every JOB_HEARTBEAT_SECONDS); one silent for
JOB_LOST_AFTER_SECONDS ends `failed` with why, since only the host that made
it has the file to upload again.
Registered with jobs/recovery.py by the app at start-up (jobs/ imports nothing above it).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from backups_app.models import BackupRecord, OffsiteStatus
from backups_app.services.jobs import process
from backups_app.services.storage import offsite

log = logging.getLogger(__name__)

UPLOADER = ("pk", "offsite_pid", "offsite_pid_namespace", "offsite_boot_id", "offsite_host", "offsite_claimed_at")
# Rows written before the uploader was recorded: nobody can be uploading them any more.
UNRECORDED = "the process uploading it was not recorded (an upload from an earlier version)"


def recover_uploads(now) -> list[str]:
    """Resume (or fail) every upload whose process is gone; one line for each thing done."""
    lines = []
    uploading = BackupRecord.objects.filter(offsite_status=OffsiteStatus.UPLOADING)
    # Unrecorded rows only when they are old: an upload written by an earlier version that nobody finished.
    cutoff = now - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)
    unrecorded = Q(offsite_host="", offsite_pid=None, finished_at__lt=cutoff)
    mine = uploading.filter(Q(offsite_host=process.host()) | unrecorded)
    for pk, pid, ns, boot, host, claimed in mine.values_list(*UPLOADER):
        why = process.gone(pid=pid, boot=boot, on_host=host, namespace=ns, claimed_at=claimed) if pid else UNRECORDED
        if not why or not _claim(pk, pid, claimed):
            continue
        record = BackupRecord.objects.select_related("target", "offsite_storage").get(pk=pk)
        log.warning("backup #%s: upload lost: %s", pk, why)
        lines += [f"backup #{pk}: {line}" for line in offsite.resume(record, why)]
    return lines + _fail_silent_elsewhere(uploading, cutoff)


def _fail_silent_elsewhere(uploading, cutoff) -> list[str]:
    """Uploads not judged by their pid here that stopped reporting (an uploader beats every JOB_HEARTBEAT_SECONDS):
    that host (or container) is gone, or was cut off. Its local copy is there, so only it can upload again: say
    so, don't wait for ever."""
    lines = []
    silent = uploading.exclude(offsite_host="").filter(offsite_claimed_at__lt=cutoff)
    for pk, pid, ns, boot, host, claimed in silent.values_list(*UPLOADER):
        if process.sees(pid=pid, boot=boot, on_host=host, namespace=ns):
            continue  # judged by its pid above: alive, however long its last part takes
        detail = (f"upload lost: host {host} stopped reporting at {timezone.localtime(claimed):%Y-%m-%d %H:%M:%S}; "
                  f"the local copy is on that host: once it is back, run manage.py backup --copy-offsite {pk} there")
        if offsite.fail_if_silent(pk, claimed, detail) is not None:
            log.warning("backup #%s: %s", pk, detail)
            lines.append(f"backup #{pk}: {detail}")
    return lines


def _claim(pk, pid, claimed) -> bool:
    """Make this process the row's uploader, if nobody else did since we read it."""
    return bool(BackupRecord.objects.filter(pk=pk, offsite_status=OffsiteStatus.UPLOADING, offsite_pid=pid,
                                            offsite_claimed_at=claimed).update(
        **offsite.owner_fields(process.identity())))
