"""The fields and states every job shares; each job's own model adds what it is about."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")


class JobFields(models.Model):
    """What every job row has: backup, restore and verification alike (services/jobs/ moves it through its states)."""

    status = models.CharField(
        _("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_seconds = models.FloatField(_("duration (s)"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Which process claimed the row, so any later command can tell when it is gone (kill -9, a reboot).
    pid = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # A pid names a process only inside its pid namespace (containers on one machine share its host name).
    pid_namespace = models.CharField(max_length=40, blank=True, editable=False)
    boot_id = models.CharField(max_length=36, blank=True, editable=False)
    host = models.CharField(max_length=255, blank=True, editable=False)
    error = models.TextField(_("error"), blank=True)
    started_by = models.CharField(_("started by"), max_length=150, blank=True)
    # Who started it as data (services/jobs/origin.py): a kind and a name, put into words when shown.
    origin = models.CharField(max_length=10, blank=True, editable=False)
    origin_name = models.CharField(max_length=150, blank=True, editable=False)
    # What it is doing now (services/jobs/progress.py): a phase's code, and how many bytes of about how many.
    phase = models.CharField(max_length=20, blank=True, editable=False)
    progress_bytes = models.BigIntegerField(null=True, blank=True, editable=False)
    expected_bytes = models.BigIntegerField(null=True, blank=True, editable=False)
    # The client programs' own messages (stderr), secrets scrubbed (services/jobs/joblog.py).
    log = models.TextField(_("log"), blank=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("requested by"),
    )

    class Meta:
        abstract = True
