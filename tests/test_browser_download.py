"""In a real browser: a backup whose copy in S3 was tampered with downloads as a failed download, never a file.

Debian's chromium driven by Playwright against `manage.py runconsole`
(gunicorn), the backup kept only in a real moto_server. One byte of the
object is flipped with its metadata kept; the download starts (200, full
Content-Length), the connection is cut before the last chunk, chromium
reports the download failed, and the admin history says why. The backup
is pagila with some incompressible rows, a few chunks long: a file that
fits in one chunk is checked before the response and refused on the page
(tests/test_download_checked.py).
"""

import hashlib
from pathlib import Path

import pytest

from tests.browser_support import CHROMIUM, logged_in_page
from tests.s3server import CREDENTIALS, storage_fields

pytest_plugins = ["tests.browser_support", "tests.s3_fixtures"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.requires(CHROMIUM, package="chromium"),
]


@pytest.fixture
def s3_only_backup(console, pg_cluster, pagila, fresh_db, s3_server):
    console.env.update(**CREDENTIALS)
    console.shell("from backups_app.models import BackupStorage; "
                  f"BackupStorage.objects.create(**{storage_fields(s3_server, keep_local_copy=False)!r})")
    source = fresh_db("browser_download_pagila", template=pagila)
    pg_cluster.sql("CREATE TABLE noise AS SELECT g, md5(g::text) || md5((g * 7)::text) AS t "
                   "FROM generate_series(1, 80000) g", dbname=source)
    console.add_target("pagila", dbname=source, cluster=pg_cluster)
    console.manage("backup", "--target", "pagila")
    [row] = console.rows("SELECT * FROM backups_app_backuprecord")
    assert (row["status"], row["offsite_status"], row["local_removed"]) == ("succeeded", "uploaded", 1)
    assert row["size_bytes"] > 2 * 1024 * 1024, "the stream must start before its end is read"
    return row


def download(page, url, backup) -> tuple[object, Path | None]:
    """Click the dump's link on the backup's page: (playwright's download, the saved file or None)."""
    page.goto(f"{url}/admin/backups_app/backuprecord/{backup['id']}/change/")
    with page.expect_download() as started:
        page.click(f"a[href$='/{backup['id']}/download/dump/']")
    got = started.value
    failure = got.failure()  # waits for the download to end
    return got, None if failure else Path(got.path())


def history(console) -> list[str]:
    return [r["change_message"] for r in console.rows("SELECT change_message FROM django_admin_log ORDER BY id")]


def test_a_tampered_s3_object_is_a_failed_download_in_the_browser(console, s3_only_backup, browser, s3_server):
    page, url = logged_in_page(console, browser, accept_downloads=True)

    got, saved = download(page, url, s3_only_backup)  # first the object as uploaded: a good file
    assert saved is not None, got.failure()
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == s3_only_backup["sha256"]

    s3_server.tamper(s3_only_backup["offsite_key"])
    got, saved = download(page, url, s3_only_backup)
    assert saved is None, "the browser saved the tampered object as a complete file"
    assert got.failure()  # chromium's own word for it, e.g. "canceled" or a network error
    last = history(console)[-1]
    assert "cut off" in last and "checksum" in last and "Downloaded" not in last, last
