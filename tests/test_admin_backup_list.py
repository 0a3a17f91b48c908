"""The backup list and page: badges, sizes, progress, self-refresh, read-only facts, bounded queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backups_app.models import BackupRecord, DatabaseTarget
from backups_app.services.setup.roles import BACKUP_OPERATORS
from tests.admin_support import changelist

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

LIST = changelist("backuprecord")


@pytest.fixture
def target(db):
    return DatabaseTarget.objects.create(name="main", dbname="trading_system")


def backup(target, **fields):
    defaults = dict(backup_type="daily", format="custom", status="succeeded",
                    path="database/daily/trading_system_daily_20260101_020000_1.dump", size_bytes=3 * 1024 ** 3,
                    duration_seconds=754)
    return BackupRecord.objects.create(target=target, **{**defaults, **fields})


def test_a_succeeded_backup_shows_badge_human_size_and_duration(superuser_client, target):
    backup(target)
    html = superuser_client.get(LIST).content.decode()
    assert 'class="bc-status bc-status-succeeded"' in html
    assert "3.0 GiB" in html
    assert "12 min 34 s" in html
    assert "bc-refresh-note" not in html and "backups_app/refresh.js" not in html
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_change", args=[BackupRecord.objects.get().pk]))
    assert "trading_system_daily_20260101_020000_1.dump" in page.content.decode()  # the file: on its own page


def test_a_running_backup_shows_bytes_written_and_elapsed_and_the_list_refreshes(superuser_client, target):
    started = timezone.now() - timedelta(seconds=125)
    backup(target, status="running", path="", size_bytes=None, duration_seconds=None, started_at=started,
           bytes_written=5 * 1024 ** 2)
    html = superuser_client.get(LIST).content.decode()
    assert "5.0 MiB written" in html and "running for 2 min 0" in html
    assert "bc-refresh-note" in html and "backups_app/refresh.js" in html
    assert '<meta http-equiv="refresh" content="5">' in html  # for browsers without JavaScript


def test_a_queued_backup_says_it_waits_for_a_worker(superuser_client, target):
    backup(target, status="queued", path="", size_bytes=None, duration_seconds=None)
    html = superuser_client.get(LIST).content.decode()
    assert "waiting for a worker for" in html and "backups_app/refresh.js" in html


def test_a_failed_backup_shows_its_first_line_in_the_list_and_the_whole_error_on_its_page(superuser_client, target):
    error = "pg_dump failed: permission denied for table secrets\nsecond line of detail\nthird line"
    record = backup(target, status="failed", path="", size_bytes=None, error=error)
    html = superuser_client.get(LIST).content.decode()
    assert "pg_dump failed: permission denied for table secrets</span>" in html
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_change", args=[record.pk])).content.decode()
    assert "permission denied for table secrets<br>second line of detail<br>third line" in page


def test_filters_search_and_date_hierarchy(superuser_client, target):
    backup(target, path="database/daily/alpha_1.dump")
    backup(target, status="failed", path="database/daily/beta_2.dump")
    DatabaseTarget.objects.create(name="other", dbname="other")  # a target filter needs two to choose from
    html = superuser_client.get(LIST).content.decode()
    assert '<nav class="toplinks">' in html  # the date hierarchy
    for name in ("status__exact", "backup_type__exact", "format__exact", "target__id__exact"):
        assert f"?{name}=" in html
    alpha, beta = BackupRecord.objects.get(path__contains="alpha"), BackupRecord.objects.get(path__contains="beta")

    def shown(**params):
        return list(superuser_client.get(LIST, params).context["cl"].result_list)

    assert shown(status__exact="failed") == [beta]
    assert shown(q="alpha_1") == [alpha]
    year = timezone.localtime(alpha.created_at).year
    assert set(shown(created_at__year=year)) == {alpha, beta}
    assert shown(created_at__year=year - 1) == []


def test_nobody_adds_or_deletes_a_backup_record_by_hand(superuser_client, target):
    record = backup(target)
    assert superuser_client.get(reverse("admin:backups_app_backuprecord_add")).status_code == 403
    assert superuser_client.get(reverse("admin:backups_app_backuprecord_delete", args=[record.pk])).status_code == 403


def test_the_facts_of_a_record_cannot_be_edited_even_with_change_permission(as_role, target):
    record = backup(target)
    client = as_role(BACKUP_OPERATORS)
    url = reverse("admin:backups_app_backuprecord_change", args=[record.pk])
    form = client.get(url).context["adminform"].form
    assert list(form.fields) == []
    client.post(url, {"size_bytes": "1", "sha256": "0" * 64, "status": "failed", "pinned": "on"})
    fresh = BackupRecord.objects.get(pk=record.pk)
    assert (fresh.size_bytes, fresh.sha256, fresh.status, fresh.pinned) == (
        record.size_bytes, record.sha256, record.status, record.pinned)


def count_list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST).status_code == 200
    return len(queries)


def test_the_list_makes_no_query_per_row(superuser_client, target):
    other = DatabaseTarget.objects.create(name="other", dbname="other")
    backup(target, status="running", started_at=timezone.now())
    few = count_list_queries(superuser_client)
    for i in range(60):
        backup(target if i % 2 else other, status=["succeeded", "failed", "running", "queued"][i % 4],
               started_at=timezone.now())
    assert count_list_queries(superuser_client) == few


def test_a_running_backups_own_page_links_to_its_live_progress_and_a_finished_ones_does_not(superuser_client,
                                                                                             target):
    running = backup(target, status="running", started_at=timezone.now(), bytes_written=1024)
    done = backup(target)
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_change", args=[running.pk]))
    assert b"1.0 KiB written" in page.content
    assert f'href="/admin/jobs/backup/{running.pk}/"'.encode() in page.content  # watched there, without reloads
    assert b"backups_app/refresh.js" not in page.content
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_change", args=[done.pk]))
    assert b"backups_app/refresh.js" not in page.content and b"/admin/jobs/backup/" not in page.content
    assert b'name="_save"' not in page.content


@pytest.mark.parametrize(("role", "buttons"), [
    ("Backup viewers", set()),
    ("Backup operators", {"bc-verify", "bc-pin"}),
    ("Restore operators", {"bc-restore", "bc-download"}),
])
def test_a_backups_page_has_the_buttons_its_reader_may_use(as_role, target, role, buttons):
    record = backup(target)
    page = as_role(role).get(reverse("admin:backups_app_backuprecord_change", args=[record.pk])).content.decode()
    shown = {css for css in ("bc-restore", "bc-verify", "bc-pin", "bc-unpin", "bc-download") if f'class="{css}' in page}
    assert shown == buttons
    assert "Change backup" not in page and f"Backup #{record.pk} of {target.name}" in page
