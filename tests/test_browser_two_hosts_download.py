"""In a real browser on host B's web server: a backup whose file is on host A is downloaded from object storage,
or refused with its reason on the page, naming host A; a refusal is never saved as the file.

Debian's chromium driven by Playwright against host B's `manage.py
runconsole` (tests/two_hosts.py: two consoles sharing one console
database), the copies in object storage on a real moto_server.
"""

import hashlib
from pathlib import Path

import pytest

from tests.browser_support import CHROMIUM, logged_in_page
from tests.s3server import BUCKET
from tests.two_hosts import add_storage, admin_history, backup_on, backup_row

pytest_plugins = ["tests.browser_support", "tests.s3_fixtures", "tests.two_hosts"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.requires(CHROMIUM, package="chromium"),
]


@pytest.fixture
def broker():
    """The console database is the broker."""
    return {}


def change_page(page, url, backup) -> str:
    page.goto(f"{url}/admin/backups_app/backuprecord/{backup['id']}/change/")
    return " ".join(page.inner_text("#content").split())


def link(backup) -> str:
    return f"a[href$='/{backup['id']}/download/dump/']"


def test_a_file_on_another_host_downloads_from_object_storage_or_is_refused_on_the_page(hosts, browser, s3_server):
    a, b = hosts
    local, stored = backup_on(a), backup_on(a)
    add_storage(a, s3_server)
    a.manage("backup", "--copy-offsite", str(stored["id"]))  # its local copy stays on host A too
    stored = backup_row(a, stored["id"])
    page, url = logged_in_page(b, browser, accept_downloads=True)
    started = []
    page.on("download", lambda d: started.append(d))

    text = change_page(page, url, local)
    assert "on host host-a, not on this host (host-b)" in text
    assert f"backup #{local['id']}'s file is on host host-a, not on this host (host-b): download it there" in text
    assert page.locator(link(local)).count() == 0

    assert "on host host-a, not on this host (host-b); a copy is in object storage" in change_page(page, url, stored)
    with page.expect_download() as got:
        page.click(link(stored))
    assert got.value.failure() is None
    assert hashlib.sha256(Path(got.value.path()).read_bytes()).hexdigest() == stored["sha256"]

    s3_server.client().delete_object(Bucket=BUCKET, Key=stored["offsite_key"])  # behind the console's back
    change_page(page, url, stored)
    with page.expect_navigation():
        page.click(link(stored))
    message = " ".join(page.text_content("ul.messagelist li.error").split())
    assert message.startswith(f"cannot read s3://{BUCKET}/"), message  # shown as written: names keep their case
    assert message.endswith(f"; backup #{stored['id']}'s file is on host host-a, not on this host (host-b): "
                            "download it there"), message
    assert len(started) == 1, "the refusal's page was saved as a download"
    assert admin_history(b)[-1] == f"Download of {Path(stored['path']).name} refused: {message}"
