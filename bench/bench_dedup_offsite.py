"""What a second directory-format backup of a grown TimescaleDB adds to object storage, as a share of the first.

    /work/main/.venv/bin/python bench/bench_dedup_offsite.py [--days 60] [--tick-seconds 5] [--compressed 0.5]
                                                             [--server moto] [--backups 2]

Builds a throwaway cluster with timescaledb preloaded (as tests/test_timescale_real.py
does) and an FX tick hypertable of --days daily chunks, one tick per
--tick-seconds for four symbols, the oldest --compressed share of chunks
compressed. A console whose default storage is the server (moto_server by
default, or rclone, seaweedfs, gcs, sftp as bench/bench_offsite.py takes
them; no local copy kept) runs `manage.py backup --format directory`; then,
--backups - 1 times, one more day of ticks is added (the newest uncompressed
chunk before it compressed, as a compression policy would) and it runs again.

For each backup it prints the folder's bytes, the files and bytes its upload
added to the store (from the record's offsite detail, and counted in the
bucket), the upload's time, and the store's total against the sum of the
full backups it keeps. The target (issue 22): the second backup adds at most
5% of the first's bytes to the bucket.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

from bench_offsite import SERVERS, console_env, newest_record, storage_server, upload_seconds  # noqa: E402

from bench import MB, setup_django  # noqa: E402
from tests.pgcluster import Cluster  # noqa: E402

DBNAME = "fx"
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE ticks (time timestamptz NOT NULL, symbol text NOT NULL, bid double precision NOT NULL,
                    ask double precision NOT NULL, volume bigint NOT NULL);
SELECT create_hypertable('ticks', by_range('time', interval '1 day'));
ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol');
"""
DAY_SQL = """
INSERT INTO ticks
SELECT t, s, 100 + random(), 100.01 + random(), (random() * 1000000)::bigint
  FROM generate_series(timestamptz '2026-01-01 00:00+00' + %(day)s * interval '1 day',
                       timestamptz '2026-01-01 00:00+00' + (%(day)s + 1) * interval '1 day' - interval '1 ms',
                       %(step)s * interval '1 second') t,
       unnest(ARRAY['USDJPY', 'EURUSD', 'GBPUSD', 'AUDUSD']) s
"""
BACKUP = [sys.executable, str(PROJECT / "manage.py"), "backup", "--type", "daily", "--format", "directory"]
ADDED = re.compile(r"(\d+) of (\d+) files new to the store, (\d+) of (\d+) bytes")


def add_days(cluster: Cluster, first: int, count: int, step: float) -> None:
    with cluster.connect(DBNAME) as c:
        for day in range(first, first + count):
            c.execute(DAY_SQL, {"day": day, "step": step})
        c.commit()


def compress_older_than(cluster: Cluster, day: int) -> int:
    with cluster.connect(DBNAME) as c:
        n = c.execute("SELECT count(compress_chunk(ch, if_not_compressed => true)) FROM show_chunks("
                      "'ticks', older_than => timestamptz '2026-01-01 00:00+00' + %s * interval '1 day') ch",
                      (day,)).fetchone()[0]
        c.commit()
        return n


def chunk_counts(cluster: Cluster) -> tuple[int, int, int]:
    with cluster.connect(DBNAME) as c:
        total, compressed = c.execute("SELECT count(*), count(*) FILTER (WHERE is_compressed) "
                                      "FROM timescaledb_information.chunks").fetchone()
        size = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        return total, compressed, size


def store_bytes(remote) -> tuple[int, int]:
    """(blobs, bytes) under the store's sha256 folder, as the bucket holds them."""
    keys = [k for k in remote.keys() if "/store/sha256/" in k]
    return len(keys), sum(len(remote.read(k)) for k in keys)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60, help="daily chunks before the first backup (default 60)")
    parser.add_argument("--tick-seconds", type=float, default=5, help="one tick per symbol every N s (default 5)")
    parser.add_argument("--compressed", type=float, default=0.5, help="share of chunks compressed (default 0.5)")
    parser.add_argument("--backups", type=int, default=2, help="backups, one more day of data before each "
                                                                "after the first (default 2)")
    parser.add_argument("--server", choices=SERVERS, default="moto")
    opts = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bc-bench-dedup-"))
    setup_django(work)
    cluster = Cluster().init()
    with open(cluster.datadir / "postgresql.conf", "a") as f:
        f.write("shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n")
    cluster.start()
    remote = storage_server(opts.server, work)
    try:
        cluster.createdb(DBNAME)
        cluster.sql(SCHEMA, dbname=DBNAME)
        started = time.monotonic()
        add_days(cluster, 0, opts.days, opts.tick_seconds)
        compress_older_than(cluster, int(opts.days * opts.compressed))
        total, compressed, size = chunk_counts(cluster)
        print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; storage {opts.server}; "
              f"database {size / MB:.0f} MB, {total} chunks ({compressed} compressed), built in "
              f"{time.monotonic() - started:.0f} s", flush=True)
        env = console_env(work, "console", cluster, {}, remote.env)
        env["DB_NAME"] = DBNAME
        fields = {**remote.fields(), "keep_local_copy": False}
        subprocess.run([sys.executable, str(PROJECT / "manage.py"), "shell", "-c",
                        f"from backups_app.models import BackupStorage; BackupStorage.objects.create(**{fields!r})"],
                       env=env, check=True)
        rows, full_sum = [], 0
        for n in range(opts.backups):
            if n:
                add_days(cluster, opts.days + n - 1, 1, opts.tick_seconds)
                compress_older_than(cluster, int((opts.days + n) * opts.compressed))
            t0 = time.monotonic()
            done = subprocess.run(BACKUP, env=env, capture_output=True, text=True)
            wall = time.monotonic() - t0
            record = newest_record(env)
            if done.returncode or record["offsite_status"] != "uploaded":
                raise SystemExit(f"backup {n + 1} failed: {done.stderr[-2000:]} {record['offsite_detail']}")
            new_files, files, new_bytes, total_bytes = map(int, ADDED.search(record["offsite_detail"]).groups())
            blobs, stored = store_bytes(remote)
            full_sum += total_bytes
            rows.append((new_bytes, total_bytes))
            print(f"  backup {n + 1}: {total_bytes / MB:7.2f} MB in {files} files; upload added {new_files} files, "
                  f"{new_bytes / MB:7.2f} MB ({100 * new_bytes / total_bytes:5.1f}% of this backup, "
                  f"{100 * new_bytes / rows[0][1]:5.1f}% of the first); upload "
                  f"{upload_seconds(record['offsite_detail']) or 0:.1f} s, backup command {wall:.1f} s; "
                  f"bucket: {blobs} blobs, {stored / MB:.2f} MB = {stored / full_sum:.2f}x of the "
                  f"{n + 1} full backup{'s' if n else ''} it stands for ({full_sum / MB:.1f} MB)", flush=True)
        if len(rows) > 1:
            second = rows[1][0] / rows[0][1]
            print(f"\nsecond backup added {100 * second:.1f}% of the first's bytes to the bucket "
                  f"(target <= 5%: {'met' if second <= 0.05 else 'NOT met'})")
    finally:
        remote.close()
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
