from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from backups_app.models.targets import env_name_validator


class StorageKind(models.TextChoices):
    LOCAL = "local", _("local only (BACKUP_ROOT)")
    S3 = "s3", _("S3-compatible object storage")


class OffsiteStatus(models.TextChoices):
    NONE = "", _("local only")
    UPLOADING = "uploading", _("uploading")
    UPLOADED = "uploaded", _("uploaded")
    FAILED = "failed", _("failed")
    DELETED = "deleted", _("deleted")


class BackupStorage(models.Model):
    """Where backups go besides BACKUP_ROOT. Holds no credential: only the names of the variables that do."""

    name = models.SlugField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=StorageKind.choices, default=StorageKind.S3)
    is_default = models.BooleanField(
        _("default"), default=False,
        help_text=_("Used by every target that names no storage of its own (at most one storage is the default)."),
    )
    endpoint_url = models.URLField(
        _("endpoint"), max_length=300, blank=True,
        help_text=_("Empty for AWS S3; e.g. https://minio.example.internal:9000 or https://storage.googleapis.com."),
    )
    bucket = models.CharField(_("bucket"), max_length=63, blank=True)
    prefix = models.CharField(
        _("prefix"), max_length=200, blank=True,
        help_text=_("Folder inside the bucket, e.g. backups/prod/. The file layout under BACKUP_ROOT follows it."),
    )
    region = models.CharField(_("region"), max_length=50, blank=True, help_text=_("e.g. ap-northeast-1."))
    access_key_env = models.CharField(
        _("access key variable"), max_length=100, blank=True, validators=[env_name_validator],
        help_text=_("Name of the environment variable holding the access key id. Empty: the standard AWS_* "
                    "variables, AWS_PROFILE or the machine's role."),
    )
    secret_key_env = models.CharField(
        _("secret key variable"), max_length=100, blank=True, validators=[env_name_validator],
        help_text=_("Name of the environment variable holding the secret access key, not the key."),
    )
    keep_local_copy = models.BooleanField(
        _("keep the local copy"), default=True,
        help_text=_("Off: the file under BACKUP_ROOT is removed once its upload is confirmed. Turn it off "
                    "when workers run on several hosts."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("backup storage")
        verbose_name_plural = _("backup storages")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_storage"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.kind == StorageKind.S3 and not self.bucket:
            raise ValidationError({"bucket": _("An S3-compatible storage needs a bucket.")})
        if bool(self.access_key_env) != bool(self.secret_key_env):
            raise ValidationError(_("Name both credential variables, or neither (then the standard AWS_* "
                                    "variables are used)."))

    @property
    def location(self) -> str:
        if self.kind == StorageKind.LOCAL:
            return "BACKUP_ROOT"
        return f"s3://{self.bucket}/{self.prefix.strip('/')}".rstrip("/")
