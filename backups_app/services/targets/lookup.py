"""Database targets by name. The "default" one is the DB_* target: agreement.py says how it follows DB_*.

When DB_* are set, the default target exists from the first page on: made
after migrate and when the console or its worker starts, not only when a
command first backs it up. Starting never moves it off the server its
backups came from; a disagreement is logged instead.
"""

import logging

from django.db import DatabaseError

from backups_app.models import DatabaseTarget
from backups_app.services.postgres import names
from backups_app.services.targets import agreement
from backups_app.services.targets.agreement import DEFAULT_NAME, configured

__all__ = ["DEFAULT_NAME", "FROM_ENVIRONMENT", "UnknownTarget", "configured", "get_target", "is_from_environment",
           "server_moved", "sync_default"]

log = logging.getLogger(__name__)

# The fields the default target takes from DB_*: shown read-only in the admin when they are set.
FROM_ENVIRONMENT = ("name", "host", "port", "dbname", "user", "password_source", "password_env")


class UnknownTarget(Exception):
    pass


def sync_default() -> DatabaseTarget | None:
    """The default target, made (or followed, see agreement.follow) from DB_*; None when DB_* are not set."""
    if not configured():
        return None
    try:
        target = agreement.default_target()
    except DatabaseError as exc:  # not migrated yet: migrate makes it
        log.warning("the DB_* target is not made yet: %s", exc)
        return None
    if agreement.differences(target):
        log.warning("%s", agreement.mismatch(target, outcome="its backups, restores, drills and pruning are refused "
                                                            "by this process"))
    return target


def server_moved(*, host: str, old_port: int, new_port: int) -> int:
    """Targets follow a server that now listens on another port (the demo cluster, restarted where its
    port was taken): the same data, so the same server; how many targets were changed."""
    moved = DatabaseTarget.objects.filter(host=host, port=old_port).update(port=new_port)
    if moved:
        log.info("%s target(s) of %s:%s follow it to port %s", moved, host, old_port, new_port)
    return moved


def is_from_environment(target) -> bool:
    return target is not None and target.name == DEFAULT_NAME and configured()


def get_target(name: str) -> DatabaseTarget:
    if name == DEFAULT_NAME:
        return agreement.default_target()
    target = DatabaseTarget.objects.filter(name=name).first() if names.is_target_name(name) else None
    if target is None:
        known = ", ".join(DatabaseTarget.objects.values_list("name", flat=True)) or "none"
        raise UnknownTarget(f"no target named {name!r} (known: {known})")
    return target
