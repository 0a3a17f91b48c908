"""End to end in a real browser: log in, back up pagila with `backup_now`, restore it with `restore_backup`, compare.

Debian's chromium driven by Playwright against `manage.py runconsole` (gunicorn
and a real qcluster) on a throwaway console database. A screenshot of the
backup list is kept in test-artifacts/.
"""

import pytest

from tests.browser_support import CHROMIUM, add_superuser, log_in, screenshot
from tests.dbcompare import row_counts
from tests.pgcluster import free_port

pytest_plugins = ["tests.browser_support"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.requires(CHROMIUM, package="chromium"),
]


@pytest.fixture
def running_console(console, pg_cluster, pagila):
    password = add_superuser(console)
    target_id = console.add_target("pagila", dbname=pagila, cluster=pg_cluster)
    port = free_port()
    console.start_runconsole(port)
    return {"url": f"http://127.0.0.1:{port}", "password": password, "target_id": target_id}


def run_action(page, changelist_url, pk, action):
    """Tick one row of a changelist and run an admin action on it (the intermediate page comes next)."""
    page.goto(changelist_url)
    page.check(f"input[name=_selected_action][value='{pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_load_state()


def submit_intermediate_form(page, choices: dict):
    """Pick the given option values wherever a select offers them; keep every other default; confirm."""
    for select in page.query_selector_all("form select"):
        values = select.eval_on_selector_all("option", "os => os.map(o => o.value)")
        for value in choices.values():
            if value in values:
                select.select_option(value)
    page.locator("form:has(input[name=apply]) [type=submit]").click()
    page.wait_for_load_state()


def wait_for_status(console, table, ids_query, *, timeout):
    def ended():
        rows = console.rows(f"SELECT id, status, error FROM {table} WHERE {ids_query} ORDER BY id DESC")
        return rows if rows and rows[0]["status"] in ("succeeded", "failed") else None
    return console.wait(ended, timeout=timeout, interval=0.5, what=f"a job in {table} to end")[0]


def test_an_operator_backs_up_and_restores_pagila_from_the_browser(console, running_console, browser, pg_cluster,
                                                                    pagila):
    url = running_console["url"]
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(20_000)
    log_in(page, url, running_console["password"])

    run_action(page, f"{url}/admin/backups_app/databasetarget/", running_console["target_id"], "backup_now")
    submit_intermediate_form(page, {"type": "manual", "format": "custom"})
    backup = wait_for_status(console, "backups_app_backuprecord", "1=1", timeout=180)
    assert backup["status"] == "succeeded", backup["error"]

    page.goto(f"{url}/admin/backups_app/backuprecord/")
    row = page.locator(f"#result_list tr:has(input[value='{backup['id']}'])")
    assert "succeeded" in row.inner_text().lower()
    screenshot(page, "backup-list.png")

    run_action(page, f"{url}/admin/backups_app/backuprecord/", backup["id"], "restore_backup")
    submit_intermediate_form(page, {})
    restore = wait_for_status(console, "backups_app_restorerecord", f"backup_id = {backup['id']}", timeout=300)
    into = console.rows("SELECT target_database FROM backups_app_restorerecord WHERE id = ?", [restore["id"]])[0]
    try:
        assert restore["status"] == "succeeded", restore["error"]
        assert into["target_database"] != pagila
        assert row_counts(pg_cluster, into["target_database"]) == row_counts(pg_cluster, pagila)
    finally:
        pg_cluster.dropdb(into["target_database"])
