"""Deduplicated directory backups of a growing TimescaleDB database, measured against the targets of the design.

    /work/main/.venv/bin/python bench/bench_dedup.py [--size-mb 60] [--chunks 120] [--days 30] [--repeat 2]
                                                     [--encrypt] [--dump-jobs 2]

Builds a throwaway cluster with timescaledb (tests/pgcluster.py, as
tests/test_timescale_real.py starts one) holding an FX tick hypertable of
--chunks daily chunks and about --size-mb MB, the older half compressed.
Two consoles of their own back it up with `manage.py backup --format
directory --jobs 2` (--dump-jobs): one with BACKUP_DEDUP (the default), one without. Then:

  second backup   one more day of ticks (a new chunk; the compression policy's
                  day: the oldest uncompressed chunk compressed), backed up:
                  what it added to BACKUP_ROOT (du, hard links counted once)
                  as a share of the first backup's bytes;
  N days          --days such days, one backup each: BACKUP_ROOT's total
                  (du) against one full backup;
  time            each day's backup with and without dedup, in turn: the
                  median ratio of wall times;
  memory          peak RSS and PSS of the backup's process tree (bench.py);
  restore         the newest backup of each console restored (--repeat
                  times, in turn): the ratio of wall times; and pg_restore
                  reading every block of the deduplicated folder and of a
                  plain copy of it (no links), in turn;
  format          custom against directory --jobs 2 (wall time, size), for
                  TimescaleDB targets' default format;
  append-only     a plain tick table grown by a day, dumped twice: how much
                  of its compressed data file's start is unchanged, and how
                  much fixed 1 MiB blocks would share, for content-defined
                  chunking's worth.

With --encrypt both consoles' default target encrypts to an age key made
for the run (crypto/sealing.py: each file sealed on its own, shared by a
keyed hash of its content; without dedup each file is sealed anew). The
figures are the same but for pg_restore reading the folder (age files:
the restore above decrypts a copy first) and the append-only table (no
backup of the console's).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import bench as main_bench  # noqa: E402  (bench/bench.py: process-tree measuring)
from tests import console_process  # noqa: E402
from tests.pgcluster import Cluster  # noqa: E402

DBNAME = "fx"
MB = 1024 * 1024
ROW_BYTES = 85  # heap bytes per row of ticks below, about
START = "2026-01-01 00:00+00"
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE ticks (time timestamptz NOT NULL, symbol text NOT NULL, bid numeric(12,5) NOT NULL,
                    ask numeric(12,5) NOT NULL, volume bigint NOT NULL);
SELECT create_hypertable('ticks', by_range('time', interval '1 day'));
ALTER TABLE ticks SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol');
"""
DAY_SQL = """
INSERT INTO ticks
SELECT timestamptz '{start}' + (d * interval '1 day') + (g * interval '1 day' / {per_day}),
       (ARRAY['USDJPY','EURUSD','GBPUSD','AUDUSD'])[1 + g % 4],
       round((140 + random() * 10)::numeric, 5), round((140.01 + random() * 10)::numeric, 5),
       (random() * 1000000)::bigint
FROM generate_series({first}, {last}) d, generate_series(0, {per_day} - 1) g
"""


def start_cluster() -> Cluster:
    cluster = Cluster().init()
    with open(cluster.datadir / "postgresql.conf", "a") as f:
        f.write("shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n")
    return cluster.start()


def add_days(cluster, first: int, last: int, per_day: int) -> None:
    cluster.sql(DAY_SQL.format(start=START, first=first, last=last, per_day=per_day), dbname=DBNAME)


def compress_older_than(cluster, day: int) -> None:
    cluster.sql(f"SELECT count(compress_chunk(c, if_not_compressed => true)) FROM show_chunks('ticks', "
                f"older_than => timestamptz '{START}' + interval '{day} days') c", dbname=DBNAME)


def build(cluster, chunks: int, size_mb: int) -> int:
    cluster.createdb(DBNAME)
    cluster.sql(SCHEMA, dbname=DBNAME)
    per_day = max(100, int(size_mb * MB / ROW_BYTES / chunks))
    add_days(cluster, 0, chunks - 1, per_day)
    compress_older_than(cluster, chunks // 2)
    cluster.sql("VACUUM ANALYZE", dbname=DBNAME)
    return per_day


def du(path: Path) -> int:
    """Bytes under path, each hard-linked file once (du's own rule)."""
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


DUMP_JOBS = ["2"]  # --dump-jobs


def backup(env, label, fmt="directory"):
    args = console_process.argv("backup", "--format", fmt, *(["--jobs", DUMP_JOBS[0]] if fmt == "directory" else []))
    run = main_bench.measure_tree(label, args, env=env)
    return run, newest_record(env)


def newest_record(env) -> dict:
    out = console_process.manage("backup", "--list", "--json", env=env)
    return json.loads(out.stdout)[0]


def restore(env, record_id: int, cluster, into: str) -> float:
    cluster.dropdb(into)
    run = main_bench.measure_tree("restore", console_process.argv("restore", str(record_id), "--into", into), env=env)
    cluster.dropdb(into)
    return run.wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=60, help="heap size of the hypertable, about")
    parser.add_argument("--chunks", type=int, default=120, help="daily chunks at the start (half compressed)")
    parser.add_argument("--days", type=int, default=30, help="daily backups after the first, one day of data each")
    parser.add_argument("--repeat", type=int, default=2, help="restores of each kind")
    parser.add_argument("--append-mb", type=int, default=0, help="size of the append-only table (default: --size-mb)")
    parser.add_argument("--encrypt", action="store_true", help="encrypted directory backups (an age key of the run)")
    parser.add_argument("--dump-jobs", type=int, default=2, help="tables a directory backup dumps at once")
    opts = parser.parse_args()
    DUMP_JOBS[0] = str(opts.dump_jobs)

    work = Path(tempfile.mkdtemp(prefix="bc-bench-dedup-"))
    cluster = start_cluster()
    try:
        t0 = time.monotonic()
        per_day = build(cluster, opts.chunks, opts.size_mb)
        size = cluster.sql(f"SELECT pg_database_size('{DBNAME}')")[0][0]
        print(f"database {DBNAME}: {opts.chunks} daily chunks, {opts.chunks // 2} compressed, {per_day} rows a day, "
              f"{size / MB:.0f} MB on disk (built in {time.monotonic() - t0:.0f} s); cores: {os.cpu_count()}; "
              f"load: {os.getloadavg()[0]:.2f}")
        envs = consoles(work, cluster, main_bench.age_key(work) if opts.encrypt else {})
        report_format(cluster, work, envs["plain"])
        daily(cluster, opts, per_day, envs)
        report_restore(cluster, envs, opts.repeat)
        if not opts.encrypt:
            report_reading(work, envs["dedup"], opts.repeat)
            append_only(cluster, work, opts.append_mb or opts.size_mb)
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


def consoles(work: Path, cluster, encryption: dict) -> dict:
    """The two consoles, with BACKUP_DEDUP and without; encryption: the age key settings their target uses."""
    envs = {}
    for label, dedup in (("dedup", "true"), ("plain", "false")):
        envs[label] = console_process.console_env(work / label, cluster, DBNAME, BACKUP_DEDUP=dedup, **encryption)
        if console_process.manage("migrate", "-v0", env=envs[label]).returncode != 0:
            raise SystemExit("migrate failed")
        if encryption:
            main_bench.encrypt_default_target(envs[label])
    if encryption:
        print(f"encrypted: every backup sealed with age to {encryption['BACKUP_AGE_RECIPIENTS'][:16]}…")
    return envs


def report_format(cluster, work, env) -> None:
    """custom against directory -j2, once each, on the database as built (then removed)."""
    rows = []
    for fmt in ("custom", "directory"):
        run, record = backup(env, fmt, fmt)
        rows.append((fmt, run.wall, record["size_bytes"], run.tree_peak))
        main_bench_remove(record)
    print("format: " + "; ".join(f"{f} {w:.1f} s, {s / MB:.1f} MB, peak RSS {p / MB:.0f} MB" for f, w, s, p in rows)
          + f" -> directory/custom wall {rows[1][1] / rows[0][1]:.2f}x, size {rows[1][2] / rows[0][2]:.2f}x")


def main_bench_remove(record) -> None:
    path = Path(record["path"])
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    for extra in path.parent.glob(path.name + ".globals.sql*"):  # .age when encrypted
        extra.unlink()


def daily(cluster, opts, per_day, envs) -> None:
    roots = {label: Path(env["BACKUP_ROOT"]) for label, env in envs.items()}
    ratios, peaks, pss = [], [], []
    first = None
    for day in range(opts.days + 1):
        if day:
            add_days(cluster, opts.chunks + day - 1, opts.chunks + day - 1, per_day)
            compress_older_than(cluster, opts.chunks // 2 + day)  # the compression policy's day
        before = du(roots["dedup"]) if roots["dedup"].exists() else 0
        walls = {}
        for label in (("dedup", "plain") if day % 2 else ("plain", "dedup")):  # in turn: neither always first
            run, record = backup(envs[label], label)
            walls[label] = run.wall
            if label == "dedup":
                peaks.append(run.tree_peak)
                pss.append(run.pss_peak)
                added_record = record["bytes_added"]
        grew = du(roots["dedup"]) - before
        if first is None:
            first = grew
            print(f"first backup: {first / MB:.1f} MB in BACKUP_ROOT; dedup {walls['dedup']:.1f} s, "
                  f"plain {walls['plain']:.1f} s")
        elif day == 1:
            print(f"second backup (one more day): added {grew / MB:.2f} MB to BACKUP_ROOT (du) = "
                  f"{100 * grew / first:.1f}% of the first (target <= 5%); bytes_added recorded "
                  f"{added_record / MB:.2f} MB")
        ratios.append(walls["dedup"] / walls["plain"])
    total = du(roots["dedup"])
    plain_total = du(roots["plain"])
    print(f"{opts.days + 1} backups ({opts.days} days after the first): BACKUP_ROOT {total / MB:.1f} MB = "
          f"{total / first:.2f}x one full backup (target <= 2.5x for 30 days); without dedup "
          f"{plain_total / MB:.1f} MB = {plain_total / first:.2f}x")
    print(f"backup wall time dedup/plain: median {statistics.median(ratios):.3f}x "
          f"(each day: {', '.join(f'{r:.2f}' for r in ratios)}) (target <= 1.10x)")
    print(f"peak memory of the backup's process tree: RSS {max(peaks) / MB:.0f} MB, PSS {max(pss) / MB:.0f} MB "
          f"(target < 100 MB)")


def report_restore(cluster, envs, repeat) -> None:
    ids = {label: newest_record(env)["id"] for label, env in envs.items()}
    walls = {label: [] for label in envs}
    for n in range(repeat):
        for label in (("dedup", "plain") if n % 2 else ("plain", "dedup")):
            walls[label].append(restore(envs[label], ids[label], cluster, f"fx_restored_{label}"))
    d, p = statistics.median(walls["dedup"]), statistics.median(walls["plain"])
    print(f"restore of the newest backup: dedup {d:.1f} s, plain {p:.1f} s -> {d / p:.3f}x (target <= 1.05x); "
          f"runs {walls}")


def report_reading(work: Path, env, repeat: int) -> None:
    """pg_restore reading every block of the newest deduplicated folder, and of a plain copy of it (cp: no links)."""
    linked = Path(newest_record(env)["path"])
    copy = work / "copy.dir"
    shutil.copytree(linked, copy)
    main_bench.setup_django(work)
    from backups_app.services.postgres import binaries

    tool = binaries.choose_pg_restore(linked).tool
    walls = {"linked": [], "copy": []}
    for n in range(repeat):
        for label, folder in ((("linked", linked), ("copy", copy)) if n % 2 else (("copy", copy), ("linked", linked))):
            t0 = time.monotonic()
            subprocess.run([tool.path, "-f", os.devnull, str(folder)], check=True, capture_output=True)
            walls[label].append(time.monotonic() - t0)
    d, p = statistics.median(walls["linked"]), statistics.median(walls["copy"])
    print(f"pg_restore reading every block: linked folder {d:.2f} s, plain copy {p:.2f} s -> {d / p:.3f}x; "
          f"runs {walls}")


APPEND_SQL = """
CREATE TABLE IF NOT EXISTS plain_ticks (id bigint, symbol text, ts timestamptz, bid numeric(12,5), ask numeric(12,5));
INSERT INTO plain_ticks
SELECT g, (ARRAY['USDJPY','EURUSD','GBPUSD','AUDUSD'])[1 + g % 4], timestamptz '{start}' + g * interval '100 ms',
       round((140 + random() * 10)::numeric, 5), round((140.01 + random() * 10)::numeric, 5)
FROM generate_series({first}, {last}) g
"""


def append_only(cluster, work: Path, size_mb: int) -> None:
    """A plain table that only grows: how much of its dumped file stays the same from one day to the next."""
    rows = int(size_mb * MB / 75)
    day = rows // 30
    cluster.sql(APPEND_SQL.format(start=START, first=1, last=rows), dbname=DBNAME)
    first = dump_table(cluster, work / "a.dir")
    cluster.sql(APPEND_SQL.format(start=START, first=rows + 1, last=rows + day), dbname=DBNAME)
    second = dump_table(cluster, work / "b.dir")
    a, b = first.read_bytes(), second.read_bytes()
    same = common_prefix(a, b)
    blocks = fixed_blocks_shared(a, b, MB)
    print(f"append-only table ({rows} rows + {day} a day, {len(a) / MB:.1f} MB dumped as {first.name}): "
          f"the next day's file is {len(b) / MB:.1f} MB; its first {same / MB:.1f} MB = {100 * same / len(a):.1f}% "
          f"of the old file are unchanged; fixed 1 MiB blocks would share {100 * blocks / len(a):.1f}% of the old "
          f"file; a whole-file store shares 0%")


def dump_table(cluster, folder: Path) -> Path:
    """pg_dump -Fd of the table alone, by the console's pg_dump, compressed as the console compresses (zstd:1)."""
    main_bench.setup_django(folder.parent)
    from backups_app.services.postgres import binaries

    major = int(cluster.sql("SHOW server_version_num")[0][0]) // 10000
    tool = binaries.choose_pg_dump(major, wants_zstd=True).tool
    subprocess.run([tool.path, "-Fd", "--compress=zstd:1", "-t", "plain_ticks", "-f", str(folder), DBNAME],
                   env=cluster.client_env(), check=True, capture_output=True)
    return max((p for p in folder.iterdir() if p.name.endswith(".dat.zst")), key=lambda p: p.stat().st_size)


def common_prefix(a: bytes, b: bytes) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # the longest equal start, found by halves
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def fixed_blocks_shared(a: bytes, b: bytes, size: int) -> int:
    ends = {hash(b[i:i + size]) for i in range(0, len(b), size)}
    return sum(len(a[i:i + size]) for i in range(0, len(a), size) if hash(a[i:i + size]) in ends)


if __name__ == "__main__":
    main()
