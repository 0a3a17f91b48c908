"""Fixtures of the tests that run against every kind of offsite storage (load with pytest_plugins).

    def test_something(remote, remote_storage):   # once per kind: S3, GCS, SFTP (tests/storage_kinds.py)
        ...
        assert remote.keys() == [...]

`remote` is the kind's server, started for the test and stopped after it;
`remote_storage` the default BackupStorage on it, its credentials in the
variables it names, uploads retried quickly, this host's own scratch folder.
"""

import pytest

from tests.storage_kinds import KINDS, REMOTES


@pytest.fixture(params=KINDS)
def remote(request, tmp_path):
    server = REMOTES[request.param](tmp_path / f"remote-{request.param}").start().prepare()
    yield server
    server.close()


@pytest.fixture
def remote_env(remote, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in remote.env.items():
        monkeypatch.setenv(name, value)
    return remote.env


@pytest.fixture
def remote_storage(db, remote, remote_env, settings, tmp_path):
    from backups_app.models import BackupStorage

    settings.OFFSITE_RETRY_SECONDS = 0.05
    settings.OFFSITE_UPLOAD_ATTEMPTS = 1
    settings.BACKUP_SCRATCH_DIR = tmp_path / "scratch"
    return BackupStorage.objects.create(**remote.fields())
