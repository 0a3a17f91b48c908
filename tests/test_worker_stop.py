"""manage.py qcluster stops within seconds on SIGTERM or SIGINT, sent to its main process or to its whole group.

Again and again, idle and with a backup running: django-q2's own handler could
hang for ever when the signal reached the group (systemd, supervisord). A
running job ends failed, naming why, with no partial file or passfile left.
"""

import os
import signal
import time

import pytest

from tests.faultkit import dump_waiting_on_lock, table_held

pytestmark = pytest.mark.slow

ROUNDS = 10
WITHIN_SECONDS = 8


def deliver(proc, signum, way: str) -> None:
    if way == "group":
        os.killpg(proc.pid, signum)  # kill -TERM -- -PGID: the process runs in a session (and group) of its own
    else:
        os.kill(proc.pid, signum)


def stopped_within(proc, signum, way: str) -> float:
    started = time.monotonic()
    deliver(proc, signum, way)
    proc.popen.wait(timeout=60)
    took = time.monotonic() - started
    assert proc._wait_family_gone(5) == [], "processes were left behind"
    return took


@pytest.mark.parametrize("way", ["main", "group"])
def test_the_worker_stops_within_seconds_every_time(console, pg_cluster, big_db, way):
    console.add_target("big", dbname=big_db, cluster=pg_cluster)
    for n in range(ROUNDS):
        signum = signal.SIGINT if n % 4 == 3 else signal.SIGTERM
        proc = console.start_qcluster(workers=1)
        if n % 2:
            took, row = _stop_during_a_backup(console, pg_cluster, big_db, proc, signum, way)
            assert row["status"] == "failed" and row["error"], row
            assert list((console.backup_root / "database").glob("*/.*partial-*")) == []
            assert list(console.tmp.glob("bc-pass-*")) == []
        else:
            took = stopped_within(proc, signum, way)
        assert took < WITHIN_SECONDS, f"round {n} ({signal.Signals(signum).name} to {way}) took {took:.1f} s"
        assert "has stopped" in proc.log()


def _stop_during_a_backup(console, cluster, dbname, proc, signum, way):
    with table_held(cluster, dbname, "big"):  # the dump waits at its lock until the stop
        [record_id] = console.enqueue_backups(["big"])
        console.wait(lambda: dump_waiting_on_lock(cluster, dbname), timeout=60, interval=0.05,
                     what="pg_dump to wait at its table lock")
        took = stopped_within(proc, signum, way)
    return took, console.jobs([record_id])[0]
