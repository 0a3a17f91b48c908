from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from backups_app.models.backups import BackupFormat, BackupType


class ScheduleKind(models.TextChoices):
    DAILY = "daily", _("every day")
    WEEKLY = "weekly", _("every week")
    MONTHLY = "monthly", _("every month")
    CRON = "cron", _("cron expression")


class ScheduleAction(models.TextChoices):
    BACKUP = "backup", _("back up")
    VERIFY = "verify", _("verify the newest backup")
    DRILL = "drill", _("restore drill of the newest backup")


class BackupSchedule(models.Model):
    """Backups that run on their own, in TIME_ZONE; kept in sync with django-q2 Schedule rows."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    target = models.ForeignKey(
        "backups_app.DatabaseTarget", on_delete=models.CASCADE, related_name="schedules",
        verbose_name=_("target"),
    )
    action = models.CharField(
        _("runs"), max_length=10, choices=ScheduleAction.choices, default=ScheduleAction.BACKUP,
        help_text=_("A drill verifies the target's newest good backup, restores it into a scratch database, "
                    "checks every table and drops it again."),
    )
    backup_type = models.CharField(
        _("backup type"), max_length=10, choices=BackupType.choices, blank=True,
        help_text=_("For verifications and drills: only backups of this type; empty means any type."),
    )
    format = models.CharField(
        _("format"), max_length=10, choices=BackupFormat.choices, default=BackupFormat.CUSTOM
    )
    kind = models.CharField(_("when"), max_length=10, choices=ScheduleKind.choices)
    time_of_day = models.TimeField(_("time"), null=True, blank=True, help_text=_("HH:MM, local time."))
    weekday = models.PositiveSmallIntegerField(
        _("weekday"), null=True, blank=True, validators=[MaxValueValidator(6)],
        help_text=_("0 = Monday ... 6 = Sunday."),
    )
    day_of_month = models.PositiveSmallIntegerField(
        _("day of month"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(28)],
    )
    cron_expression = models.CharField(
        _("cron expression"), max_length=100, blank=True, help_text=_("Example: 30 2 * * 1-5")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    q_schedule_id = models.IntegerField(null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True, editable=False)
    last_status = models.CharField(_("last result"), max_length=15, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("backup schedule")
        verbose_name_plural = _("backup schedules")
        ordering = ["name"]

    def __str__(self):
        return self.name
