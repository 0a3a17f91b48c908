"""The first administrator of a new installation, with a random password shown once."""

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor


@dataclass(frozen=True)
class AdminResult:
    username: str
    state: str  # "created", "reset" or "exists"
    password: str | None  # only when just set


def _save_password(path: Path, password: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    os.replace(tmp, path)


def migrated(*, within: float, poll: float = 1.0) -> bool:
    """Whether the console's database is migrated, waiting up to `within` seconds for it.

    A container's web role migrates as it starts; `ensure_admin` run right
    after `docker run` would otherwise find no user table yet.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            executor = MigrationExecutor(connection)
            if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
                return True
        except DatabaseError:  # SQLite busy while another process migrates: asked again
            pass
        finally:
            connection.close()
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def admin_ensure(*, username: str, password_file: Path, reset: bool = False) -> AdminResult:
    """A superuser named `username`; its password is set only when it is new or `reset` asks for it."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is not None and not reset:
        return AdminResult(username, "exists", None)
    password = secrets.token_urlsafe(18)
    if user is None:
        user = User.objects.create_superuser(username=username, email="", password=password)
        state = "created"
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
        state = "reset"
    _save_password(password_file, password)
    return AdminResult(username, state, password)
