"""A server as a target, against a real server holding several databases.

One TimescaleDB-loaded cluster holds: `app` (plain tables), `tsdb` (a
hypertable with compressed chunks and a continuous aggregate), `secret`
(CONNECT revoked from the backup role), `old` (dropped between two runs)
and `scratch_1` (left out by an exclude pattern). The server target backs
up as `backup_role`, a non-superuser with pg_read_all_data. Runs are the
real `manage.py backup --target fleet`; every backup is restored with the
console's own restore and compared with its source, table by table.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from backups_app.models import BackupRecord, DatabaseTarget, Notification, ServerRun
from backups_app.services.setup.roles import VIEWERS
from tests.dbcompare import object_counts, row_counts
from tests.restore_helpers import dropping, run_restore
from tests.test_timescale_real import FX, assert_same_as_source, refresh, snapshot, ts_cluster  # noqa: F401

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PASSWORD_ENV = "BACKUP_PG_PASSWORD_FLEET"
SUPER_ENV = "BACKUP_PG_PASSWORD_FLEET_SU"
ROLE_PASSWORD = "fleet-role-pw-7"
DATABASES = ("app", "tsdb", "secret", "old", "scratch_1")


@pytest.fixture(scope="module")
def fleet(ts_cluster):  # noqa: F811
    """The server's databases and the backup role, made once for the module."""
    c = ts_cluster
    for name in (*DATABASES, "newdb"):
        c.dropdb(name)
    c.sql("DROP ROLE IF EXISTS backup_role")
    c.sql(f"CREATE ROLE backup_role LOGIN PASSWORD '{ROLE_PASSWORD}' IN ROLE pg_read_all_data")
    for name in DATABASES:
        c.createdb(name)
    c.sql("CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL); "
          "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g; "
          "CREATE VIEW long_items AS SELECT * FROM items WHERE length(label) > 7", dbname="app")
    c.sql(FX, dbname="tsdb")
    with c.connect("tsdb") as conn:
        refresh(conn)
    c.sql("REVOKE CONNECT ON DATABASE secret FROM PUBLIC")
    c.sql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)", dbname="old")
    yield c
    for name in (*DATABASES, "newdb"):
        c.dropdb(name)


@pytest.fixture
def targets(db, fleet, monkeypatch, backup_root):
    monkeypatch.setenv(PASSWORD_ENV, ROLE_PASSWORD)
    monkeypatch.setenv(SUPER_ENV, fleet.password)
    server = DatabaseTarget.objects.create(
        name="fleet", kind="server", dbname="postgres", host=fleet.host, port=fleet.port, user="backup_role",
        password_env=PASSWORD_ENV, exclude_databases="scratch_*")
    superuser = DatabaseTarget.objects.create(
        name="fleet-su", dbname="postgres", host=fleet.host, port=fleet.port, user=fleet.user,
        password_env=SUPER_ENV)
    return server, superuser


def backup(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("backup", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), ""


def restored_equal(cluster, source: str, copy: str) -> None:
    assert row_counts(cluster, copy) == row_counts(cluster, source)
    assert object_counts(cluster, copy) == object_counts(cluster, source)


def test_each_database_is_backed_up_the_failure_named_the_new_one_found_the_dropped_one_told_once(
        fleet, targets, backup_root):
    server, superuser = targets
    out, error = backup("--target", "fleet", "--type", "daily")

    run = ServerRun.objects.get()
    # Every database that is not a template, the maintenance database postgres too (as pg_dumpall would).
    assert run.status == "partly_failed" and run.databases == ["app", "old", "postgres", "secret", "tsdb"]
    assert run.failed_databases == ["secret"]
    assert error.startswith(f"server run #{run.pk} of fleet partly_failed: 4 of 5 databases backed up")
    assert "1 of 5 databases failed: secret (backup #" in error and "permission denied" in error
    assert "FAILED  secret: backup #" in out and "ok      tsdb: backup #" in out
    backups = {b.target.dbname: b for b in BackupRecord.objects.select_related("target")}
    assert {n: b.status for n, b in backups.items()} == {
        "app": "succeeded", "old": "succeeded", "postgres": "succeeded", "secret": "failed", "tsdb": "succeeded"}
    assert all(b.target.server == server and b.server_run == run for b in backups.values())
    assert "timescaledb" in backups["tsdb"].extensions and "timescaledb" not in backups["app"].extensions
    # The roles file of the run, once, beside each dump.
    roles = {b.globals_absolute_path.read_text() for n, b in backups.items() if n != "secret"}
    assert len(roles) == 1 and "CREATE ROLE backup_role" in roles.pop()
    assert not DatabaseTarget.objects.filter(dbname="scratch_1").exists(), "left out by the exclude pattern"

    check, check_error = backup("--check", "--target", "fleet")
    assert "STALE  fleet--secret (database secret of server fleet): no restorable backup yet" in check
    assert check_error == "1 of 5 targets are not healthy: fleet--secret (database secret of server fleet)"

    fleet.createdb("newdb")
    fleet.sql("CREATE TABLE n (id int); INSERT INTO n SELECT generate_series(1, 42)", dbname="newdb")
    fleet.dropdb("old")
    _, error = backup("--target", "fleet", "--type", "daily")
    second = ServerRun.objects.order_by("-pk").first()
    assert (second.added, second.dropped, second.failed_databases) == (["newdb"], ["old"], ["secret"])
    assert "new: newdb" in error and "dropped (backups kept): old" in error
    old = DatabaseTarget.objects.get(name="fleet--old")
    assert old.dropped_at is not None and not old.is_active
    assert old.backups.get().status == "succeeded", "a dropped database's backups stay"
    assert Notification.objects.filter(kind="database_dropped", target=old).count() == 1

    backup("--target", "fleet", "--type", "daily")
    third = ServerRun.objects.order_by("-pk").first()
    assert third.dropped == [] and third.added == [], "told once: the next run knows it already"
    assert Notification.objects.filter(kind="database_dropped").count() == 1

    # Each restores exactly, as a single database's backup does (TimescaleDB as a superuser's restore).
    newest = {b.target.dbname: b for b in BackupRecord.objects.filter(server_run=third, status="succeeded")}
    assert set(newest) == {"app", "newdb", "postgres", "tsdb"}
    with dropping(fleet, "app_copy", "newdb_copy", "tsdb_copy"):
        for name in ("app", "newdb"):
            record = run_restore(newest[name], f"{name}_copy", server=superuser)
            assert record.status == "succeeded", record.error
            restored_equal(fleet, name, f"{name}_copy")
        record = run_restore(newest["tsdb"], "tsdb_copy", server=superuser)
        assert record.status == "succeeded", record.error
        assert_same_as_source(snapshot(fleet, "tsdb_copy"), snapshot(fleet, "tsdb"))
        # One table alone, over a database that exists.
        fleet.sql("DELETE FROM items WHERE id > 10", dbname="app_copy")
        record = run_restore(newest["app"], "app_copy", server=superuser, tables=["public.items"], overwrite=True)
        assert record.status == "succeeded", record.error
        assert row_counts(fleet, "app_copy")["public.items"] == 500


def test_health_metrics_and_the_dashboard_name_the_database_that_failed(fleet, targets, backup_root, settings,
                                                                       as_role):
    backup("--target", "fleet", "--type", "daily")
    settings.METRICS_TOKEN = "metrics-token-for-fleet"
    client = Client()
    health = client.get("/healthz", HTTP_AUTHORIZATION="Bearer metrics-token-for-fleet").json()
    secret = next(t for t in health["targets"] if t["target"] == "fleet--secret")
    assert (secret["server"], secret["database"], secret["ok"]) == ("fleet", "secret", False)
    assert not any(t["target"] == "fleet" for t in health["targets"]), "the server is watched through its databases"
    metrics = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-for-fleet").content.decode()
    assert 'backupconsole_target_info{database="secret",server="fleet",target="fleet--secret"} 1.0' in metrics
    assert 'backupconsole_target_healthy{target="fleet--secret"} 0.0' in metrics
    assert 'backupconsole_target_healthy{target="fleet--tsdb"} 1.0' in metrics
    page = as_role(VIEWERS).get("/admin/").content.decode()
    assert 'id="bc-target-fleet--secret"' in page and "database secret of server fleet" in page
    assert 'id="bc-server-fleet"' in page and "failed: secret" in page
