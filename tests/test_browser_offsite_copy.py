"""In a real browser: a backup whose upload failed is found by the offsite filter and copied again.

Debian's chromium driven by Playwright against `manage.py runconsole`
(gunicorn and a real qcluster), its default storage a real moto_server that
was down when the backup was made.
"""

import hashlib

import pytest

from tests.browser_support import CHROMIUM, logged_in_page, screenshot
from tests.s3server import CREDENTIALS, storage_fields

pytest_plugins = ["tests.browser_support", "tests.s3_fixtures"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.requires(CHROMIUM, package="chromium"),
]


@pytest.fixture
def failed_upload(console, pg_cluster, pagila, s3_server):
    console.env.update(OFFSITE_UPLOAD_ATTEMPTS="1", **CREDENTIALS)
    console.shell("from backups_app.models import BackupStorage; "
                  f"BackupStorage.objects.create(**{storage_fields(s3_server)!r})")
    console.add_target("pagila", dbname=pagila, cluster=pg_cluster)
    s3_server.stop()
    made = console.manage("backup", "--target", "pagila", check=False)
    assert made.returncode == 1 and "was not copied to object storage" in made.stderr  # cron hears of it
    s3_server.start().create_bucket()
    [row] = console.rows("SELECT * FROM backups_app_backuprecord")
    assert (row["status"], row["offsite_status"]) == ("succeeded", "failed")
    return row


def test_an_operator_copies_a_failed_upload_again_from_the_backup_list(console, failed_upload, browser, s3_server):
    page, url = logged_in_page(console, browser, viewport={"width": 1440, "height": 900})

    page.goto(f"{url}/admin/backups_app/backuprecord/?offsite_status__exact=failed")
    row = page.locator(f"#result_list tr:has(input[value='{failed_upload['id']}'])")
    assert "failed" in row.locator(".bc-badges").inner_text().lower()
    row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "copy_offsite")
    page.click("button[name=index]")
    page.wait_for_load_state()
    assert f"Queued the copy of 1 backup to object storage: #{failed_upload['id']}." in \
        page.locator(".messagelist").inner_text()

    def uploaded():
        [now] = console.rows("SELECT * FROM backups_app_backuprecord")
        return now if now["offsite_status"] != "failed" and now["offsite_pid"] is None else None
    done = console.wait(uploaded, timeout=120, interval=0.5, what="the worker to copy the backup")
    assert done["offsite_status"] == "uploaded", done["offsite_detail"]
    assert hashlib.sha256(s3_server.read(done["offsite_key"])).hexdigest() == done["sha256"]

    page.goto(f"{url}/admin/backups_app/backuprecord/")
    row = page.locator(f"#result_list tr:has(input[value='{failed_upload['id']}'])")
    assert "uploaded" in row.locator(".bc-badges").inner_text().lower()
    screenshot(page, "backup-list-copied-offsite.png")
