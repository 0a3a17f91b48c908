"""Uploads whose process is gone: claimed by this process, then resumed or failed (storage/offsite.py's resume).

A backup ends `succeeded` with offsite `uploading` and the uploading
process's pid, boot and host; a kill -9 or a reboot during the upload would
leave it so for ever. Every recovery pass (any command, the worker's reaper)
looks at the uploads claimed on this host: when the process is gone, one
filtered UPDATE hands the upload to this process (so two recovering at once
never both resume it), and offsite.resume aborts the unfinished multipart
upload, then uploads again from the local copy checked by sha256, or marks
the upload `failed` with why. Uploads claimed on another host are left to
that host's commands and worker.
Registered with jobs/recovery.py by the app at start-up (jobs/ imports nothing above it).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from backups_app.models import BackupRecord, OffsiteStatus
from backups_app.services.jobs import process
from backups_app.services.storage import offsite

log = logging.getLogger(__name__)

# Rows written before the uploader was recorded: nobody can be uploading them any more.
UNRECORDED = "the process uploading it was not recorded (an upload from an earlier version)"


def recover_uploads(now) -> list[str]:
    """Resume (or fail) every upload on this host whose process is gone; one line for each thing done."""
    lines = []
    uploading = BackupRecord.objects.filter(offsite_status=OffsiteStatus.UPLOADING)
    # Unrecorded rows only when they are old: an upload written by an earlier version that nobody finished.
    cutoff = now - timedelta(seconds=settings.JOB_LOST_AFTER_SECONDS)
    unrecorded = Q(offsite_host="", offsite_pid=None, finished_at__lt=cutoff)
    mine = uploading.filter(Q(offsite_host=process.host()) | unrecorded)
    for pk, pid, boot, host, claimed in mine.values_list("pk", "offsite_pid", "offsite_boot_id", "offsite_host",
                                                        "offsite_claimed_at"):
        why = process.gone(pid=pid, boot=boot, on_host=host, claimed_at=claimed) if pid else UNRECORDED
        if not why or not _claim(pk, pid, claimed):
            continue
        record = BackupRecord.objects.select_related("target", "offsite_storage").get(pk=pk)
        log.warning("backup #%s: upload lost: %s", pk, why)
        lines += [f"backup #{pk}: {line}" for line in offsite.resume(record, why)]
    return lines


def _claim(pk, pid, claimed) -> bool:
    """Make this process the row's uploader, if nobody else did since we read it."""
    return bool(BackupRecord.objects.filter(pk=pk, offsite_status=OffsiteStatus.UPLOADING, offsite_pid=pid,
                                            offsite_claimed_at=claimed).update(
        **offsite.owner_fields(process.identity())))
