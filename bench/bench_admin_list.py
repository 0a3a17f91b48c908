"""The backup list with 100,000 records: how many queries, and how long a page takes to render.

    /work/main/.venv/bin/python bench/bench_admin_list.py [--records 100000] [--runs 7] [--targets 200 --server]

Builds a throwaway SQLite console database (the default kind) in a temporary
folder, fills it with bulk_create, and renders the BackupRecord changelist as
a logged-in superuser through Django's test client. Prints, for each page,
the query count, the median and best wall time, the median CPU time of this
process (what the page costs when the machine is not shared) and the time
spent in SQL. The target: under 0.5 s, with a query count that does not grow
with the number of rows.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_SECONDS = 0.5


def configure(tmp: Path) -> None:
    os.environ.update({
        "VAR_DIR": str(tmp), "DATABASE_URL": f"sqlite:///{tmp / 'console.sqlite3'}",
        "BACKUP_ROOT": str(tmp / "backups"), "ALLOWED_HOSTS": "testserver", "SECRET_KEY": "bench-only",
        "DJANGO_SETTINGS_MODULE": "backupconsole.settings", "LOG_LEVEL": "WARNING",
    })
    (tmp / "static").mkdir(exist_ok=True)  # STATIC_ROOT; whitenoise warns on every request without it
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def make_targets(count: int, *, server: bool) -> list:
    """count single-database targets, or (server) the databases of one server target, as its runs make them."""
    from backups_app.models import DatabaseTarget

    parent = DatabaseTarget.objects.get_or_create(name="fleet", kind="server", dbname="postgres")[0] if server else None
    prefix = "fleet--" if server else ""
    return [DatabaseTarget.objects.get_or_create(name=f"{prefix}db{i}", dbname=f"trading_{i}", server=parent)[0]
            for i in range(count)]


def populate(count: int, *, targets: int = 5, server: bool = False) -> None:
    from django.utils import timezone

    from backups_app.models import BackupRecord

    targets = make_targets(targets, server=server)
    now = timezone.now()
    statuses = ["succeeded"] * 16 + ["failed", "pruned", "pruned", "succeeded"]
    created_at = BackupRecord._meta.get_field("created_at")
    created_at.auto_now_add = False  # keep the spread-out creation times we give
    try:
        batch = []
        for i in range(count):
            status = "running" if i < 2 else statuses[i % len(statuses)]
            batch.append(BackupRecord(
                target=targets[i % len(targets)], backup_type=["daily", "weekly", "monthly", "manual"][i % 4],
                format="custom" if i % 3 else "sql", status=status, created_at=now - timedelta(minutes=30 * i),
                started_at=now - timedelta(minutes=30 * i),
                duration_seconds=None if status == "running" else 60 + i % 900,
                path=f"database/daily/trading_{i % len(targets)}_daily_{i}.dump", size_bytes=(i % 997) * 1024 ** 2,
                bytes_written=(i % 997) * 1024 ** 2, sha256="0" * 64,
                error="pg_dump failed: connection lost\nmore detail" if status == "failed" else "",
            ))
            if len(batch) == 5000:
                BackupRecord.objects.bulk_create(batch)
                batch = []
        BackupRecord.objects.bulk_create(batch)
    finally:
        created_at.auto_now_add = True


def measure(client, url: str, runs: int):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)  # warm-up: templates, caches
    assert response.status_code == 200, (url, response.status_code)
    times, cpu = [], []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        assert response.status_code == 200
    rows = response.content.count(b'name="_selected_action"')
    db_seconds = sum(float(q["time"]) for q in queries.captured_queries)
    return len(queries), rows, statistics.median(times), min(times), statistics.median(cpu), db_seconds, queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--targets", type=int, default=5, help="targets the backups are spread over")
    parser.add_argument("--server", action="store_true",
                        help="the targets are the databases of one server target (docs/servers.md)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of the default page")
    parser.add_argument("--keep", metavar="DIR", help="keep the database in DIR and reuse it next time")
    opts = parser.parse_args()
    tmp = Path(opts.keep or tempfile.mkdtemp(prefix="bc-bench-admin-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        configure(tmp)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse

        from backups_app.models import BackupRecord

        call_command("migrate", verbosity=0)
        if BackupRecord.objects.count() != opts.records:
            BackupRecord.objects.all().delete()
            start = time.perf_counter()
            populate(opts.records, targets=opts.targets, server=opts.server)
            print(f"{opts.records} BackupRecords created in {time.perf_counter() - start:.1f} s "
                  f"(SQLite, {tmp / 'console.sqlite3'})")
        client = Client()
        user = get_user_model().objects.filter(username="bench").first()
        client.force_login(user or get_user_model().objects.create_superuser("bench", "", None))
        base = reverse("admin:backups_app_backuprecord_changelist")
        from django.utils import timezone

        year = timezone.localtime().year
        pages = [
            ("default list (page 1)", base),
            ("status=failed", base + "?status__exact=failed"),
            ("target + type filter", base + "?target__id__exact=2&backup_type__exact=daily"),
            (f"date hierarchy: {year}", base + f"?created_at__year={year}"),
            ("search by file name", base + "?q=daily_4242"),
            ("page 200", base + "?p=200"),
            ("targets (last good backup)", reverse("admin:backups_app_databasetarget_changelist")),
        ]
        print(f"{'page':28} {'queries':>7} {'rows':>5} {'wall median':>11} {'wall best':>9} {'CPU median':>10} "
              f"{'in SQL':>7}")
        worst = 0.0
        for label, url in pages:
            count, rows, median, best, cpu, db_seconds, queries = measure(client, url, opts.runs)
            worst = max(worst, median)
            print(f"{label:28} {count:7d} {rows:5d} {median * 1000:9.0f}ms {best * 1000:7.0f}ms {cpu * 1000:8.0f}ms "
                  f"{db_seconds * 1000:5.0f}ms")
            if opts.show_queries:
                for q in queries.captured_queries:
                    print(f"    {q['time']}s  {q['sql'][:160]}")
        verdict = "OK" if worst < LIMIT_SECONDS else "TOO SLOW"
        print(f"slowest wall median {worst * 1000:.0f} ms (limit {LIMIT_SECONDS * 1000:.0f} ms): {verdict}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall exceeds CPU when shared)")
        return 0 if worst < LIMIT_SECONDS else 1
    finally:
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
