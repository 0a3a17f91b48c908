"""Fixtures of the offsite tests (load with pytest_plugins): a moto_server, its credentials, the default storage,
a backup kept only there."""

import pytest

from tests.s3server import CREDENTIALS, SERVERS, S3Server, storage_fields


@pytest.fixture
def s3_server(tmp_path):
    server = S3Server(tmp_path / "moto_server.log").start()
    server.create_bucket()
    yield server
    server.stop()


@pytest.fixture(params=sorted(SERVERS))
def each_s3_server(request, tmp_path):
    """Each S3 implementation in turn (moto, rclone serve s3). A module runs its tests against both by
    defining its own `s3_server` fixture that returns this one."""
    server = SERVERS[request.param](tmp_path / f"{request.param}.log").start()
    server.create_bucket()
    yield server
    server.stop()


@pytest.fixture
def s3_credentials(monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    # The storage's own variables must be what is used, not a stray default chain.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return CREDENTIALS


@pytest.fixture
def s3_storage(db, s3_server, s3_credentials, settings, tmp_path):
    """The default storage: the test's S3 server; uploads retried quickly; this host's own scratch folder."""
    from backups_app.models import BackupStorage

    settings.OFFSITE_RETRY_SECONDS = 0.05
    settings.BACKUP_SCRATCH_DIR = tmp_path / "scratch"
    return BackupStorage.objects.create(**storage_fields(s3_server))


@pytest.fixture
def s3_only_backup(pagila, make_target, backup_root, s3_server, s3_storage):
    """A backup of pagila kept only in S3: the storage keeps no local copy."""
    from tests.restore_helpers import make_backup

    s3_storage.keep_local_copy = False
    s3_storage.save()
    backup = make_backup(make_target(pagila))
    backup.refresh_from_db()
    assert backup.local_removed and not backup.absolute_path.exists()
    return backup
