"""What encryption costs a backup: time and peak memory of an encrypted console backup next to a plain one.

    .venv/bin/python bench/bench_encryption.py --size 500 --repeat 2

Builds a throwaway cluster with bench.py's FX tick table grown to --size MB,
and two consoles (own SQLite database and BACKUP_ROOT each) backing up the
same database with `manage.py backup --format custom`: one plain, one whose
target encrypts to an age key. Runs alternate, --repeat times each; prints
wall and CPU time of the process tree, file size, and the tree's peak memory
twice: as the sum of RSS (bench.py's measure; it counts shared pages once per
process, and a child between fork and exec as a second copy of Python) and
as the sum of PSS (shared pages split between their users: what the tree
really holds). Then it checks the encrypted file with the standard tool
(age -d | pg_restore -l).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402

MB = 1024 * 1024


def console(work: Path, cluster, name: str) -> dict:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PG", "DB_"))},
           "DATABASE_URL": f"sqlite:///{work / name / 'console.sqlite3'}", "VAR_DIR": str(work / name / "var"),
           "BACKUP_ROOT": str(work / name / "backups"), "DB_HOST": cluster.host, "DB_PORT": str(cluster.port),
           "DB_USER": cluster.user, "DB_NAME": bench.DBNAME, "DB_PASSWORD": cluster.password}
    (work / name).mkdir()
    subprocess.run([sys.executable, str(bench.PROJECT / "manage.py"), "migrate", "-v0"], env=env, check=True)
    return env


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=500, help="table size in MB (default 500)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each kind (default 2)")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bc-bench-enc-"))
    cluster = bench.Cluster().init().start()
    try:
        cluster.createdb(bench.DBNAME)
        cluster.sql(bench.TABLE_SQL, dbname=bench.DBNAME)
        rows = bench.grow_table(cluster, opts.size)
        heap, dbsize = bench.sizes_of(cluster)
        key = work / "age.key"
        subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
        public = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout
        envs = {"plain": console(work, cluster, "plain"), "encrypted": console(work, cluster, "encrypted")}
        bench.encrypt_default_target(envs["encrypted"], public.strip())
        print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; table fx_ticks {heap / MB:.0f} MB "
              f"heap, database {dbsize / MB:.0f} MB, {rows:,} rows; age {_age_version()}")
        args = [sys.executable, str(bench.PROJECT / "manage.py"), "backup", "--type", "manual", "--format", "custom"]
        runs = {name: [] for name in envs}
        last = {}
        for i in range(opts.repeat):
            for name, env in envs.items():
                if name in last:
                    last[name].unlink()
                run = bench.measure(name, args, env=env, output=None)
                last[name] = next(p for p in Path(env["BACKUP_ROOT"]).glob("database/manual/*.dump*")
                                  if ".globals." not in p.name)
                runs[name].append(run)
                print(f"  run {i + 1}/{opts.repeat} {name:10} {run.wall:7.2f} s wall {run.cpu:7.2f} s CPU "
                      f"{run.size / MB:7.1f} MB file  peak RSS {run.tree_peak / MB:6.1f} MB  "
                      f"PSS {run.pss_peak / MB:6.1f} MB  "
                      f"load {run.load[0]:.1f}->{run.load[1]:.1f}", flush=True)
        report(runs)
        check_with_standard_tool(key, last["encrypted"], cluster)
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


def _age_version() -> str:
    return subprocess.run(["age", "--version"], capture_output=True, text=True).stdout.strip()


def report(runs: dict) -> None:
    print(f"\n{'median of ' + str(len(runs['plain'])):14} {'wall s':>8} {'CPU s':>8} {'file MB':>8} "
          f"{'peak RSS MB':>12} {'peak PSS MB':>12}  each program's largest RSS (MB)")
    for name, rs in runs.items():
        by_name = {}
        for r in rs:
            for prog, rss in r.by_name.items():
                by_name[prog] = max(by_name.get(prog, 0), rss)
        top = ", ".join(f"{p} {v / MB:.0f}" for p, v in sorted(by_name.items(), key=lambda kv: -kv[1]))
        print(f"{name:14} {med(rs, 'wall'):8.2f} {med(rs, 'cpu'):8.2f} {med(rs, 'size') / MB:8.1f} "
              f"{med(rs, 'tree_peak') / MB:12.1f} {med(rs, 'pss_peak') / MB:12.1f}  {top}")
    ratio = med(runs["encrypted"], "wall") / med(runs["plain"], "wall")
    print(f"encrypted / plain wall time: {ratio:.3f}")


def med(runs, attr):
    return statistics.median(getattr(r, attr) for r in runs)


def check_with_standard_tool(key: Path, archive: Path, cluster) -> None:
    decrypt = subprocess.Popen(["age", "-d", "-i", str(key), str(archive)], stdout=subprocess.PIPE)
    listing = subprocess.run(["pg_restore", "--list"], stdin=decrypt.stdout, capture_output=True, text=True)
    decrypt.stdout.close()
    decrypt.wait()
    ok = listing.returncode == 0 and "TABLE DATA public fx_ticks" in listing.stdout
    print(f"age -d -i KEY {archive.name} | pg_restore --list: {'reads, fx_ticks data listed' if ok else 'FAILED'}")


if __name__ == "__main__":
    main()
