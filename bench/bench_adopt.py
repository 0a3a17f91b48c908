"""What adopting backups costs, against verifying the same backups: both read every byte once.

    /work/main/.venv/bin/python bench/bench_adopt.py [--mb 300] [--repeat 3]

Builds a throwaway cluster (tests/pgcluster.py) with one FX tick table of
about --mb MB, makes one custom and one plain SQL backup with
`python manage.py backup` of a console of its own, then --repeat times,
interleaved:

  verify   `manage.py verify ID` of each of the two backups (checksum, read to the end)
  adopt    the records deleted (the console's database lost), then `manage.py backup --adopt`

and prints the median wall time, CPU time and peak resident memory of each
command's process tree, and adopt / verify (target: about 1, adoption is a
verification plus reading the name and the header).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_directory import ROW_BYTES, TABLE_SQL  # noqa: E402

import bench as main_bench  # noqa: E402  (bench/bench.py: process-tree measuring)
from tests import console_process  # noqa: E402
from tests.pgcluster import Cluster  # noqa: E402

DBNAME = "ticks"
MB = 1024 * 1024


def make_database(cluster: Cluster, mb: float) -> int:
    cluster.createdb(DBNAME)
    with cluster.connect(DBNAME) as c:
        c.execute(TABLE_SQL.format(n=0, rows=int(mb * MB / ROW_BYTES)))
        c.execute("VACUUM ANALYZE")
        return c.execute("SELECT pg_database_size(current_database())").fetchone()[0]


def manage_or_fail(env, *args) -> str:
    proc = console_process.manage(*args, env=env, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bc-bench-adopt-"))
    cluster = Cluster().init().start()
    try:
        t0 = time.monotonic()
        db_size = make_database(cluster, opts.mb)
        print(f"database {DBNAME}: {db_size / MB:.0f} MB on disk (built in {time.monotonic() - t0:.0f} s); "
              f"cores: {os.cpu_count()}; load before: {os.getloadavg()[0]:.2f}")
        env = console_process.console_env(work, cluster, DBNAME)
        manage_or_fail(env, "migrate", "-v0")
        for fmt in ("custom", "sql"):
            manage_or_fail(env, "backup", "--format", fmt)
        files = [p for p in (Path(env["BACKUP_ROOT"]) / "database" / "manual").iterdir()
                 if not p.name.endswith(".globals.sql")]
        print("backups: " + ", ".join(f"{p.name} {p.stat().st_size / MB:.0f} MB" for p in sorted(files)))
        report(measure(env, opts.repeat))
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


def ids(env) -> list[str]:
    out = manage_or_fail(env, "shell", "-c",
                         "from backups_app.models import BackupRecord; "
                         "print(*BackupRecord.objects.order_by('pk').values_list('pk', flat=True))")
    return out.strip().splitlines()[-1].split()  # after shell's own line about what it imported


@dataclass
class Summed:
    """The verifications of both backups, as one step."""

    wall: float
    cpu: float
    tree_peak: int


def measure(env, repeat: int) -> dict:
    results = {"verify": [], "adopt": []}
    for _ in range(repeat):
        runs = [main_bench.measure("verify", console_process.argv("verify", pk), env=env, output=Path(os.devnull))
                for pk in ids(env)]
        results["verify"].append(Summed(sum(r.wall for r in runs), sum(r.cpu for r in runs),
                                        max(r.tree_peak for r in runs)))
        manage_or_fail(env, "shell", "-c", "from backups_app.models import BackupRecord, VerificationRecord; "
                                           "VerificationRecord.objects.all().delete(); "
                                           "BackupRecord.objects.all().delete()")
        results["adopt"].append(main_bench.measure("adopt", console_process.argv("backup", "--adopt"), env=env,
                                                   output=Path(os.devnull)))
        if len(ids(env)) != 2:
            raise SystemExit("adopt did not give both backups their records again")
    return results


def report(results: dict) -> None:
    print(f"{'':8} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12}")
    walls = {}
    for label, runs in results.items():
        walls[label] = statistics.median(r.wall for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        print(f"{label:8} {walls[label]:8.2f} {cpu:8.2f} {max(r.tree_peak for r in runs) / MB:12.1f}")
    print(f"adopt / verify, wall: {walls['adopt'] / walls['verify']:.2f}")
    print("every run (wall s):", {label: [round(r.wall, 2) for r in runs] for label, runs in results.items()})


if __name__ == "__main__":
    main()
