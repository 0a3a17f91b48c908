"""The queue test again with REDIS_URL: django-q2's Redis broker, a redis-server of the test's own."""

import pytest

from tests.qcluster import redis_server
from tests.test_worker_queue import assert_no_locking_errors, assert_one_dump_per_target_at_a_time

pytestmark = [
    pytest.mark.slow,
    pytest.mark.requires("redis-server", package="redis-server"),
]


@pytest.fixture
def redis_url(tmp_path):
    with redis_server(tmp_path / "redis") as url:
        yield url


def test_queued_backups_run_through_a_redis_broker_one_at_a_time_per_target(
    console, pg_cluster, pagila, fresh_db, redis_url
):
    console.env["REDIS_URL"] = redis_url
    for name in ("redis_a", "redis_b"):
        fresh_db(name, template=pagila)
        console.add_target(name.replace("_", "-"), dbname=name, cluster=pg_cluster)

    with console.qcluster(workers=2, env={"JOB_TURN_SLICE_SECONDS": "0.5"}) as cluster:
        ids = console.enqueue_backups(["redis-a"] * 3 + ["redis-b"] * 3)
        rows = console.wait_for_jobs(ids, timeout=180)

    assert [r["status"] for r in rows] == ["succeeded"] * 6, [(r["id"], r["error"]) for r in rows]
    # The cluster pulled from Redis (its queue key), so the jobs can only have come through Redis.
    assert "[django_q:backupconsole:q]" in cluster.log()
    assert_no_locking_errors(console, cluster, rows)
    assert_one_dump_per_target_at_a_time(rows)
