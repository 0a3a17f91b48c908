"""Server targets on the shared test cluster: patterns, an unreachable server, a few at a time, a database
dropped mid-run, retention per database, the admin, and a run stopped by a signal."""

import signal
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_q.models import OrmQ

from backups_app import tasks
from backups_app.models import BackupRecord, DatabaseTarget, Notification, RetentionPolicy, ServerRun
from backups_app.services.backups import server_run
from backups_app.services.retention import prune
from backups_app.services.targets import discovery
from tests import console_process, faultkit
from tests.admin_support import messages_of, post_action
from tests.conftest import PASSWORD_ENV
from tests.pgcluster import free_port

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def server(make_target):
    """server(include=...): a server target on the test cluster that backs up the databases the test made."""
    def make(include, name="srv", **fields):
        return make_target("postgres", name=name, kind="server", include_databases=include, **fields)
    return make


@pytest.fixture
def small_dbs(pg_cluster):
    """small_dbs(prefix, n): n small databases, each one table of a few rows; dropped at the end."""
    made = []

    def make(prefix, n):
        names = [f"{prefix}_{i}" for i in range(1, n + 1)]
        for name in names:
            pg_cluster.dropdb(name)
            pg_cluster.createdb(name)
            pg_cluster.sql(f"CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, {10 * len(name)})",
                           dbname=name)
            made.append(name)
        return names

    yield make
    for name in made:
        pg_cluster.dropdb(name)


def run(*args) -> str:
    out = StringIO()
    call_command("backup", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("include,exclude,expected", [
    ("", "", ["app", "app_test", "postgres", "sales"]),
    ("app*", "", ["app", "app_test"]),
    ("", "*_test\npostgres", ["app", "sales"]),
    ("sales\napp", "", ["app", "sales"]),
    ("APP*", "", []),  # names are matched as PostgreSQL spells them
    ("app*", "app_t?st", ["app"]),
])
def test_include_and_exclude_patterns_choose_the_databases(include, exclude, expected):
    found = ["sales", "app", "app_test", "postgres"]
    assert discovery.chosen(found, include=include, exclude=exclude) == expected


def test_an_unreachable_server_fails_the_run_in_one_line_and_changes_nothing(make_target, backup_root):
    make_target("postgres", name="down", kind="server", port=free_port())
    with pytest.raises(CommandError) as failure:
        run("--target", "down")
    message = str(failure.value)
    assert "\n" not in message and message.startswith("server run #")
    assert "failed" in message and "cannot connect" in message and "nothing was changed" in message
    assert DatabaseTarget.objects.count() == 1 and not BackupRecord.objects.exists()
    assert ServerRun.objects.get().status == "failed"


def own_console(tmp_path, cluster, include: str, **settings) -> dict:
    """A console of its own (a real SQLite file, as several threads and processes write it) with server target
    `srv` on the test cluster, backing up the databases `include` names."""
    env = console_process.console_env(tmp_path, cluster, "postgres", **settings)
    assert console_process.manage("migrate", "-v0", env=env).returncode == 0
    made = console_process.manage("shell", "-c", (
        "from backups_app.models import DatabaseTarget as T; "
        f"T.objects.create(name='srv', kind='server', dbname='postgres', host={cluster.host!r}, port={cluster.port}, "
        f"user={cluster.user!r}, password_env='DB_PASSWORD', include_databases={include!r})"), env=env)
    assert made.returncode == 0, made.stderr
    return env


def test_several_databases_are_backed_up_at_once_when_the_setting_says_so(small_dbs, pg_cluster, tmp_path):
    small_dbs("par", 6)
    env = own_console(tmp_path, pg_cluster, "par_*", SERVER_BACKUP_PARALLEL=3)
    done = console_process.manage("backup", "--target", "srv", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ok      par_") == 6 and "6 of 6 databases backed up" in done.stdout
    rows = console_process.console_rows(env, "SELECT status, started_at, finished_at, server_run_id "
                                             "FROM backups_app_backuprecord")
    assert len(rows) == 6 and {(r[0], r[3]) for r in rows} == {("succeeded", 1)}
    spans = [(r[1], r[2]) for r in rows]
    most = max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)
    assert 2 <= most <= 3, "a few at a time, never more than the setting"


def test_a_database_dropped_during_the_run_is_reported_and_skipped(server, small_dbs, pg_cluster, backup_root):
    small_dbs("mid", 2)
    target = server("mid_*")
    made = server_run.run_create(target=target, backup_type="manual", fmt="custom")
    done = server_run.run_execute(record_id=made.pk, on_database=lambda record: pg_cluster.dropdb("mid_2"))
    assert done.status == "succeeded", done.error
    assert done.dropped == ["mid_2"] and done.failed_databases == []
    assert "mid_2: dropped during the run, skipped" in done.detail
    assert list(BackupRecord.objects.values_list("target__dbname", "status")) == [("mid_1", "succeeded")]
    gone = DatabaseTarget.objects.get(dbname="mid_2")
    assert gone.dropped_at is not None and not gone.is_active
    assert Notification.objects.filter(kind="database_dropped", target=gone).count() == 1


def test_a_database_whose_name_is_no_slug_gets_a_target_and_a_file_of_its_own(server, pg_cluster, backup_root):
    pg_cluster.dropdb("Odd name")
    pg_cluster.createdb("Odd name")
    try:
        server("Odd name")
        run("--target", "srv")
    finally:
        pg_cluster.dropdb("Odd name")
    record = BackupRecord.objects.select_related("target").get()
    assert record.target.name.startswith("srv--Odd_name-") and record.target.dbname == "Odd name"
    assert record.absolute_path.name.startswith("Odd_name_manual_") and record.status == "succeeded"


def test_a_policy_of_the_server_target_prunes_each_database_on_its_own(server, small_dbs, backup_root):
    small_dbs("ret", 2)
    target = server("ret_*")
    for _ in range(3):
        run("--target", "srv")
    policy = RetentionPolicy.objects.create(name="keep two", target=target, keep_days=None, keep_last=2)
    pruned = prune.prune_policy(policy_id=policy.pk)
    assert len(pruned) == 2, "the oldest backup of each database"
    for child in DatabaseTarget.objects.filter(server=target):
        statuses = list(child.backups.order_by("created_at").values_list("status", flat=True))
        assert statuses == ["pruned", "succeeded", "succeeded"]
    listed = run("--list", "--target", "srv")
    assert listed.count("srv--ret_1") == 3 and listed.count("srv--ret_2") == 3, "the server's list is its databases'"


def test_the_admin_adds_a_server_target_and_backs_it_up_now(superuser_client, small_dbs, pg_cluster, backup_root,
                                                           monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv(PASSWORD_ENV, pg_cluster.password)
    small_dbs("adm", 2)
    response = superuser_client.post("/admin/backups_app/databasetarget/add/", {
        "name": "fleet", "kind": "server", "is_active": "on", "host": pg_cluster.host, "port": pg_cluster.port,
        "dbname": "postgres", "user": pg_cluster.user, "password_source": "env", "password_env": PASSWORD_ENV,
        "include_databases": "adm_*", "exclude_databases": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    target = DatabaseTarget.objects.get(name="fleet")
    response = post_action(superuser_client, "databasetarget", "test_connection", [target])
    assert any("would back up 2 databases: adm_1, adm_2" in m for m in messages_of(response)), messages_of(response)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(superuser_client, "databasetarget", "backup_now", [target], apply=True,
                               backup_type="daily", format="custom")
    queued = ServerRun.objects.get()
    assert (queued.status, queued.backup_type, queued.requested_by) == ("queued", "daily", superuser_client.user)
    assert OrmQ.objects.get().task["func"] == "backups_app.tasks.run_server_backup"
    # One run asked for: its page on the Jobs page, to watch it; the list names it too.
    job = f"/admin/jobs/server-run/{queued.pk}/"
    assert response.status_code == 302 and response["Location"] == job
    assert "every database of fleet" in superuser_client.get("/admin/jobs/").content.decode()
    assert tasks.run_server_backup(queued.pk) == "succeeded"
    page = superuser_client.get(job).content.decode()
    assert "adm_1, adm_2" in page and "bc-status-succeeded" in page
    assert sorted(BackupRecord.objects.values_list("target__name", "status")) == [
        ("fleet--adm_1", "succeeded"), ("fleet--adm_2", "succeeded")]
    # A database found on a server takes its settings from the server target: shown, not editable.
    page = superuser_client.get(f"/admin/backups_app/databasetarget/{DatabaseTarget.objects.get(dbname='adm_1').pk}"
                                "/change/").content.decode()
    assert 'name="host"' not in page and "Found on a server" in page


def test_a_server_target_name_too_long_for_its_databases_is_refused(superuser_client):
    response = superuser_client.post("/admin/backups_app/databasetarget/add/", {
        "name": "s" * 41, "kind": "server", "is_active": "on", "host": "db", "port": 5432, "dbname": "postgres",
        "user": "postgres", "password_source": "none", "include_databases": "", "exclude_databases": ""})
    assert response.status_code == 200 and "at most 40 characters" in response.content.decode()
    assert not DatabaseTarget.objects.exists()


@pytest.mark.slow
def test_a_run_stopped_by_a_signal_ends_every_running_database_failed_and_tidy(pg_cluster, tmp_path):
    for name in ("sig_1", "sig_2", "sig_3"):
        faultkit.make_ticks_db(pg_cluster, name, 400_000)
    try:
        env = own_console(tmp_path, pg_cluster, "sig_*", SERVER_BACKUP_PARALLEL=2)
        proc = console_process.start_manage("backup", "--target", "srv", env=env)
        root = tmp_path / "backups"
        saboteur = faultkit.Saboteur(when=faultkit.partial_growing(root), act=lambda: proc.send_signal(signal.SIGTERM))
        began = time.monotonic()
        out, err = proc.communicate(timeout=120)
        saboteur.done()
    finally:
        for name in ("sig_1", "sig_2", "sig_3"):
            pg_cluster.dropdb(name)
    assert proc.returncode == 1 and time.monotonic() - began < 60
    assert err.strip().count("\n") == 0, err
    rows = console_process.console_rows(env, "SELECT status, error FROM backups_app_backuprecord ORDER BY id")
    assert len(rows) == 2 and all(row == ("failed", "backup interrupted by SIGTERM") for row in rows), rows
    (status, error), = console_process.console_rows(env, "SELECT status, error FROM backups_app_serverrun")
    assert status == "failed" and error == "server run interrupted by SIGTERM"
    assert [p for p in root.rglob("*") if p.is_file() and p.name != "backup_log.txt"] == []
    assert faultkit.running_with_args("--port", str(pg_cluster.port)) == [], "no pg_dump left running"
