"""A console instance whose own database is on PostgreSQL: a new database per test on the console's server.

Same interface as tests/qcluster.py's Console; `rows` reads with psycopg and
gives rows in the shape SQLite gives them (datetimes as naive UTC text), so the
tests' queries ("?" placeholders) and helpers work on both.
"""

import secrets
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row

from tests.qcluster import Console


class PostgresConsole(Console):
    def __init__(self, base: Path, *, server_url: str, env: dict | None = None):
        self.server_url = server_url
        self.dbname = "console_" + secrets.token_hex(6)
        with psycopg.connect(self._url("postgres"), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{self.dbname}"')
        super().__init__(base, env=env)
        self.env["DATABASE_URL"] = self._url(self.dbname)
        self.env.update(env or {})

    def _url(self, dbname: str) -> str:
        parts = urlsplit(self.server_url)
        return urlunsplit(parts._replace(path="/" + dbname))

    def rows(self, query: str, params=()) -> list[dict]:
        with psycopg.connect(self._url(self.dbname), autocommit=True, row_factory=dict_row) as c:
            c.execute("SET TIME ZONE 'UTC'")  # text times in queries mean UTC, as Django stores them in SQLite
            return [{k: _as_sqlite(v) for k, v in r.items()} for r in c.execute(query.replace("?", "%s"), params)]

    def close(self) -> None:
        super().close()
        with psycopg.connect(self._url("postgres"), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')


def _as_sqlite(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return value
