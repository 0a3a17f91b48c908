"""cron sees a failed copy to object storage: `backup` and `backup --check` exit 1 with one line on stderr.

The console runs as its own process (as cron starts it) against a real S3
server (moto_server) whose bucket does not exist yet, as in a first setup
that forgot to create it; once the bucket exists and the backup is copied
again, both exit 0.
"""

import pytest

from tests.console_process import console_env, manage
from tests.s3server import CREDENTIALS, storage_fields

pytest_plugins = ["tests.s3_fixtures"]

MISSING_BUCKET = "not-created-yet"


@pytest.fixture
def console(tmp_path, pg_cluster, pagila, s3_server):
    env = console_env(tmp_path, pg_cluster, pagila, OFFSITE_UPLOAD_ATTEMPTS=1, **CREDENTIALS)
    assert manage("migrate", "-v0", env=env).returncode == 0
    fields = storage_fields(s3_server, bucket=MISSING_BUCKET)
    made = manage("shell", "-c", f"from backups_app.models import BackupStorage; "
                                 f"BackupStorage.objects.create(**{fields!r})", env=env)
    assert made.returncode == 0, made.stderr
    return env


def test_a_backup_whose_upload_failed_exits_1_and_check_says_so_until_it_is_copied(console, s3_server):
    done = manage("backup", env=console)
    assert done.returncode == 1
    assert "/database/manual/" in done.stdout, "the backup itself is good and says where it is"
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("CommandError: backup #1 succeeded but was not copied to object storage: "
                                  "upload failed after 1 attempt; the local copy is kept: ")
    assert "NoSuchBucket" in done.stderr and "manage.py backup --copy-offsite" in done.stderr

    check = manage("backup", "--check", env=console)
    assert check.returncode == 1
    assert check.stdout.startswith("OFFSITE  default: 1 backups were not copied to object storage (offsite failed)")
    assert check.stderr == "CommandError: 1 of 1 targets are not healthy: default\n"

    s3_server.create_bucket(MISSING_BUCKET)
    assert manage("backup", "--copy-offsite", "1", env=console).returncode == 0
    check = manage("backup", "--check", env=console)
    assert check.returncode == 0 and check.stdout.startswith("ok     default: "), check.stdout + check.stderr
    again = manage("backup", env=console)
    assert again.returncode == 0 and again.stderr == "", again.stderr
