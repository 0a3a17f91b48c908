"""How the console reaches a target: connection settings and the password.

The password is looked up at the moment it is needed and handed to a child
process only through a private 0600 passfile named by PGPASSFILE, never argv.
It is read only from a variable targets may use (names.check_password_variable):
a target naming another one (a record saved before the rule) is refused at
its first connection, its variable never read.

Clear text: whoever answers at a target's address may ask for the password
in clear text (AuthenticationCleartextPassword). Over TCP that is not
required to be encrypted (PGSSLMODE require, verify-ca or verify-full, or
PGGSSENCMODE=require) the console never sends it: every connection, psycopg's
and every program's, carries libpq's require_auth=!password (libpq 16 and
newer), and a program older than 16, which cannot refuse, is not started for
such a connection (binaries picks a newer one). A Unix socket never leaves
the machine and is not refused.
"""

import contextlib
import dataclasses
import os
import tempfile
from dataclasses import dataclass

import psycopg

from backups_app.services.postgres import binaries, names
from backups_app.services.postgres.proc import pid_namespace_tag
from backups_app.services.postgres.scrub import scrub

PASSFILE_DIR_PREFIX = "bc-pass-"
# All a program the console starts sees of the console's environment: where programs are, the home
# folder (libpq's ~/.pgpass and ~/.pg_service.conf), locale, time zone, the temporary folder. Never the
# rest: it holds the S3 keys, webhook URLs, METRICS_TOKEN and other targets' passwords.
BASE_VARIABLES = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR")
# libpq's own variables pass to a PostgreSQL program (TLS settings, PGSERVICEFILE, PGPASSFILE ...),
# except these: the console names the server, user and database itself, and never a password.
NOT_PASSED = {"PGPASSWORD", "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE", "PGAPPNAME"}
ENCRYPTED_SSLMODES = ("require", "verify-ca", "verify-full")
CLEAR_TEXT_HINT = ("the server asked for the password in clear text over an unencrypted connection, and the console "
                   "refuses to send it: use scram-sha-256 for this user in the server's pg_hba.conf, or require "
                   "encryption with PGSSLMODE=require (better verify-full)")


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
    refused: str = ""  # why this connection may not be made (its password variable is not allowed)

    def with_dbname(self, dbname: str) -> "Conn":
        return dataclasses.replace(self, dbname=dbname)

    def args(self) -> list[str]:
        """Connection options for libpq command-line tools (no password)."""
        return ["--host", self.host, "--port", str(self.port), "--username", self.user, "--no-password"]

    def secrets(self) -> tuple:
        return (self.password,) if self.password else ()


def password_variable(target) -> str:
    return target.password_env or "DB_PASSWORD"


def refusal(target) -> str:
    """Why the target's password may not be read ('' when it may)."""
    if target.password_source != "env":
        return ""
    try:
        names.check_password_variable(password_variable(target))
    except names.BadName as exc:
        return f"target {target.name}: {exc}"
    return ""


def password_for(target) -> str | None:
    if target.password_source == "env" and not refusal(target):
        return os.environ.get(password_variable(target)) or None
    return None


def conn_for(target, dbname: str | None = None) -> Conn:
    return Conn(
        host=target.host,
        port=target.port,
        user=target.user,
        dbname=dbname or target.dbname,
        password=password_for(target),
        service=target.service_name if target.password_source == "service" else "",
        refused=refusal(target),
    )


def _escape_pgpass(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def base_env() -> dict:
    """The environment of every program the console starts (BASE_VARIABLES and LC_*), nothing else."""
    env = {k: v for k, v in os.environ.items() if k in BASE_VARIABLES or k.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    return env


# -- clear text ------------------------------------------------------------------

def encryption_required() -> bool:
    """Whether libpq is told, by the console's environment, to connect only with encryption."""
    return os.environ.get("PGSSLMODE", "") in ENCRYPTED_SSLMODES or os.environ.get("PGGSSENCMODE", "") == "require"


def refuses_clear_text(conn: Conn) -> bool:
    """Whether this connection must refuse a request for the password in clear text (TCP, not encrypted)."""
    return not (conn.host or "/").startswith(("/", "@")) and not encryption_required()


def require_auth(operator: str = "") -> str:
    """libpq's require_auth: the operator's own (PGREQUIREAUTH), never allowing clear text."""
    methods = [m.strip() for m in operator.split(",") if m.strip()]
    if methods and all(m.startswith("!") for m in methods):
        return ",".join(dict.fromkeys([*methods, "!password"]))
    return ",".join(m for m in methods if m != "password") or "!password"


def with_clear_text_hint(text: str) -> str:
    """A program's error, with what to do when it was the refusal to send the password in clear text."""
    return f"{text} ({CLEAR_TEXT_HINT})" if "cleartext password" in text.lower() else text


def _can_refuse(program: str | None, conn: Conn) -> None:
    version = binaries.version_of(program) if program else None
    if version and int(version.split(".")[0]) >= binaries.REQUIRE_AUTH_SINCE:
        return
    name = f"{os.path.basename(program or 'a client program')} {version or '(version unknown)'}"
    raise ConnectionFailed(_cannot_refuse(name, conn, fix=f"install PostgreSQL {binaries.REQUIRE_AUTH_SINCE}+ "
                                                          "client programs"))


def _cannot_refuse(who: str, conn: Conn, *, fix: str) -> str:
    return (f"{who} cannot refuse to send the password in clear text (require_auth came with PostgreSQL "
            f"{binaries.REQUIRE_AUTH_SINCE}), so it may not connect to {conn.host}:{conn.port} unencrypted: {fix}, "
            "or require encryption with PGSSLMODE=require (better verify-full)")


@contextlib.contextmanager
def child_env(conn: Conn | None = None, *, program: str | None = None):
    """The one place a started program's environment is built.

    Without a connection (a program that only reads files, a compressor, age,
    the demo's server programs): base_env(). With one, for the PostgreSQL
    program at `program`: libpq's own variables besides, require_auth unless
    the connection may carry clear text, and the password, when the target
    has one, in a private passfile named by PGPASSFILE, removed after.
    """
    if conn is None:
        yield base_env()
        return
    if conn.refused:
        raise ConnectionFailed(conn.refused)
    env = base_env()
    env.update({k: v for k, v in os.environ.items() if k.startswith("PG") and k not in NOT_PASSED})
    if refuses_clear_text(conn):
        _can_refuse(program, conn)
        env["PGREQUIREAUTH"] = require_auth(env.get("PGREQUIREAUTH", ""))
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
    if conn.refused:
        raise ConnectionFailed(conn.refused)
    params = dict(host=conn.host, port=conn.port, user=conn.user, dbname=conn.dbname,
                  connect_timeout=10, application_name="backupconsole")
    if conn.password:
        params["password"] = conn.password
    if conn.service:
        params = {"service": conn.service, "dbname": conn.dbname}
    if refuses_clear_text(conn):
        libpq = psycopg.pq.version()
        if libpq < binaries.REQUIRE_AUTH_SINCE * 10000:
            raise ConnectionFailed(_cannot_refuse(f"the console's libpq {libpq // 10000}.{libpq % 100} (psycopg's)",
                                                  conn, fix="install psycopg[binary] from requirements.txt"))
        params["require_auth"] = require_auth(os.environ.get("PGREQUIREAUTH", ""))
    try:
        return psycopg.connect(**params, **kwargs)
    except psycopg.Error as exc:
        raise ConnectionFailed(explain_connection_error(str(exc), conn)) from None


def explain_connection_error(message: str, conn: Conn) -> str:
    """One readable line that says what to fix, without the password."""
    text = scrub(" ".join(message.split()), conn.secrets())
    where = f"{conn.user}@{conn.host}:{conn.port}/{conn.dbname}"
    low = text.lower()
    if "cleartext password" in low:
        hint = CLEAR_TEXT_HINT
    elif "password authentication failed" in low or "no password supplied" in low:
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
