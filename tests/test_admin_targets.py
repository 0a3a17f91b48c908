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


def test_a_target_made_for_safety_backups_stays_out_of_the_list_unless_asked_for(superuser_client):
    DatabaseTarget.objects.create(name="main", dbname="main")
    DatabaseTarget.objects.create(name="main-restored-copy", dbname="restored_copy", is_active=False,
                                  for_safety_backups=True)
    names = {t.name for t in superuser_client.get(changelist("databasetarget")).context["cl"].result_list}
    assert names == {"main"}
    shown = superuser_client.get(changelist("databasetarget") + "?safety=all").context["cl"].result_list
    assert {t.name for t in shown} == {"main", "main-restored-copy"}


def test_each_row_names_database_at_host_and_port_and_can_back_up_at_once(superuser_client):
    target = DatabaseTarget.objects.create(name="shop", dbname="shop", host="db.example.internal", port=6543)
    page = superuser_client.get(changelist("databasetarget")).content.decode()
    assert "shop@db.example.internal:6543" in page
    assert f'formaction="/admin/backups_app/databasetarget/{target.pk}/backup-now/?quick=1"' in page


def test_back_up_now_from_a_row_queues_one_backup_and_opens_its_job(superuser_client,
                                                                    django_capture_on_commit_callbacks):
    target = DatabaseTarget.objects.create(name="shop", dbname="shop")
    with django_capture_on_commit_callbacks(execute=False):
        response = superuser_client.post(reverse("admin:backups_app_databasetarget_backup_now", args=[target.pk])
                                         + "?quick=1")
    [record] = BackupRecord.objects.all()
    assert (record.backup_type, record.format, record.status) == ("manual", "custom", "queued")
    assert response["Location"] == f"/admin/jobs/backup/{record.pk}/"
