"""A real SFTP server for tests: Debian's OpenSSH sshd on a free port, with its own host key and one authorized key.

    server = SftpServer(tmp_path / "sftp").start()
    server.known_hosts        # a known_hosts file naming the server's host key, as ssh-keyscan writes it
    server.client_key         # the private key the server accepts (its public half is authorized)
    server.root               # the folder the storage's path points into, as the server sees it
    server.read_only() / server.stop() / server.start()

sshd runs as the user running the tests (root in CI: it needs the
privilege separation folder /run/sshd) and serves only public-key logins
of that user with the key it made; the SFTP subsystem is sshd's own
internal-sftp, so `read_only()` restarts it with `internal-sftp -R`, as an
operator would refuse writes. Nothing but 127.0.0.1 is listened on.
"""

import getpass
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.pgcluster import free_port

SSHD = next((p for p in ("/usr/sbin/sshd", shutil.which("sshd") or "") if p and os.path.exists(p)), "sshd")


def keygen(path: Path, comment: str = "") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path


class SftpServer:
    START_SECONDS = 20

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = getpass.getuser()
        self.root = folder / "remote"
        self.root.mkdir(exist_ok=True)
        self.host_key = keygen(folder / "ssh_host_ed25519_key", "test host")
        self.client_key = keygen(folder / "client_key", "backup console")
        (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
        self.known_hosts = folder / "known_hosts"
        public = (folder / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {' '.join(public)}\n")
        self.proc = None
        self.sftp_flags = ""
        self.extra = ""  # sshd_config lines after the rest (a Match block)

    def config(self) -> Path:
        path = self.folder / "sshd_config"
        path.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}", "StrictModes no",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password", "UsePAM no", f"PidFile {self.folder / 'sshd.pid'}",
            f"Subsystem sftp internal-sftp {self.sftp_flags}".rstrip(), "LogLevel VERBOSE", self.extra, ""]))
        return path

    def start(self) -> "SftpServer":
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self._log = open(self.folder / "sshd.log", "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config())], stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.START_SECONDS
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"sshd did not start:\n{(self.folder / 'sshd.log').read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                return s.recv(4).startswith(b"SSH-")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self._log.close()

    def restart(self, *, sftp_flags: str = "") -> "SftpServer":
        self.stop()
        self.sftp_flags = sftp_flags
        return self.start()

    def authorize(self, public_key: Path) -> None:
        """Let this key log in too, as a line appended to authorized_keys does."""
        with open(self.folder / "authorized_keys", "a") as f:
            f.write(public_key.read_text())

    def read_only(self) -> "SftpServer":
        """sshd again, its SFTP subsystem refusing every write (internal-sftp -R)."""
        return self.restart(sftp_flags="-R")
