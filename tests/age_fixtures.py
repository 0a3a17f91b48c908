"""Fixtures of the encryption tests (load with pytest_plugins): an age key pair, and a target that encrypts with it."""

import subprocess

import pytest


def keygen(path) -> str:
    """A new age key pair: the private key in `path` (0600), the public key returned."""
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    return subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def age_key(tmp_path, settings, backup_root):
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
