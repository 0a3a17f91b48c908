"""Back up pagila in each format, restore it with the standard tools, and compare everything."""

import os
import stat
import subprocess

import pytest

from backups_app.services.backups import dump
from backups_app.services.postgres import binaries
from tests.dbcompare import object_counts, row_counts
from tests.pgcluster import DEBIAN_15, encrypted_only

pytestmark = pytest.mark.django_db


def restore_with_standard_tools(cluster, record, into):
    cluster.dropdb(into)
    cluster.createdb(into)
    path = str(record.absolute_path)
    env = cluster.client_env()
    if record.format == "custom":
        # The standard pg_restore of the version that wrote it (the console's pg_dump may be newer than PATH's).
        major = record.pg_dump_version.split(".")[0]
        tool = next(t for t in binaries.candidates("pg_restore") if t.version.split(".")[0] == major)
        cmd = [tool.path, "--exit-on-error", "-d", into, path]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
    else:
        unzip = ["zstd", "-dc", path] if path.endswith(".zst") else ["gzip", "-dc", path]
        sql = subprocess.run(unzip, check=True, capture_output=True).stdout
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", into], input=sql, env=env,
                       check=True, capture_output=True)


@pytest.mark.parametrize("fmt,compression", [("custom", "gzip"), ("sql", "gzip"), ("sql", "zstd")])
def test_a_pagila_backup_restores_every_object_and_row(
    pg_cluster, pagila, make_target, backup_root, settings, monkeypatch, fmt, compression
):
    settings.BACKUP_SQL_COMPRESSION = compression
    # Made by the server's own client, whose standard pg_restore restores it into this server directly.
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = DEBIAN_15, True
    encrypted_only(monkeypatch)
    target = make_target(pagila)
    record = dump.backup_create(target=target, backup_type="manual", fmt=fmt, started_by="test")
    record = dump.backup_execute(record_id=record.pk)
    assert record.status == "succeeded", record.error

    into = f"pagila_rt_{fmt}_{compression}"
    restore_with_standard_tools(pg_cluster, record, into)
    try:
        assert object_counts(pg_cluster, into) == object_counts(pg_cluster, pagila)
        rows = row_counts(pg_cluster, into)
        assert rows == row_counts(pg_cluster, pagila)
        assert rows["public.rental"] == 16044
    finally:
        pg_cluster.dropdb(into)


def test_a_backup_file_is_private_and_its_record_tells_the_truth(pagila, make_target, backup_root):
    record = dump.backup_execute(
        record_id=dump.backup_create(target=make_target(pagila), backup_type="daily", fmt="custom").pk
    )
    path = record.absolute_path
    assert path.parent == backup_root / "database" / "daily"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for folder in (backup_root, backup_root / "database", path.parent):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    from backups_app.services.storage.files import sha256_of

    assert (record.sha256, record.size_bytes) == sha256_of(path)
    assert record.server_version and record.pg_dump_version and record.compression in ("zstd:1", "gzip:1")
    assert record.client.startswith(f"pg_dump {record.pg_dump_version} (")
    assert record.duration_seconds > 0
    assert not list(path.parent.glob(".*partial*"))
    log = (backup_root / "database" / "backup_log.txt").read_text()
    assert f"file={record.path}" in log and "result=succeeded" in log
