"""With DB_* set, a fresh console shows its database target on the first visit, in a real browser.

migrate and runconsole make the target; nobody has run a backup. Its name and
connection come from the environment, so the admin shows them read-only.
"""

import pytest

from tests.browser_support import CHROMIUM, logged_in_page

pytest_plugins = ["tests.browser_support"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.requires(CHROMIUM, package="chromium"),
]


def test_a_fresh_console_with_db_settings_shows_its_target_before_any_backup(tmp_path, pg_cluster, pagila,
                                                                              browser):  # noqa: F811
    from tests.qcluster import Console

    console = Console(tmp_path / "console", env={
        "DB_HOST": pg_cluster.host, "DB_PORT": str(pg_cluster.port), "DB_USER": pg_cluster.user,
        "DB_NAME": pagila, "DB_PASSWORD": pg_cluster.password,
    }).migrate()
    try:
        assert console.rows("SELECT name, dbname FROM backups_app_databasetarget") == [
            {"name": "default", "dbname": pagila}]  # made by migrate itself
        page, url = logged_in_page(console, browser)

        page.goto(f"{url}/admin/backups_app/databasetarget/")
        rows = page.locator("#result_list tbody tr")
        assert rows.count() == 1
        assert "default" in rows.first.inner_text()
        assert f"{pagila}@{pg_cluster.host}:{pg_cluster.port}" in rows.first.inner_text()
        assert console.rows("SELECT count(*) AS n FROM backups_app_backuprecord") == [{"n": 0}]

        rows.first.locator("th a").click()
        page.wait_for_load_state()
        assert page.locator("#id_host").count() == 0 and page.locator("#id_name").count() == 0
        assert pagila in page.locator(".field-dbname").inner_text()
    finally:
        console.close()
