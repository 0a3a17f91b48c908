"""The health dashboard on the admin index: one row per target, highlighted when stale, failed or anomalous."""

import re
from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backups_app.models import BackupSchedule, RestoreRecord, VerificationRecord
from backups_app.services.jobs import process
from backups_app.services.monitoring import anomaly, dashboard
from tests.retention_records import new_backup, new_target

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.admin_fixtures"]

MB = 1024 ** 2


def row(html: str, name: str) -> str:
    """The table row of one target (and the chart row after it)."""
    found = re.search(rf'<tr id="bc-target-{name}".*?</tr>\s*<tr class="bc-charts">.*?</tr>', html, re.S)
    assert found, f"no row for {name}"
    return found.group(0)


def flagged(html: str, name: str) -> bool:
    return "bc-attention" in re.search(rf'<tr id="bc-target-{name}" class="([^"]*)"', html).group(1)


@pytest.fixture
def fleet(backup_root, settings):
    """fresh, stale, failed (its last attempt) and anomalous targets, and one never backed up."""
    settings.BACKUP_SIZE_ANOMALY_PERCENT = 50
    fresh = new_target("fresh")
    for days in (3, 2, 1):
        new_backup(fresh, age_days=days + 0.1, size_bytes=100 * MB, duration_seconds=60)
    newest = new_backup(fresh, age_days=0.1, size_bytes=100 * MB, duration_seconds=75)
    BackupSchedule.objects.create(name="fresh-nightly", target=fresh, backup_type="daily", kind="daily",
                                  time_of_day=time(2, 30))
    RestoreRecord.objects.create(backup=newest, server=fresh, target_database="bc_drill_1", status="succeeded",
                                 is_drill=True, duration_seconds=42)
    VerificationRecord.objects.create(backup=newest, drill=True, status="succeeded", ok=True,
                                      finished_at=timezone.now())
    new_backup(new_target("stale"), age_days=3, size_bytes=50 * MB)
    failed = new_target("failed")
    new_backup(failed, age_days=0.5, size_bytes=10 * MB)
    new_backup(failed, age_days=0.1, status="failed", error="pg_dump: error: connection refused\nmore detail")
    odd = new_target("odd")
    for days in (4, 3, 2, 1):
        new_backup(odd, age_days=days, size_bytes=100 * MB)
    anomaly.flag_size_anomaly(record=new_backup(odd, age_days=0.1, size_bytes=30 * MB))
    new_target("never")
    new_target("retired", is_active=False)


def test_the_index_is_the_consoles_dashboard_with_its_own_name(superuser_client, fleet):
    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert "<title>Backup health | Backup Console</title>" in html
    assert '<a href="/admin/">Backup Console</a>' in html and "Django administration" not in html
    assert [m for m in re.findall(r'<tr id="bc-target-([\w-]+)"', html)] == ["failed", "fresh", "never", "odd",
                                                                           "stale"]


def test_in_japanese_the_name_and_the_dashboard_are_japanese(superuser_client, fleet):
    html = superuser_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "<title>バックアップの状態 | バックアップコンソール</title>" in html
    assert '<a href="/admin/">バックアップコンソール</a>' in html
    assert "データベースごとのバックアップ" in html and "4 件の対象に対応が必要です。" in html
    assert "サイズ異常: 中央値比 -70%" in row(html, "odd") and "4 件、400.0 MiB" in row(html, "fresh")


def test_a_fresh_target_shows_its_facts_and_is_not_highlighted(superuser_client, fleet):
    html = superuser_client.get(reverse("admin:index")).content.decode()
    fresh = row(html, "fresh")
    assert not flagged(html, "fresh")
    assert 'class="bc-ok"' in fresh and "2 h 24 min ago" in fresh
    assert "bc-status-succeeded" in fresh
    assert "4 backups, 400.0 MiB" in fresh
    assert "drill passed" in fresh and "last drill restored in 42 s" in fresh
    next_run = timezone.localtime().replace(hour=2, minute=30, second=0, microsecond=0)
    if next_run <= timezone.localtime():
        next_run += timedelta(days=1)
    assert f"{next_run:%m/%d/%Y} 2:30 a.m." in fresh


def test_a_stale_target_is_highlighted_with_the_reason(superuser_client, fleet):
    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert flagged(html, "stale")
    assert "newest restorable backup is 72.0 hours old; expected within 26.0 hours (default)" in row(html, "stale")
    assert "no restorable backup yet" in row(html, "never") and flagged(html, "never")
    assert "no schedule" in row(html, "stale") and "never verified" in row(html, "stale")


def test_a_target_whose_last_backup_failed_is_highlighted_with_the_error(superuser_client, fleet):
    html = superuser_client.get(reverse("admin:index")).content.decode()
    failed = row(html, "failed")
    assert flagged(html, "failed")
    assert "bc-status-failed" in failed and "pg_dump: error: connection refused" in failed
    assert "more detail" not in failed
    assert 'class="bc-ok"' in failed  # its last good backup is still recent
    assert '<p class="bc-failed" id="bc-attention">4 targets need attention.</p>' in html


def test_an_anomalous_last_backup_is_highlighted_and_its_bar_stands_out(superuser_client, fleet):
    html = superuser_client.get(reverse("admin:index")).content.decode()
    odd = row(html, "odd")
    assert flagged(html, "odd")
    assert "size anomaly: -70% vs. median" in odd
    assert odd.count('class="bc-bar bc-bar-hi"') == 1 and "30.0 MiB (-70%)</title>" in odd


def test_good_backups_not_copied_to_object_storage_are_counted_linked_and_highlighted(superuser_client,
                                                                                      backup_root):
    target = new_target("offsite")
    new_backup(target, age_days=0.3, size_bytes=MB, offsite_status="uploaded")
    new_backup(target, age_days=0.2, size_bytes=MB, offsite_status="failed")
    new_backup(target, age_days=0.1, size_bytes=MB, offsite_status="failed")
    new_backup(target, age_days=0.05, status="failed", offsite_status="failed")  # no file: nothing to copy
    new_backup(new_target("local"), age_days=0.1, size_bytes=MB)
    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert flagged(html, "offsite") and not flagged(html, "local")
    link = re.search(r'<a class="bc-failed bc-offsite-failed" href="([^"]+)">([^<]+)</a>', row(html, "offsite"))
    assert link.group(2) == "2 not copied to object storage"
    assert link.group(1) == (f"/admin/backups_app/backuprecord/?target__id__exact={target.pk}"
                             "&amp;offsite_status__exact=failed&amp;status__exact=succeeded")
    assert "bc-offsite-failed" not in row(html, "local")
    listed = superuser_client.get(link.group(1).replace("&amp;", "&"))
    assert listed.status_code == 200 and listed.context["cl"].result_count == 2
    japanese = superuser_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "2 件がオブジェクトストレージにコピーされていません" in row(japanese, "offsite")


def test_charts_are_inline_svg_of_the_last_90_backups(superuser_client, backup_root):
    busy = new_target("busy")
    for i in range(95):
        new_backup(busy, age_days=(95 - i) / 10, size_bytes=(i + 1) * MB, duration_seconds=i + 1, with_file=False)
    html = superuser_client.get(reverse("admin:index")).content.decode()
    charts = row(html, "busy")
    size, duration = re.findall(r"<svg .*?</svg>", charts, re.S)
    assert "Backup size, last 90 backups" in size and size.count('<rect class="bc-bar"') == 90
    assert ": 6.0 MiB</title>" in size and ": 5.0 MiB</title>" not in size  # the five oldest are left out
    assert "size, up to 95.0 MiB" in size
    assert "Backup duration, last 90 backups" in duration and "duration, up to 1 min 35 s" in duration
    assert "<script" not in html.split('id="bc-dashboard"')[1].split("</table>")[0]


def test_restore_durations_are_charted(superuser_client, backup_root):
    target = new_target("shop")
    backup = new_backup(target, size_bytes=MB)
    for seconds in (30, 45, 60):
        RestoreRecord.objects.create(backup=backup, server=target, target_database="copy", status="succeeded",
                                     duration_seconds=seconds)
    RestoreRecord.objects.create(backup=backup, server=target, target_database="copy", status="failed",
                                 duration_seconds=5)
    charts = row(superuser_client.get(reverse("admin:index")).content.decode(), "shop")
    assert "Restore duration, last 3 restores" in charts and "restore, up to 1 min 00 s" in charts


def test_disk_space_and_days_left_at_the_current_growth(superuser_client, backup_root, monkeypatch):
    from types import SimpleNamespace

    from backups_app.services.monitoring import disk

    usage = SimpleNamespace(total=100 * 2 ** 30, used=30 * 2 ** 30, free=70 * 2 ** 30)
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: usage)
    target = new_target("shop")
    for day in range(7):
        new_backup(target, age_days=day + 0.5, size_bytes=2 * 2 ** 30)  # 14 GiB in 14 days: 1 GiB a day
    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert f"Disk of host {process.host()}: 70.0 GiB free of 100.0 GiB under {backup_root}." in html
    assert "Backups grow by 1.0 GiB a day: about 70 days left." in html


def test_only_the_files_this_host_keeps_grow_its_disk(backup_root):
    from backups_app.services.monitoring import disk

    target = new_target("shop")
    new_backup(target, age_days=1, size_bytes=14 * MB, host=process.host())
    new_backup(target, age_days=2, size_bytes=28 * MB)  # made before hosts were named: here
    new_backup(target, age_days=1, size_bytes=1400 * MB, host="another-host")
    new_backup(target, age_days=1, size_bytes=1400 * MB, local_removed=True, offsite_status="uploaded",
               offsite_key="k")
    assert disk.disk_report().growth_per_day == 3 * MB


def test_viewers_see_the_dashboard_and_staff_without_a_role_do_not(as_role, fleet):
    assert 'id="bc-dashboard"' in as_role("Backup viewers").get(reverse("admin:index")).content.decode()


def test_staff_without_a_role_get_no_dashboard(as_role, fleet):
    response = as_role(None).get(reverse("admin:index"))
    assert response.status_code == 200 and 'id="bc-dashboard"' not in response.content.decode()


def test_the_number_of_queries_does_not_grow_with_targets_or_backups(superuser_client, backup_root):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert superuser_client.get(reverse("admin:index")).status_code == 200
        return len(captured)

    one = new_target("one")
    backup = new_backup(one, size_bytes=MB, with_file=False)
    RestoreRecord.objects.create(backup=backup, server=one, target_database="x", status="succeeded", duration_seconds=3)
    VerificationRecord.objects.create(backup=backup, status="succeeded", ok=True)
    few = queries()
    for i in range(8):
        target = new_target(f"t{i}")
        BackupSchedule.objects.create(name=f"s{i}", target=target, backup_type="daily", kind="daily",
                                      time_of_day=time(3, i))
        for day in range(12):
            backup = new_backup(target, age_days=day, size_bytes=MB, with_file=False,
                                status="failed" if day % 5 == 0 else "succeeded")
            RestoreRecord.objects.create(backup=backup, server=target, target_database="x", status="succeeded",
                                         duration_seconds=3, is_drill=True)
            VerificationRecord.objects.create(backup=backup, status="succeeded", ok=True)
    assert queries() == few <= 12


def test_a_target_whose_newest_backup_failed_verification_shows_its_last_restorable_one(superuser_client,
                                                                                        backup_root):
    shop = new_target("shop")
    good = new_backup(shop, age_days=0.5, size_bytes=MB)
    damaged = new_backup(shop, age_days=0.1, size_bytes=MB, last_verify_ok=False)
    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert flagged(html, "shop")
    assert "12 h 00 min ago" in row(html, "shop"), "the last good backup is the restorable one"
    assert (f"the newest backup #{damaged.pk} failed its last verification; the last restorable backup is "
            f"#{good.pk}, 12.0 hours old") in row(html, "shop")


def test_each_row_names_its_database_and_server(superuser_client, backup_root):
    new_backup(new_target("shop", host="db.example.internal", port=6543))
    assert "shop@db.example.internal:6543" in row(superuser_client.get(reverse("admin:index")).content.decode(), "shop")


def test_charts_have_a_time_axis_and_mark_the_failed_runs(superuser_client, backup_root):
    target = new_target("shop")
    for days in (3, 2):
        new_backup(target, age_days=days, size_bytes=MB, duration_seconds=10)
    new_backup(target, age_days=1, status="failed", duration_seconds=4, error="pg_dump: error")
    charts = row(superuser_client.get(reverse("admin:index")).content.decode(), "shop")
    assert charts.count('class="bc-chart-tick"') >= 4  # first and last day under each chart
    assert charts.count('class="bc-bar-failed"') == 2 and ": failed</title>" in charts


def test_drills_are_charted_apart_from_the_restores_people_asked_for(superuser_client, backup_root):
    target = new_target("shop")
    backup = new_backup(target, size_bytes=MB)
    RestoreRecord.objects.create(backup=backup, server=target, target_database="copy", status="succeeded",
                                 duration_seconds=30)
    RestoreRecord.objects.create(backup=backup, server=target, target_database="drill", status="succeeded",
                                 duration_seconds=50, is_drill=True)
    charts = row(superuser_client.get(reverse("admin:index")).content.decode(), "shop")
    assert "Restore duration, last 1 restores" in charts and "Drill restore duration, last 1 drills" in charts


def test_days_left_are_not_said_from_a_few_minutes_of_history(superuser_client, backup_root):
    new_backup(new_target("shop"), age_days=0.01, size_bytes=MB)
    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert "days left" not in html
    assert "Backups go back 0 days: how long the disk lasts is said after 3 days of history." in html


def test_many_days_left_are_said_in_words(superuser_client, backup_root, monkeypatch):
    from types import SimpleNamespace

    from backups_app.services.monitoring import disk

    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: SimpleNamespace(total=2 ** 50, used=0, free=2 ** 50))
    target = new_target("shop")
    for day in range(7):
        new_backup(target, age_days=day + 0.5, size_bytes=MB)
    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert "more than a year left" in html and "days left" not in html


def test_back_up_now_is_on_each_row_for_those_who_may_back_up(as_role, backup_root):
    new_backup(new_target("shop"))
    assert "bc-backup-now" in as_role("Backup operators").get(reverse("admin:index")).content.decode()
    assert "bc-backup-now" not in as_role("Backup viewers").get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_dashboards_words_write_sizes_and_durations_as_djangos_number_format_does(language):
    from django.utils import formats, translation

    from backups_app.admin.display import Words

    def size(n):  # with Django's number_format, as the console wrote sizes before Words
        value, unit = n / 1024, 0
        while abs(round(value, 1)) >= 1024 and unit < 7:
            value, unit = value / 1024, unit + 1
        return f"{formats.number_format(round(value, 1), 1)} {'KMGTPEZY'[unit]}iB"

    with translation.override(language):
        words = Words()
        for n in [1024, 1536, 1048575, 1048576, 5 * 1024 ** 3 + 7, -2048, 1024 ** 8 * 3]:
            assert words.size(n) == size(n)
        for s in [0.04, 9.94, 9.96]:
            assert words.duration(s) == translation.gettext("%(s)s s") % {"s": formats.number_format(round(s, 1), 1)}
        assert words.size(1) == translation.ngettext("%(n)d byte", "%(n)d bytes", 1) % {"n": 1}
        assert words.duration(3599) == translation.gettext("%(m)d min %(s)02d s") % {"m": 59, "s": 59}
    assert Words().size(1536) == "1.5 KiB" and Words().duration(3661) == "1 h 01 min"


def test_rows_past_the_first_get_their_charts_when_they_scroll_into_view(superuser_client, as_role, backup_root,
                                                                          monkeypatch):
    monkeypatch.setattr(dashboard, "CHARTS_WITH_THE_PAGE", 1)
    first, later = new_target("a-first"), new_target("b-later")
    for target in (first, later):
        for days in (2, 1):
            new_backup(target, age_days=days, size_bytes=days * MB, duration_seconds=60)
    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert "Backup size, last 2 backups" in row(html, "a-first")
    url = reverse("admin:backups_app_dashboard_charts", args=[later.pk])
    placeholder = re.search(r'<tr id="bc-target-b-later".*?</tr>\s*(<tr class="bc-charts bc-charts-later"[^>]*>)',
                            html, re.S)
    assert placeholder and f'hx-get="{url}"' in placeholder.group(1) and 'hx-trigger="revealed"' in placeholder.group(1)
    assert len(re.findall(r'<svg class="bc-[a-z-]*chart', html)) == 2  # the first row's size and duration charts

    charts = superuser_client.get(url).content.decode()
    assert charts.startswith('<tr class="bc-charts">') and charts.count("<svg ") == 2
    assert "Backup size, last 2 backups" in charts and "size, up to 2.0 MiB" in charts

    assert superuser_client.get(reverse("admin:backups_app_dashboard_charts", args=[10 ** 9])).status_code == 404
    assert as_role("Backup viewers").get(url).status_code == 200
    assert as_role(None).get(url).status_code == 403
