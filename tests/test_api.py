"""The HTTP API: every endpoint with each role (allowed and refused), tokens, bad input, throttling, history.

Calls go through Django's test client to the real routes; a restore that is
allowed is checked against the real test cluster (its backup is real), so
`202` means the console would really run it.
"""

import hashlib
import json
import shutil
import subprocess

import pytest
from django.contrib.admin.models import LogEntry
from django.core.cache import cache
from django.utils import timezone

from backups_app.models import BackupRecord, RestoreRecord, ServerRun, VerificationRecord
from backups_app.services.jobs import process
from backups_app.services.setup.roles import BACKUP_OPERATORS, POLICY_EDITORS, RESTORE_OPERATORS, VIEWERS
from backups_app.services.web import tokens

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = pytest.mark.django_db

SUPERUSER, NO_ROLE = "superuser", None
ROLES = [VIEWERS, POLICY_EDITORS, BACKUP_OPERATORS, RESTORE_OPERATORS, NO_ROLE, SUPERUSER]
EVERY_ROLE = {VIEWERS, POLICY_EDITORS, BACKUP_OPERATORS, RESTORE_OPERATORS, SUPERUSER}


@pytest.fixture(autouse=True)
def no_counts_left():
    """The throttles' counts live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def token_for(user_in, django_user_model):
    def make(role, name="pipeline"):
        if role == SUPERUSER:
            user = django_user_model.objects.create_superuser(username="root", email="", password=None)
        else:
            user = user_in(role)
        return tokens.create(user=user, name=name)[1]
    return make


@pytest.fixture(scope="module")
def shop_dump(pg_cluster, tmp_path_factory):
    """The database `api_shop` and one pg_dump of it, made once for the module."""
    pg_cluster.dropdb("api_shop")
    pg_cluster.createdb("api_shop")
    pg_cluster.sql("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 20)",
                   dbname="api_shop")
    path = tmp_path_factory.mktemp("api") / "api_shop.dump"
    subprocess.run(["pg_dump", "-Fc", "-d", "api_shop", "-f", str(path)], env=pg_cluster.client_env(), check=True)
    yield path
    pg_cluster.dropdb("api_shop")


@pytest.fixture
def world(make_target, shop_dump, backup_root):
    """A target with one restorable (and pinned) backup of it, and a server target with a finished run."""
    target = make_target("api_shop", name="shop")
    relative = "database/manual/api_shop_manual_1.dump"
    (backup_root / relative).parent.mkdir(parents=True)
    shutil.copyfile(shop_dump, backup_root / relative)
    sha = hashlib.sha256(shop_dump.read_bytes()).hexdigest()
    backup = BackupRecord.objects.create(
        target=target, backup_type="manual", format="custom", status="succeeded", path=relative,
        size_bytes=shop_dump.stat().st_size, sha256=sha, finished_at=timezone.now(), pinned=True,
        pinned_reason="kept for the audit", host=process.host())
    server = make_target("postgres", name="fleet", kind="server", include_databases="nothing_*")
    run = ServerRun.objects.create(target=server, backup_type="manual", format="custom", status="succeeded")
    return {"target": target, "backup": backup, "server": server, "run": run}


def call(client, method: str, path: str, token: str | None = None, body=None, **headers):
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = json.dumps(body) if body is not None else None
    return getattr(client, method.lower())(path, data=data, content_type="application/json", **headers)


def changes() -> tuple:
    return (BackupRecord.objects.count(), RestoreRecord.objects.count(), VerificationRecord.objects.count(),
            ServerRun.objects.count(), BackupRecord.objects.filter(pinned=True).count(), LogEntry.objects.count())


# (method, path, body, the roles allowed, the status when allowed); {b} the backup's id, {r} the server run's.
ENDPOINTS = [
    ("GET", "/api/v1/targets", None, EVERY_ROLE, 200),
    ("GET", "/api/v1/backups?target=shop&status=succeeded", None, EVERY_ROLE, 200),
    ("GET", "/api/v1/backups/{b}", None, EVERY_ROLE, 200),
    ("GET", "/api/v1/health", None, EVERY_ROLE, 200),
    ("GET", "/api/v1/jobs/backup/{b}", None, EVERY_ROLE, 200),
    ("GET", "/api/v1/jobs/backup/{b}/wait?timeout=0", None, EVERY_ROLE, 200),
    ("GET", "/api/v1/jobs/server_run/{r}", None, EVERY_ROLE, 200),
    ("POST", "/api/v1/targets/shop/backups", {"type": "daily"}, {BACKUP_OPERATORS, SUPERUSER}, 202),
    ("POST", "/api/v1/targets/fleet/backups", {}, {BACKUP_OPERATORS, SUPERUSER}, 202),
    ("POST", "/api/v1/backups/{b}/verify", {"drill": False}, {BACKUP_OPERATORS, SUPERUSER}, 202),
    ("POST", "/api/v1/backups/{b}/restore", {"into": "api_shop_copy"}, {RESTORE_OPERATORS, SUPERUSER}, 202),
    ("POST", "/api/v1/backups/{b}/pin", {"reason": "audit 7"}, {BACKUP_OPERATORS, SUPERUSER}, 200),
    ("DELETE", "/api/v1/backups/{b}/pin", None, {BACKUP_OPERATORS, SUPERUSER}, 200),
]


def role_id(role) -> str:
    return {None: "no-role"}.get(role, str(role).lower().replace(" ", "-"))


@pytest.mark.parametrize("role", ROLES, ids=role_id)
@pytest.mark.parametrize("method,path,body,allowed,status", ENDPOINTS, ids=lambda v: v if isinstance(v, str) else "")
def test_every_endpoint_answers_each_role_as_its_permissions_say(client, world, token_for, role, method, path,
                                                                 body, allowed, status):
    token = token_for(role)
    path = path.format(b=world["backup"].pk, r=world["run"].pk)
    before = changes()
    response = call(client, method, path, token, body)
    if role in allowed:
        assert response.status_code == status, response.content
        if method != "GET":
            entry = LogEntry.objects.order_by("-pk").first()
            assert entry is not None and "token “pipeline”" in entry.change_message
            assert entry.user.get_username() == ("root" if role == SUPERUSER else role_id(role))
    else:
        assert response.status_code == 403, response.content
        assert "may not" in response.json()["error"]
        assert changes() == before, "a refused call changes nothing"


def test_a_started_backup_is_a_job_that_can_be_seen_and_waited_for(client, world, token_for):
    token = token_for(BACKUP_OPERATORS)
    job = call(client, "POST", "/api/v1/targets/shop/backups", token, {"type": "manual", "format": "sql"}).json()
    assert (job["kind"], job["status"], job["done"], job["target"], job["database"]) == (
        "backup", "queued", False, "shop", "api_shop")
    record = BackupRecord.objects.get(pk=job["id"])
    assert record.format == "sql" and record.started_by == "backup-operators (API token pipeline)"
    started = timezone.now()
    waited = call(client, "GET", job["wait_url"] + "?timeout=1", token).json()
    assert waited["done"] is False and (timezone.now() - started).total_seconds() >= 0.9
    BackupRecord.objects.filter(pk=record.pk).update(status="failed", error="pg_dump: boom")
    assert call(client, "GET", job["url"], token).json()["error"] == "pg_dump: boom"
    done = call(client, "GET", job["wait_url"] + "?timeout=30", token).json()
    assert (done["done"], done["ok"], done["status"]) == (True, False, "failed")


def test_a_server_target_starts_a_server_run(client, world, token_for):
    job = call(client, "POST", "/api/v1/targets/fleet/backups", token_for(BACKUP_OPERATORS), {}).json()
    assert job["kind"] == "server_run" and job["url"] == f"/api/v1/jobs/server_run/{job['id']}"


def test_backups_are_filtered_by_target_database_status_type_and_time(client, world, token_for):
    token, backup = token_for(VIEWERS), world["backup"]
    BackupRecord.objects.create(target=world["target"], backup_type="daily", format="custom", status="failed")

    def ids(query):
        response = call(client, "GET", f"/api/v1/backups?{query}", token)
        assert response.status_code == 200, response.content
        return [b["id"] for b in response.json()["items"]]

    assert len(ids("")) == 2
    assert ids("status=succeeded") == [backup.pk] and ids("type=manual") == [backup.pk]
    assert ids("database=api_shop&type=daily") != [] and ids("database=elsewhere") == []
    assert ids("target=fleet") == [] and len(ids("target=shop")) == 2
    assert ids("since=2999-01-01T00:00:00Z") == [] and len(ids("since=2000-01-01")) == 2
    assert len(ids("since=0384-07-07T04:31:31%2B23:52")) == 2  # an offset PostgreSQL would refuse as written
    page = call(client, "GET", "/api/v1/backups?limit=1&offset=1", token).json()
    assert (page["count"], len(page["items"]), page["limit"], page["offset"]) == (2, 1, 1, 1)
    item = call(client, "GET", f"/api/v1/backups/{backup.pk}", token).json()
    assert item["restorable"] is True and item["sha256"] == backup.sha256


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic dXNlcjpwdw==",
                                    "Bearer bc_AAAAAAAAAAAA_" + "x" * 43])
def test_without_a_valid_token_it_is_401_whether_or_not_the_backup_exists(client, world, header):
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    there = call(client, "GET", f"/api/v1/backups/{world['backup'].pk}", **headers)
    missing = call(client, "GET", "/api/v1/backups/999999", **headers)
    assert there.status_code == missing.status_code == 401
    assert there.content == missing.content and "valid API token" in there.json()["error"]
    assert there["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_refused_permission_is_403_whether_or_not_the_object_exists(client, world, token_for):
    token = token_for(NO_ROLE)
    for path in ("/api/v1/backups/{}", "/api/v1/jobs/backup/{}", "/api/v1/jobs/restore/{}"):
        there = call(client, "GET", path.format(world["backup"].pk), token)
        missing = call(client, "GET", path.format(999999), token)
        assert there.status_code == missing.status_code == 403 and there.content == missing.content
    operator = token_for(BACKUP_OPERATORS, name="other")
    there = call(client, "POST", f"/api/v1/backups/{world['backup'].pk}/restore", operator, {"into": "x_copy"})
    missing = call(client, "POST", "/api/v1/backups/999999/restore", operator, {"into": "x_copy"})
    assert there.status_code == missing.status_code == 403 and there.content == missing.content


@pytest.mark.parametrize("change", ["revoked", "expired", "inactive", "not staff"])
def test_a_token_is_refused_once_revoked_expired_or_its_user_may_no_longer_sign_in(client, world, token_for,
                                                                                   change):
    raw = token_for(VIEWERS)
    assert call(client, "GET", "/api/v1/targets", raw).status_code == 200
    token = tokens.authenticate(raw)
    if change == "revoked":
        assert tokens.revoke(token)
    elif change == "expired":
        type(token).objects.filter(pk=token.pk).update(expires_at=timezone.now())
    else:
        field = "is_active" if change == "inactive" else "is_staff"
        type(token.user).objects.filter(pk=token.user_id).update(**{field: False})
    assert call(client, "GET", "/api/v1/targets", raw).status_code == 401


def test_a_token_is_kept_only_as_its_hash(token_for):
    raw = token_for(VIEWERS)
    row = tokens.authenticate(raw)
    assert raw not in json.dumps(list(type(row).objects.values()), default=str)
    assert row.digest == tokens.digest_of(raw) and raw.startswith(f"bc_{row.key_id}_")


@pytest.mark.parametrize("method,path,body,needle", [
    ("GET", "/api/v1/backups/999999", None, "no backup #999999"),
    ("GET", "/api/v1/backups/0", None, "bad input"),
    ("GET", f"/api/v1/backups/{2**70}", None, "bad input"),
    ("GET", "/api/v1/backups/abc", None, "bad input"),
    ("GET", "/api/v1/backups?limit=1000000000", None, "bad input"),
    ("GET", "/api/v1/backups?offset=-1", None, "bad input"),
    ("GET", "/api/v1/backups?status=lost", None, "bad input"),
    ("GET", "/api/v1/backups?since=yesterday", None, "bad input"),
    ("GET", "/api/v1/backups?since=0001-01-01T00:00:00%2B14:00", None, "out of range"),
    ("GET", "/api/v1/backups?target=no%00pe", None, "no target named"),
    ("GET", "/api/v1/backups?target=nope", None, "no target named 'nope'"),
    ("GET", "/api/v1/backups?database=a%00b", None, "bad input"),
    ("GET", "/api/v1/jobs/backup/999999", None, "no backup #999999"),
    ("GET", "/api/v1/jobs/dump/1", None, "bad input"),
    ("GET", "/api/v1/jobs/backup/{b}/wait?timeout=-1", None, "bad input"),
    ("GET", "/api/v1/jobs/backup/{b}/wait?timeout=1e308", None, "bad input"),
    ("POST", "/api/v1/targets/nope/backups", {}, "no target named"),
    ("POST", "/api/v1/targets/shop/backups", {"type": "hourly"}, "bad input"),
    ("POST", "/api/v1/targets/shop/backups", "[1, 2]", "the body must be a JSON object"),
    ("POST", "/api/v1/backups/{b}/verify", "true", "the body must be a JSON object"),
    ("POST", "/api/v1/backups/{b}/restore", {"into": "template1"}, "a template database"),
    ("POST", "/api/v1/backups/{b}/restore", {"into": "bad name;"}, "not a usable database name"),
    ("POST", "/api/v1/backups/{b}/restore", {"into": "x" * 64}, "bad input"),
    ("POST", "/api/v1/backups/{b}/restore", {"into": "copy", "jobs": 10**12}, "bad input"),
    ("POST", "/api/v1/backups/{b}/restore", {"into": "copy", "server": "nowhere"}, "no target named"),
    ("POST", "/api/v1/backups/{b}/restore", {"into": "copy", "tables": ["no.such"]}, "not in backup"),
    ("POST", "/api/v1/backups/{b}/restore", {}, "bad input"),
    ("POST", "/api/v1/backups/{b}/pin", {"reason": ""}, "bad input"),
    ("POST", "/api/v1/backups/{b}/pin", {"reason": "a\x00b"}, "control characters"),
])
def test_bad_input_is_one_clear_json_error_and_never_a_500(client, world, token_for, method, path, body, needle):
    path = path.format(b=world["backup"].pk)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(SUPERUSER)}"}
    data = body if isinstance(body, str) else (json.dumps(body) if body is not None else None)
    before = changes()
    response = getattr(client, method.lower())(path, data=data, content_type="application/json", **headers)
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    assert needle in response.json()["error"], response.json()
    assert changes() == before


def test_an_unreadable_body_is_a_json_error(client, world, token_for):
    response = client.post("/api/v1/targets/shop/backups", data="{not json", content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token_for(SUPERUSER)}")
    assert 400 <= response.status_code < 500 and "error" in response.json()


def test_calls_past_the_rate_are_429_with_a_time_to_wait(client, world, token_for, settings):
    settings.API_THROTTLE_RATE = "3/min"
    token = token_for(VIEWERS)
    codes = [call(client, "GET", "/api/v1/targets", token).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    last = call(client, "GET", "/api/v1/targets", token)
    assert "too many calls" in last.json()["error"] and int(last["Retry-After"]) > 0
    assert call(client, "GET", "/api/v1/targets", token_for(BACKUP_OPERATORS, name="b")).status_code == 200


def test_invalid_tokens_from_one_address_are_slowed_down(client, world, token_for, settings):
    settings.API_FAILED_AUTH_RATE = "2/min"
    codes = [call(client, "GET", "/api/v1/targets", "bc_AAAAAAAAAAAA_" + "y" * 43).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    assert call(client, "GET", "/api/v1/targets", token_for(VIEWERS)).status_code == 429, "the address waits"


def test_the_openapi_document_is_served_and_lists_every_endpoint(client):
    document = client.get("/api/v1/openapi.json").json()
    assert document["info"]["title"] == "Backup Console API"
    assert set(document["paths"]) >= {"/api/v1/targets", "/api/v1/backups", "/api/v1/backups/{backup_id}",
                                      "/api/v1/targets/{name}/backups", "/api/v1/jobs/{kind}/{job_id}",
                                      "/api/v1/jobs/{kind}/{job_id}/wait", "/api/v1/backups/{backup_id}/verify",
                                      "/api/v1/backups/{backup_id}/restore", "/api/v1/backups/{backup_id}/pin",
                                      "/api/v1/health"}
