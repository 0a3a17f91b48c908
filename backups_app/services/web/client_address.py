"""The address of the client behind the reverse proxies the operator trusts (TRUSTED_PROXY_IPS).

Behind a proxy every request reaches gunicorn from the proxy's address
(REMOTE_ADDR); the proxy names the address that connected to it by appending
it to X-Forwarded-For. Anyone can send that header, so it is believed only
from a trusted proxy, and only as far as trusted proxies wrote it: read from
the right, each entry is the address that connected to the hop after it, and
the first one that is not a trusted proxy is the client. What stands left of
it came from the client and may say anything. With no trusted proxies the
connecting address is the client. Sign-in throttling (django-axes) keys its
lock on this address.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(request) -> str:
    address = _parse(request.META.get("REMOTE_ADDR", ""))
    if address is None:
        return request.META.get("REMOTE_ADDR", "")
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    while hops and _trusted(address):
        previous = _parse(hops.pop())
        if previous is None:  # no proxy writes this: the trusted hop before it is as far as is known
            break
        address = previous
    return str(address)


def bad_entries() -> list[str]:
    """Entries of TRUSTED_PROXY_IPS that are neither addresses nor networks (system check backups.E030)."""
    return [entry for entry in settings.TRUSTED_PROXY_IPS if _network(entry) is None]


def _trusted(address: Address) -> bool:
    return any(address in network for network in _networks(tuple(settings.TRUSTED_PROXY_IPS)))


@lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]) -> list:
    return [n for n in map(_network, entries) if n is not None]


def _network(entry: str):
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return None


def _parse(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # gunicorn listening on [::] sees an IPv4 client as ::ffff:a.b.c.d.
    return getattr(address, "ipv4_mapped", None) or address
