"""A new database gets the source's encoding and locale, in both formats, where the server has them."""

import pytest

from backups_app.services.postgres import databases
from tests.restore_helpers import dropping, make_backup, run_restore

pytestmark = pytest.mark.django_db
SETTINGS = "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = %s"


@pytest.mark.parametrize("fmt, collate", [("custom", "C"), ("sql", "C")])
def test_the_new_database_has_the_sources_encoding(pg_cluster, make_target, backup_root, fmt, collate):
    pg_cluster.dropdb("latin_src")
    pg_cluster.sql("CREATE DATABASE latin_src TEMPLATE template0 ENCODING 'LATIN1' LOCALE 'C'")
    into = f"latin_copy_{fmt}"
    with dropping(pg_cluster, "latin_src", into):
        pg_cluster.sql("CREATE TABLE words (w text); INSERT INTO words VALUES ('café'), ('Müller')",
                       dbname="latin_src")
        backup = make_backup(make_target("latin_src"), fmt)
        record = run_restore(backup, into)
        assert record.status == "succeeded", record.error
        assert pg_cluster.sql(SETTINGS, params=(into,)) == [("LATIN1", collate, collate)]
        assert pg_cluster.sql("SELECT w FROM words ORDER BY 1", dbname=into) == [("Müller",), ("café",)]


def test_an_unknown_locale_falls_back_to_the_servers_and_says_so(pg_cluster, make_target):
    target = make_target("postgres", name="maintenance")
    with dropping(pg_cluster, "far_locale"), databases.maintenance(target) as m:
        note = databases.create(m, "far_locale", {"ENCODING": "UTF8", "LOCALE_PROVIDER": "libc",
                                                  "LOCALE": "xx_NOWHERE.UTF-8"})
        assert note.startswith("created with encoding UTF8 (") and "xx_NOWHERE" in note
        assert pg_cluster.sql(SETTINGS, params=("far_locale",))[0][0] == "UTF8"


def test_the_options_are_read_from_pg_dumps_create_database_line():
    line = ("CREATE DATABASE x WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc "
            "LOCALE = 'en_US.UTF-8';")
    assert databases.options_from_create_statement(line) == {
        "ENCODING": "UTF8", "LOCALE_PROVIDER": "libc", "LOCALE": "en_US.UTF-8"}
    old = "CREATE DATABASE x WITH TEMPLATE = template0 ENCODING = 'LATIN1' LC_COLLATE = 'de_DE' LC_CTYPE = 'de_DE';"
    assert databases.options_from_create_statement(old) == {
        "ENCODING": "LATIN1", "LC_COLLATE": "de_DE", "LC_CTYPE": "de_DE"}
