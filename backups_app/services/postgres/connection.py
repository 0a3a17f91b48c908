"""How the console reaches a target: connection settings and the password.

The password is looked up at the moment it is needed and handed to a child
process only through a private 0600 passfile named by PGPASSFILE, never argv.
"""

import contextlib
import os
import tempfile
from dataclasses import dataclass

import psycopg
from django.conf import settings

from backups_app.services.postgres.proc import pid_namespace_tag
from backups_app.services.postgres.scrub import scrub

PASSFILE_DIR_PREFIX = "bc-pass-"
OFFLINE_ENV = {"PATH": "/usr/bin:/bin"}


class ConnectionFailed(Exception):
    """The target could not be reached; the message is safe to show."""


@dataclass(frozen=True)
class Conn:
    host: str
    port: int
    user: str
    dbname: str
    password: str | None
    service: str = ""

    def with_dbname(self, dbname: str) -> "Conn":
        return Conn(self.host, self.port, self.user, dbname, self.password, self.service)

    def args(self) -> list[str]:
        """Connection options for libpq command-line tools (no password)."""
        return ["--host", self.host, "--port", str(self.port), "--username", self.user, "--no-password"]

    def secrets(self) -> tuple:
        return (self.password,) if self.password else ()


def password_for(target) -> str | None:
    if target.password_source == "env":
        return os.environ.get(target.password_env or "DB_PASSWORD") or None
    return None


def conn_for(target, dbname: str | None = None) -> Conn:
    return Conn(
        host=target.host,
        port=target.port,
        user=target.user,
        dbname=dbname or target.dbname,
        password=password_for(target),
        service=target.service_name if target.password_source == "service" else "",
    )


def _escape_pgpass(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@contextlib.contextmanager
def child_env(conn: Conn | None = None):
    """Environment for a client program: PGPASSFILE points at a private file, removed after.

    Without a connection (a program that only reads files) the child gets a
    fixed PATH and nothing else of ours.
    """
    if conn is None:
        yield dict(OFFLINE_ENV)
        return
    # Whatever variable held the password (the target names it) stays with us.
    env = {k: v for k, v in os.environ.items() if not (conn.password and v == conn.password)}
    for name in ("PGPASSWORD", "DB_PASSWORD", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        env.pop(name, None)
    env.pop(settings.BACKUP_AGE_IDENTITY_ENV, None)  # an age private key is for age alone
    env["PGAPPNAME"] = "backupconsole"
    env["PGCONNECT_TIMEOUT"] = env.get("PGCONNECT_TIMEOUT", "10")
    if conn.service:
        env["PGSERVICE"] = conn.service
    if not conn.password:
        yield env
        return
    # The pid (and its pid namespace) in the name lets the reaper remove the file if this process is killed.
    with tempfile.TemporaryDirectory(prefix=f"{PASSFILE_DIR_PREFIX}{os.getpid()}-ns{pid_namespace_tag()}-") as tmp:
        path = os.path.join(tmp, "pgpass")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"*:*:*:{_escape_pgpass(conn.user)}:{_escape_pgpass(conn.password)}\n")
        env["PGPASSFILE"] = path
        yield env


def connect(conn: Conn, **kwargs) -> psycopg.Connection:
    """A psycopg connection; errors come back scrubbed as ConnectionFailed."""
    params = dict(host=conn.host, port=conn.port, user=conn.user, dbname=conn.dbname,
                  connect_timeout=10, application_name="backupconsole")
    if conn.password:
        params["password"] = conn.password
    if conn.service:
        params = {"service": conn.service, "dbname": conn.dbname}
    try:
        return psycopg.connect(**params, **kwargs)
    except psycopg.Error as exc:
        raise ConnectionFailed(explain_connection_error(str(exc), conn)) from None


def explain_connection_error(message: str, conn: Conn) -> str:
    """One readable line that says what to fix, without the password."""
    text = scrub(" ".join(message.split()), conn.secrets())
    where = f"{conn.user}@{conn.host}:{conn.port}/{conn.dbname}"
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        hint = "check the password (its environment variable or pgpass entry)"
    elif "connection refused" in low or "could not connect" in low or "timeout" in low:
        hint = "check that the server runs and the host and port are right"
    elif "does not exist" in low:
        hint = "check the database and user names"
    elif "permission denied" in low:
        hint = "grant the user the rights it needs"
    else:
        hint = "check the target's settings"
    return f"cannot connect to {where}: {text} ({hint})"


@dataclass(frozen=True)
class ServerInfo:
    version_num: int
    version: str
    database_size: int
    extensions: dict

    @property
    def major(self) -> int:
        return self.version_num // 10000


def server_info(conn: Conn) -> ServerInfo:
    with connect(conn) as c:
        num = int(c.execute("SHOW server_version_num").fetchone()[0])
        version = c.execute("SHOW server_version").fetchone()[0]
        size = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        ext = dict(c.execute("SELECT extname, extversion FROM pg_extension ORDER BY 1").fetchall())
    return ServerInfo(num, version, size, ext)
