import gzip
import os
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
PASSWORD_ENV = "BC_TEST_TARGET_PASSWORD"


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
    pg_cluster.createdb("pagila")
    pg_cluster.psql_file("pagila", PAGILA / "pagila-schema.sql")
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", "pagila"], input=gzip.decompress(
        (PAGILA / "pagila-data.sql.gz").read_bytes()), env=pg_cluster.client_env(), check=True, capture_output=True)
    pg_cluster.sql("ANALYZE", dbname="pagila")
    return "pagila"


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
    """A temporary console instance (its own SQLite database and BACKUP_ROOT), migrated; see tests/qcluster.py."""
    from tests.qcluster import Console

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
def console_speaks_english(settings):
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
