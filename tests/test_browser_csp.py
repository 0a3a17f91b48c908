"""The admin works in a real browser under the Content-Security-Policy: no violation, the job list still refreshes."""

import pytest

from tests.browser_support import CHROMIUM, add_superuser
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
