"""Who is calling: a bearer token (services/web/tokens.py), its user's permissions, and how often.

- No token, or one that is not valid now: 401, whatever the path names.
- A valid token whose user lacks the permission: 403, decided before the
  request's object is looked up or its input read, so neither answer says
  whether the object exists.
- Failed attempts are counted per client address (API_FAILED_AUTH_RATE)
  and valid tokens' calls per token (API_THROTTLE_RATE); past either, 429.
  The counts live in the web server process's cache (Django's local memory
  unless CACHES names a shared one).
"""

from django.conf import settings
from django.core.cache import cache
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer
from ninja.throttling import SimpleRateThrottle

from backups_app.services.web import client_address, rates, tokens


class Denied(Exception):
    """The token is valid, its user may not do this (403)."""


class TooManyFailures(Exception):
    """Too many invalid tokens from this address lately (429)."""

    def __init__(self, wait: float):
        super().__init__(wait)
        self.wait = wait


class Unauthenticated(AuthenticationError):
    """No valid token (401)."""


class Token(HttpBearer):
    """A valid token whose user has every permission in `needs` (app label and codename)."""

    def __init__(self, *needs: str, what: str = ""):
        super().__init__()
        self.needs, self.what = needs, what

    def __call__(self, request):
        if _failures(request).blocked():
            raise TooManyFailures(_failures(request).wait())
        return super().__call__(request)

    def authenticate(self, request, token):
        found = tokens.authenticate(token)
        if found is None:
            _failures(request).add()
            raise Unauthenticated()
        request.user = found.user
        if not found.user.has_perms(self.needs):
            raise Denied(f"the user of this token ({found.user.get_username()}) may not {self.what}")
        return found


class _Failures:
    """Invalid tokens from one client address in the last minute."""

    def __init__(self, request):
        self.key = f"api-failed-auth:{client_address.client_address(request)}"
        self.limit = rates.parse(settings.API_FAILED_AUTH_RATE)

    def blocked(self) -> bool:
        return cache.get(self.key, 0) >= self.limit[0]

    def add(self) -> None:
        cache.add(self.key, 0, self.limit[1])
        try:
            cache.incr(self.key)
        except ValueError:  # expired between the two calls
            cache.set(self.key, 1, self.limit[1])

    def wait(self) -> float:
        return float(self.limit[1])


def _failures(request) -> _Failures:
    return _Failures(request)


class PerToken(SimpleRateThrottle):
    """Calls per token, at most API_THROTTLE_RATE (read at each call, so a changed setting applies at once)."""

    scope = "api-token"

    def __init__(self):
        super().__init__(settings.API_THROTTLE_RATE)

    def allow_request(self, request) -> bool:
        self.rate = settings.API_THROTTLE_RATE
        self.num_requests, self.duration = rates.parse(self.rate)
        return super().allow_request(request)

    def get_cache_key(self, request):
        auth = getattr(request, "auth", None)
        return self.cache_format % {"scope": self.scope, "ident": auth.pk} if auth is not None else None
