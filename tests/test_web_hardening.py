"""The web console locked down: sign-in throttling, HTTPS settings check --deploy accepts, no inline scripts."""

import re
import secrets
import subprocess

import pytest
from django.contrib import admin
from django.urls import reverse

from backups_app.models import BackupRecord, DatabaseTarget
from tests import console_process
from tests.admin_support import post_action
from tests.qcluster import Console

pytest_plugins = ["tests.admin_fixtures"]

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "a-long-enough-password-8472"


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)


def sign_in(client, password):
    return client.post(LOGIN, {"username": "operator", "password": password})


def signed_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_the_right_password_after_fewer_failures_than_the_limit_signs_in(client, operator, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "wrong").status_code == 200  # the login form again, with its error
    assert sign_in(client, PASSWORD).status_code == 302
    assert signed_in(client)


def test_after_the_limit_of_wrong_passwords_even_the_right_one_is_refused(client, operator, settings):
    assert settings.AXES_FAILURE_LIMIT == 5, "docs/configuration.md documents LOGIN_FAILURE_LIMIT=5"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong")
    refused = sign_in(client, PASSWORD)
    assert refused.status_code == 429
    assert not signed_in(client)


def test_a_locked_out_user_name_does_not_lock_out_the_others(client, operator, django_user_model, settings):
    django_user_model.objects.create_superuser("other", "other@example.com", PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong")
    assert client.post(LOGIN, {"username": "other", "password": PASSWORD}).status_code == 302


# -- Content-Security-Policy ---------------------------------------------------

def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def test_every_page_carries_a_policy_that_forbids_inline_scripts(client, operator):
    for response in (client.get(LOGIN), sign_in(client, PASSWORD), client.get("/admin/")):
        csp = policy(response)
        assert csp["script-src"] == ["'self'"]
        assert csp["default-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def inline_scripts(html: str) -> list[str]:
    found = INLINE_SCRIPT.findall(html) + INLINE_HANDLER.findall(html)
    return found + (["javascript: URL"] if "javascript:" in html else [])


@pytest.fixture
def busy_console(db):
    target = DatabaseTarget.objects.create(name="main", dbname="trading_system")
    BackupRecord.objects.create(target=target, backup_type="manual", format="custom", status="running")
    done = BackupRecord.objects.create(target=target, backup_type="daily", format="custom", status="succeeded",
                                       path="database/daily/x.dump", size_bytes=10)
    return target, done


def console_pages(client, target, done):
    """Every list and add page of the console's admin, a running job's page, and the action forms."""
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        for view in ("changelist", "add"):
            yield f"{info} {view}", client.get(reverse(f"admin:{info[0]}_{info[1]}_{view}"))
    yield "backup page", client.get(reverse("admin:backups_app_backuprecord_change", args=[done.pk]))
    yield "backup_now", post_action(client, "databasetarget", "backup_now", [target])
    yield "restore_backup", post_action(client, "backuprecord", "restore_backup", [done])
    yield "verify_backup", post_action(client, "backuprecord", "verify_backup", [done])


def test_no_page_of_the_console_needs_an_inline_script(client, operator, busy_console):
    client.force_login(operator)
    checked = 0
    for name, response in console_pages(client, *busy_console):
        if response.status_code != 200 or "text/html" not in response.headers["Content-Type"]:
            continue
        assert inline_scripts(response.content.decode()) == [], name
        checked += 1
    assert checked >= 10
    job_list = client.get(reverse("admin:backups_app_backuprecord_changelist")).content.decode()
    assert "backups_app/refresh.js" in job_list, "the running job's list must still refresh itself"
    assert client.get("/static/backups_app/refresh.js").status_code == 200


# -- check --deploy ------------------------------------------------------------

def production_env(console: Console) -> dict:
    """The environment docs/deploy.md shows for production behind a TLS proxy."""
    return {**console.env, "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "false",
            "ALLOWED_HOSTS": "backups.example.internal",
            "CSRF_TRUSTED_ORIGINS": "https://backups.example.internal", "HTTPS": "true",
            "TRUSTED_PROXY_IPS": "127.0.0.1"}


def check_deploy(env) -> subprocess.CompletedProcess:
    return console_process.manage("check", "--deploy", "--fail-level", "WARNING", env=env, timeout=120)


def test_check_deploy_is_clean_in_the_documented_production_configuration(console):
    done = check_deploy(production_env(console))
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_warns_when_the_proxy_is_not_trusted(console):
    done = check_deploy({**production_env(console), "TRUSTED_PROXY_IPS": ""})
    assert done.returncode != 0
    assert "backups.W040" in done.stderr


def test_check_deploy_warns_without_https(console):
    env = {**production_env(console), "HTTPS": "false"}
    done = check_deploy(env)
    assert done.returncode != 0
    for check_id in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check_id in done.stderr
