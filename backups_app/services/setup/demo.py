"""A private demo PostgreSQL cluster with sample FX data, for a first run with no database configured.

The cluster lives under one folder (default VAR_DIR/demo-pg), listens on 127.0.0.1 only, on a
free port, and asks every client for a password. The password exists only in the folder's
demo.env (0600), which scripts/run-console.sh exports as DB_PASSWORD and settings read when no
DB_* is set (backupconsole/env_files.py); it never reaches argv or a log. PostgreSQL refuses to
run as root, so when root asks, the cluster runs as `postgres`.
"""

import hashlib
import os
import pwd
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from backupconsole import env_files
from backups_app.services.postgres import server
from backups_app.services.postgres.connection import Conn
from backups_app.services.postgres.proc import Ran, last_lines

HOST = "127.0.0.1"
SUPERUSER = "postgres"
DBNAME = "trading_system"
ENV_FILE = "demo.env"
PORT_FILE = "demo_port.conf"
SERVER_OS_USER = "postgres"
_ENV_KEYS = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DEMO_PG_DATA")


class DemoError(Exception):
    """The demo cluster cannot be set up; the message says what to do."""


@dataclass(frozen=True)
class DemoCluster:
    directory: Path
    data_dir: Path
    port: int
    password: str

    @property
    def env_file(self) -> Path:
        return self.directory / ENV_FILE

    @property
    def home(self) -> Path:
        return self.data_dir.parent

    def conn(self, dbname: str = DBNAME) -> Conn:
        return Conn(host=HOST, port=self.port, user=SUPERUSER, dbname=dbname, password=self.password)


# --- where things are ---------------------------------------------------------

def server_os_user() -> pwd.struct_passwd | None:
    """Whom the server runs as: ourselves, or `postgres` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        raise DemoError("running as root needs the system user postgres to run the demo server: "
                        "install the Debian package postgresql, or run as a normal user") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


# --- running server programs (postgres/server.py starts them) -----------------

def _as_user() -> str | None:
    user = server_os_user()
    return user.pw_name if user else None


def _pg_ctl(cluster: "DemoCluster", *args: str) -> Ran:
    try:
        return server.pg_ctl(cluster.data_dir, *args, as_user=_as_user())
    except server.ServerProgramsMissing as exc:
        raise DemoError(str(exc)) from None


def _ok(result: Ran, what: str) -> Ran:
    if not result.ok:
        detail = last_lines(result.stderr or result.stdout, 4) or f"exit status {result.returncode}"
        raise DemoError(f"{what} failed: {detail}")
    return result


def _private_file(path: Path, text: str, *, owner: pwd.struct_passwd | None = None) -> None:
    """Write a 0600 file in one step (never a moment with other permissions)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if owner:
        os.chown(tmp, owner.pw_uid, owner.pw_gid)
    os.replace(tmp, path)


def _reachable_by(user: pwd.struct_passwd, folder: Path) -> bool:
    return server.can_use(folder, as_user=user.pw_name)


def _cluster_home(directory: Path) -> Path:
    """The server's own folder: inside `directory`, or in postgres's home when it cannot reach there."""
    user = server_os_user()
    home = directory / "cluster"
    if not user:
        home.mkdir(mode=0o700, exist_ok=True)
        return home
    directory.chmod(0o711)  # postgres may pass through to its own folder, but list nothing
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, user.pw_uid, user.pw_gid)
    if _reachable_by(user, home):
        return home
    home.rmdir()
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    home = Path(user.pw_dir) / f"backupconsole-demo-{digest}"
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, user.pw_uid, user.pw_gid)
    if not _reachable_by(user, home):
        raise DemoError(f"the postgres user cannot use {home}; set DEMO_PG_DIR to a folder it can reach")
    return home


# --- the cluster's life --------------------------------------------------------

def read_env_file(path: Path) -> dict[str, str]:
    return env_files.read_env_file(path, _ENV_KEYS)


def _write_env_file(cluster: DemoCluster) -> None:
    lines = [
        "# The demo PostgreSQL cluster of the backup console. Private: it holds the password.",
        f"DB_HOST={HOST}",
        f"DB_PORT={cluster.port}",
        f"DB_NAME={DBNAME}",
        f"DB_USER={SUPERUSER}",
        f"DB_PASSWORD={cluster.password}",
        f"DEMO_PG_DATA={cluster.data_dir}",
    ]
    _private_file(cluster.env_file, "\n".join(lines) + "\n")


def load(*, directory: Path) -> DemoCluster | None:
    """The cluster described by directory/demo.env, or None when there is none yet."""
    path = directory / ENV_FILE
    if not path.exists():
        return None
    v = read_env_file(path)
    try:
        return DemoCluster(directory=directory, data_dir=Path(v["DEMO_PG_DATA"]), port=int(v["DB_PORT"]),
                           password=v["DB_PASSWORD"])
    except (KeyError, ValueError):
        raise DemoError(f"{path} is damaged; stop the demo cluster and remove {directory} to start over") from None


def _init(directory: Path) -> DemoCluster:
    home = _cluster_home(directory)
    data = home / "data"
    if (data / "PG_VERSION").exists():
        raise DemoError(f"{data} holds a cluster but {directory / ENV_FILE} is missing; "
                        f"remove {home} to start over")
    cluster = DemoCluster(directory=directory, data_dir=data, port=free_port(),
                          password=secrets.token_urlsafe(24))
    owner = server_os_user()
    pwfile = home / ".pwfile"
    _private_file(pwfile, cluster.password + "\n", owner=owner)
    try:
        _ok(server.initdb(data, superuser=SUPERUSER, pwfile=pwfile, as_user=_as_user()), "creating the demo cluster")
    except server.ServerProgramsMissing as exc:
        raise DemoError(str(exc)) from None
    finally:
        pwfile.unlink(missing_ok=True)
    # TCP on loopback only, with a password; no Unix socket, whose path could exceed the
    # 107-byte limit in a deep project folder.
    with open(data / "postgresql.conf", "a") as f:
        f.write(f"\n# demo cluster of the backup console\nlisten_addresses = '{HOST}'\n"
                f"unix_socket_directories = ''\ninclude_if_exists = '{PORT_FILE}'\n")
    _write_env_file(cluster)
    return cluster


def is_running(cluster: DemoCluster) -> bool:
    return _pg_ctl(cluster, "status").ok


def _start(cluster: DemoCluster) -> DemoCluster:
    if not port_is_free(cluster.port):
        cluster = DemoCluster(directory=cluster.directory, data_dir=cluster.data_dir, port=free_port(),
                              password=cluster.password)
    # Rewritten at every start, so clusters made before these settings get them too: a demo holds little,
    # and PostgreSQL's default lets its write-ahead log alone grow to a gigabyte.
    _private_file(cluster.data_dir / PORT_FILE, f"port = {cluster.port}\nmax_wal_size = 64MB\n"
                  "min_wal_size = 32MB\n", owner=server_os_user())
    _write_env_file(cluster)
    _ok(_pg_ctl(cluster, "-l", str(cluster.home / "server.log"), "-w", "-t", "60", "start"),
        "starting the demo server")
    return cluster


def cluster_ensure(*, directory: Path) -> DemoCluster:
    """Create the demo cluster when missing and start it when stopped."""
    directory = directory.resolve()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cluster = load(directory=directory) or _init(directory)
    if not (cluster.data_dir / "PG_VERSION").exists():
        raise DemoError(f"the demo cluster's data folder {cluster.data_dir} is gone; remove {directory} to start over")
    if not is_running(cluster):
        cluster = _start(cluster)
    return cluster


def cluster_remove(*, directory: Path) -> list[Path]:
    """Stop the demo cluster and delete it: its server's folder (wherever it had to live) and `directory`.

    Only folders this module makes are removed: `directory` holding demo.env, and the server's own
    folder, `directory/cluster` or `backupconsole-demo-*` in the postgres user's home. Returns them.
    """
    import shutil

    directory = directory.resolve()
    cluster = load(directory=directory)
    if cluster is None:
        raise DemoError(f"there is no demo cluster in {directory} ({directory / ENV_FILE} is missing)")
    if is_running(cluster):
        _ok(_pg_ctl(cluster, "-m", "fast", "-w", "stop"), "stopping the demo server")
    home = cluster.home.resolve()
    if home != directory / "cluster" and not home.name.startswith("backupconsole-demo-"):
        raise DemoError(f"{home} does not look like a folder the demo made; remove it by hand")
    removed = []
    for folder in (home, directory):
        if folder.exists():
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def cluster_stop(*, directory: Path) -> bool:
    """Stop the demo cluster; False when there was none running."""
    cluster = load(directory=directory.resolve())
    if cluster is None or not is_running(cluster):
        return False
    _ok(_pg_ctl(cluster, "-m", "fast", "-w", "stop"), "stopping the demo server")
    return True
