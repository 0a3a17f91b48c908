"""`backup --adopt`: backup files that no record knows get a record again, after they are read to the end.

Real backups of pagila by the console and by pg_dump run by hand (as the
old script did); the console's records deleted, as when its database is
lost; the adopted records then restored into a new database and compared.
"""

import os
import subprocess
from datetime import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from backups_app.models import BackupRecord, BackupStorage
from backups_app.services.jobs import process
from tests.dbcompare import row_counts
from tests.pgcluster import server_bin_dir
from tests.restore_helpers import dropping, make_backup, run_restore
from tests.s3server import PREFIX

pytest_plugins = ["tests.age_fixtures", "tests.s3_fixtures"]
pytestmark = pytest.mark.django_db

FACTS = ["path", "format", "backup_type", "size_bytes", "sha256", "globals_path", "encrypted", "pg_dump_version",
         "server_version"]


def adopt(*args, capsys) -> list[str]:
    """What the command printed, a line each; the last is its summary."""
    call_command("backup", "--adopt", *args)
    return capsys.readouterr().out.splitlines()


def by_hand(pg_cluster, dbname: str, path, *args):
    """pg_dump run as the old script ran it: its own file name, its own options."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    subprocess.run([f"{server_bin_dir()}/pg_dump", "--format=custom", f"--file={path}", *args, dbname],
                   env=pg_cluster.client_env(), check=True, capture_output=True)
    return path


def test_after_the_records_are_lost_every_backup_comes_back_and_restores(pg_cluster, pagila, make_target,
                                                                        backup_root, capsys):
    target = make_target(pagila)
    made = [make_backup(target, fmt) for fmt in ("custom", "sql", "directory")]
    before = {b.path: ({f: getattr(b, f) for f in FACTS}, b.created_at.replace(microsecond=0)) for b in made}
    BackupRecord.objects.all().delete()  # the console's database is lost; BACKUP_ROOT is not

    planned = adopt("--dry-run", capsys=capsys)
    assert not BackupRecord.objects.exists()
    assert planned[-1] == "Would adopt 3 backups; 0 files left alone (dry run)"
    assert sorted(line.split()[2].rstrip(":") for line in planned[:-1]) == sorted(before)

    said = adopt(capsys=capsys)
    assert said[-1] == "Adopted 3 backups; 0 files left alone"
    adopted = {b.path: b for b in BackupRecord.objects.all()}
    assert set(adopted) == set(before)
    for path, (facts, created) in before.items():
        record = adopted[path]
        assert {f: getattr(record, f) for f in FACTS} == facts, path
        assert (record.status, record.target_id, record.created_at) == ("succeeded", target.pk, created)
        assert record.last_verify_ok is True and "reads to the end" in record.last_verify_detail
        assert record.started_by == "adopted from its file"
        assert record.host == process.host()  # its file is here: jobs that need it run on this host
    custom = next(b for b in adopted.values() if b.format == "custom")
    assert "with its roles file" in next(line for line in said if custom.path in line)

    with dropping(pg_cluster, "pagila_adopted"):
        restored = run_restore(custom, "pagila_adopted")
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_adopted") == row_counts(pg_cluster, pagila)

    assert adopt(capsys=capsys)[-1] == "Adopted 0 backups; 0 files left alone"  # nothing twice


def test_the_old_scripts_files_are_adopted_for_the_target_named(pg_cluster, pagila, make_target, backup_root,
                                                                 capsys):
    target = make_target(pagila)
    daily = backup_root / "database" / "daily"
    by_hand(pg_cluster, pagila, daily / "trading_system_daily_20240105_020000.dump")
    undated = by_hand(pg_cluster, pagila, daily / "backup.dump")
    os.utime(undated, (1_700_000_000, 1_700_000_000))

    refused = adopt(capsys=capsys)
    assert refused[-1] == "Adopted 0 backups; 2 files left alone"
    assert "left alone    database/daily/trading_system_daily_20240105_020000.dump: no target back up a " \
           "database named trading_system: name the target with --target" in refused
    assert "left alone    database/daily/backup.dump: its name does not say whose backup it is: name the target " \
           "with --target" in refused

    said = adopt("--target", target.name, capsys=capsys)
    assert said[-1] == "Adopted 2 backups; 0 files left alone"
    record = BackupRecord.objects.get(path="database/daily/trading_system_daily_20240105_020000.dump")
    assert (record.format, record.backup_type, record.target_id) == ("custom", "daily", target.pk)
    assert timezone.localtime(record.created_at).replace(tzinfo=None) == datetime(2024, 1, 5, 2, 0, 0)
    assert BackupRecord.objects.get(path="database/daily/backup.dump").created_at.timestamp() == 1_700_000_000
    with dropping(pg_cluster, "pagila_from_old_script"):
        restored = run_restore(record, "pagila_from_old_script", tables=["public.actor"])
        assert restored.status == "succeeded", restored.error
        assert pg_cluster.sql("SELECT count(*) FROM actor", dbname="pagila_from_old_script") == [(200,)]


def test_what_does_not_read_to_the_end_or_is_not_a_backup_is_left_alone(pg_cluster, pagila, make_target,
                                                                        backup_root, capsys):
    target = make_target(pagila)
    daily = backup_root / "database" / "daily"
    whole = by_hand(pg_cluster, pagila, daily / "pagila_daily_20240105_020000.dump")
    cut = daily / "pagila_daily_20240106_020000.dump"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    (daily / "pagila_daily_20240107_020000.sql").write_text("SELECT 1;\n")
    (daily / "notes.txt").write_text("not a backup\n")
    pruned = make_backup(target)
    BackupRecord.objects.filter(pk=pruned.pk).update(status="pruned")

    said = adopt("--target", target.name, capsys=capsys)

    assert said[-1] == "Adopted 0 backups; 4 files left alone"
    reasons = {line.split(":")[0].split()[-1]: line.split(": ", 1)[1] for line in said[:-1]}
    assert reasons["database/daily/pagila_daily_20240106_020000.dump"].startswith("it does not check out: ")
    assert reasons["database/daily/pagila_daily_20240107_020000.sql"].startswith("plain SQL that is not compressed")
    assert reasons["database/daily/notes.txt"].startswith("not a backup's name")
    assert reasons[pruned.path] == f"backup #{pruned.pk} was pruned; its file is still here (the next prune " \
                                   "removes it)"
    assert BackupRecord.objects.count() == 1


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_an_encrypted_backup_is_decrypted_to_the_end_before_it_is_adopted_and_restores(
        pg_cluster, pagila, encrypted_target, backup_root, capsys, fmt):
    made = make_backup(encrypted_target, fmt)
    BackupRecord.objects.all().delete()

    assert adopt(capsys=capsys)[-1] == "Adopted 1 backups; 0 files left alone"

    record = BackupRecord.objects.get()
    assert (record.path, record.encrypted, record.sha256, record.globals_path) == \
        (made.path, True, made.sha256, made.globals_path)
    assert record.target_id == encrypted_target.pk  # by the database its name starts with
    assert "decrypted with the configured key; the archive reads to the end" in record.last_verify_detail
    # Read through age from the archive's header or the script's opening lines.
    assert (record.pg_dump_version, record.server_version) == (made.pg_dump_version, made.server_version)
    into = f"pagila_adopted_enc_{fmt}"
    with dropping(pg_cluster, into):
        restored = run_restore(record, into)
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)


# -- backups in object storage ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_backups_kept_only_in_object_storage_are_adopted_from_there_and_restore(
        pg_cluster, pagila, make_target, backup_root, s3_server, s3_storage, settings, capsys, fmt):
    BackupStorage.objects.filter(pk=s3_storage.pk).update(keep_local_copy=False)
    made = make_backup(make_target(pagila), fmt)
    made.refresh_from_db()
    assert made.local_removed and not made.absolute_path.exists()
    BackupRecord.objects.all().delete()  # the storage is made again in the admin; its objects are all there is

    assert adopt("--dry-run", capsys=capsys)[-1] == "Would adopt 1 backups; 0 files left alone (dry run)"
    said = adopt(capsys=capsys)

    assert said[-1] == "Adopted 1 backups; 0 files left alone"
    record = BackupRecord.objects.get()
    assert " ".join(said[0].split()).startswith(
        f"adopted #{record.pk} s3://bc-offsite-test/{made.offsite_key}: pagila, manual, {fmt}")
    assert "only in object storage" in said[0] and "with its roles file" in said[0]
    assert {f: getattr(record, f) for f in FACTS} == {f: getattr(made, f) for f in FACTS}
    assert (record.offsite_status, record.offsite_key, record.offsite_globals_key, record.local_removed) == \
        ("uploaded", made.offsite_key, made.offsite_globals_key, True)
    assert "reads to the end" in record.last_verify_detail
    assert list(settings.BACKUP_SCRATCH_DIR.iterdir()) == []  # the fetched copy is gone again
    into = f"pagila_adopted_from_s3_{fmt}"
    with dropping(pg_cluster, into):
        restored = run_restore(record, into, with_globals=True)
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)
    assert adopt(capsys=capsys)[-1] == "Adopted 0 backups; 0 files left alone"


def test_a_backup_adopted_from_its_file_is_linked_to_its_object(pagila, make_target, backup_root, s3_server,
                                                                s3_storage, capsys):
    made = make_backup(make_target(pagila))
    made.refresh_from_db()
    BackupRecord.objects.all().delete()

    said = adopt(capsys=capsys)

    assert said[-1] == "Adopted 1 backups; 1 offsite copies linked; 0 files left alone"
    record = BackupRecord.objects.get()
    assert (record.local_removed, record.offsite_status, record.offsite_key, record.offsite_globals_key) == \
        (False, "uploaded", made.offsite_key, made.offsite_globals_key)
    assert f"linked        s3://bc-offsite-test/{made.offsite_key}: " in said[1]


def test_an_object_that_is_not_what_its_metadata_says_is_left_alone(pagila, make_target, backup_root, s3_server,
                                                                    s3_storage, capsys):
    BackupStorage.objects.filter(pk=s3_storage.pk).update(keep_local_copy=False)
    made = make_backup(make_target(pagila))
    made.refresh_from_db()
    body = bytearray(s3_server.read(made.offsite_key))
    body[len(body) // 2] ^= 0xFF
    s3_server.client().put_object(Bucket="bc-offsite-test", Key=made.offsite_key, Body=bytes(body),
                                  Metadata={"sha256": made.sha256})
    s3_server.client().put_object(Bucket="bc-offsite-test", Key=f"{PREFIX}/database/manual/stray.dump", Body=b"x")
    BackupRecord.objects.all().delete()

    said = adopt(capsys=capsys)

    assert said[-1] == "Adopted 0 backups; 3 files left alone"
    assert f"left alone    s3://bc-offsite-test/{made.offsite_globals_key}: a roles file whose backup is not here" \
        in said
    assert any(line.startswith(f"left alone    s3://bc-offsite-test/{made.offsite_key}: it cannot be fetched: ")
               and "sha256" in line for line in said)
    assert f"left alone    s3://bc-offsite-test/{PREFIX}/database/manual/stray.dump: its name has no time " \
           "(YYYYMMDD_HHMMSS)" in said
    assert not BackupRecord.objects.exists()


def test_a_file_this_user_cannot_read_is_left_alone_and_the_others_adopted(pagila, make_target, backup_root,
                                                                           monkeypatch, capsys):
    from backups_app.services.storage import manifest

    target = make_target(pagila)
    made, unreadable = make_backup(target), make_backup(target)
    BackupRecord.objects.all().delete()
    # The tests run as root, which reads any file whatever its mode: the refusal is stood in for here.
    real = manifest.backup_sha256

    def refusing(path):
        if path == unreadable.absolute_path:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)
    monkeypatch.setattr(manifest, "backup_sha256", refusing)

    said = adopt(capsys=capsys)

    assert said[-1] == "Adopted 1 backups; 2 files left alone"
    assert f"left alone    {unreadable.path}: cannot be read: Permission denied" in said
    assert f"left alone    {unreadable.globals_path}: a roles file whose backup is not here" in said
    assert BackupRecord.objects.get().path == made.path
