"""manage.py runconsole: web server and worker together, both stopped cleanly by SIGTERM."""

import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.console_process import MANAGE
from tests.faultkit import dump_stalled_midway, dump_waiting_on_lock, table_held
from tests.pgcluster import free_port

pytestmark = pytest.mark.slow


def get(url) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode(errors="replace")


def stop_and_wait(console, proc, *, within: float):
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    status = proc.popen.wait(timeout=within)
    assert time.monotonic() - started < within
    assert proc.family() == [], "processes were left behind"
    return status


def test_it_serves_the_console_runs_jobs_and_stops_both_on_sigterm(console, pg_cluster, pagila, fresh_db):
    console.add_target("shop", dbname=fresh_db("rc_shop", template=pagila), cluster=pg_cluster)
    port = free_port()
    proc = console.start_runconsole(port)

    status, page = get(f"http://127.0.0.1:{port}/admin/login/")
    assert status == 200 and "csrfmiddlewaretoken" in page
    assert get(f"http://127.0.0.1:{port}/static/admin/css/base.css")[0] == 200
    [record_id] = console.enqueue_backups(["shop"])
    assert console.wait_for_jobs([record_id], timeout=60)[0]["status"] == "succeeded"

    assert stop_and_wait(console, proc, within=30) == 0
    assert "Q Cluster" in proc.log() and "has stopped" in proc.log()


def test_stopping_it_during_a_backup_ends_the_job_failed_and_tidy(console, pg_cluster, big_db):
    console.add_target("big", dbname=big_db, cluster=pg_cluster)
    proc = console.start_runconsole(free_port(), args=["--stop-timeout", "1"])
    with table_held(pg_cluster, big_db, "big"):  # the dump waits at its lock until the stop, however fast the machine
        [record_id] = console.enqueue_backups(["big"])
        console.wait(lambda: dump_waiting_on_lock(pg_cluster, big_db), timeout=30, interval=0.05,
                     what="pg_dump to wait at its table lock")

        stop_and_wait(console, proc, within=60)

    row = console.jobs([record_id])[0]
    assert row["status"] == "failed"
    assert row["error"] == "backup interrupted by SIGTERM"
    assert list((console.backup_root / "database").glob("*/.*partial*")) == []
    assert "interrupting them" in proc.log()


@pytest.mark.parametrize("fmt", ["sql", "custom"])
def test_stopping_it_while_a_backup_streams_says_the_stop_interrupted_it(console, pg_cluster, big_db, fmt):
    # The job is interrupted through its worker, as a second Ctrl-C to qcluster would: its programs are
    # stopped by the job itself, never one by one from outside (pg_dump then died of its reader's end, SIGPIPE).
    console.add_target("big", dbname=big_db, cluster=pg_cluster)
    proc = console.start_runconsole(free_port(), args=["--stop-timeout", "1"])
    [record_id] = console.enqueue_backups(["big"], fmt=fmt)
    with dump_stalled_midway(pg_cluster, big_db):
        stop_and_wait(console, proc, within=60)

    row = console.jobs([record_id])[0]
    assert (row["status"], row["error"]) == ("failed", "backup interrupted by SIGTERM")
    assert list((console.backup_root / "database").glob("*/.*partial*")) == []
    assert list(console.tmp.glob("bc-pass-*")) == []


def test_its_web_server_keeps_its_control_socket_in_var_dir_not_the_users_home(console, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in console.env.items() if k != "XDG_RUNTIME_DIR"} | {"HOME": str(home)}
    # Started from another folder than the checkout, as cron or an operator's shell would.
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(MANAGE), "runconsole", f"127.0.0.1:{port}"], cwd=home,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        socket_path = Path(env["VAR_DIR"]) / "gunicorn.ctl"
        console.wait(lambda: socket_path.exists() or (home / ".gunicorn").exists(), timeout=60,
                     what="gunicorn's control socket")
        assert not (home / ".gunicorn").exists(), "shared by every gunicorn this user runs"
        assert stat.S_ISSOCK(socket_path.stat().st_mode) and socket_path.stat().st_mode & 0o077 == 0
        console.wait(lambda: _answers(f"http://127.0.0.1:{port}/admin/login/"), timeout=30, what="the login page")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def _answers(url) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False
