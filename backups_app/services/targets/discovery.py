"""A server target's databases: listed afresh on every run, chosen by pattern, each kept as a target of its own.

- Listed: every database on the server that is not a template and takes
  connections; then, when the target has include patterns, only those that
  match one; then none that matches an exclude pattern. A pattern is a name
  or a shell pattern (`*`, `?`, `[...]`), one per line, matched exactly as
  PostgreSQL spells the name.
- Each chosen database is a target (`server` names the server target), made
  the first time it is found and given the server target's connection
  settings again on every run, so a change there applies to all of them.
  Its name is the server's and the database's (`prod--sales`).
- A database that is no longer on the server is marked dropped once
  (`dropped_at`, inactive): the run that finds it gone reports it, later runs
  do not; its backups stay, under retention like any others. One that comes
  back is active again. One a pattern now leaves out is only made inactive.
- An unreachable server raises ConnectionFailed before anything is changed.
"""

import fnmatch
import hashlib
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from backups_app.models import DatabaseTarget, TargetKind
from backups_app.services.postgres import databases, names
from backups_app.services.postgres.connection import ConnectionFailed

__all__ = ["ConnectionFailed", "Listing", "bad_patterns", "chosen", "discover", "list_names", "still_there"]

# What a database's target takes from its server target on every run.
INHERITED = ("host", "port", "user", "password_source", "password_env", "service_name", "encrypt",
             "age_recipients", "storage_id")
# What the admin shows read-only on a database found on a server (its runs set them).
FOUND_READONLY = ("server", "dropped_at", "kind", "dbname", "include_databases", "exclude_databases", "is_active",
                  "host", "port", "user", "password_source", "password_env", "service_name", "encrypt",
                  "age_recipients", "storage")
SEPARATOR = "--"
MAX_PATTERN_BYTES = 200


@dataclass
class Listing:
    """What a run found: the targets it backs up (by database name), and what changed since the run before."""

    targets: list = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [t.dbname for t in self.targets]


def patterns(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def bad_patterns(text: str) -> list[str]:
    """The lines of a pattern list that cannot name a database (too long to be one)."""
    return [p for p in patterns(text) if len(p.encode()) > MAX_PATTERN_BYTES]


def chosen(found: list[str], *, include: str = "", exclude: str = "") -> list[str]:
    """The databases a server target backs up, of those found on the server, in name order."""
    wanted, unwanted = patterns(include), patterns(exclude)
    picked = [n for n in found if not wanted or any(fnmatch.fnmatchcase(n, p) for p in wanted)]
    return sorted(n for n in picked if not any(fnmatch.fnmatchcase(n, p) for p in unwanted))


def list_names(server) -> list[str]:
    """Every database on the server that a server target may back up; ConnectionFailed when it cannot be reached."""
    with databases.maintenance(server) as m:
        return databases.backed_up_names(m)


def still_there(server, dbname: str) -> bool:
    """Whether the database is still on the server (True when that cannot be told: the backup's error says why)."""
    try:
        with databases.maintenance(server) as m:
            return databases.exists(m, dbname)
    except ConnectionFailed:
        return True


def discover(server, *, now=None) -> Listing:
    """List the server's databases and bring its database targets in step; ConnectionFailed changes nothing."""
    found = list_names(server)
    return sync(server, found, now=now)


def sync(server, found: list[str], *, now=None) -> Listing:
    """The database targets of a server target, in step with the databases found on it."""
    now = now or timezone.now()
    picked = chosen(found, include=server.include_databases, exclude=server.exclude_databases)
    listing = Listing()
    with transaction.atomic():
        known = {t.dbname: t for t in DatabaseTarget.objects.filter(server=server)}
        for dbname in picked:
            if dbname not in known:
                known[dbname] = _make(server, dbname)
                listing.added.append(dbname)
        children = DatabaseTarget.objects.filter(server=server)
        children.update(**{name: getattr(server, name) for name in INHERITED})
        gone = children.filter(dropped_at__isnull=True).exclude(dbname__in=found)
        listing.dropped = sorted(gone.values_list("dbname", flat=True))
        gone.update(dropped_at=now, is_active=False)
        listing.returned = sorted(children.filter(dbname__in=picked, dropped_at__isnull=False)
                                  .values_list("dbname", flat=True))
        children.filter(dbname__in=picked).update(is_active=True, dropped_at=None)
        children.filter(dbname__in=found).exclude(dbname__in=picked).update(is_active=False)
    listing.targets = list(DatabaseTarget.objects.filter(server=server, dbname__in=picked).order_by("dbname"))
    return listing


def mark_dropped(target, *, now=None) -> bool:
    """A database found gone during a run: dropped from now on (once). Whether this call marked it."""
    return bool(DatabaseTarget.objects.filter(pk=target.pk, dropped_at__isnull=True).update(
        dropped_at=now or timezone.now(), is_active=False))


def _make(server, dbname: str) -> DatabaseTarget:
    return DatabaseTarget.objects.create(
        name=child_name(server, dbname), kind=TargetKind.DATABASE, dbname=dbname, server=server,
        notes=f"database {dbname} of server target {server.name}, found by its runs",
        **{name: getattr(server, name) for name in INHERITED},
    )


def child_name(server, dbname: str) -> str:
    """`server--database`; a database name that is no slug, or one already taken, gets a short hash of its own."""
    plain = f"{server.name}{SEPARATOR}{dbname}"
    if names.is_target_name(plain) and not DatabaseTarget.objects.filter(name=plain).exists():
        return plain
    digest = hashlib.sha256(f"{server.pk}/{dbname}".encode()).hexdigest()[:8]
    slug = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in dbname)
    room = names.MAX_TARGET_NAME - len(server.name) - len(SEPARATOR) - len(digest) - 1
    return f"{server.name}{SEPARATOR}{slug[:max(room, 0)]}-{digest}"
