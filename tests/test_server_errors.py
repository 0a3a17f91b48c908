"""An error no page handles is an HTTP 500 for the browser and a traceback in the server's log.

With DEBUG off (production), Django's own logging sends a request's traceback only to
ADMINS by mail; the console has none, so the log is where an operator finds it.
"""

import sqlite3
from contextlib import closing

import pytest

from tests.browser_support import add_superuser
from tests.http_session import HttpSession
from tests.pgcluster import free_port

pytestmark = pytest.mark.slow

POLICIES = "/admin/backups_app/retentionpolicy/"


def test_a_page_that_fails_logs_its_traceback_with_debug_off(console):
    password = add_superuser(console)
    port = free_port()
    web = console.start_runconsole(port, env={"DEBUG": "false"})
    session = HttpSession(f"http://127.0.0.1:{port}")
    assert session.sign_in("admin", password) == 302
    with closing(sqlite3.connect(console.db_path)) as db:  # the console's database lost a table
        db.execute("DROP TABLE backups_app_retentionpolicy")

    status, page = session.open(POLICIES)

    assert status == 500
    assert "Traceback" not in page, "the browser sees no internals"
    web.wait_for_log("ERROR django.request Internal Server Error: " + POLICIES, timeout=10)
    log = web.log()
    traceback = log[log.index("Internal Server Error: " + POLICIES):]
    assert "Traceback (most recent call last)" in traceback
    assert "no such table: backups_app_retentionpolicy" in traceback
