from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from backups_app.models.jobs import JobFields
from backups_app.models.storage import OffsiteStatus


class BackupType(models.TextChoices):
    MANUAL = "manual", _("manual")
    DAILY = "daily", _("daily")
    WEEKLY = "weekly", _("weekly")
    MONTHLY = "monthly", _("monthly")


class BackupFormat(models.TextChoices):
    CUSTOM = "custom", _("custom (compressed, pg_restore)")
    SQL = "sql", _("plain SQL (compressed)")
    DIRECTORY = "directory", _("directory")


FORMAT_SHORT = {"custom": _("custom"), "sql": _("SQL"), "directory": _("directory")}


class BackupStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    PRUNED = "pruned", _("pruned")


class BackupRecord(JobFields):
    """One backup attempt and, when it succeeded, the file it produced."""

    # The job's own fields come from JobFields; a backup can also end pruned, and says who starts it.
    status = models.CharField(
        _("status"), max_length=10, choices=BackupStatus.choices, default=BackupStatus.QUEUED,
        db_index=True,
    )
    started_by = models.CharField(
        _("started by"), max_length=150, blank=True, help_text=_("User, schedule or command line.")
    )

    target = models.ForeignKey(
        "backups_app.DatabaseTarget", on_delete=models.PROTECT, related_name="backups",
        verbose_name=_("target"),
    )
    backup_type = models.CharField(_("type"), max_length=10, choices=BackupType.choices)
    format = models.CharField(_("format"), max_length=10, choices=BackupFormat.choices)
    path = models.CharField(_("file"), max_length=500, blank=True, help_text=_("Relative to BACKUP_ROOT."))
    size_bytes = models.BigIntegerField(_("size (bytes)"), null=True, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    bytes_written = models.BigIntegerField(_("bytes written"), default=0)
    bytes_added = models.BigIntegerField(
        _("bytes added"), null=True, blank=True, editable=False,
        help_text=_("What this backup added to BACKUP_ROOT: its whole size, or for a directory backup the "
                    "files no earlier backup had stored. Empty when not known (an adopted backup)."),
    )
    pg_dump_version = models.CharField(_("pg_dump version"), max_length=100, blank=True)
    client = models.CharField(_("client program"), max_length=500, blank=True,
                              help_text=_("The pg_dump that made it, and why that one."))
    server_version = models.CharField(_("server version"), max_length=100, blank=True)
    # Where it was taken from, as the target said when the backup was asked for: a target may later
    # be moved to another server, and this backup still came from this one.
    server_address = models.CharField(
        _("server and database"), max_length=400, blank=True, editable=False,
        help_text=_("host:port/database the backup was taken from."),
    )
    compression = models.CharField(_("compression"), max_length=30, blank=True)
    encrypted = models.BooleanField(
        _("encrypted"), default=False,
        help_text=_("When ticked, the file is encrypted with age and restoring it needs the private key."),
    )
    schedule = models.ForeignKey(
        "backups_app.BackupSchedule", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="backups", verbose_name=_("schedule"),
    )
    server_run = models.ForeignKey(
        "backups_app.ServerRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="backups",
        verbose_name=_("server run"), help_text=_("The run of a server target this backup was part of."),
    )
    # What the database held, for restores (TimescaleDB needs its version).
    extensions = models.JSONField(_("extensions"), default=dict, blank=True)
    row_counts = models.JSONField(_("row counts"), default=dict, blank=True)
    globals_path = models.CharField(_("globals file"), max_length=500, blank=True)
    is_safety_backup = models.BooleanField(
        _("safety backup"), default=False,
        help_text=_("When ticked, it was taken automatically before a restore overwrote this database."),
    )
    # Legal hold: never pruned while pinned.
    pinned = models.BooleanField(_("pinned"), default=False)
    pinned_reason = models.CharField(_("pin reason"), max_length=255, blank=True)
    pinned_by = models.CharField(_("pinned by"), max_length=150, blank=True)
    pinned_at = models.DateTimeField(_("pinned at"), null=True, blank=True)
    pruned_at = models.DateTimeField(_("pruned at"), null=True, blank=True)
    pruned_reason = models.CharField(_("pruned because"), max_length=255, blank=True)
    # The reason as a code and who started the prune (services/retention/reasons.py), shown in the reader's language.
    pruned_why = models.JSONField(default=dict, blank=True, editable=False)
    pruned_by_policy = models.ForeignKey(
        "backups_app.RetentionPolicy", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("pruned by policy"),
    )
    last_verified_at = models.DateTimeField(_("last verified"), null=True, blank=True)
    last_verify_ok = models.BooleanField(_("verification passed"), null=True, blank=True)
    last_verify_detail = models.TextField(_("verification detail"), blank=True)
    size_anomaly_pct = models.FloatField(
        _("size anomaly (%)"), null=True, blank=True, editable=False,
        help_text=_("Set when the size differed from the median of the previous backups of the same target, "
                    "type and format by more than BACKUP_SIZE_ANOMALY_PERCENT: by how much, in percent."),
    )

    # The copy in object storage (services/storage/offsite.py); the object keys follow `path` under its prefix.
    offsite_status = models.CharField(
        _("offsite"), max_length=10, choices=OffsiteStatus.choices, default=OffsiteStatus.NONE, blank=True,
        db_index=True,
    )
    offsite_storage = models.ForeignKey(
        "backups_app.BackupStorage", null=True, blank=True, on_delete=models.PROTECT, related_name="backups",
        verbose_name=_("offsite storage"),
    )
    offsite_key = models.CharField(_("offsite object"), max_length=700, blank=True)
    offsite_globals_key = models.CharField(_("offsite globals object"), max_length=700, blank=True)
    offsite_at = models.DateTimeField(_("offsite since"), null=True, blank=True)
    offsite_detail = models.TextField(
        _("offsite detail"), blank=True, help_text=_("What happened to the offsite copy: upload, errors, deletion."),
    )
    # The process uploading it (while offsite is `uploading`), as a job records its own: recovery
    # (services/backups/upload_recovery.py) resumes or fails an upload whose process is gone.
    offsite_pid = models.PositiveIntegerField(null=True, blank=True, editable=False)
    offsite_pid_namespace = models.CharField(max_length=40, blank=True, editable=False)
    offsite_boot_id = models.CharField(max_length=36, blank=True, editable=False)
    offsite_host = models.CharField(max_length=255, blank=True, editable=False)
    offsite_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    local_removed = models.BooleanField(
        _("local copy removed"), default=False,
        help_text=_("When ticked, the file under BACKUP_ROOT was removed after its upload (the storage keeps no "
                    "local copy)."),
    )

    # Set while a copy fetched from object storage stands in for a file that is not under this host's BACKUP_ROOT.
    local_stand_in: Path | None = None
    globals_stand_in: Path | None = None

    class Meta:
        verbose_name = _("backup")
        verbose_name_plural = _("backups")
        ordering = ["-created_at", "-id"]
        permissions = [("download_backup", _("Can download backup files"))]
        indexes = [
            models.Index(fields=["target", "backup_type", "status", "-created_at"]),
            # The newest success per target (freshness) and each target's counts, sizes and failed offsite
            # copies, index only (the dashboard's counts read 100,000 rows in 20 ms instead of 400).
            models.Index(fields=["target", "status", "finished_at", "size_bytes", "offsite_status"],
                         name="backup_target_status_done"),
            # Each target's newest attempt and the start of its charts, without sorting all its backups.
            models.Index(fields=["target", "created_at", "id"], name="backup_target_created"),
            # The disk forecast: what this host's files added and removed, and its oldest file, index only.
            models.Index(fields=["host", "status", "created_at", "local_removed", "pruned_at", "size_bytes"],
                         name="backup_host_disk"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.target.name} {self.get_backup_type_display()} {self.format_short}"

    @property
    def format_short(self) -> str:
        """The format in a word, for lists: "custom", "SQL"."""
        return str(FORMAT_SHORT.get(self.format, self.format))

    @property
    def absolute_path(self) -> Path | None:
        # The same rule as services.storage.layout.absolute; models import no services.
        if self.local_stand_in is not None:
            return self.local_stand_in
        return Path(settings.BACKUP_ROOT) / self.path if self.path else None

    @property
    def archive_path(self) -> Path | None:
        """Where to read the archive from: the decrypted private copy a restore holds open, else the file."""
        return getattr(self, "decrypted_copy", None) or self.absolute_path

    @property
    def globals_absolute_path(self) -> Path | None:
        if self.globals_stand_in is not None:
            return self.globals_stand_in
        return Path(settings.BACKUP_ROOT) / self.globals_path if self.globals_path else None
