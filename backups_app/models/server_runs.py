"""A run of a server target: its databases listed afresh, one backup job each, the roles file once."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from backups_app.models.backups import BackupFormat, BackupType
from backups_app.models.jobs import JobFields


class ServerRunStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    PARTLY_FAILED = "partly_failed", _("partly failed")
    FAILED = "failed", _("failed")


class ServerRun(JobFields):
    """One run over a server target's databases; each database's backup is a BackupRecord of its own."""

    status = models.CharField(
        _("status"), max_length=15, choices=ServerRunStatus.choices, default=ServerRunStatus.QUEUED, db_index=True,
    )
    target = models.ForeignKey(
        "backups_app.DatabaseTarget", on_delete=models.PROTECT, related_name="server_runs",
        verbose_name=_("server target"),
    )
    backup_type = models.CharField(_("type"), max_length=10, choices=BackupType.choices)
    format = models.CharField(_("format"), max_length=10, choices=BackupFormat.choices)
    server_address = models.CharField(_("server"), max_length=400, blank=True, editable=False)
    schedule = models.ForeignKey(
        "backups_app.BackupSchedule", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="server_runs", verbose_name=_("schedule"),
    )
    # What the run found, by database name: the listing, and how it differed from the run before.
    databases = models.JSONField(_("databases"), default=list, blank=True)
    added = models.JSONField(_("new databases"), default=list, blank=True)
    dropped = models.JSONField(_("dropped databases"), default=list, blank=True)
    failed_databases = models.JSONField(_("failed databases"), default=list, blank=True)
    detail = models.TextField(_("detail"), blank=True, help_text=_("What the run did, one line per database."))

    class Meta:
        verbose_name = _("server run")
        verbose_name_plural = _("server runs")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"#{self.pk} {self.target_id} {self.backup_type}"
