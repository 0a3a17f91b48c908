"""One face for every kind of offsite storage the tests run: S3 (moto_server), GCS (fake-gcs-server), SFTP (sshd),
a folder on this host.

A test written against `Remote` runs unchanged against each kind (the
`remote` fixture of tests/storage_fixtures.py is parametrised by kind):

    remote.fields()          the BackupStorage fields of a storage on this server (name "offsite", the default)
    remote.env               the variables those fields name, with the credentials in them
    remote.keys()            every complete object, by the key the console gives it
    remote.read(key), remote.label(key), remote.tamper(key)
    remote.unfinished()      what interrupted uploads left (S3's multipart uploads, SFTP's temporary files)
    remote.stop(), remote.start()
    remote.port, remote.via(port)   the server's TCP port, and the fields of a storage reaching it through a proxy

and the faults a storage can have, each as the fields (or variables) of a
storage that has it: wrong_credentials(), missing_place(), read_only().
"""

import shutil
from pathlib import Path

from tests.faultkit import flip_byte
from tests.gcsserver import FakeGcs
from tests.s3server import BUCKET, CREDENTIALS, PREFIX, S3Server, storage_fields
from tests.sftpserver import SftpServer, keygen

GCS_KEY_ENV = "BC_TEST_GCS_KEY_FILE"
SFTP_KEY_ENV = "BC_TEST_SFTP_KEY_FILE"


class Remote:
    kind = ""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def key(self, relative: str) -> str:
        return f"{PREFIX}/{relative}"

    def close(self) -> None:
        self.stop()


class ServedRemote(Remote):
    """A remote behind a test server of its own (self.server): started, given its bucket, stopped."""

    server = None

    @property
    def port(self) -> int:
        return self.server.port

    def start(self):
        self.server.start()
        return self

    def prepare(self):
        self.server.create_bucket()
        return self

    def stop(self) -> None:
        self.server.stop()


class S3Remote(ServedRemote):
    kind = "s3"

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.server = S3Server(folder / "moto_server.log")
        self.env = dict(CREDENTIALS)

    def fields(self, **fields) -> dict:
        return storage_fields(self.server, **fields)

    def via(self, port: int) -> dict:
        return self.fields(endpoint_url=f"http://127.0.0.1:{port}")

    def keys(self) -> list[str]:
        return self.server.keys()

    def read(self, key: str) -> bytes:
        return self.server.read(key)

    def label(self, key: str) -> str:
        return self.server.head(key)["Metadata"]["sha256"]

    def tamper(self, key: str) -> None:
        self.server.tamper(key)

    def clear(self) -> None:
        for key in self.keys():
            self.server.client().delete_object(Bucket=BUCKET, Key=key)

    def unfinished(self) -> list[str]:
        answer = self.server.client().list_multipart_uploads(Bucket=BUCKET)
        return [u["Key"] for u in answer.get("Uploads", [])]

    def wrong_credentials(self) -> dict:
        """A key pair the store does not know (moto checks keys once IAM is enforced)."""
        self.server.enforce_policies()
        return {"env": {name: "not-the-key" for name in CREDENTIALS},
                "undo": lambda: self.server.enforce_policies(False)}

    def missing_place(self) -> dict:
        return {"fields": {"bucket": "no-such-bucket"}}

    def read_only(self) -> dict:
        """A key whose policy lets it read and list, not write (moto checks IAM from here on)."""
        from tests.s3server import docs_policy

        policy = docs_policy()
        for statement in policy["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a != "s3:PutObject"]
        key = self.server.iam_user("read-only", policy)
        self.server.enforce_policies()
        names = list(CREDENTIALS)
        return {"env": {names[0]: key["AccessKeyId"], names[1]: key["SecretAccessKey"]},
                "undo": lambda: self.server.enforce_policies(False)}


class GcsRemote(ServedRemote):
    kind = "gcs"

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.server = FakeGcs(folder)
        self.env = {GCS_KEY_ENV: str(self.server.key_file)}

    def close(self) -> None:
        self.server.close()

    def fields(self, **fields) -> dict:
        return {"name": "offsite", "kind": "gcs", "endpoint_url": self.server.endpoint, "bucket": BUCKET,
                "prefix": PREFIX, "key_file_env": GCS_KEY_ENV, "is_default": True, **fields}

    def via(self, port: int) -> dict:
        return self.fields(endpoint_url=f"http://127.0.0.1:{port}")

    def keys(self) -> list[str]:
        return self.server.keys()

    def read(self, key: str) -> bytes:
        return self.server.read(key)

    def label(self, key: str) -> str:
        return self.server.metadata(key)["sha256"]

    def tamper(self, key: str) -> None:
        self.server.tamper(key)

    def clear(self) -> None:
        for key in self.keys():
            self.server.blob(key).delete()

    def unfinished(self) -> list[str]:
        return []  # a resumable upload that was not finished is no object; it expires on its own

    def wrong_credentials(self) -> dict:
        """Another service account's key: the token endpoint refuses it, as Google does (invalid_grant)."""
        from tests.gcsserver import service_account_key

        other = service_account_key(self.folder / "other-account.json", self.server.tokens.uri)
        return {"env": {GCS_KEY_ENV: str(other)}}

    def missing_place(self) -> dict:
        return {"fields": {"bucket": "no-such-bucket"}}


class PlainFiles:
    """What a store of plain files keeps (SFTP, a folder): each object a file under `self.path`, its label
    beside it, temporary files while it is written."""

    def key(self, relative: str) -> str:
        return f"{str(self.path).lstrip('/')}/{relative}"

    def file(self, key: str) -> Path:
        return Path("/" + key)

    def keys(self) -> list[str]:
        return sorted(str(p)[1:] for p in self.path.rglob("*")
                      if p.is_file() and not p.name.endswith(".sha256") and ".partial-" not in p.name)

    def read(self, key: str) -> bytes:
        return self.file(key).read_bytes()

    def label(self, key: str) -> str:
        return Path(f"/{key}.sha256").read_text().split()[0]

    def tamper(self, key: str) -> None:
        path = self.file(key)
        flip_byte(path, path.stat().st_size // 2)

    def clear(self) -> None:
        for child in self.path.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    def unfinished(self) -> list[str]:
        return sorted(str(p) for p in self.path.rglob("*.partial-*"))


class SftpRemote(PlainFiles, ServedRemote):
    kind = "sftp"

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.server = SftpServer(folder / "sshd")
        self.path = self.server.root / "backups"
        self.env = {SFTP_KEY_ENV: str(self.server.client_key)}

    def prepare(self) -> "SftpRemote":
        self.path.mkdir(mode=0o700, exist_ok=True)
        return self

    def fields(self, **fields) -> dict:
        return {"name": "offsite", "kind": "sftp", "host": "127.0.0.1", "port": self.server.port,
                "username": self.server.user, "prefix": str(self.path), "key_file_env": SFTP_KEY_ENV,
                "known_hosts_file": str(self.server.known_hosts), "is_default": True, **fields}

    def via(self, port: int) -> dict:
        """Through a proxy on another port: known_hosts names the server at that port too (ssh-keyscan would)."""
        public = (self.server.folder / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        with open(self.server.known_hosts, "a") as f:
            f.write(f"[127.0.0.1]:{port} {' '.join(public)}\n")
        return self.fields(port=port)

    def wrong_credentials(self) -> dict:
        """A key the server does not know."""
        return {"env": {SFTP_KEY_ENV: str(keygen(self.folder / "stranger_key", "stranger"))}}

    def missing_place(self) -> dict:
        return {"fields": {"prefix": str(self.server.root / "no-such-folder")}}

    def read_only(self) -> dict:
        self.server.read_only()
        return {"undo": lambda: self.server.restart()}

    def other_host_key(self) -> dict:
        """known_hosts naming another key for this server: a server that is not the one it was, or a changed key."""
        other = keygen(self.folder / "other_host_key", "another host")
        public = (other.with_suffix(".pub")).read_text().split()[:2]
        changed = self.folder / "known_hosts_other_key"
        changed.write_text(f"[127.0.0.1]:{self.server.port} {' '.join(public)}\n")
        return {"fields": {"known_hosts_file": str(changed)}}

    def unknown_host(self) -> dict:
        """known_hosts without this server: the console must refuse it, never add it."""
        empty = self.folder / "known_hosts_without_it"
        empty.write_text("")
        return {"fields": {"known_hosts_file": str(empty)}}


class FolderRemote(PlainFiles, Remote):
    """A folder on this host: no server, the same files an SFTP server keeps."""

    kind = "folder"
    env: dict = {}

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.path = folder / "disk" / "backups"

    def start(self) -> "FolderRemote":
        return self

    def prepare(self) -> "FolderRemote":
        self.path.mkdir(parents=True, mode=0o700, exist_ok=True)
        return self

    def stop(self) -> None:
        pass

    def fields(self, **fields) -> dict:
        return {"name": "offsite", "kind": "folder", "prefix": str(self.path), "is_default": True, **fields}

    def missing_place(self) -> dict:
        return {"fields": {"prefix": str(self.folder / "not-mounted")}}


REMOTES = {"s3": S3Remote, "gcs": GcsRemote, "sftp": SftpRemote, "folder": FolderRemote}
NETWORK_KINDS = ["gcs", "s3", "sftp"]
KINDS = sorted(REMOTES)
