"""API tokens: made in the admin, shown once, kept as a hash, acting for their user with the user's rights.

A token reads `bc_<id>_<secret>`: the id finds its row and names it in
lists (it is no secret), the secret is 32 random bytes. The console keeps
the id and the SHA-256 of the whole token, never the token: a random
256-bit secret needs no slow password hash, and a copy of the console's
database lets nobody in. A token is refused once revoked, past its expiry,
or when its user may no longer sign in to the console (inactive, or no
longer staff); it has its user's permissions at the moment of each request
and nothing more, so the roles (setup/roles.py) decide for tokens exactly
as for people.
"""

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.utils import timezone

from backups_app.models import ApiToken

PREFIX = "bc_"
_SHAPE = re.compile(r"^bc_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$")
# last_used_at is written at most this often per token: a polling pipeline must not write on every request.
USED_RESOLUTION = timedelta(minutes=1)


class TokenRefused(Exception):
    """A token cannot be made as asked; one readable line."""


def digest_of(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create(*, user, name: str, expires_at=None) -> tuple[ApiToken, str]:
    """A new token for user; the token itself is returned here once and kept nowhere."""
    name = " ".join((name or "").split())
    if not name:
        raise TokenRefused("a token needs a name, e.g. the pipeline that uses it")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenRefused("its expiry is in the past")
    key_id = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789") for _ in range(12))
    raw = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(user=user, name=name[:100], key_id=key_id, digest=digest_of(raw),
                                    expires_at=expires_at)
    return token, raw


def shown(token: ApiToken) -> str:
    """How a token is named in lists: its public start only."""
    return f"{PREFIX}{token.key_id}_…"


def state(token: ApiToken, now=None) -> str:
    now = now or timezone.now()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def authenticate(raw: str, *, now=None) -> ApiToken | None:
    """The token's row when raw is a valid, active token of a user who may use the console; else None."""
    m = _SHAPE.match(raw or "")
    if m is None:
        return None
    token = ApiToken.objects.select_related("user").filter(key_id=m.group(1)).first()
    if token is None or not hmac.compare_digest(token.digest, digest_of(raw)):
        return None
    now = now or timezone.now()
    user = token.user
    if state(token, now) != "active" or not (user.is_active and user.is_staff):
        return None
    if token.last_used_at is None or now - token.last_used_at >= USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def revoke(token: ApiToken) -> bool:
    """Whether this call revoked it (False: it was already)."""
    now = timezone.now()
    done = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    token.refresh_from_db(fields=["revoked_at"])
    return bool(done)
