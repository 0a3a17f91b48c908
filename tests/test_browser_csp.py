"""The admin works in a real browser under the Content-Security-Policy: no violation, the job list still refreshes."""

import pytest

from tests.browser_support import CHROMIUM, add_superuser, log_in
from tests.pgcluster import free_port

pytest_plugins = ["tests.browser_support"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.requires(CHROMIUM, package="chromium"),
]

PAGES = ["/admin/", "/admin/backups_app/databasetarget/", "/admin/backups_app/retentionpolicy/",
         "/admin/backups_app/backupschedule/", "/admin/backups_app/databasetarget/add/"]


@pytest.fixture
def waiting_console(console):
    password = add_superuser(console)
    # A job waiting for a worker (never enqueued, so it stays so): its list reloads itself.
    console.shell("""
        from backups_app.models import BackupRecord, DatabaseTarget
        t = DatabaseTarget.objects.create(name="main", dbname="trading_system")
        BackupRecord.objects.create(target=t, backup_type="manual", format="custom", status="queued")
    """)
    port = free_port()
    console.start_runconsole(port)
    return f"http://127.0.0.1:{port}", password


def test_the_admin_runs_without_a_policy_violation_and_job_lists_refresh(browser, waiting_console):  # noqa: F811
    url, password = waiting_console
    page = browser.new_page()
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{url}/admin/")
    for path in PAGES:
        page.goto(url + path)
    page.goto(f"{url}/admin/backups_app/backuprecord/")
    assert page.locator(".bc-status-queued").count() == 1
    with page.expect_navigation(timeout=20_000):  # refresh.js reloads it (every 5 s while jobs wait)
        pass
    assert violations == []


def test_a_dashboard_of_many_rows_fetches_each_rows_charts_as_it_scrolls_into_view(browser, console):
    """Past the first rows the page leaves charts for later (dashboard.CHARTS_WITH_THE_PAGE): the browser gets
    them when a row is shown, under the Content-Security-Policy."""
    password = add_superuser(console)
    console.shell("""
        from backups_app.services.monitoring import dashboard
        from tests.retention_records import new_backup, new_target
        for i in range(dashboard.CHARTS_WITH_THE_PAGE + 5):
            target = new_target(f"db{i:03d}")
            for days in (2, 1):
                new_backup(target, age_days=days, size_bytes=(i + days) * 2 ** 20, duration_seconds=60)
    """)
    port = free_port()
    console.start_runconsole(port)
    url = f"http://127.0.0.1:{port}"
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(20_000)
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(page, url, password)
    later = page.locator("tr.bc-charts-later")
    assert later.count() == 5 and page.locator("#bc-target-db029 + tr.bc-charts-later").count() == 1
    charted = page.locator("svg.bc-chart").count()
    page.locator("#bc-target-db029").scroll_into_view_if_needed()
    page.locator("#bc-target-db029 + tr.bc-charts svg.bc-chart").first.wait_for()
    assert page.locator("svg.bc-chart").count() > charted
    assert "Backup size, last 2 backups" in page.locator("#bc-target-db029 + tr.bc-charts").inner_html()
    assert violations == []
