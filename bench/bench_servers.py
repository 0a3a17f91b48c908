"""A server target with 200 small databases: one run, its time and the peak memory of the console's process tree.

    /work/main/.venv/bin/python bench/bench_servers.py [--databases 200] [--rows 1000] [--parallel 1,2]

Builds a throwaway PostgreSQL cluster (tests/pgcluster.py) holding
`--databases` databases of one small table each (`--rows` FX ticks), a
console of its own (SQLite file, BACKUP_ROOT) with one server target, and
runs `manage.py backup --target fleet` once per SERVER_BACKUP_PARALLEL value,
polling the process tree (the console and every pg_dump and pg_dumpall it
starts) every 20 ms as bench/bench.py does. Prints wall time, time per
database, CPU time of the tree, and the peak of RSS and PSS summed over the
tree. The target: every database backed up in one run with the tree under
150 MB.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import MB, PROJECT, compile_console, measure_tree  # noqa: E402
from tests.pgcluster import Cluster  # noqa: E402

LIMIT_MB = 150


def make_databases(cluster: Cluster, count: int, rows: int) -> None:
    """`count` databases copied from one template (CREATE DATABASE copies its files: seconds, not minutes)."""
    cluster.createdb("fleet_template")
    cluster.sql("CREATE TABLE ticks (id bigint PRIMARY KEY, pair text NOT NULL, ts timestamptz NOT NULL, "
                "bid float8 NOT NULL, ask float8 NOT NULL)", dbname="fleet_template")
    cluster.sql(f"INSERT INTO ticks SELECT g, 'USD/JPY', now() + g * interval '25 ms', 149.8 + random(), "
                f"149.81 + random() FROM generate_series(1, {rows}) g", dbname="fleet_template")
    for i in range(count):
        cluster.sql(f'CREATE DATABASE "fleet_{i:03d}" TEMPLATE fleet_template STRATEGY file_copy')


def console_env(work: Path, cluster: Cluster, parallel: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "PG"))}
    env.update(DATABASE_URL=f"sqlite:///{work / 'console.sqlite3'}", VAR_DIR=str(work / "var"),
               BACKUP_ROOT=str(work / "backups"), BENCH_PG_PASSWORD=cluster.password, LOG_LEVEL="WARNING",
               TARGET_PASSWORD_VARIABLES="BENCH_PG_PASSWORD", SERVER_BACKUP_PARALLEL=str(parallel))
    return env


def manage(*args, env: dict) -> str:
    done = subprocess.run([sys.executable, str(PROJECT / "manage.py"), *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def prepare_console(work: Path, cluster: Cluster, env: dict) -> None:
    manage("migrate", "-v0", env=env)
    manage("shell", "-c", (
        "from backups_app.models import DatabaseTarget as T; "
        f"T.objects.create(name='fleet', kind='server', dbname='postgres', host={cluster.host!r}, "
        f"port={cluster.port}, user={cluster.user!r}, password_env='BENCH_PG_PASSWORD', "
        "include_databases='fleet_[0-9]*')"), env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1000, help="rows of each database's one table")
    parser.add_argument("--parallel", default="1,2", help="SERVER_BACKUP_PARALLEL values, one run each")
    opts = parser.parse_args()
    compile_console()
    work = Path(tempfile.mkdtemp(prefix="bc-bench-servers-"))
    cluster = Cluster().init()
    with open(cluster.datadir / "postgresql.conf", "a") as f:
        f.write("max_connections = 300\n")
    cluster.start()
    try:
        make_databases(cluster, opts.databases, opts.rows)
        print(f"{opts.databases} databases of {opts.rows} rows each on PostgreSQL "
              f"{cluster.sql('SHOW server_version')[0][0]}")
        print(f"{'parallel':>8} {'wall':>8} {'per db':>7} {'CPU':>7} {'peak RSS':>9} {'peak PSS':>9}  verdict")
        worst = 0
        for parallel in [int(p) for p in opts.parallel.split(",")]:
            folder = work / f"parallel-{parallel}"
            folder.mkdir()
            env = console_env(folder, cluster, parallel)
            prepare_console(folder, cluster, env)
            run = measure_tree(f"parallel {parallel}", [sys.executable, str(PROJECT / "manage.py"), "backup",
                                                        "--target", "fleet"], env=env)
            backed_up = run.out.count("\nok      ") + run.out.startswith("ok      ")
            if backed_up != opts.databases:
                raise SystemExit(f"only {backed_up} of {opts.databases} databases were backed up:\n{run.err}")
            worst = max(worst, run.pss_peak)
            print(f"{parallel:>8} {run.wall:>7.1f}s {run.wall / opts.databases:>6.2f}s {run.cpu:>6.1f}s "
                  f"{run.tree_peak / MB:>7.0f}MB {run.pss_peak / MB:>7.0f}MB  "
                  f"{'PASS' if run.pss_peak < LIMIT_MB * MB else 'MISS'} (under {LIMIT_MB} MB)")
        return 0 if worst < LIMIT_MB * MB else 1
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
