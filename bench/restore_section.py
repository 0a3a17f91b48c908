"""Restore speed: `manage.py restore` next to plain pg_restore of the same file, and --jobs 2 against 1.

    /work/main/.venv/bin/python bench/restore_section.py --size-mb 500 --repeat 3

Standalone, it starts a throwaway cluster (tests/pgcluster.py) with an FX
tick table of --size-mb. Inside bench/bench.py, measure(ctx) runs at each
table size against bench.py's cluster and database.

  raw       CREATE DATABASE ... TEMPLATE template0, then pg_restore --exit-on-error
            of the console's backup file
  console   python manage.py restore ID --into NEW (its own SQLite console database):
            checksum, checks, database creation, pg_restore, the record
  jobs      manage.py restore --jobs 1 and --jobs 2 of a backup of a database of
            eight indexed tables (parallel restore needs several tables)

  fixed     raw and console restores of a tiny database, many times: the console's
            own cost whatever the size, which a busy machine's noise hides in one
            large restore

Runs are interleaved, in alternating order, each database dropped before the next run. Targets:
console/raw wall ratio <= 1.05; --jobs 2 faster than --jobs 1.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from tests.pgcluster import Cluster  # noqa: E402

MULTI_DB = "bench_multi"
MULTI_TABLES = 8

TICKS_SQL = """
CREATE TABLE {name} (
    id bigint PRIMARY KEY, pair text NOT NULL, ts timestamptz NOT NULL,
    bid double precision NOT NULL, ask double precision NOT NULL, venue text NOT NULL
);
CREATE INDEX ON {name} (pair, ts);
"""
FILL_SQL = """
INSERT INTO {name}
SELECT g, (ARRAY['USD/JPY','EUR/USD','GBP/USD','AUD/USD','USD/CHF'])[1 + g %% 5],
       timestamptz '2024-01-02' + g * interval '25 ms',
       round((150 + 5 * sin(g / 100000.0) + random() * 0.01)::numeric, 3),
       round((150.01 + 5 * sin(g / 100000.0) + random() * 0.01)::numeric, 3),
       (ARRAY['EBS','Reuters','LMAX'])[1 + floor(random() * 3)::int]
FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
"""
ROWS_PER_MB = 13_800  # about this many rows of the table above fill one MB of heap


@dataclass
class StandaloneContext:
    """What bench/bench.py hands to measure(): the parts this section uses."""

    cluster: Cluster
    dbname: str
    size_mb: int


def console_env(work: Path, cluster, dbname: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DB_"))}
    env.update(DATABASE_URL=f"sqlite:///{work / 'console.sqlite3'}", VAR_DIR=str(work / "var"),
               BACKUP_ROOT=str(work / "backups"), DB_HOST=cluster.host, DB_PORT=str(cluster.port),
               DB_USER=cluster.user, DB_NAME=dbname, DB_PASSWORD=cluster.password, LOG_LEVEL="WARNING")
    return env


def manage(*args, env) -> float:
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(PROJECT / "manage.py"), *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {done.stderr.strip()}")
    return time.monotonic() - started


def console_backup(env) -> tuple[int, Path]:
    """A backup made by the console, so the restore has a record to start from."""
    manage("backup", "--type", "manual", "--format", "custom", env=env)
    listing = subprocess.run([sys.executable, str(PROJECT / "manage.py"), "backup", "--list", "--json"], env=env,
                             check=True, capture_output=True, text=True).stdout
    import json

    newest = json.loads(listing)[0]
    return newest["id"], Path(newest["path"])


def raw_restore_command(backup: Path, into: str, server_major: int) -> tuple[list[str], str]:
    """What an operator would type: the pg_restore the console picks, run the way that works on this server.

    Directly when it can; a pg_restore 17+ into an older server only as a script
    without its SET transaction_timeout line, through psql.
    """
    from backups_app.services.postgres import binaries

    choice = binaries.choose_pg_restore(backup, server_major=server_major)
    if not choice.script:
        return [choice.tool.path, "--exit-on-error", "--dbname", into, str(backup)], str(choice)
    psql = binaries.psql_for(server_major)
    pipeline = (f"set -o pipefail; {choice.tool.path} --exit-on-error --file - {backup} "
                f"| grep -vx 'SET transaction_timeout = 0;' "
                f"| {psql.path} -X -q -v ON_ERROR_STOP=1 --single-transaction --dbname {into}")
    return ["bash", "-c", pipeline], str(choice)


def raw_restore(cluster, path: Path, into: str) -> float:
    """The pg_restore the console picks, run by hand the way that works on this server."""
    major = int(cluster.sql("SHOW server_version_num")[0][0]) // 10000
    command, _ = raw_restore_command(path, into, major)
    env = cluster.client_env()
    started = time.monotonic()
    cluster.sql(f'CREATE DATABASE "{into}" TEMPLATE template0')
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - started


def fill(cluster, dbname: str, table: str, rows: int) -> None:
    cluster.sql(TICKS_SQL.format(name=table), dbname=dbname)
    step = 1_000_000
    for first in range(1, rows + 1, step):
        cluster.sql(FILL_SQL.format(name=table), dbname=dbname,
                    params={"first": first, "last": min(first + step - 1, rows)})
    cluster.sql(f"VACUUM ANALYZE {table}", dbname=dbname)


def interleaved(runs: dict, repeat: int, cleanup) -> dict:
    """Each command once per round, the order reversed every other round: what a run leaves
    behind for the next (dirty pages still being written out) falls on each side alike."""
    times = {name: [] for name in runs}
    for i in range(repeat):
        order = list(runs.items()) if i % 2 == 0 else list(reversed(runs.items()))
        for name, run in order:
            into = "bench_" + "".join(c if c.isalnum() else "_" for c in name) + f"_{i}"
            cleanup(into)
            times[name].append(run(into))
            cleanup(into)
            print(f"    run {i + 1}/{repeat} {name:18} {times[name][-1]:7.2f} s", flush=True)
    return times


def raw_and_console(cluster, env, backup_id: int, path: Path, repeat: int, label: str = "") -> tuple[list, list]:
    """Plain pg_restore of the backup's file and manage.py restore of the backup, interleaved."""
    times = interleaved({
        "raw pg_restore" + label: lambda into: raw_restore(cluster, path, into),
        "manage.py restore" + label: lambda into: manage("restore", str(backup_id), "--into", into, env=env),
    }, repeat, cluster.dropdb)
    return list(times.values())


def measure(ctx, repeat: int = 3) -> list[tuple[str, str]]:
    cluster = ctx.cluster
    work = Path(tempfile.mkdtemp(prefix="bc-bench-restore-"))
    try:
        env = console_env(work, cluster, ctx.dbname)
        manage("migrate", "-v0", env=env)
        backup_id, path = console_backup(env)
        print(f"  restore of the console's file ({path.stat().st_size / 2**20:.1f} MB):", flush=True)
        raw_times, console_times = raw_and_console(cluster, env, backup_id, path, repeat)
        raw, console = statistics.median(raw_times), statistics.median(console_times)

        fixed = fixed_cost(cluster, work, max(5, 2 * repeat))
        implied = (raw + fixed) / raw
        jobs = parallel(cluster, work, ctx.size_mb, repeat)
        one, two = statistics.median(jobs["jobs 1"]), statistics.median(jobs["jobs 2"])
        return [
            ("restore: raw pg_restore (median)", f"{raw:.2f} s"),
            ("restore: manage.py restore (median)", f"{console:.2f} s"),
            ("restore: console / raw wall ratio", f"{console / raw:.3f} (target <= 1.05: "
                                                  f"{'met' if console / raw <= 1.05 else 'NOT met'})"),
            ("restore: console's fixed cost (tiny database)", f"{fixed:.2f} s (median difference)"),
            ("restore: raw + fixed cost, over raw", f"{implied:.3f} (target <= 1.05: "
                                                    f"{'met' if implied <= 1.05 else 'NOT met'})"),
            ("restore: shortest restore the fixed cost keeps <= 1.05", f"{fixed / 0.05:.1f} s of raw pg_restore"),
            (f"restore --jobs 1, {MULTI_TABLES} tables (median)", f"{one:.2f} s"),
            (f"restore --jobs 2, {MULTI_TABLES} tables (median)", f"{two:.2f} s"),
            ("restore --jobs 2 / --jobs 1", f"{two / one:.3f} ({'faster' if two < one else 'NOT faster'})"),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fixed_cost(cluster, work: Path, repeat: int) -> float:
    """What the console adds whatever the size (Python and Django start, checks, checksum, records).

    On a busy machine one large restore varies by more than this; measured on
    a tiny database, many times, it is the console's own share.
    """
    cluster.dropdb("bench_tiny")
    cluster.createdb("bench_tiny")
    cluster.sql("CREATE TABLE t (id int PRIMARY KEY, v text); "
                "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g", dbname="bench_tiny")
    (work / "tiny").mkdir()
    env = console_env(work / "tiny", cluster, "bench_tiny")
    manage("migrate", "-v0", env=env)
    backup_id, path = console_backup(env)
    print(f"  the console's fixed cost, {repeat} restores of a tiny database each way:", flush=True)
    raw_times, console_times = raw_and_console(cluster, env, backup_id, path, repeat, label=" tiny")
    cluster.dropdb("bench_tiny")
    return statistics.median(c - r for r, c in zip(raw_times, console_times, strict=True))


def parallel(cluster, work: Path, size_mb: int, repeat: int) -> dict:
    total_mb = max(80, min(size_mb, 400))
    cluster.dropdb(MULTI_DB)
    cluster.createdb(MULTI_DB)
    print(f"  filling {MULTI_DB}: {MULTI_TABLES} tables, about {total_mb} MB in all ...", flush=True)
    for k in range(MULTI_TABLES):
        fill(cluster, MULTI_DB, f"ticks_{k}", total_mb * ROWS_PER_MB // MULTI_TABLES)
    env = console_env(work / "multi", cluster, MULTI_DB)
    (work / "multi").mkdir()
    manage("migrate", "-v0", env=env)
    backup_id, _ = console_backup(env)
    try:
        return interleaved({
            f"jobs {n}": (lambda into, n=n: manage("restore", str(backup_id), "--into", into, "--jobs", str(n),
                                                   env=env))
            for n in (1, 2)
        }, repeat, cluster.dropdb)
    finally:
        cluster.dropdb(MULTI_DB)


def row_counts_cost(cluster, dbname: str, work: Path, repeat: int) -> list[tuple[str, str]]:
    """What BACKUP_ROW_COUNTS adds to a backup: manage.py backup with and without it, interleaved."""
    (work / "counts").mkdir()
    env = console_env(work / "counts", cluster, dbname)
    manage("migrate", "-v0", env=env)
    times = {"off": [], "on": []}
    for i in range(repeat):
        for mode in times:
            times[mode].append(manage("backup", "--type", "manual", "--format", "custom",
                                      env={**env, "BACKUP_ROW_COUNTS": str(mode == "on").lower()}))
            print(f"    run {i + 1}/{repeat} backup, row counts {mode:3} {times[mode][-1]:7.2f} s", flush=True)
            for f in (work / "counts" / "backups" / "database" / "manual").glob("*"):
                f.unlink()
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    return [("backup, BACKUP_ROW_COUNTS off (median)", f"{off:.2f} s"),
            ("backup, BACKUP_ROW_COUNTS on (median)", f"{on:.2f} s (x{on / off:.3f})")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=500, help="FX tick table size in MB (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (default 3)")
    parser.add_argument("--row-counts", action="store_true",
                        help="also time backups with and without BACKUP_ROW_COUNTS")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bc-bench-restore-main-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backupconsole.settings")
    os.environ["VAR_DIR"] = str(work / "var")
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'unused.sqlite3'}"
    import django

    django.setup()
    cluster = Cluster().init().start()
    try:
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; filling fx ({opts.size_mb} MB)"
              " ...", flush=True)
        cluster.createdb("fx")
        fill(cluster, "fx", "fx_ticks", opts.size_mb * ROWS_PER_MB)
        heap = cluster.sql("SELECT pg_relation_size('fx_ticks')", dbname="fx")[0][0]
        print(f"  fx_ticks: {heap / 2**20:.0f} MB heap", flush=True)
        results = measure(StandaloneContext(cluster, "fx", opts.size_mb), repeat=opts.repeat)
        if opts.row_counts:
            with tempfile.TemporaryDirectory(prefix="bc-bench-counts-") as work:
                results += row_counts_cost(cluster, "fx", Path(work), opts.repeat)
        print()
        for label, value in results:
            print(f"{label:44} {value}")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
