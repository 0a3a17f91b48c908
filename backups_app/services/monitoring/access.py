"""Who may read /metrics: a bearer token (METRICS_TOKEN) or an address in METRICS_ALLOWED_IPS.

Nothing configured means nobody. The address is the client's as
services/web/client_address.py finds it: the connecting one (REMOTE_ADDR),
or behind a proxy listed in TRUSTED_PROXY_IPS the client that proxy names;
the proxy's own address never stands for everyone behind it.
"""

import hmac
import ipaddress

from django.conf import settings

from backups_app.services.web.client_address import client_address


def _network(entry: str):
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return None


def allowed_networks() -> list:
    # A bad entry allows nothing; the system check backups.E006 names it at start.
    return [n for n in map(_network, settings.METRICS_ALLOWED_IPS) if n is not None]


def bad_networks() -> list[str]:
    return [entry for entry in settings.METRICS_ALLOWED_IPS if _network(entry) is None]


def bearer_ok(request) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def address_ok(request) -> bool:
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in network for network in allowed_networks())


def metrics_allowed(request) -> bool:
    return bearer_ok(request) or address_ok(request)
