"""Where a channel sends, resolved at the moment of sending; and how that is shown without its secrets."""

import base64
import os
from urllib.parse import unquote, urlsplit, urlunsplit

from django.utils.translation import gettext as _

from backups_app.models.notifications import ChannelKind

# Schemes whose host is a public server name, not a token (Apprise puts tokens where a host would be).
HOST_IS_SAFE = {"http", "https", "json", "jsons", "xml", "xmls", "form", "forms"}


class NoDestination(Exception):
    """The channel's environment variable is not set or is empty."""


def addresses(channel) -> list[str]:
    return [a.strip() for a in channel.destination.split(",") if a.strip()]


def url(channel) -> str:
    value = os.environ.get(channel.destination, "").strip()
    if not value:
        raise NoDestination(_("environment variable %(name)s is not set") % {"name": channel.destination})
    return value


def without_login(value: str) -> tuple[str, str | None]:
    """(the URL without user:password@, the Basic Authorization header they make or None).

    urllib does not log in with a URL's user and password: it takes them for part of the host name.
    """
    parts = urlsplit(value)
    if parts.username is None and parts.password is None:
        return value, None
    login = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, "Basic " + base64.b64encode(login.encode()).decode()


def secrets(channel) -> list[str]:
    """Every piece of the channel's URL that must not be shown: the whole, its password, path and query."""
    if channel.kind == ChannelKind.EMAIL:
        return []
    value = os.environ.get(channel.destination, "").strip()
    if not value:
        return []
    parts = urlsplit(value)
    pieces = [value, parts.password or "", unquote(parts.password or ""), parts.query]
    if parts.scheme.lower() not in HOST_IS_SAFE:
        pieces += [parts.netloc, parts.username or "", parts.hostname or ""]
    pieces += [p for p in parts.path.split("/") if len(p) >= 4]
    # Longest first, so a whole URL is masked before its pieces.
    return sorted({p for p in pieces if p}, key=len, reverse=True)


def masked(channel) -> str:
    """What the admin shows: addresses for email; scheme and (when harmless) host of a URL, and where it comes from."""
    if channel.kind == ChannelKind.EMAIL:
        return channel.destination
    value = os.environ.get(channel.destination, "").strip()
    if not value:
        return _("%(name)s (not set)") % {"name": channel.destination}
    parts = urlsplit(value)
    scheme = parts.scheme.lower() or "?"
    shown = f"{scheme}://{parts.hostname}/…" if scheme in HOST_IS_SAFE and parts.hostname else f"{scheme}://…"
    return _("%(url)s from %(name)s") % {"url": shown, "name": channel.destination}


def server(channel) -> str:
    """Where a delivery goes, for a failure to name it: the mail server, or the URL's host (never its secrets)."""
    from django.conf import settings

    if channel.kind == ChannelKind.EMAIL:
        return f"mail server {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    parts = urlsplit(os.environ.get(channel.destination, "").strip())
    return f"{parts.scheme.lower() or '?'}://{parts.hostname}" if parts.hostname else channel.destination
