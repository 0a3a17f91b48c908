"""A target takes its password only from a variable the operator allowed for targets (TARGET_PASSWORD_VARIABLES).

Otherwise a superuser could name any of the console's own secrets (the S3
key, the SMTP password, another target's password) as a target's password
and send it to a server of their choosing. One rule (postgres/names.py) for
the admin's form, the services, and records made before the rule.
"""

import pytest
from django.urls import reverse

from backups_app.checks import backup_settings
from backups_app.models import DatabaseTarget
from backups_app.services.backups import dump
from backups_app.services.postgres import names
from backups_app.services.targets import connection_test
from tests.conftest import PASSWORD_ENV
from tests.fake_postgres import FakePostgres

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = pytest.mark.django_db

SECRET = "s3-secret-access-key-0123456789"
FORM = {"name": "sales", "kind": "database", "host": "db.example", "port": 5432, "dbname": "sales", "user": "backup",
        "password_source": "env", "service_name": "", "notes": "", "is_active": "on", "age_recipients": ""}


@pytest.mark.parametrize("name", ["DB_PASSWORD", "BACKUP_PG_PASSWORD_SALES", PASSWORD_ENV])
def test_the_default_rule_allows_db_password_and_the_target_prefix(name):
    assert names.check_password_variable(name) == name


@pytest.mark.parametrize("name", ["OFFSITE_SECRET", "AWS_SECRET_ACCESS_KEY", "EMAIL_HOST_PASSWORD", "METRICS_TOKEN",
                                  "SECRET_KEY", "BACKUP_PG_PASSWORD", "DB_PASSWORD_OLD"])
def test_the_default_rule_refuses_every_other_variable(name):
    with pytest.raises(names.BadName, match=f"{name} .*TARGET_PASSWORD_VARIABLES"):
        names.check_password_variable(name)


def test_a_prefix_the_operator_allows_is_allowed_and_the_consoles_own_secrets_never(settings):
    settings.TARGET_PASSWORD_VARIABLES = ["PROD_*", "METRICS_TOKEN"]
    assert names.check_password_variable("PROD_SALES") == "PROD_SALES"
    for name in ("DB_PASSWORD", "METRICS_TOKEN"):
        with pytest.raises(names.BadName):
            names.check_password_variable(name)


def test_the_admin_refuses_a_target_that_names_another_secret(superuser_client):
    url = reverse("admin:backups_app_databasetarget_add")
    response = superuser_client.post(url, {**FORM, "password_env": "OFFSITE_SECRET"})
    assert response.status_code == 200
    assert "TARGET_PASSWORD_VARIABLES" in response.context["adminform"].form.errors["password_env"][0]
    assert not DatabaseTarget.objects.exists()
    response = superuser_client.post(url, {**FORM, "password_env": "BACKUP_PG_PASSWORD_SALES"})
    assert response.status_code == 302
    assert DatabaseTarget.objects.get().password_env == "BACKUP_PG_PASSWORD_SALES"


def test_the_variable_is_free_when_the_password_comes_from_elsewhere(superuser_client):
    url = reverse("admin:backups_app_databasetarget_add")
    response = superuser_client.post(url, {**FORM, "password_source": "pgpass", "password_env": ""})
    assert response.status_code == 302


@pytest.fixture
def old_record(monkeypatch):
    """A target saved before the rule, naming the S3 secret, pointed at a server that asks for the password."""
    monkeypatch.setenv("OFFSITE_SECRET", SECRET)
    with FakePostgres() as fake:
        target = DatabaseTarget.objects.create(name="old", host=fake.host, port=fake.port, dbname="sales",
                                               user="backup", password_source="env", password_env="OFFSITE_SECRET")
        yield target, fake
    assert SECRET not in fake.passwords
    assert fake.asked == [], "the console connected at all, with a variable it may not use"


def test_testing_the_connection_of_an_old_record_refuses_its_variable(old_record):
    target, _ = old_record
    report = connection_test.connection_check(target=target)
    assert not report.ok
    assert any("OFFSITE_SECRET" in p and "TARGET_PASSWORD_VARIABLES" in p for p in report.problems), report.problems
    assert not any(SECRET in p for p in report.problems)


def test_a_backup_of_an_old_record_fails_naming_the_variable(old_record, backup_root):
    target, _ = old_record
    record = dump.backup_execute(record_id=dump.backup_create(target=target, backup_type="manual", fmt="custom").pk)
    assert record.status == "failed"
    assert "OFFSITE_SECRET" in record.error and "TARGET_PASSWORD_VARIABLES" in record.error
    assert SECRET not in record.error


def check_ids(settings, value) -> list[str]:
    settings.TARGET_PASSWORD_VARIABLES = value
    return [p.id for p in backup_settings(None) if p.id == "backups.E050"]


def test_the_system_check_refuses_a_setting_that_allows_anything(settings):
    assert check_ids(settings, ["DB_PASSWORD", "BACKUP_PG_PASSWORD_*"]) == []
    assert check_ids(settings, ["*"]) == ["backups.E050"]
    assert check_ids(settings, ["db_password"]) == ["backups.E050"]
    assert check_ids(settings, ["AWS_*"]) == ["backups.E050"]  # would allow AWS_SECRET_ACCESS_KEY
    assert check_ids(settings, []) == []  # no target takes its password from the environment
