"""PostgreSQL's server programs, for the demo cluster: initdb and pg_ctl.

PostgreSQL refuses to run as root, so a caller that is root names the OS
user they run as (through runuser). They get the environment of a program
without a connection: the server pg_ctl starts inherits it, and must not
hold the console's secrets.
"""

import glob
import os
import shutil
from pathlib import Path

from backups_app.services.postgres.connection import child_env
from backups_app.services.postgres.proc import Ran, completed, run

TIMEOUT = 120


class ServerProgramsMissing(Exception):
    pass


def bin_dir() -> Path:
    """The newest installed PostgreSQL server programs (initdb, pg_ctl)."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]), reverse=True)
    for d in dirs:
        if os.path.exists(os.path.join(d, "initdb")):
            return Path(d)
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    raise ServerProgramsMissing("PostgreSQL server programs (initdb, pg_ctl) not found: install the Debian package "
                                "postgresql")


def initdb(data: Path, *, superuser: str, pwfile: Path, as_user: str | None = None) -> Ran:
    """A new cluster in data whose every client, local or TCP, needs the password in pwfile (scram-sha-256)."""
    return _run([str(bin_dir() / "initdb"), "-D", str(data), "-U", superuser, "--pwfile", str(pwfile),
                 "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale"], as_user)


def pg_ctl(data: Path, *args: str, as_user: str | None = None) -> Ran:
    """pg_ctl -D data ARGS (status, start, stop ...)."""
    return _run([str(bin_dir() / "pg_ctl"), "-D", str(data), *args], as_user)


def can_use(folder: Path, *, as_user: str) -> bool:
    """Whether that OS user may enter and write folder (the cluster's home)."""
    return _run(["test", "-w", str(folder), "-a", "-x", str(folder)], as_user, timeout=30).ok


def _run(args: list[str], as_user: str | None, *, timeout: float = TIMEOUT) -> Ran:
    if as_user:
        args = [shutil.which("runuser") or "runuser", "-u", as_user, "--", *args]
    with child_env() as env:
        return completed(run(args, env=env, timeout=timeout))
