"""Encrypted backups (age): made, decrypted by the standard tool, restored, verified, refused when wrong."""

import os
import stat
import subprocess

import pytest

from backups_app.services.backups import dump
from tests.dbcompare import object_counts, row_counts
from tests.restore_helpers import dropping, flip_byte, make_backup, run_restore, run_verify

pytestmark = pytest.mark.django_db


def keygen(path) -> str:
    """A new age key pair: the private key in `path` (0600), the public key returned."""
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    return subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def age_key(tmp_path, settings):
    """The console's private key file and its public key."""
    key = tmp_path / "keys" / "console.key"
    key.parent.mkdir()
    public = keygen(key)
    settings.BACKUP_AGE_IDENTITY_FILE = str(key)
    settings.BACKUP_SCRATCH_DIR = str(tmp_path / "scratch")
    return key, public


@pytest.fixture
def encrypted_target(make_target, pagila, age_key):
    return make_target(pagila, name="pagila-enc", encrypt=True, age_recipients=age_key[1])


def age_decrypt(key, path) -> subprocess.Popen:
    return subprocess.Popen(["age", "--decrypt", "-i", str(key), str(path)], stdout=subprocess.PIPE)


def test_an_encrypted_backup_is_an_age_file_the_standard_tool_decrypts(encrypted_target, age_key, backup_root):
    record = make_backup(encrypted_target)
    path = record.absolute_path
    assert record.encrypted and path.name.endswith(".dump.age")
    assert path.read_bytes()[:21] == b"age-encryption.org/v1"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    decrypt = age_decrypt(age_key[0], path)
    listing = subprocess.run(["pg_restore", "--list"], stdin=decrypt.stdout, capture_output=True, text=True)
    decrypt.stdout.close()
    decrypt.wait()
    assert listing.returncode == 0, listing.stderr
    assert "TABLE DATA public rental" in listing.stdout
