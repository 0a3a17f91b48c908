"""The prune previews name what goes from object storage too, not only the local files.

Real backups of pagila, uploaded to a real S3 server (moto_server); the
admin's "Prune now" page and `backup --cleanup --dry-run` both list, for each
backup they would delete, the objects pruning deletes with it.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from backups_app.models import BackupRecord, RetentionPolicy
from tests.restore_helpers import make_backup
from tests.s3server import BUCKET, PREFIX

pytest_plugins = ["tests.s3_fixtures", "tests.admin_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def old_and_new(pagila, make_target, backup_root, s3_storage):
    target = make_target(pagila)
    old, new = make_backup(target), make_backup(target)
    when = timezone.now() - timedelta(days=5)
    BackupRecord.objects.filter(pk=old.pk).update(created_at=when, finished_at=when)
    for record in (old, new):
        record.refresh_from_db()
        assert record.offsite_status == "uploaded", record.offsite_detail
    return target, old, new


def objects_of(record) -> list[str]:
    return [f"s3://{BUCKET}/{PREFIX}/{record.path}", f"s3://{BUCKET}/{PREFIX}/{record.globals_path}"]


def test_prune_now_lists_the_objects_it_deletes(superuser_client, old_and_new):
    target, old, new = old_and_new
    policy = RetentionPolicy.objects.create(name="one", target=target, keep_days=None, keep_last=1, min_keep=1)
    page = superuser_client.post(reverse("admin:backups_app_retentionpolicy_changelist"),
                                 {"action": "prune_now", "_selected_action": [policy.pk]}).content.decode()
    for url in objects_of(old):
        assert url in page
    assert f"s3://{BUCKET}/{PREFIX}/{new.path}" not in page, "a kept backup's objects are not listed"


def test_cleanup_dry_run_lists_the_objects_it_would_delete(old_and_new):
    _target, old, new = old_and_new
    out = StringIO()
    call_command("backup", "--cleanup", "--keep-days", "1", "--dry-run", stdout=out)
    line = next(li for li in out.getvalue().splitlines() if li.startswith(f"#{old.pk} "))
    assert f"{old.path} {' '.join(objects_of(old))}: would be deleted: older than 1 days" in line
    assert "s3://" not in next(li for li in out.getvalue().splitlines() if li.startswith(f"#{new.pk} "))
