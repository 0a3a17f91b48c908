from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils.translation import gettext_lazy as _

from backups_app.models.targets import env_name_validator


class ChannelKind(models.TextChoices):
    EMAIL = "email", _("email")
    WEBHOOK = "webhook", _("webhook (JSON POST)")
    APPRISE = "apprise", _("chat service (Apprise URL)")


class EventKind(models.TextChoices):
    BACKUP_FAILED = "backup_failed", _("backup failed")
    RESTORE_FAILED = "restore_failed", _("restore failed")
    VERIFICATION_FAILED = "verification_failed", _("verification or restore drill failed")
    SIZE_ANOMALY = "size_anomaly", _("backup size anomaly")
    TARGET_STALE = "target_stale", _("target not healthy (no recent restorable backup, or the newest is damaged)")
    RECOVERED = "recovered", _("recovered after a failure")
    OFFSITE_FAILED = "offsite_failed", _("copy to object storage failed")
    DATABASE_DROPPED = "database_dropped", _("a database of a server target is gone (its backups are kept)")


# Sent only to channels that ask for successes, and by the test action; not choosable as events.
SUCCEEDED = "succeeded"
TEST = "test"


def default_events():
    return list(EventKind.values)


def validate_addresses(value: str) -> None:
    addresses = [a.strip() for a in value.split(",") if a.strip()]
    if not addresses:
        raise ValidationError(_("Give at least one email address."))
    for address in addresses:
        validate_email(address)


class NotificationChannel(models.Model):
    """Where the console tells people that something went wrong. Holds no secret URL: only its variable's name."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ChannelKind.choices)
    destination = models.CharField(
        _("destination"), max_length=500,
        help_text=_("Email: addresses, separated by commas. Webhook and chat service: the name of the "
                    "environment variable that holds the URL (e.g. NOTIFY_SLACK_URL), not the URL."),
    )
    events = models.JSONField(_("events"), default=default_events, blank=True)
    send_successes = models.BooleanField(
        _("also successes"), default=False, help_text=_("Also tell when a backup, restore or verification succeeds."),
    )
    slack_format = models.BooleanField(
        _("Slack-compatible body"), default=False,
        help_text=_("Webhook only: post {\"text\": ...} as Slack, Mattermost and Rocket.Chat expect."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    last_sent_at = models.DateTimeField(_("last sent"), null=True, blank=True, editable=False)
    last_error = models.TextField(_("last delivery error"), blank=True, editable=False)
    last_error_at = models.DateTimeField(_("last failed delivery"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        if self.kind == ChannelKind.EMAIL:
            try:
                validate_addresses(self.destination)
            except ValidationError as exc:
                raise ValidationError({"destination": exc.messages}) from exc
        elif self.kind:
            try:
                env_name_validator(self.destination)
            except ValidationError as exc:
                raise ValidationError({"destination": _(
                    "Give the name of an environment variable that holds the URL (such as NOTIFY_SLACK_URL), "
                    "not the URL: the URL holds secrets and is kept out of the console's database.")}) from exc


class Notification(models.Model):
    """One event the console announced, and how many channels took it; also how a stale target is told only once."""

    kind = models.CharField(_("event"), max_length=30)
    target = models.ForeignKey(
        "backups_app.DatabaseTarget", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("target"),
    )
    title = models.CharField(_("title"), max_length=300)
    created_at = models.DateTimeField(_("sent"), auto_now_add=True, db_index=True)
    delivered = models.PositiveSmallIntegerField(_("delivered"), default=0)
    failed = models.PositiveSmallIntegerField(_("failed"), default=0)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.title
