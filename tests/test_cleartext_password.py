"""A server that asks for the password in clear text over plain TCP never gets it.

The server here is tests/fake_postgres.py: it asks every client for
AuthenticationCleartextPassword and keeps what comes back. Each job is
pointed at it the way a superuser could point a target at a host of their
own; connections the test does not look at are relayed to the real test
cluster, so the job gets as far as the connection under test.
"""

import itertools

import psycopg
import pytest

from backups_app.models import DatabaseTarget
from backups_app.services.backups import dump
from backups_app.services.postgres import binaries, dumping
from backups_app.services.postgres.connection import Conn, ConnectionFailed, connect, require_auth
from backups_app.services.targets import connection_test
from tests.fake_postgres import FakePostgres
from tests.pgcluster import DEBIAN_15, encrypted_only
from tests.restore_helpers import dropping, make_backup, run_restore, run_verify

pytestmark = pytest.mark.django_db

SOURCE = "bc_cleartext_source"
REFUSED = "clear text"


@pytest.fixture
def source(pg_cluster, fresh_db):
    name = fresh_db(SOURCE)
    pg_cluster.sql("CREATE TABLE fx (pair text PRIMARY KEY, rate numeric); INSERT INTO fx VALUES ('EURJPY', 161.2)",
                   dbname=name)
    return name


def on_fake(target: DatabaseTarget, fake: FakePostgres) -> DatabaseTarget:
    DatabaseTarget.objects.filter(pk=target.pk).update(host=fake.host, port=fake.port)
    target.refresh_from_db()
    return target


def first_only():
    """relay(): the first connection goes to the real server, every later one is asked for the password."""
    count = itertools.count()
    return lambda params: next(count) == 0


def nothing_delivered(fake: FakePostgres, password: str) -> None:
    assert fake.asked, "the job never reached the fake server: the test proves nothing"
    assert password not in fake.passwords
    assert fake.passwords == []


def test_testing_a_connection_sends_no_password_in_clear_text(make_target, source, pg_cluster):
    with FakePostgres() as fake:
        target = on_fake(make_target(source), fake)
        report = connection_test.connection_check(target=target)
    nothing_delivered(fake, pg_cluster.password)
    assert not report.ok
    assert REFUSED in " ".join(report.problems)


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_a_backup_sends_no_password_in_clear_text(make_target, source, pg_cluster, backup_root, fmt):
    with FakePostgres(upstream=pg_cluster, relay=first_only()) as fake:
        target = on_fake(make_target(source), fake)
        record = dump.backup_execute(record_id=dump.backup_create(target=target, backup_type="manual", fmt=fmt).pk)
    nothing_delivered(fake, pg_cluster.password)
    assert record.status == "failed"
    assert REFUSED in record.error
    assert pg_cluster.password not in record.error


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_a_restore_sends_no_password_in_clear_text(make_target, source, pg_cluster, backup_root, fmt):
    backup = make_backup(make_target(source), fmt)
    into = f"bc_cleartext_into_{fmt}"
    with FakePostgres(upstream=pg_cluster, relay=lambda p: p.get("database") != into) as fake, \
            dropping(pg_cluster, into):
        server = on_fake(make_target(source, name="fake-server"), fake)
        record = run_restore(backup, into, server=server)
    nothing_delivered(fake, pg_cluster.password)
    assert {p["database"] for p in fake.asked} == {into}
    assert record.status == "failed"
    assert REFUSED in record.error


def test_a_restore_drill_sends_no_password_in_clear_text(make_target, source, pg_cluster, backup_root):
    target = make_target(source)
    backup = make_backup(target, "custom")
    with FakePostgres(upstream=pg_cluster, relay=lambda p: not p.get("database", "").startswith("bc_drill_")) as fake:
        on_fake(target, fake)
        backup.refresh_from_db()
        verification = run_verify(backup, drill=True)
    nothing_delivered(fake, pg_cluster.password)
    assert verification.status == "failed"
    assert REFUSED in verification.error


def test_a_client_older_than_16_gets_no_password_over_plain_tcp(make_target, source, pg_cluster, backup_root,
                                                                 settings):
    """pg_dump 15 cannot refuse clear text (require_auth came with libpq 16): it is not given the connection."""
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = "/usr/lib/postgresql/15/bin", True
    with FakePostgres(upstream=pg_cluster, relay=first_only()) as fake:
        target = on_fake(make_target(source), fake)
        record = dump.backup_execute(record_id=dump.backup_create(target=target, backup_type="manual",
                                                                  fmt="sql").pk)
    assert pg_cluster.password not in fake.passwords and fake.passwords == []
    assert record.status == "failed"
    assert "16" in record.error and "PGSSLMODE" in record.error, record.error



# -- the client layer itself, whatever a caller chose ----------------------------------------------------------

def debian_15_pg_dump() -> binaries.Tool:
    return binaries.Tool(f"{DEBIAN_15}/pg_dump", binaries.version_of(f"{DEBIAN_15}/pg_dump"))


def test_the_client_layer_starts_no_client_before_16_for_an_unencrypted_connection(tmp_path):
    with FakePostgres() as fake:
        conn = Conn(fake.host, fake.port, "backup", "sales", "the-password")
        with pytest.raises(ConnectionFailed, match="cannot refuse to send the password in clear text"):
            dumping.dump_archive(conn, debian_15_pg_dump(), tmp_path / "sales.dump")
    assert fake.asked == [] and fake.passwords == []


def test_a_client_before_16_connects_only_encrypted_so_a_server_without_tls_gets_nothing(tmp_path, monkeypatch):
    encrypted_only(monkeypatch)
    with FakePostgres() as fake:
        conn = Conn(fake.host, fake.port, "backup", "sales", "the-password")
        ran = dumping.dump_archive(conn, debian_15_pg_dump(), tmp_path / "sales.dump")
    assert not ran.ok and b"SSL" in ran.stderr
    assert fake.passwords == []


def test_a_psycopg_whose_libpq_is_older_than_16_does_not_connect_unencrypted(monkeypatch):
    """The psycopg here bundles libpq 16+; an older build is stood in by its version, the only thing asked of it."""
    monkeypatch.setattr(psycopg.pq, "version", lambda: 150008)
    with FakePostgres() as fake, pytest.raises(ConnectionFailed, match=r"libpq 15\.8 \(psycopg's\) cannot refuse"):
        connect(Conn(fake.host, fake.port, "backup", "sales", "the-password"))
    assert fake.asked == []


def test_require_auth_keeps_what_the_operator_asked_and_never_allows_clear_text():
    assert require_auth("") == "!password"
    assert require_auth("scram-sha-256") == "scram-sha-256"
    assert require_auth("scram-sha-256,password") == "scram-sha-256"
    assert require_auth("!md5") == "!md5,!password"
    assert require_auth("password") == "!password"


def test_the_system_check_warns_when_no_client_can_refuse_clear_text(settings, monkeypatch):
    from backups_app.checks import backup_settings

    assert "backups.W050" not in {p.id for p in backup_settings(None)}
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = DEBIAN_15, True
    assert "backups.W050" in {p.id for p in backup_settings(None)}
    encrypted_only(monkeypatch)
    assert "backups.W050" not in {p.id for p in backup_settings(None)}
