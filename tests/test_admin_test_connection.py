"""test_connection against the real test cluster: what it reports, and that no password ever shows."""

import re

import pytest
from django.contrib.admin.models import LogEntry

from backups_app.services.setup.roles import BACKUP_OPERATORS
from tests.admin_support import messages_of, post_action
from tests.conftest import PASSWORD_ENV

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def run(client, target):
    response = post_action(client, "databasetarget", "test_connection", [target])
    assert response.status_code == 302
    [message] = messages_of(response)
    return message


def test_a_good_target_reports_server_pg_dump_size_and_free_space(as_role, make_target, pg_cluster, backup_root):
    client = as_role(BACKUP_OPERATORS)
    target = make_target("postgres", name="main")
    message = run(client, target)
    version = pg_cluster.sql("SHOW server_version")[0][0]
    assert message.startswith("main: connection works")
    assert f"PostgreSQL {version}" in message
    assert re.search(r"pg_dump \d+\.\d+ \(/\S+/pg_dump\)", message)
    assert re.search(r"database \d+(\.\d+)? [KM]iB", message)
    assert re.search(rf"\d+(\.\d+)? [KMGT]iB free under {re.escape(str(backup_root))}", message)
    entry = LogEntry.objects.get(user=client.user)
    assert entry.object_repr == "main" and entry.change_message == message


def test_a_wrong_password_says_what_to_fix_and_never_shows_a_password(as_role, make_target, pg_cluster,
                                                                      monkeypatch):
    target = make_target("postgres", name="main")
    wrong = "wrong-" + pg_cluster.password[::-1]
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    client = as_role(BACKUP_OPERATORS)
    message = run(client, target)
    assert message.startswith("main: needs attention")
    assert "password authentication failed" in message
    assert "check the password (its environment variable or pgpass entry)" in message
    history = LogEntry.objects.get(user=client.user).change_message
    for secret in (wrong, pg_cluster.password):
        assert secret not in message and secret not in history


def test_a_missing_password_variable_is_named(as_role, make_target, monkeypatch):
    target = make_target("postgres", name="main")
    monkeypatch.delenv(PASSWORD_ENV)
    message = run(as_role(BACKUP_OPERATORS), target)
    assert f"the environment variable {PASSWORD_ENV} is not set" in message


def test_a_wrong_port_says_to_check_host_and_port(as_role, make_target):
    target = make_target("postgres", name="main", port=1)
    message = run(as_role(BACKUP_OPERATORS), target)
    assert "check that the server runs and the host and port are right" in message


def test_tables_the_user_cannot_read_are_named(as_role, make_target, fresh_db, pg_cluster, monkeypatch):
    name = fresh_db("bc_admin_grants")
    pg_cluster.sql("DROP ROLE IF EXISTS bc_reader")
    pg_cluster.sql("CREATE ROLE bc_reader LOGIN PASSWORD 'reader-pass'")
    try:
        pg_cluster.sql("CREATE TABLE public.open_t (id int); CREATE TABLE public.secret_t (id int); "
                       "GRANT SELECT ON public.open_t TO bc_reader", dbname=name)
        monkeypatch.setenv("BACKUP_PG_PASSWORD_READER", "reader-pass")
        target = make_target(name, name="limited", user="bc_reader", password_env="BACKUP_PG_PASSWORD_READER")
        message = run(as_role(BACKUP_OPERATORS), target)
        assert "user bc_reader cannot read 1 table(s) that pg_dump must read: public.secret_t" in message
        assert "reader-pass" not in message
    finally:
        pg_cluster.dropdb(name)
        pg_cluster.sql("DROP ROLE IF EXISTS bc_reader")
