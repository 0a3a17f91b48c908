"""Deciding who hears about what, and delivering it without ever failing the caller."""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from backups_app.models.notifications import SUCCEEDED, TEST, EventKind, Notification, NotificationChannel
from backups_app.services.notify import destinations, messages, senders
from backups_app.services.postgres.scrub import scrub

log = logging.getLogger(__name__)

FAILED = {"backup": EventKind.BACKUP_FAILED, "restore": EventKind.RESTORE_FAILED,
          "verification": EventKind.VERIFICATION_FAILED}


def job_ended(record) -> None:
    """Announce a job's end, once its row is committed. Never raises."""
    try:
        kinds = [kind_of_end(record)]
        if getattr(record, "size_anomaly_pct", None) is not None and record.status == "succeeded":
            kinds.append(EventKind.SIZE_ANOMALY)
        for kind in filter(None, kinds):
            transaction.on_commit(lambda kind=kind: event(kind, record))
    except Exception as exc:
        log.error("cannot announce the end of %s #%s: %s", messages.job_word(record), record.pk,
                  scrub(f"{type(exc).__name__}: {exc}"))


def offsite_failed(record) -> None:
    """Announce that a backup's copy to object storage ended failed (it lives on one host only). Never raises."""
    try:
        transaction.on_commit(lambda: event(EventKind.OFFSITE_FAILED, record, detail=_(
            "Copy to object storage: %(detail)s") % {"detail": record.offsite_detail}))
    except Exception as exc:
        log.error("cannot announce the failed upload of backup #%s: %s", record.pk,
                  scrub(f"{type(exc).__name__}: {exc}"))


def kind_of_end(record) -> str | None:
    word = messages.job_word(record)
    if word == "server run":
        # Each database's backup tells of itself; the run only when it could not even list them.
        return EventKind.BACKUP_FAILED if record.status == "failed" and not record.databases else None
    if word not in FAILED or getattr(record, "is_drill", False):
        return None  # a drill's restore is told by its verification
    if record.status == "failed":
        return FAILED[word]
    if record.status == "succeeded":
        return EventKind.RECOVERED if word != "restore" and _failed_before(record) else SUCCEEDED
    return None


def _failed_before(record) -> bool:
    """Did the previous finished job of the same kind for the same target fail?"""
    model = type(record)
    same = {"target_id": record.target_id} if messages.job_word(record) == "backup" else \
        {"backup__target_id": record.backup.target_id}
    previous = (model.objects.filter(**same, status__in=["succeeded", "failed"]).exclude(pk=record.pk)
                .filter(created_at__lte=record.created_at).order_by(F("finished_at").desc(nulls_last=True), "-pk")
                .values_list("status", flat=True).first())
    return previous == "failed"


def wants(channel: NotificationChannel, kind: str) -> bool:
    if kind == SUCCEEDED:
        return channel.send_successes
    return kind in (channel.events or [])


def event(kind: str, record=None, *, target=None, detail: str = "") -> int:
    """Tell every enabled channel that wants `kind`; returns how many took it. Never raises."""
    try:
        message = messages.build(kind, record, target=target, detail=detail)
        channels = [c for c in NotificationChannel.objects.filter(enabled=True) if wants(c, kind)]
        delivered = sum(deliver(c, message) for c in channels)
        _remember(message, record, target, delivered, len(channels) - delivered)
        return delivered
    except Exception as exc:
        log.error("cannot send the %s notification: %s", kind, scrub(f"{type(exc).__name__}: {exc}"))
        return 0


def _remember(message, record, target, delivered: int, failed: int) -> None:
    target = target or (messages.target_of(record) if record is not None else None)
    Notification.objects.create(kind=message.kind, target=target, title=message.title[:300],
                                delivered=delivered, failed=failed)


def send_test(channel: NotificationChannel) -> tuple[bool, str]:
    """(delivered, what happened in one line, free of secrets) for the admin's test action."""
    ok = deliver(channel, messages.build(TEST))
    channel.refresh_from_db(fields=["last_error"])
    return ok, "" if ok else channel.last_error


def deliver(channel: NotificationChannel, message: messages.Message) -> bool:
    """Send to one channel; remember success or the scrubbed reason on the channel."""
    secrets = destinations.secrets(channel)
    try:
        senders.send(channel, message.scrubbed(secrets))
    except Exception as exc:
        reason = scrub(f"{_reason(exc)} ({destinations.server(channel)})", secrets + messages.known_secrets())
        log.warning("notification channel %r could not deliver %s: %s", channel.name, message.kind, reason)
        NotificationChannel.objects.filter(pk=channel.pk).update(last_error=reason, last_error_at=timezone.now())
        return False
    NotificationChannel.objects.filter(pk=channel.pk).update(last_sent_at=timezone.now(), last_error="")
    return True


def _reason(exc: Exception) -> str:
    if isinstance(exc, senders.DeliveryFailed | destinations.NoDestination):
        return str(exc)
    # OSError's own words ("[Errno 111] Connection refused") say more than its class name.
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:1000]
