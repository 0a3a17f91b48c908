from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

env_name_validator = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*$", _("Use an environment variable name such as DB_PASSWORD.")
)


class PasswordSource(models.TextChoices):
    ENV = "env", _("Environment variable")
    PGPASS = "pgpass", _("pgpass file (PGPASSFILE or ~/.pgpass)")
    SERVICE = "service", _("libpq service (pg_service.conf)")
    NONE = "none", _("No password (trust or peer authentication)")


class TargetKind(models.TextChoices):
    DATABASE = "database", _("one database")
    SERVER = "server", _("every database of a server")


class DatabaseTarget(models.Model):
    """A database that the console backs up, or a server whose every database it backs up.

    Holds no password: only where to find one. A server target's databases are
    targets too (`server` names it), made and kept in step by each of its runs
    (services/targets/discovery.py): each has its own backups, retention and health.
    """

    name = models.SlugField(_("name"), max_length=100, unique=True)
    kind = models.CharField(
        _("backs up"), max_length=10, choices=TargetKind.choices, default=TargetKind.DATABASE,
        help_text=_("Every database of a server: each run lists the server's databases afresh and backs up each "
                    "one as a target of its own, with the roles and tablespaces once per run."),
    )
    include_databases = models.TextField(
        _("only these databases"), blank=True,
        help_text=_("Server targets: names or patterns (* and ?), one per line. Empty: every database that is "
                    "not a template."),
    )
    exclude_databases = models.TextField(
        _("except these databases"), blank=True,
        help_text=_("Server targets: names or patterns (* and ?), one per line, left out of every run."),
    )
    server = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="databases",
        verbose_name=_("server target"), editable=False,
        help_text=_("The server target whose runs found this database and keep its connection settings."),
    )
    dropped_at = models.DateTimeField(
        _("dropped since"), null=True, blank=True, editable=False,
        help_text=_("When a run of its server no longer found this database; its backups stay under retention."),
    )
    host = models.CharField(_("host"), max_length=255, default="localhost")
    port = models.PositiveIntegerField(
        _("port"), default=5432, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    dbname = models.CharField(
        _("database name"), max_length=63,
        help_text=_("Server targets: the database to connect to for listing the others, usually postgres."),
    )
    user = models.CharField(_("user"), max_length=63, default="postgres")
    password_source = models.CharField(
        _("password source"), max_length=10, choices=PasswordSource.choices, default=PasswordSource.ENV
    )
    password_env = models.CharField(
        _("password environment variable"),
        max_length=100,
        blank=True,
        default="DB_PASSWORD",
        validators=[env_name_validator],
        help_text=_("Name of the environment variable that holds the password, not the password."),
    )
    service_name = models.CharField(
        _("libpq service name"), max_length=100, blank=True,
        help_text=_("Section of pg_service.conf; used when the password source is a service."),
    )
    encrypt = models.BooleanField(
        _("encrypt backups"), default=False,
        help_text=_("Encrypt this target's backup files with age before they are stored."),
    )
    age_recipients = models.TextField(
        _("age public keys"), blank=True,
        help_text=_("One age public key (age1...) per line. Empty: the keys in BACKUP_AGE_RECIPIENTS. "
                    "Public keys only: the private key never goes in the console."),
    )
    storage = models.ForeignKey(
        "backups_app.BackupStorage", null=True, blank=True, on_delete=models.PROTECT, related_name="targets",
        verbose_name=_("storage"),
        help_text=_("Where its backups are copied besides BACKUP_ROOT. Empty: the default storage, if any."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Made by a restore for the safety backup of the database it overwrote (restores/safety.py): kept for
    # those backups, out of the targets list unless asked for.
    for_safety_backups = models.BooleanField(_("made for safety backups"), default=False, editable=False)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # A lease that lets one backup or restore run per target at a time.
    lock_holder = models.CharField(max_length=64, blank=True, editable=False)
    lock_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("database target")
        verbose_name_plural = _("database targets")
        ordering = ["name"]
        permissions = [("run_backup", _("Can run backups and verifications"))]
        constraints = [
            models.UniqueConstraint(fields=["server", "dbname"], condition=models.Q(server__isnull=False),
                                    name="one_target_per_database_of_a_server"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_server(self) -> bool:
        return self.kind == TargetKind.SERVER
