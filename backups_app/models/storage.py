from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from backups_app.models.targets import env_name_validator


class StorageKind(models.TextChoices):
    LOCAL = "local", _("local only (BACKUP_ROOT)")
    S3 = "s3", _("S3-compatible object storage")
    GCS = "gcs", _("Google Cloud Storage")
    SFTP = "sftp", _("SFTP (a folder on another host)")
    FOLDER = "folder", _("a folder on this host (a second disk, a mounted share)")


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
        help_text=_("Empty for AWS S3 and for Google Cloud Storage; e.g. https://minio.example.internal:9000."),
    )
    bucket = models.CharField(_("bucket"), max_length=63, blank=True)
    prefix = models.CharField(
        _("prefix"), max_length=200, blank=True,
        help_text=_("Folder inside the bucket, e.g. backups/prod/. The file layout under BACKUP_ROOT follows it. "
                    "SFTP: the folder on the server (it must exist), absolute or relative to the login folder."),
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
    key_file_env = models.CharField(
        _("key file variable"), max_length=100, blank=True, validators=[env_name_validator],
        help_text=_("Name of the environment variable holding the path of a key file: a service account's JSON "
                    "key (Google Cloud Storage; empty: Application Default Credentials) or a private SSH key "
                    "(SFTP)."),
    )
    host = models.CharField(_("host"), max_length=255, blank=True, help_text=_("SFTP: the server's host name."))
    port = models.PositiveIntegerField(_("port"), null=True, blank=True, help_text=_("SFTP: empty for 22."))
    username = models.CharField(_("user"), max_length=100, blank=True, help_text=_("SFTP: the account to log in as."))
    known_hosts_file = models.CharField(
        _("known_hosts file"), max_length=300, blank=True,
        help_text=_("SFTP: the file holding the server's host key (ssh-keyscan's lines). Empty: "
                    "~/.ssh/known_hosts of the user the console runs as. A server whose key is not there is "
                    "refused."),
    )
    keep_local_copy = models.BooleanField(
        _("keep the local copy"), default=True,
        help_text=_("Off: the file under BACKUP_ROOT is removed once its upload is confirmed. Turn it off "
                    "when workers run on several hosts."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The last time its shared files were swept (services/storage/store_sweep.py), and what that did.
    swept_at = models.DateTimeField(_("shared files last swept"), null=True, blank=True, editable=False)
    sweep_detail = models.TextField(_("last sweep"), blank=True, editable=False)

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
        if self.kind in (StorageKind.S3, StorageKind.GCS) and not self.bucket:
            raise ValidationError({"bucket": _("An object storage needs a bucket.")})
        if self.kind == StorageKind.SFTP:
            self.clean_sftp()
        if self.kind == StorageKind.FOLDER and not self.prefix.startswith("/"):
            raise ValidationError({"prefix": _("A folder storage needs the folder's absolute path, e.g. "
                                               "/mnt/backup-disk/console.")})
        if bool(self.access_key_env) != bool(self.secret_key_env):
            raise ValidationError(_("Name both credential variables, or neither (then the standard AWS_* "
                                    "variables are used)."))

    def clean_sftp(self):
        missing = {name: _("An SFTP storage needs this.") for name in ("host", "username", "key_file_env")
                   if not getattr(self, name)}
        if missing:
            raise ValidationError(missing)
        if "/" in self.host or ":" in self.host or "@" in self.host:
            raise ValidationError({"host": _("Only the host name: the user and the port have fields of their own.")})

    @property
    def location(self) -> str:
        if self.kind == StorageKind.LOCAL:
            return "BACKUP_ROOT"
        return self.url_of(self.prefix.strip("/")).rstrip("/")

    def url_of(self, key: str) -> str:
        """An object's address as the records and messages show it: s3://, gs://, sftp://user@host:port/ or
        file:///."""
        if self.kind == StorageKind.FOLDER:
            return f"file:///{key}"
        if self.kind == StorageKind.SFTP:
            path = f"/{key}" if self.prefix.startswith("/") else f"/~/{key}"
            return f"sftp://{self.username}@{self.host}{f':{self.port}' if self.port else ''}{path}"
        scheme = "gs" if self.kind == StorageKind.GCS else "s3"
        return f"{scheme}://{self.bucket}/{key}"
