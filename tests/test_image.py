"""The image as teams deploy it: built from HEAD, web and worker containers against a real PostgreSQL.

Everything runs as docs/docker.md and docs/deploy.md say (tests/containers.py
runs their blocks word for word): the image is built with podman from what git
holds, the web and worker containers reach a throwaway cluster on this
machine's 127.0.0.1 through slirp4netns, an admin logs in over HTTP and presses
"Back up now", the worker makes the backup, it restores with the same rows,
its files are 10001's and private, and both containers stop within 10 s of
SIGTERM. Then two worker containers with host networking, so one hostname, run
side by side: neither may take the other's running job for a lost one.
"""

import re
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests import containers
from tests.pgcluster import free_port

pytestmark = [pytest.mark.image, pytest.mark.slow]

CONSOLE_UID = 10001
CONTAINERS = ("bc-web", "bc-worker", "bc-worker-a", "bc-worker-b")
VOLUMES = ("bc-backups", "bc-var")
ROWS = 5000


@dataclass
class Deployment:
    port: int
    env_file: Path
    cluster: object
    dbname: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rows(self, query: str, params=()) -> list:
        """The console's own SQLite database, read from its volume (web and worker share it)."""
        path = containers.volume_path("bc-var") / "console.sqlite3"
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
            return db.execute(query, params).fetchall()

    def backup(self, pk: int) -> dict:
        [row] = self.rows("SELECT status, error, client, path, format FROM backups_app_backuprecord WHERE id = ?",
                          (pk,))
        return dict(zip(("status", "error", "client", "path", "format"), row, strict=True))


def env_file(path: Path, cluster, dbname: str, *, host: str, **extra) -> Path:
    settings = {"DB_HOST": host, "DB_PORT": cluster.port, "DB_NAME": dbname, "DB_USER": cluster.user,
                "DB_PASSWORD": cluster.password, "SECRET_KEY": secrets.token_urlsafe(40), "LANGUAGE_CODE": "en",
                **extra}
    path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def source_db(pg_cluster):
    name = "bc_image_source"
    pg_cluster.dropdb(name)
    pg_cluster.createdb(name)
    pg_cluster.sql("CREATE TABLE trades (id int PRIMARY KEY, symbol text, price numeric(12,4)); "
                   f"INSERT INTO trades SELECT g, 'SYM' || (g % 37), g * 1.25 FROM generate_series(1, {ROWS}) g",
                   dbname=name)
    yield name
    pg_cluster.dropdb(name)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, pg_cluster, source_db):
    containers.build_image()
    containers.remove(*CONTAINERS, *VOLUMES)
    base = tmp_path_factory.mktemp("image")
    # 10.0.2.2 is the host's 127.0.0.1 as slirp4netns shows it to the container.
    deployment = Deployment(free_port(), env_file(base / "console.env", pg_cluster, source_db, host="10.0.2.2"),
                            pg_cluster, source_db)
    containers.run_documented("docker.md", "### Running it against a PostgreSQL on this machine",
                              env={"port": str(deployment.port), "env_file": str(deployment.env_file)})
    yield deployment
    for name in CONTAINERS:
        print(f"--- {name}\n{containers.logs(name)[-4000:]}")
    containers.remove(*CONTAINERS, *VOLUMES)


def log_in(deployment: Deployment) -> requests.Session:
    session = requests.Session()
    page = containers.wait_for(lambda: _get_or_none(session, f"{deployment.url}/admin/login/"), timeout=120,
                               what="the login page", on_timeout=lambda: containers.logs("bc-web"))
    password = (containers.volume_path("bc-var") / "admin-password").read_text().strip()
    response = session.post(f"{deployment.url}/admin/login/?next=/admin/", data={
        "username": "admin", "password": password, "next": "/admin/", "csrfmiddlewaretoken": csrf_token(page)})
    assert response.status_code == 200 and response.url.endswith("/admin/"), response.text[:2000]
    assert 'name="password"' not in response.text
    return session


def _get_or_none(session, url):
    try:
        response = session.get(url, timeout=5)
    except requests.ConnectionError:
        return None
    return response if response.status_code == 200 else None


def csrf_token(response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text).group(1)


def back_up_now(session: requests.Session, deployment: Deployment) -> int:
    """The admin's Back up now on the default target: the action's page, then its form, as a browser posts them."""
    changelist = f"{deployment.url}/admin/backups_app/databasetarget/"
    page = session.get(changelist)
    [target] = re.findall(r'name="_selected_action" value="(\d+)"', page.text)
    asked = session.post(changelist, data={"action": "backup_now", "_selected_action": target, "index": "0",
                                           "csrfmiddlewaretoken": csrf_token(page)})
    assert asked.status_code == 200 and 'name="backup_type"' in asked.text, asked.text[:2000]
    done = session.post(changelist, data={"action": "backup_now", "_selected_action": target, "apply": "1",
                                          "backup_type": "manual", "format": "custom",
                                          "csrfmiddlewaretoken": csrf_token(asked)})
    assert done.status_code == 200 and "Queued" in done.text, done.text[:2000]
    [[pk]] = deployment.rows("SELECT max(id) FROM backups_app_backuprecord")
    return pk


def wait_ended(deployment: Deployment, pk: int, *, timeout: float = 180) -> dict:
    return containers.wait_for(lambda: (lambda r: r if r["status"] in ("succeeded", "failed") else None)(
        deployment.backup(pk)), timeout=timeout, what=f"backup #{pk} to end",
        on_timeout=lambda: containers.logs("bc-worker")[-4000:])


@pytest.fixture(scope="module")
def backup_from_admin(deployed):
    session = log_in(deployed)
    pk = back_up_now(session, deployed)
    return pk, wait_ended(deployed, pk)


def test_a_backup_queued_from_the_admin_is_made_by_the_worker_container(backup_from_admin):
    pk, record = backup_from_admin
    assert record["status"] == "succeeded", record["error"]
    # The client the console picked for this server, and why, is on the record.
    assert record["client"].startswith("pg_dump 17.10 (/usr/lib/postgresql/17/bin/pg_dump): for server 15"), \
        record["client"]
    assert "has zstd" in record["client"]


def test_the_backup_restores_with_the_same_rows(deployed, backup_from_admin):
    pk, _ = backup_from_admin
    into = "bc_image_restored"
    deployed.cluster.dropdb(into)
    try:
        proc = containers.podman("exec", "bc-worker", "python", "manage.py", "restore", str(pk), "--into", into,
                                 check=False)
        assert proc.returncode == 0, proc.stderr
        query = "SELECT id, symbol, price FROM trades ORDER BY id"
        restored = deployed.cluster.sql(query, dbname=into)
        assert len(restored) == ROWS and restored == deployed.cluster.sql(query, dbname=deployed.dbname)
    finally:
        deployed.cluster.dropdb(into)


def test_every_file_in_both_volumes_is_the_console_users_and_private(deployed, backup_from_admin):
    pk, record = backup_from_admin
    backups = containers.volume_path("bc-backups")
    assert (backups / record["path"]).is_file()
    assert (backups / "database" / "backup_log.txt").is_file()
    assert containers.private_tree_problems(backups, CONSOLE_UID) == []
    var = containers.volume_path("bc-var")
    assert (var / "console.sqlite3").is_file()
    # Static files are public by nature; everything else the console keeps is private.
    problems = [p for p in containers.private_tree_problems(var, CONSOLE_UID) if not p.startswith("static")]
    assert problems == []


def test_both_containers_stop_within_ten_seconds(deployed, backup_from_admin):
    started = time.monotonic()
    containers.run_documented("docker.md", "### Stopping")
    took = time.monotonic() - started
    states = {name: containers.state(name) for name in ("bc-web", "bc-worker")}
    assert took < 10, f"podman stop took {took:.1f} s"
    # 137 would be SIGKILL after the 10 s: each must have ended on SIGTERM by itself.
    assert {name: s["ExitCode"] for name, s in states.items()} == {"bc-web": 0, "bc-worker": 0}, states


def test_two_workers_sharing_a_hostname_never_take_each_others_running_job_for_lost(deployed, tmp_path):
    containers.remove("bc-web", "bc-worker")
    host_env = env_file(tmp_path / "host.env", deployed.cluster, deployed.dbname, host="127.0.0.1",
                        JOB_HEARTBEAT_SECONDS=1, JOB_LOST_AFTER_SECONDS=30, JOB_REAP_SECONDS=1)
    start_worker = dict(env_file=str(host_env))
    # With host networking the same server is 127.0.0.1, not 10.0.2.2: the operator says so once.
    containers.podman("run", "--rm", "--network", "host", "--env-file", str(host_env), "-v", "bc-backups:/app/backups",
                      "-v", "bc-var:/app/var", containers.IMAGE, "manage", "default_target", "--adopt-environment")
    containers.run_documented("deploy.md", "### Several workers on one host", env={**start_worker,
                                                                                   "name": "bc-worker-a"})
    wait_ready("bc-worker-a")
    with deployed.cluster.connect(deployed.dbname) as holder:
        # pg_dump waits for this lock: the backup stays running for as long as the test holds it.
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE trades IN ACCESS EXCLUSIVE MODE")
        pk = enqueue_backup(host_env)
        containers.wait_for(lambda: deployed.backup(pk)["status"] == "running", timeout=60,
                            what=f"backup #{pk} to start", on_timeout=lambda: containers.logs("bc-worker-a"))
        hosts = {containers.podman("exec", name, "hostname").stdout for name in ("bc-worker-a",)}
        # The second worker starts well after the claim: its processes are younger than the job, whether one
        # of them has the job's pid number (its own numbering) or none has.
        time.sleep(5)
        containers.run_documented("deploy.md", "### Several workers on one host", env={**start_worker,
                                                                                       "name": "bc-worker-b"})
        wait_ready("bc-worker-b")
        hosts.add(containers.podman("exec", "bc-worker-b", "hostname").stdout)
        assert len(hosts) == 1, hosts
        time.sleep(6)  # several recovery passes of both workers (JOB_REAP_SECONDS=1), the new one's first too
        # The second container cannot see the first one's pid: it must leave the job to its heartbeat.
        assert deployed.backup(pk)["status"] == "running", deployed.backup(pk)
        holder.execute("ROLLBACK")
    record = wait_ended(deployed, pk, timeout=120)
    assert record["status"] == "succeeded", record["error"]


def wait_ready(name: str) -> None:
    containers.wait_for(lambda: "running" in containers.logs(name) and "Q Cluster" in containers.logs(name),
                        timeout=120, what=f"{name}'s cluster", on_timeout=lambda: containers.logs(name))


def enqueue_backup(env: Path) -> int:
    """A backup queued as the admin's action queues it (a row, then the task once it commits)."""
    code = ("from django.db import transaction; from backups_app.services.backups import dump; "
            "from backups_app.services.jobs import queue; from backups_app.models import DatabaseTarget\n"
            "with transaction.atomic():\n"
            "    r = dump.backup_create(target=DatabaseTarget.objects.get(name='default'), backup_type='manual', "
            "fmt='custom', started_by='test')\n"
            "    queue.enqueue_backup(r)\n"
            "print(r.pk)")
    proc = containers.podman("run", "--rm", "--network", "host", "--env-file", str(env), "-v",
                             "bc-backups:/app/backups", "-v", "bc-var:/app/var", containers.IMAGE, "manage",
                             "shell", "-c", code)
    return int(proc.stdout.split()[-1])


def test_a_volume_the_console_cannot_write_stops_the_container_with_one_line(tmp_path):
    containers.build_image()
    root_only = tmp_path / "backups"
    root_only.mkdir(mode=0o700)
    proc = containers.podman("run", "--rm", "-v", f"{root_only}:/app/backups", containers.IMAGE, "worker",
                             check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("entrypoint: /app/backups is not writable by uid 10001; give the volume to that "
                                   "user (chown 10001:10001)")
