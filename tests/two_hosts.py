"""Two hosts on this machine (load with pytest_plugins): consoles that share one console database, each
with a BACKUP_ROOT of its own.

Host A and host B are told apart by CONSOLE_HOST_NAME: the same console
database (SQLite, so the ORM broker; or with Redis as the broker), their
own BACKUP_ROOT, VAR_DIR and scratch folder. A module picks the broker by
parametrizing `broker` (orm, redis), or by defining a `broker` fixture of
its own. A host's web server is a `manage.py shell` running Django's test
client as the superuser `admin`.
"""

import textwrap

import pytest

from tests.qcluster import Console, redis_server
from tests.s3server import CREDENTIALS, storage_fields


@pytest.fixture(params=["orm", "redis"])
def broker(request, tmp_path):
    if request.param == "orm":
        yield {}
        return
    with redis_server(tmp_path / "redis") as url:
        yield {"REDIS_URL": url}


@pytest.fixture
def hosts(tmp_path, pg_cluster, pagila, fresh_db, broker):
    source = fresh_db("two_hosts_shop", template=pagila)
    shared = {**broker, **CREDENTIALS, "DB_HOST": pg_cluster.host, "DB_PORT": str(pg_cluster.port),
              "DB_USER": pg_cluster.user, "DB_NAME": source, "DB_PASSWORD": pg_cluster.password,
              "JOB_HEARTBEAT_SECONDS": "1", "JOB_REAP_SECONDS": "1"}
    a = Console(tmp_path / "host-a", env={**shared, "CONSOLE_HOST_NAME": "host-a"}).migrate()
    b = Console(tmp_path / "host-b", env={**shared, "CONSOLE_HOST_NAME": "host-b"})
    for name in ("DATABASE_URL", "SECRET_KEY"):
        b.env[name] = a.env[name]
    b.db_path = a.db_path  # one console database: either host's rows() reads it
    a.source = source
    try:
        yield a, b
    finally:
        b.close()
        a.close()


def _as_admin(code: str) -> str:
    """Python for `manage.py shell`: `client`, Django's test client signed in as the superuser admin."""
    return textwrap.dedent("""
        import json
        from django.contrib.auth import get_user_model
        from django.contrib.messages import get_messages
        from django.test import Client
        from django.urls import reverse
        from django.utils.html import strip_tags  # messages link to their jobs; the words are what is read
        User = get_user_model()
        user = User.objects.filter(username="admin").first() or User.objects.create_superuser("admin", "", None)
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
    """) + textwrap.dedent(code)


def admin_on(console, model: str, data: dict) -> list[str]:
    """Post an admin form on this host's web server, as a superuser; the messages it shows."""
    return console.shell_json(_as_admin(f"""
        response = client.post(reverse("admin:backups_app_{model}_changelist"), {data!r})
        print(json.dumps([strip_tags(str(m)) for m in get_messages(response.wsgi_request)]))
    """))


def admin_page(console, url: str, data: dict | None = None) -> dict:
    """GET (or, with data, POST) a page of this host's web server as a superuser, following redirects:
    {"status", "html", "messages", "redirects", "attachment"}."""
    send = f"client.post({url!r}, {data!r}, follow=True)" if data is not None else f"client.get({url!r}, follow=True)"
    return console.shell_json(_as_admin(f"""
        response = {send}
        attachment = response.get("Content-Disposition", "")
        body = b"".join(response.streaming_content) if response.streaming else response.content
        print(json.dumps({{"status": response.status_code, "attachment": attachment,
                          "html": "" if attachment else body.decode(), "size": len(body),
                          "messages": [strip_tags(str(m)) for m in get_messages(response.wsgi_request)],
                          "redirects": [u for u, _code in response.redirect_chain]}}))
    """))


def backup_on(console) -> dict:
    console.manage("backup")
    return console.rows("SELECT * FROM backups_app_backuprecord ORDER BY id DESC LIMIT 1")[0]


def add_storage(console, s3_server, **fields) -> None:
    fields = storage_fields(s3_server, **fields)
    console.shell(f"from backups_app.models import BackupStorage; BackupStorage.objects.create(**{fields!r})")


def task_results(console) -> list[tuple]:
    """(task name, success, result) of every task the workers ran, oldest first."""
    return [tuple(t) for t in console.shell_json("""
        import json
        from django_q.models import Task
        print(json.dumps([[t.name, t.success, str(t.result)] for t in Task.objects.order_by("started")]))
    """)]


def backup_row(console, pk) -> dict:
    return console.rows("SELECT * FROM backups_app_backuprecord WHERE id = ?", (pk,))[0]


def admin_history(console) -> list[str]:
    """The admin's history of changes, oldest first, as stored."""
    return [r["change_message"] for r in console.rows("SELECT change_message FROM django_admin_log ORDER BY id")]
