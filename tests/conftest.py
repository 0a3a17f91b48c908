import fnmatch
import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pgcluster import Cluster, ExistingServer

# The console speaks Japanese by default; tests read its English words unless a
# test asks for Japanese itself (translation.override("ja")). Commands started
# as subprocesses inherit this through the environment.
os.environ["LANGUAGE_CODE"] = "en"


# The pagila sample database ships with the tests (data gzipped); see tests/data/pagila/README.md.
PAGILA = Path(__file__).resolve().parent / "data" / "pagila"
PASSWORD_ENV = "BACKUP_PG_PASSWORD_TEST"


@pytest.fixture(scope="session")
def pg_cluster():
    dsn = os.environ.get("TEST_PG_DSN")
    cluster = ExistingServer(dsn) if dsn else Cluster().init().start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def pagila(pg_cluster):
    """The pagila sample database, loaded once; copy it with template= for tests that change it."""
    pg_cluster.dropdb("pagila")
    load_pagila(pg_cluster, "pagila")
    return "pagila"


def load_pagila(cluster, dbname: str) -> None:
    """Create dbname on cluster and load pagila's schema and data (kept gzipped in tests/data) into it."""
    cluster.createdb(dbname)
    cluster.psql_file(dbname, PAGILA / "pagila-schema.sql")
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname], input=gzip.decompress(
        (PAGILA / "pagila-data.sql.gz").read_bytes()), env=cluster.client_env(), check=True, capture_output=True)
    cluster.sql("ANALYZE", dbname=dbname)


@pytest.fixture
def backup_root(tmp_path, settings):
    root = tmp_path / "backups"
    settings.BACKUP_ROOT = root
    return root


@pytest.fixture
def make_target(db, pg_cluster, monkeypatch):
    """DatabaseTarget rows pointing at the test cluster; the password comes from an env var."""
    from backups_app.models import DatabaseTarget

    monkeypatch.setenv(PASSWORD_ENV, pg_cluster.password)

    def make(dbname, name=None, **fields):
        defaults = dict(host=pg_cluster.host, port=pg_cluster.port, user=pg_cluster.user,
                        password_source="env", password_env=PASSWORD_ENV)
        return DatabaseTarget.objects.create(name=name or dbname.replace("_", "-"), dbname=dbname,
                                             **{**defaults, **fields})

    return make


@pytest.fixture
def fresh_db(pg_cluster):
    """Names of databases created during a test, dropped at its end."""
    created = []

    def make(name, template="template0"):
        pg_cluster.dropdb(name)
        pg_cluster.createdb(name, template=template)
        created.append(name)
        return name

    yield make
    for name in created:
        pg_cluster.dropdb(name)


@pytest.fixture
def console(tmp_path):
    """A temporary console instance (its own database and BACKUP_ROOT), migrated; see tests/qcluster.py.

    Its database is a SQLite file, or a new database on the console's PostgreSQL
    server when DATABASE_URL names one (python -m tests.run_on_postgres).
    """
    from tests.qcluster import Console

    if console_on_postgres():
        from tests.console_pg import PostgresConsole

        instance = PostgresConsole(tmp_path / "console", server_url=os.environ["DATABASE_URL"]).migrate()
    else:
        instance = Console(tmp_path / "console").migrate()
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def big_db(pg_cluster):
    """About 75 MB in one table: pg_dump needs a few seconds, long enough to be interrupted halfway."""
    pg_cluster.dropdb("big_for_kill")
    pg_cluster.createdb("big_for_kill")
    pg_cluster.sql("CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) "
                   "AS payload FROM generate_series(1, 600000) g", dbname="big_for_kill")
    yield "big_for_kill"
    pg_cluster.dropdb("big_for_kill")


@pytest.fixture(autouse=True)
def english(settings):
    """Assertions read the English source texts; the console's default language is Japanese."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


# -- prerequisites and skips ---------------------------------------------------
# A program the tests need and scripts/test.sh can install is never a reason to
# skip: `@pytest.mark.requires("redis-server", package="redis-server")` fails
# the test before any fixture starts when it is missing. A skip is left only for
# reasons outside the project (not root, not Debian); each is listed at the end
# (-ra), and under CI=true any skip fails the run.

def pytest_runtest_setup(item):
    for mark in item.iter_markers("requires"):
        for program in mark.args:
            if not shutil.which(program):
                package = mark.kwargs.get("package", program)
                pytest.fail(f"{program} is not installed: apt-get install {package} "
                            "(scripts/test.sh installs it when run as root or with sudo)", pytrace=False)


def console_on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


# Modules that run a second time with the console's own database on PostgreSQL
# (scripts/test.sh; python -m tests.run_on_postgres): the job queue, locks, the
# reaper, the admin and the schedules.
CONSOLE_DB_MODULES = ("test_job_lifecycle", "test_worker_*", "test_admin_*", "test_schedules_*", "test_policy_admin",
                      "test_roles", "test_health", "test_api*")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(fnmatch.fnmatch(item.path.stem, pattern) for pattern in CONSOLE_DB_MODULES):
            item.add_marker(pytest.mark.console_db)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


_skipped = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_collectreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if in_ci() and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if in_ci() and _skipped:
        terminalreporter.write_line(f"CI=true: {len(_skipped)} skipped (reasons above), so this run fails: "
                                    "in CI every test must run", red=True, bold=True)
