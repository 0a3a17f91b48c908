"""Workers on two hosts sharing only object storage, the console's PostgreSQL database and a Redis broker.

Host A and host B are two console instances with their own BACKUP_ROOT,
VAR_DIR and scratch folders (no folder is shared), the same DATABASE_URL
and REDIS_URL, and the same S3 server. A's worker backs up; A's cluster is
stopped; B's worker lists, verifies (with a drill), restores and prunes.
"""

import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.console_pg import PostgresConsole
from tests.dbcompare import row_counts
from tests.qcluster import Console, redis_server
from tests.s3server import CREDENTIALS, storage_fields

pytest_plugins = ["tests.s3_fixtures"]
pytestmark = [pytest.mark.slow, pytest.mark.requires("redis-server", package="redis-server")]


def console_server_url(pg_cluster) -> str:
    """The console database's server: the suite's own when it runs on PostgreSQL, else the test cluster."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    password = quote(pg_cluster.password, safe="")
    return f"postgres://{pg_cluster.user}:{password}@{pg_cluster.host}:{pg_cluster.port}/postgres"


@pytest.fixture
def hosts(tmp_path, pg_cluster, s3_server):
    with redis_server(tmp_path / "redis") as redis_url:
        shared = {"REDIS_URL": redis_url, **CREDENTIALS, "JOB_TURN_SLICE_SECONDS": "0.5"}
        a = PostgresConsole(tmp_path / "host-a", server_url=console_server_url(pg_cluster), env=shared).migrate()
        b = Console(tmp_path / "host-b", env=shared)
        for name in ("DATABASE_URL", "SECRET_KEY"):
            b.env[name] = a.env[name]
        b.env["BACKUP_SCRATCH_DIR"] = str(tmp_path / "host-b" / "scratch")
        try:
            yield a, b
        finally:
            b.close()
            a.close()


def dumps_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and ".dump" in p.name) if folder.exists() else []


def test_a_backup_made_on_one_host_is_listed_verified_restored_and_pruned_on_another(
        hosts, pg_cluster, pagila, fresh_db, s3_server):
    a, b = hosts
    source = fresh_db("offsite_two_hosts", template=pagila)
    a.add_target("shop", dbname=source, cluster=pg_cluster)
    b.env["BACKUP_PG_PASSWORD_TEST"] = a.env["BACKUP_PG_PASSWORD_TEST"]
    fields = storage_fields(s3_server, keep_local_copy=False)
    a.shell(f"from backups_app.models import BackupStorage; BackupStorage.objects.create(**{fields!r})")

    with a.qcluster(workers=1):
        ids = a.enqueue_backups(["shop", "shop"])
        a.wait_for_jobs(ids, timeout=180)
        # A backup ends succeeded once its local copy is good; its upload ends after.
        rows = a.wait(lambda: all(r["offsite_status"] != "uploading" for r in a.jobs(ids)) and a.jobs(ids),
                      timeout=120, what="the uploads")
    assert [(r["status"], r["offsite_status"], r["local_removed"]) for r in rows] == [
        ("succeeded", "uploaded", True)] * 2, [(r["id"], r["error"], r["offsite_detail"]) for r in rows]
    assert dumps_under(a.backup_root) == []
    old, new = ids
    keys = s3_server.keys()
    assert len(keys) == 4 and all(k.startswith("consoles/test/database/manual/offsite_two_hosts_manual_") for k in keys)

    # Host B has never seen the files, only the records.
    listed = json.loads(b.manage("backup", "--list", "--json").stdout)
    assert [(i["id"], i["offsite"]) for i in listed] == [(new, "uploaded"), (old, "uploaded")]
    assert listed[0]["offsite_url"].startswith("s3://bc-offsite-test/consoles/test/database/manual/")

    with b.qcluster(workers=2) as cluster_b:
        jobs = b.shell_json(f"""
            import json
            from django.db import transaction
            from backups_app.models import BackupRecord
            from backups_app.services.jobs import queue
            from backups_app.services.restores import restore
            from backups_app.services.verify import verify
            with transaction.atomic():
                v = verify.verify_create(backup=BackupRecord.objects.get(pk={old}), drill=True, started_by="test")
                queue.enqueue_verify(v)
                r = restore.restore_create(backup=BackupRecord.objects.get(pk={new}), into="offsite_on_host_b",
                                           with_globals=True, started_by="test")
                queue.enqueue_restore(r)
            print(json.dumps([v.pk, r.pk]))
        """)
        try:
            verification, = a.wait_for_jobs([jobs[0]], timeout=240, table="backups_app_verificationrecord")
            restored, = a.wait_for_jobs([jobs[1]], timeout=240, table="backups_app_restorerecord")
            assert verification["status"] == "succeeded", verification["detail"]
            assert "fetched from consoles/test/database/manual/" in verification["detail"]
            assert "drill: restore #" in verification["detail"]
            assert restored["status"] == "succeeded", restored["error"]
            assert row_counts(pg_cluster, "offsite_on_host_b") == row_counts(pg_cluster, source)
        finally:
            pg_cluster.dropdb("offsite_on_host_b")

        b.shell("""
            from backups_app.models import RetentionPolicy
            from backups_app.services.jobs import queue
            from django.db import transaction
            with transaction.atomic():
                p = RetentionPolicy.objects.create(name="keep one", keep_days=None, keep_last=1, min_keep=1)
                queue.enqueue_prune(p, started_by="test")
        """)
        pruned = b.wait(lambda: a.rows("SELECT * FROM backups_app_backuprecord WHERE id = ? AND status = 'pruned'",
                                       (old,)), timeout=120, what="the prune on host B")
        assert "fetched s3://bc-offsite-test/consoles/test/database/manual/" in cluster_b.log()

    assert pruned[0]["offsite_status"] == "deleted"
    assert "deleted s3://bc-offsite-test/consoles/test/database/manual/" in pruned[0]["offsite_detail"]
    survivor = a.rows("SELECT offsite_key, offsite_globals_key FROM backups_app_backuprecord WHERE id = ?", (new,))[0]
    assert s3_server.keys() == sorted(survivor.values())
    # B only ever held its fetched copies in its scratch folder, and removed them.
    assert dumps_under(b.backup_root) == []
    assert list((b.base / "scratch").iterdir()) == []
