"""Time from an admin action's commit to the worker marking the job running.

The admin path exactly: a queued BackupRecord is created and
queue.enqueue_backup() runs on commit; the clock starts right after the
commit and stops at the record's started_at (set when a worker claims it).
Each sample waits for the previous job to end, then a random pause, so the
broker's poll cycle is sampled at every phase. Runs a real qcluster (2
workers) on a throwaway SQLite console and PostgreSQL cluster, with the
default ORM broker and then Redis.

    .venv/bin/python bench/bench_job_latency.py [--samples 15] [--no-redis]
"""

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pgcluster import Cluster  # noqa: E402
from tests.qcluster import Console, redis_server  # noqa: E402


def sample(console) -> float:
    [record_id], committed_at = console.enqueue_backups_timed(["bench"])
    row = console.wait(lambda: (r := console.jobs([record_id])[0])["started_at"] and r, timeout=60,
                       interval=0.01, what="the job to start")
    latency = row["started_at"].timestamp() - committed_at
    console.wait_for_jobs([record_id], timeout=120)
    return latency


def measure(base: Path, cluster, *, samples: int, env: dict) -> list[float]:
    console = Console(base, env=env).migrate()
    console.add_target("bench", dbname="bench", cluster=cluster)
    try:
        with console.qcluster(workers=2):
            sample(console)  # warm-up: first imports in the workers
            out = []
            for _ in range(samples):
                time.sleep(random.uniform(0, 1.0))
                out.append(sample(console))
            return out
    finally:
        console.close()


def report(name: str, values: list[float]) -> None:
    ms = sorted(v * 1000 for v in values)
    print(f"{name:<12} n={len(ms):<3} median={statistics.median(ms):7.0f} ms  "
          f"p90={ms[int(0.9 * (len(ms) - 1))]:7.0f} ms  max={ms[-1]:7.0f} ms  min={ms[0]:6.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    cluster = Cluster().init().start()
    try:
        cluster.createdb("bench")
        cluster.sql("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g", dbname="bench")
        print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.samples} samples per broker, 2 workers, "
              "enqueue commit -> record running")
        report("ORM/SQLite", measure(base / "orm", cluster, samples=args.samples, env={}))
        if not args.no_redis and shutil.which("redis-server"):
            with redis_server(base / "redis-server") as url:
                report("Redis", measure(base / "redis", cluster, samples=args.samples, env={"REDIS_URL": url}))
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
