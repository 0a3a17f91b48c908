"""TimescaleDB: what the real extension cannot show (its real tests are in test_timescale_real.py).

Stood in here, and only here:
  - a server with no TimescaleDB at all: this machine's PostgreSQL has it
    installed, so the server's answer to "which timescaledb versions can you
    create" is replaced by an empty one; the backup is of an ordinary
    database whose record carries the version a TimescaleDB server reports.
"""

import pytest

from backups_app.models import BackupRecord, RestoreRecord
from backups_app.services.restores import restore, timescale
from tests.pgcluster import DEBIAN_15, encrypted_only
from tests.restore_helpers import database_names, make_backup

pytestmark = pytest.mark.django_db
VERSION = "2.14.2"


@pytest.fixture
def ts_backup(pg_cluster, make_target, backup_root, fresh_db, settings, monkeypatch):
    # The server's own client: pg_restore connects itself (test_version_matrix covers newer clients).
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = DEBIAN_15, True
    encrypted_only(monkeypatch)
    source = fresh_db("tsdb_standin")
    pg_cluster.sql("CREATE TABLE conditions (time timestamptz NOT NULL, device int)", dbname=source)
    backup = make_backup(make_target(source), "custom")
    BackupRecord.objects.filter(pk=backup.pk).update(extensions={**backup.extensions, "timescaledb": VERSION})
    backup.refresh_from_db()
    return backup


def test_the_backup_records_the_extensions_and_versions_the_database_had(pg_cluster, make_target, backup_root,
                                                                        fresh_db):
    source = fresh_db("with_extensions")
    pg_cluster.sql("CREATE EXTENSION pg_trgm", dbname=source)
    version = pg_cluster.sql("SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'", dbname=source)[0][0]
    backup = make_backup(make_target(source), "custom")
    assert backup.extensions["pg_trgm"] == version and "plpgsql" in backup.extensions


def test_a_server_without_timescaledb_is_refused_before_anything_is_touched(pg_cluster, ts_backup, monkeypatch):
    monkeypatch.setattr(timescale, "server_support", lambda conn: timescale.Support((), None))
    with pytest.raises(restore.RestoreRefused, match=f"taken with TimescaleDB {VERSION} and the server .* offers "
                                                     f"no TimescaleDB at all: install TimescaleDB {VERSION}"):
        restore.restore_create(backup=ts_backup, into="tsdb_nowhere")
    assert not RestoreRecord.objects.exists()
    assert "tsdb_nowhere" not in database_names(pg_cluster)
