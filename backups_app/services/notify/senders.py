"""One sender per kind of channel. Each raises on failure; the caller records the reason.

Every sender gives up after NOTIFY_TIMEOUT_SECONDS, so a dead server delays
the end of a job by that long at most and never stops it.
"""

import json
import logging
import urllib.error
import urllib.request

from django.conf import settings
from django.core import mail

from backups_app.models.notifications import ChannelKind
from backups_app.services.notify import destinations
from backups_app.services.notify.messages import Message


class DeliveryFailed(Exception):
    """The channel did not take the message; the text says why (it may hold secrets: scrub before showing)."""


def timeout() -> float:
    return float(settings.NOTIFY_TIMEOUT_SECONDS)


def send(channel, message: Message) -> None:
    SENDERS[channel.kind](channel, message)


def send_email(channel, message: Message) -> None:
    connection = mail.get_connection(timeout=timeout())
    mail.EmailMessage(subject=message.title, body=message.body, to=destinations.addresses(channel),
                      connection=connection).send()


def webhook_body(channel, message: Message) -> dict:
    if channel.slack_format:
        return {"text": f"*{message.title}*\n{message.body}"}
    return message.as_json()


def send_webhook(channel, message: Message) -> None:
    data = json.dumps(webhook_body(channel, message)).encode()
    url, authorization = destinations.without_login(destinations.url(channel))
    headers = {"Content-Type": "application/json", "User-Agent": "backup-console"}
    if authorization:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout()) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"the server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"cannot reach the webhook: {reason}") from None


def send_apprise(channel, message: Message) -> None:
    import apprise  # about a quarter of a second to import: only for channels that use it

    plugin = apprise.Apprise.instantiate(destinations.url(channel), suppress_exceptions=True)
    if not plugin:
        raise DeliveryFailed("Apprise does not understand this URL (see https://appriseit.com for the formats)")
    plugin.socket_connect_timeout = plugin.socket_read_timeout = timeout()
    sender = apprise.Apprise()
    sender.add(plugin)
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        ok = sender.notify(title=message.title, body=message.body,
                           notify_type=apprise.NotifyType.SUCCESS if message.ok else apprise.NotifyType.FAILURE)
    if not ok:
        said = " ".join(line.strip() for line in captured.getvalue().splitlines() if line.strip())
        raise DeliveryFailed(f"Apprise could not deliver: {said or 'no reason given'}"[:1000])


SENDERS = {ChannelKind.EMAIL: send_email, ChannelKind.WEBHOOK: send_webhook, ChannelKind.APPRISE: send_apprise}
