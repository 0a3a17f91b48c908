"""The target's password never shows: not in argv, logs, records, backup_log.txt or error text.

The password used here has ':' , '\\' and spaces, the characters a pgpass
file must escape: if the escaping were wrong, pg_dump could not log in.
"""

import logging
import os
import secrets
import stat
from pathlib import Path

import pytest
from django.apps import apps
from psycopg import sql

from backups_app.models import DatabaseTarget
from backups_app.services.backups import dump
from tests import console_process, faultkit

pytestmark = pytest.mark.django_db

ROLE = "bc_tricky"
SECRET_ENV = "BACKUP_PG_PASSWORD_TRICKY"
DBNAME = "bc_secrets_ticks"
TRICKY = "Sx:" + secrets.token_hex(4) + r"\ two words:and\\ back\slash " + secrets.token_hex(4)


@pytest.fixture(scope="module")
def tricky_role(pg_cluster):
    """A login role whose password needs pgpass escaping, allowed to read one big table."""
    faultkit.make_ticks_db(pg_cluster, DBNAME, 300_000)
    pg_cluster.sql(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)).as_string())
    pg_cluster.sql(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
        sql.Identifier(ROLE), sql.Literal(TRICKY)).as_string())
    pg_cluster.sql(sql.SQL("GRANT pg_read_all_data TO {}").format(sql.Identifier(ROLE)).as_string())
    yield ROLE
    pg_cluster.dropdb(DBNAME)
    pg_cluster.sql(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)).as_string())


@pytest.fixture
def target(pg_cluster, tricky_role, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, TRICKY)
    return DatabaseTarget.objects.create(
        name="tricky", host=pg_cluster.host, port=pg_cluster.port, user=tricky_role, dbname=DBNAME,
        password_source="env", password_env=SECRET_ENV,
    )


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="backups_app")
    return caplog


def forms_of(password: str) -> list[str]:
    """The password as written and as a pgpass file escapes it."""
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return [password, escaped]


def console_text() -> str:
    """Every value of every row the console keeps, as text."""
    out = []
    for model in [*apps.get_app_config("backups_app").get_models(), *apps.get_app_config("django_q").get_models()]:
        fields = [f.attname for f in model._meta.concrete_fields]
        for row in model.objects.values_list(*fields):
            out += [str(v) for v in row]
    return "\n".join(out)


def assert_nowhere(password: str, *, logs, capfd, root: Path, record):
    out, err = capfd.readouterr()
    record.refresh_from_db()
    texts = {
        "log records": logs.text,
        "stdout": out,
        "stderr": err,
        "backup_log.txt": (root / "database" / "backup_log.txt").read_text(),
        "error text": record.error,
        "console database": console_text(),
    }
    for where, text in texts.items():
        shows = any(form in text for form in forms_of(password))
        assert not shows, f"the password shows in {where}"


def backup(target, fmt):
    record = dump.backup_create(target=target, backup_type="manual", fmt=fmt, started_by="test")
    return dump.backup_execute(record_id=record.pk)


def _args_and_environ(pid: int, parts=("cmdline", "environ")) -> bytes | None:
    """None for a process that ended meanwhile (pg_dumpall's short `pg_dump -V`, say)."""
    try:
        return b"".join(faultkit.proc_text(pid, part) for part in parts)
    except (ProcessLookupError, FileNotFoundError):
        return None


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_the_password_is_not_in_the_running_pg_dumps_arguments_or_environment(target, backup_root, fmt):
    seen = {}

    def the_dump():
        """pg_dump itself, not the `pg_dump -V` pg_dumpall starts to ask its version."""
        pid = faultkit.find_running("pg_dump")
        return pid if pid and DBNAME.encode() in (_args_and_environ(pid, ("cmdline",)) or b"") else None

    def look():
        pid = the_dump()
        seen["cmdline"] = faultkit.proc_text(pid, "cmdline")
        seen["environ"] = faultkit.proc_text(pid, "environ")
        env = dict(item.split(b"=", 1) for item in seen["environ"].split(b"\0") if b"=" in item)
        passfile = Path(os.fsdecode(env[b"PGPASSFILE"]))
        seen["passfile"] = passfile
        seen["modes"] = stat.S_IMODE(passfile.stat().st_mode), stat.S_IMODE(passfile.parent.stat().st_mode)
        seen["others"] = [text for p in faultkit.descendants(os.getpid()) if p != pid
                          if (text := _args_and_environ(p)) is not None]

    saboteur = faultkit.Saboteur(when=the_dump, act=look)
    record = backup(target, fmt)
    saboteur.done()

    assert record.status == "succeeded", record.error
    assert seen["cmdline"].split(b"\0")[0].endswith(b"pg_dump") and DBNAME.encode() in seen["cmdline"]
    for where in ("cmdline", "environ"):
        shows = any(form.encode() in seen[where] for form in forms_of(TRICKY))
        assert not shows, f"the password shows in pg_dump's /proc/PID/{where}"
    shows = any(form.encode() in text for form in forms_of(TRICKY) for text in seen["others"])
    assert not shows, "the password shows in another child's arguments or environment"
    assert b"PGPASSWORD=" not in seen["environ"]
    assert seen["modes"] == (0o600, 0o700)
    assert not seen["passfile"].exists(), "the temporary passfile is removed after the dump"


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_a_password_that_needs_escaping_works_and_shows_nowhere(target, backup_root, all_logs, capfd, fmt):
    record = backup(target, fmt)
    assert record.status == "succeeded", record.error
    assert_nowhere(TRICKY, logs=all_logs, capfd=capfd, root=backup_root, record=record)


def test_a_wrong_password_shows_nowhere(target, backup_root, all_logs, capfd, monkeypatch):
    wrong = TRICKY.replace("Sx:", "Wrong:")
    monkeypatch.setenv(SECRET_ENV, wrong)
    record = backup(target, "custom")
    assert record.status == "failed"
    assert "password authentication failed" in record.error
    for password in (wrong, TRICKY):
        assert_nowhere(password, logs=all_logs, capfd=capfd, root=backup_root, record=record)


def test_the_command_line_shows_the_password_nowhere(pg_cluster, tricky_role, tmp_path):
    env = console_process.console_env(tmp_path, pg_cluster, DBNAME, DB_USER=tricky_role, DB_PASSWORD=TRICKY)
    assert console_process.manage("migrate", "-v0", env=env).returncode == 0
    runs = [console_process.manage("backup", "--format", "sql", "-v", "2", env=env),
            console_process.manage("backup", "--list", "--json", env=env),
            console_process.manage("backup", "--list", env=env),
            console_process.manage("backup", env={**env, "DB_PASSWORD": TRICKY + "x"})]
    assert [r.returncode for r in runs] == [0, 0, 0, 1]
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".gz")
    printed = "".join(run.stdout + run.stderr for run in runs)
    assert not any(form in printed for form in forms_of(TRICKY)), "the password shows in the output"
    shows = any(form.encode() in stored for form in forms_of(TRICKY))
    assert not shows, "the password shows in the console database, its WAL or backup_log.txt"
