"""The one storage interface (services/storage/objects.py), held to the same promises by every kind.

Each test runs against S3 (moto_server), Google Cloud Storage
(fake-gcs-server) and SFTP (OpenSSH's sshd), started for the module, through
the console's own store for that kind and nothing else: a file goes in whole
and checked by the store's own checksum where it keeps one, is listed, read
back hashed, fetched, refused when its bytes or its label are not the
backup's, and deleted; what an interrupted upload leaves is never an object
and is cleaned away.
"""

import hashlib
import os

import pytest

from backups_app.models import BackupStorage
from backups_app.services.storage import offsite
from backups_app.services.storage.objects import ChecksumMismatch, StorageError
from tests.storage_kinds import KINDS, REMOTES

pytestmark = pytest.mark.requires("sshd", "ssh-keygen", package="openssh-server")


@pytest.fixture(scope="module", params=KINDS)
def server(request, tmp_path_factory):
    remote = REMOTES[request.param](tmp_path_factory.mktemp(request.param)).start().prepare()
    yield remote
    remote.close()


@pytest.fixture
def store(server, monkeypatch, settings):
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    settings.OFFSITE_PART_MB = 5
    remote = offsite.store(BackupStorage(**server.fields()))
    yield remote
    remote.close()


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "x.dump"
    path.write_bytes(os.urandom(11 * 1024 * 1024 + 7))  # three parts or chunks of 5 MB
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_goes_in_whole_confirmed_by_what_the_store_keeps_and_comes_back_hashed(server, store, big_file,
                                                                                     tmp_path):
    path, sha256 = big_file
    key = store.key_for("database/manual/x.dump")
    info = store.put_file(path, key, sha256=sha256)
    assert (info.size, info.sha256) == (path.stat().st_size, sha256)
    assert info.confirmation.startswith("confirmed by"), info.confirmation
    assert key in server.keys() and server.label(key) == sha256
    assert hashlib.sha256(server.read(key)).hexdigest() == sha256
    assert store.keys("database/") == [key]
    assert store.head(key).sha256 == sha256
    assert store.fetch(key, tmp_path / "back", sha256=sha256) == path.stat().st_size
    assert (tmp_path / "back").read_bytes() == path.read_bytes()
    store.delete(key)
    assert store.head(key) is None and server.keys() == []
    store.delete(key)  # gone is fine


def test_a_tampered_object_is_refused_at_its_end_and_a_wrong_label_before_its_first_byte(server, store, big_file,
                                                                                       tmp_path):
    path, sha256 = big_file
    key = store.key_for("database/manual/t.dump")
    store.put_file(path, key, sha256=sha256)
    with pytest.raises(ChecksumMismatch, match="is labelled sha256"):
        store.open(key, sha256="0" * 64)
    server.tamper(key)
    with pytest.raises(ChecksumMismatch, match="does not match its checksum"):
        store.fetch(key, tmp_path / "back", sha256=sha256)
    assert not (tmp_path / "back").exists()
    store.delete(key)


def test_a_file_that_changed_since_its_sha256_was_taken_is_not_published(server, store, big_file):
    path, sha256 = big_file
    with open(path, "r+b") as f:
        f.write(b"changed")
    key = store.key_for("database/manual/c.dump")
    with pytest.raises(StorageError):
        store.put_file(path, key, sha256=sha256)
    assert store.head(key) is None and server.keys() == []


def test_what_an_interrupted_upload_leaves_is_no_object_and_is_cleaned_away(server, store):
    key = store.key_for("database/manual/u.dump")
    left = store.leave_unfinished(key)
    assert store.head(key) is None and store.keys("database/") == []
    assert store.abort_unfinished(key) == (1 if left else 0)
    assert server.unfinished() == []


def test_a_missing_bucket_or_folder_is_said_as_such(server, store, monkeypatch):
    change = server.missing_place()
    broken = offsite.store(BackupStorage(**server.fields(**change["fields"])))
    with pytest.raises(StorageError) as failed:
        broken.put_bytes(broken.key_for("database/x"), b"x", sha256=hashlib.sha256(b"x").hexdigest())
    assert failed.value.cause in ("bucket", "path"), failed.value
    assert server.keys() == []


@pytest.mark.parametrize(("fields", "refused"), [
    ({"kind": "gcs"}, "bucket"),
    ({"kind": "sftp", "host": "backup.example.internal", "username": "bc"}, "key_file_env"),
    ({"kind": "sftp", "host": "bc@backup.example.internal:22", "username": "bc", "key_file_env": "K"}, "host"),
    ({"kind": "folder", "prefix": "relative/folder"}, "prefix"),
])
def test_a_storage_of_each_kind_is_refused_without_what_it_needs(db, fields, refused):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as failed:
        BackupStorage(name="offsite", **fields).full_clean()
    assert refused in failed.value.message_dict
