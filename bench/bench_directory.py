"""Directory format with parallel dump against one custom archive, on a database of many tables.

    /work/main/.venv/bin/python bench/bench_directory.py [--tables 40] [--mb-per-table 8] [--repeat 3]

Builds a throwaway cluster (tests/pgcluster.py) with --tables FX tick
tables of about --mb-per-table MB each (TimescaleDB keeps a hypertable's
data in chunk tables just like this), then runs side by side, interleaved,
--repeat times, each as `python manage.py backup` of a console of its own:

  custom        --format custom (one archive, one pg_dump process)
  directory -j1 --format directory --jobs 1
  directory -j2 --format directory --jobs 2
  raw -Fd -j2   pg_dump with exactly the console's directory arguments
                (args.pg_dump_directory_args), for the console's own cost

and prints the median wall time, CPU time of the process tree, size on
disk (all files of a folder) and peak resident memory of the process tree.
Compression is the console's default (BACKUP_CUSTOM_COMPRESSION) throughout.
"""

import argparse
import os
import shutil
import statistics
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

DBNAME = "many"
MB = 1024 * 1024
TABLE_SQL = """
CREATE TABLE ticks_{n:03d} AS
SELECT g AS id,
       (ARRAY['USD/JPY','EUR/USD','GBP/USD','AUD/USD','EUR/JPY'])[1 + g % 5] AS pair,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '37 ms' AS ts,
       round((140 + random() * 10)::numeric, 5) AS bid,
       round((140.01 + random() * 10)::numeric, 5) AS ask,
       (random() * 1000000)::int AS size,
       md5(random()::text) AS trade_ref
FROM generate_series(1, {rows}) g
"""
ROW_BYTES = 118  # heap bytes per row of the table above, measured


def make_database(cluster: Cluster, tables: int, mb_per_table: float) -> int:
    cluster.createdb(DBNAME)
    rows = int(mb_per_table * MB / ROW_BYTES)
    with cluster.connect(DBNAME) as c:
        for n in range(tables):
            c.execute(TABLE_SQL.format(n=n, rows=rows))
            c.execute(f"ALTER TABLE ticks_{n:03d} ADD PRIMARY KEY (id)")
        c.execute("VACUUM ANALYZE")
        return c.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def folder_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=40)
    parser.add_argument("--mb-per-table", type=float, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bc-bench-dir-"))
    cluster = Cluster().init().start()
    try:
        t0 = time.monotonic()
        db_size = make_database(cluster, opts.tables, opts.mb_per_table)
        print(f"database {DBNAME}: {opts.tables} tables, {db_size / MB:.0f} MB on disk "
              f"(built in {time.monotonic() - t0:.0f} s); cores: {os.cpu_count()}; "
              f"load before: {os.getloadavg()[0]:.2f}")
        env = console_process.console_env(work, cluster, DBNAME)
        if console_process.manage("migrate", "-v0", env=env).returncode != 0:
            raise SystemExit("migrate failed")
        results = measure_all(work, cluster, env, opts.repeat)
        report(results)
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


def raw_args(cluster, folder: Path) -> list[str]:
    """pg_dump with the console's own directory arguments and choice of program."""
    main_bench.setup_django(folder.parent)
    from backups_app.services.postgres import binaries
    from backups_app.services.postgres.args import pg_dump_directory_args
    from backups_app.services.postgres.connection import Conn

    server_major = cluster.sql("SHOW server_version_num")[0][0]
    tool = binaries.pg_dump_for(int(server_major) // 10000)
    conn = Conn(host=cluster.host, port=cluster.port, user=cluster.user, dbname=DBNAME, password=None)
    return pg_dump_directory_args(tool, conn, folder, jobs=2)


def measure_all(work: Path, cluster, env, repeat: int) -> dict:
    raw_folder = work / "raw.dir"
    raw_env = cluster.client_env()
    commands = {
        "custom": (console_process.argv("backup", "--format", "custom"), env, None),
        "directory -j1": (console_process.argv("backup", "--format", "directory", "--jobs", "1"), env, None),
        "directory -j2": (console_process.argv("backup", "--format", "directory", "--jobs", "2"), env, None),
        "raw -Fd -j2": (raw_args(cluster, raw_folder), raw_env, raw_folder),
    }
    results = {label: [] for label in commands}
    for _ in range(repeat):
        for label, (args, run_env, output) in commands.items():
            results[label].append(one(label, args, run_env, output))
    return results


def one(label, args, env, output):
    """Run once; measure the file or folder it made, then remove it so every run starts alike."""
    result = main_bench.measure(label, args, env=env, output=Path(os.devnull))
    output = output or latest_backup(env)
    size = folder_bytes(output)
    if output.is_dir():
        shutil.rmtree(output)
    else:
        output.unlink()
    return result, size


def latest_backup(env) -> Path:
    root = Path(env["BACKUP_ROOT"]) / "database" / "manual"
    made = [p for p in root.iterdir() if not p.name.startswith(".") and not p.name.endswith(".globals.sql")]
    newest = max(made, key=lambda p: p.stat().st_mtime)
    for extra in root.glob(newest.name + ".globals.sql"):
        extra.unlink()
    return newest


def report(results: dict) -> None:
    base = statistics.median(r.wall for r, _ in results["custom"])
    print(f"{'':15} {'wall s':>8} {'vs custom':>10} {'cpu s':>8} {'size MB':>9} {'peak RSS MB':>12}")
    for label, runs in results.items():
        wall = statistics.median(r.wall for r, _ in runs)
        cpu = statistics.median(r.cpu for r, _ in runs)
        size = statistics.median(s for _, s in runs)
        peak = max(r.tree_peak for r, _ in runs)
        print(f"{label:15} {wall:8.2f} {base / wall:9.2f}x {cpu:8.2f} {size / MB:9.1f} {peak / MB:12.1f}")
    walls = {label: [round(r.wall, 2) for r, _ in runs] for label, runs in results.items()}
    print("every run (wall s):", walls)


if __name__ == "__main__":
    main()
