"""The target pages: the last good backup of each, and never a password."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backups_app.models import BackupRecord, DatabaseTarget
from tests.admin_support import changelist

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def test_each_target_shows_its_last_good_backup_or_never(superuser_client):
    good, bad = DatabaseTarget.objects.create(name="good", dbname="a"), DatabaseTarget.objects.create(
        name="bad", dbname="b")
    finished = timezone.now() - timedelta(hours=3)
    BackupRecord.objects.create(target=good, backup_type="daily", format="custom", status="succeeded",
                                finished_at=finished, path="database/daily/a.dump")
    BackupRecord.objects.create(target=good, backup_type="daily", format="custom", status="succeeded",
                                finished_at=timezone.now(), path="database/daily/b.dump", last_verify_ok=False)
    BackupRecord.objects.create(target=good, backup_type="daily", format="custom", status="failed",
                                finished_at=timezone.now())
    BackupRecord.objects.create(target=bad, backup_type="daily", format="custom", status="failed",
                                finished_at=timezone.now())
    cl = superuser_client.get(changelist("databasetarget")).context["cl"]
    last = {t.name: t.last_success_at for t in cl.result_list}
    assert last == {"good": finished, "bad": None}


def test_no_target_page_shows_the_password(superuser_client, monkeypatch):
    monkeypatch.setenv("BC_SECRET_FOR_PAGE", "s3cret-value-xyz")
    target = DatabaseTarget.objects.create(name="main", dbname="a", password_env="BC_SECRET_FOR_PAGE")
    for url in (changelist("databasetarget"), reverse("admin:backups_app_databasetarget_change", args=[target.pk])):
        html = superuser_client.get(url).content.decode()
        assert "s3cret-value-xyz" not in html
    assert "BC_SECRET_FOR_PAGE" in html  # the variable's name is shown, never its value
