"""Database targets: the "default" one follows the original script's DB_* settings.

When DB_* are set, the default target exists from the first page on: made (and
brought in step with the environment) after migrate and when the console or
its worker starts, not only when a command first backs it up.
"""

import logging
import os

from django.conf import settings
from django.db import DatabaseError

from backups_app.models import DatabaseTarget
from backups_app.services.postgres import names

log = logging.getLogger(__name__)

DEFAULT_NAME = "default"
# The fields the default target takes from DB_*: shown read-only in the admin when they are set.
FROM_ENVIRONMENT = ("name", "host", "port", "dbname", "user", "password_source", "password_env")
_VARIABLES = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD")


class UnknownTarget(Exception):
    pass


def ensure_default() -> DatabaseTarget:
    fields = dict(host=settings.DB_HOST, port=settings.DB_PORT, dbname=settings.DB_NAME,
                  user=settings.DB_USER)
    target, created = DatabaseTarget.objects.get_or_create(
        name=DEFAULT_NAME, defaults={**fields, "password_source": "env", "password_env": "DB_PASSWORD"}
    )
    changed = {k: v for k, v in fields.items() if getattr(target, k) != v}
    if changed:
        DatabaseTarget.objects.filter(pk=target.pk).update(**changed)
        target.refresh_from_db()
    return target


def configured() -> bool:
    """Whether this installation names its database through DB_* (the environment or .env)."""
    return any(os.environ.get(name) for name in _VARIABLES)


def sync_default() -> DatabaseTarget | None:
    """The default target, made or brought in step with DB_*; None when DB_* are not set."""
    if not configured():
        return None
    try:
        return ensure_default()
    except DatabaseError as exc:  # not migrated yet: migrate makes it
        log.warning("the DB_* target is not made yet: %s", exc)
        return None


def is_from_environment(target) -> bool:
    return target is not None and target.name == DEFAULT_NAME and configured()


def get_target(name: str) -> DatabaseTarget:
    if name == DEFAULT_NAME:
        return ensure_default()
    target = DatabaseTarget.objects.filter(name=name).first() if names.is_target_name(name) else None
    if target is None:
        known = ", ".join(DatabaseTarget.objects.values_list("name", flat=True)) or "none"
        raise UnknownTarget(f"no target named {name!r} (known: {known})")
    return target
