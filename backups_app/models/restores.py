from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backups_app.models.jobs import JobFields


class RestoreRecord(JobFields):
    """A restore job: which backup, into which database, and how it went."""

    backup = models.ForeignKey(
        "backups_app.BackupRecord", on_delete=models.PROTECT, related_name="restores",
        verbose_name=_("backup"),
    )
    server = models.ForeignKey(
        "backups_app.DatabaseTarget", on_delete=models.PROTECT, related_name="restores",
        verbose_name=_("server"), help_text=_("Connection used for the restore."),
    )
    target_database = models.CharField(_("into database"), max_length=63)
    # The server as it was when the restore was asked for; it runs there or not at all.
    server_address = models.CharField(
        _("server and database"), max_length=400, blank=True, editable=False,
        help_text=_("host:port/database the restore writes into."),
    )
    tables = models.JSONField(_("tables"), default=list, blank=True)
    overwrite = models.BooleanField(_("overwrite"), default=False)
    with_globals = models.BooleanField(_("with roles and tablespaces"), default=False)
    jobs = models.PositiveSmallIntegerField(_("parallel jobs"), default=1)
    force = models.BooleanField(_("despite failed verification"), default=False)
    terminate_connections = models.BooleanField(
        _("end other connections"), default=False,
        help_text=_("When the restore swaps databases: end the sessions still connected to the database "
                    "it replaces, instead of failing."),
    )
    safety_backup = models.ForeignKey(
        "backups_app.BackupRecord", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("safety backup"),
    )
    rows_restored = models.BigIntegerField(_("rows restored"), null=True, blank=True)
    is_drill = models.BooleanField(_("drill"), default=False)
    # None: decided at restore time (kept when the restoring role is a superuser).
    no_owner = models.BooleanField(
        _("skip owners"), null=True, blank=True,
        help_text=_("Objects belong to the restoring role instead of their original owners."),
    )
    no_acl = models.BooleanField(
        _("skip grants"), null=True, blank=True, help_text=_("Leave out the backup's GRANT and REVOKE."),
    )
    detail = models.TextField(_("detail"), blank=True, help_text=_("What the restore did besides restoring."))
    created_database = models.CharField(
        _("created database"), max_length=63, blank=True, editable=False,
        help_text=_("The database this restore created; dropped again if the restore dies."),
    )
    client = models.CharField(_("client program"), max_length=500, blank=True,
                              help_text=_("The pg_restore or psql that restored, and why that one."))

    class Meta:
        verbose_name = _("restore")
        verbose_name_plural = _("restores")
        ordering = ["-created_at", "-id"]
        permissions = [("run_restore", _("Can restore backups"))]

    def __str__(self):
        return gettext("restore #%(id)s of backup #%(backup)s into %(db)s") % {
            "id": self.pk, "backup": self.backup_id, "db": self.target_database}


class VerificationRecord(JobFields):
    """A verification job: checksum, readable archive, and optionally a restore drill."""

    backup = models.ForeignKey(
        "backups_app.BackupRecord", on_delete=models.CASCADE, related_name="verifications",
        verbose_name=_("backup"),
    )
    drill = models.BooleanField(_("restore drill"), default=False)
    ok = models.BooleanField(_("passed"), null=True, blank=True)
    restore_seconds = models.FloatField(
        _("drill restore (s)"), null=True, blank=True, help_text=_("How long the drill's restore took."),
    )
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        verbose_name = _("verification")
        verbose_name_plural = _("verifications")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return gettext("verification #%(id)s of backup #%(backup)s") % {"id": self.pk, "backup": self.backup_id}


class PruneRecord(JobFields):
    """A prune job: which policy (or which target and type, after a scheduled backup), and what it deleted."""

    policy = models.ForeignKey(
        "backups_app.RetentionPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("retention policy"),
    )
    target = models.ForeignKey(
        "backups_app.DatabaseTarget", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("target"),
    )
    backup_type = models.CharField(_("backup type"), max_length=10, blank=True)
    pruned_count = models.PositiveIntegerField(_("backups deleted"), null=True, blank=True)
    left_count = models.PositiveIntegerField(
        _("left to other hosts"), null=True, blank=True,
        help_text=_("Backups whose local files only another host can delete; that host's worker prunes them."),
    )
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        verbose_name = _("prune")
        verbose_name_plural = _("prunes")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return gettext("prune #%(id)s") % {"id": self.pk}
