from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from backups_app.models.backups import BackupType

HUNDRED_YEARS_DAYS = 36525


class RetentionPolicy(models.Model):
    """Which backups to keep. A backup is kept when any rule keeps it."""

    name = models.CharField(_("name"), max_length=100)
    target = models.ForeignKey(
        "backups_app.DatabaseTarget", null=True, blank=True, on_delete=models.CASCADE,
        related_name="policies", verbose_name=_("target"),
        help_text=_("Leave empty to apply to all targets."),
    )
    backup_type = models.CharField(
        _("backup type"), max_length=10, choices=BackupType.choices, blank=True,
        help_text=_("Leave empty to apply to all types."),
    )
    keep_days = models.PositiveIntegerField(
        _("keep days"), null=True, blank=True, default=30,
        validators=[MinValueValidator(1), MaxValueValidator(HUNDRED_YEARS_DAYS)],
        help_text=_("Keep every backup younger than this many days. Example: 30."),
    )
    keep_last = models.PositiveIntegerField(
        _("keep last"), null=True, blank=True, validators=[MaxValueValidator(100000)],
        help_text=_("Keep this many newest backups, whatever their age. Example: 7."),
    )
    keep_daily = models.PositiveIntegerField(
        _("daily copies"), null=True, blank=True, validators=[MaxValueValidator(36525)],
        help_text=_("Keep the newest backup of each of the last N days. Example: 14."),
    )
    keep_weekly = models.PositiveIntegerField(
        _("weekly copies"), null=True, blank=True, validators=[MaxValueValidator(5218)],
        help_text=_("Keep the newest backup of each of the last N weeks. Example: 13 (three months)."),
    )
    keep_monthly = models.PositiveIntegerField(
        _("monthly copies"), null=True, blank=True, validators=[MaxValueValidator(1200)],
        help_text=_("Keep the newest backup of each of the last N months. Example: 24 (two years)."),
    )
    keep_yearly = models.PositiveIntegerField(
        _("yearly copies"), null=True, blank=True, validators=[MaxValueValidator(100)],
        help_text=_("Keep the newest backup of each of the last N years."),
    )
    min_keep = models.PositiveIntegerField(
        _("minimum kept"), default=1, validators=[MinValueValidator(1), MaxValueValidator(100000)],
        help_text=_("Never keep fewer succeeded backups than this per target and type (at least 1)."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")
        ordering = ["name"]
        permissions = [("run_prune", _("Can prune backups"))]

    def __str__(self):
        return self.name
