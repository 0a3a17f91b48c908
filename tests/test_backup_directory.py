"""Directory-format backups (pg_dump -Fd -j): one folder, published whole, with a manifest of every file."""

import json
import re
import shutil
import stat
import subprocess
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from humanize import naturalsize

from backups_app.models import BackupRecord, RetentionPolicy
from backups_app.services.restores import restore
from backups_app.services.retention import orphans, prune
from backups_app.services.storage import layout, manifest
from backups_app.services.storage.files import sha256_of
from tests.dbcompare import object_counts, row_counts
from tests.pgcluster import encrypted_only, server_bin_dir
from tests.restore_helpers import database_names, dropping, flip_byte, make_backup, run_restore, run_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder_backup(pagila, make_target, backup_root, settings):
    settings.BACKUP_DUMP_JOBS = 2
    return make_backup(make_target(pagila), "directory")


def data_files(backup):
    # One file per table's data, compressed as BACKUP_CUSTOM_COMPRESSION says (3456.dat.zst with auto and pg_dump 16+).
    return sorted(p for p in backup.absolute_path.iterdir() if re.fullmatch(r"\d+\.dat\.(gz|zst|lz4)", p.name))


def test_a_directory_backup_is_a_private_folder_with_a_manifest_of_every_file(folder_backup, backup_root):
    folder = folder_backup.absolute_path
    assert folder.parent == backup_root / "database" / "manual" and folder.name.endswith(".dir")
    assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = sorted(p.name for p in folder.iterdir())
    assert "toc.dat" in names and manifest.NAME in names and len(data_files(folder_backup)) > 10
    assert all(stat.S_IMODE((folder / n).stat().st_mode) == 0o600 for n in names)
    # sha256sum can check it without the console.
    check = subprocess.run(["sha256sum", "--check", "--strict", manifest.NAME], cwd=folder, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    listed = (folder / manifest.NAME).read_text().splitlines()
    assert sorted(line.split("  ", 1)[1] for line in listed) == [n for n in names if n != manifest.NAME]
    assert folder_backup.sha256 == sha256_of(folder / manifest.NAME)[0]
    assert folder_backup.size_bytes == sum((folder / n).stat().st_size for n in names)
    assert not list(folder.parent.glob(".*partial*"))


def test_a_directory_backup_restores_every_object_and_row_with_parallel_jobs(pg_cluster, pagila, folder_backup):
    with dropping(pg_cluster, "pagila_from_dir"):
        restored = run_restore(folder_backup, "pagila_from_dir", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert object_counts(pg_cluster, "pagila_from_dir") == object_counts(pg_cluster, pagila)
        rows = row_counts(pg_cluster, "pagila_from_dir")
        assert rows == row_counts(pg_cluster, pagila) and rows["public.rental"] == 16044


def test_a_directory_backup_restores_with_the_standard_pg_restore(pg_cluster, pagila, make_target, backup_root,
                                                                 settings, monkeypatch):
    # Made with the server's own client programs, the folder is what its own pg_restore reads. (A folder
    # from a newer pg_dump needs that pg_restore, and into an older server the console's restore.)
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = server_bin_dir(), True
    encrypted_only(monkeypatch)
    folder_backup = make_backup(make_target(pagila), "directory")
    pg_cluster.dropdb("pagila_std_dir")
    pg_cluster.createdb("pagila_std_dir")
    try:
        subprocess.run([f"{server_bin_dir()}/pg_restore", "--exit-on-error", "--jobs=2", "-d", "pagila_std_dir",
                        str(folder_backup.absolute_path)], env=pg_cluster.client_env(), check=True,
                       capture_output=True)
        assert row_counts(pg_cluster, "pagila_std_dir") == row_counts(pg_cluster, pagila)
    finally:
        pg_cluster.dropdb("pagila_std_dir")


def test_a_good_folder_passes_verification(folder_backup):
    record = run_verify(folder_backup)
    assert record.status == "succeeded" and record.ok is True, record.error
    assert "of all" in record.detail and "reads to the end" in record.detail


def test_a_removed_file_fails_verification_and_names_it(folder_backup):
    gone = data_files(folder_backup)[3]
    gone.unlink()
    record = run_verify(folder_backup)
    assert record.status == "failed" and record.ok is False
    assert "missing" in record.error and gone.name in record.error


def test_one_flipped_byte_in_one_file_fails_verification_and_names_it(folder_backup):
    victim = max(data_files(folder_backup), key=lambda p: p.stat().st_size)
    flip_byte(victim, victim.stat().st_size // 2)
    record = run_verify(folder_backup)
    assert record.status == "failed" and "checksum mismatch" in record.error and victim.name in record.error


def test_a_file_added_to_the_folder_fails_verification(folder_backup):
    (folder_backup.absolute_path / "9999.dat.gz").write_bytes(b"not from pg_dump")
    record = run_verify(folder_backup)
    assert record.status == "failed" and "did not make: 9999.dat.gz" in record.error


def test_a_changed_manifest_fails_verification(folder_backup):
    path = folder_backup.absolute_path / manifest.NAME
    path.write_text(path.read_text() + f"{'0' * 64}  extra.dat\n")
    record = run_verify(folder_backup)
    assert record.status == "failed" and f"{manifest.NAME} has sha256" in record.error


def test_a_data_block_that_does_not_decompress_fails_even_with_matching_checksums(pagila, make_target, backup_root,
                                                                                  settings):
    # The manifest is rewritten to match, as if the damage happened before it was made:
    # reading every block with pg_restore still finds it. gzip blocks carry a CRC; a byte flipped
    # in a zstd frame as pg_dump writes it can decompress to other bytes without an error, so
    # there only the manifest's sha256 (taken as the folder is made) stands guard.
    settings.BACKUP_CUSTOM_COMPRESSION = "gzip:1"
    folder_backup = make_backup(make_target(pagila), "directory")
    victim = max(data_files(folder_backup), key=lambda p: p.stat().st_size)
    flip_byte(victim, victim.stat().st_size // 2)
    folder = folder_backup.absolute_path
    (folder / manifest.NAME).unlink()
    sha, _ = manifest.write(folder)
    BackupRecord.objects.filter(pk=folder_backup.pk).update(sha256=sha)
    folder_backup.refresh_from_db()
    record = run_verify(folder_backup)
    assert record.status == "failed" and "does not read to the end" in record.error


def test_a_restore_refuses_a_folder_whose_file_changed(pg_cluster, folder_backup):
    victim = max(data_files(folder_backup), key=lambda p: p.stat().st_size)
    flip_byte(victim, 100)
    restored = run_restore(folder_backup, "pagila_dir_changed")
    assert restored.status == "failed" and "does not match its recorded checksum" in restored.error
    assert "pagila_dir_changed" not in database_names(pg_cluster)


def test_a_restore_refuses_a_folder_missing_a_file_before_anything_is_created(folder_backup):
    data_files(folder_backup)[0].unlink()
    with pytest.raises(restore.RestoreRefused, match="damaged or truncated"):
        restore.restore_create(backup=folder_backup, into="pagila_dir_short")


def test_a_drill_restores_the_folder_and_checks_every_table(folder_backup):
    record = run_verify(folder_backup, drill=True)
    assert record.status == "succeeded", record.error
    assert "tables present and readable" in record.detail and "scratch database dropped" in record.detail


def test_single_tables_come_back_from_a_folder(pg_cluster, pagila, folder_backup):
    with dropping(pg_cluster, "pagila_dir_one"):
        restored = run_restore(folder_backup, "pagila_dir_one", tables=["public.rental"])
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_dir_one")["public.rental"] == 16044


def test_prune_removes_the_whole_folder_and_its_roles_file(pagila, make_target, backup_root):
    target = make_target(pagila)
    old, new = make_backup(target, "directory"), make_backup(target, "directory")
    BackupRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=100))
    roles_file = layout.absolute(old.globals_path)
    assert old.absolute_path.is_dir() and roles_file.is_file()
    pruned = prune.prune_policy(policy_id=RetentionPolicy.objects.create(name="30 days", keep_days=30).pk)
    assert [r.pk for r in pruned] == [old.pk]
    assert not old.absolute_path.exists() and not roles_file.exists()
    assert new.absolute_path.is_dir() and run_verify(new).ok
    assert orphans.find_orphans() == []


def test_the_listing_shows_a_folder_like_any_backup_with_its_total_size(folder_backup):
    out = StringIO()
    call_command("backup", "--list", "--json", stdout=out)
    [row] = json.loads(out.getvalue())
    assert row["format"] == "directory" and row["size_bytes"] == folder_backup.size_bytes
    assert row["path"] == str(folder_backup.absolute_path)
    out = StringIO()
    call_command("backup", "--list", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if line.startswith(str(folder_backup.pk)))
    assert "directory" in line and naturalsize(folder_backup.size_bytes, binary=True) in line


def test_a_failed_attempts_partial_folder_is_reported_with_its_size_and_pruned(pagila, make_target, backup_root):
    target = make_target(pagila)
    make_backup(target, "directory")
    failed = BackupRecord.objects.create(target=target, backup_type="manual", format="directory", status="failed")
    partial = layout.partial_path(layout.type_dir("manual") / f"x_{failed.pk}.dir", failed.pk)
    partial.mkdir(mode=0o700)
    (partial / "toc.dat").write_bytes(b"x" * 3000)
    (partial / "3001.dat.gz").write_bytes(b"y" * 5000)
    [orphan] = orphans.find_orphans()
    assert orphan.path == layout.relative(partial) and orphan.size_bytes == 8000
    assert f"temporary file of backup #{failed.pk}" in orphan.note
    prune.prune_policy(policy_id=RetentionPolicy.objects.create(name="any", keep_days=30).pk)
    assert not partial.exists() and orphans.find_orphans() == []


def test_a_folder_no_record_knows_is_reported_with_its_total_size(folder_backup):
    copy = folder_backup.absolute_path.with_name("copied_by_hand.dir")
    shutil.copytree(folder_backup.absolute_path, copy)
    [orphan] = orphans.find_orphans()
    assert orphan.path == layout.relative(copy) and orphan.note == "no backup record knows this file"
    assert orphan.size_bytes == folder_backup.size_bytes


def test_the_command_takes_jobs_only_for_a_directory_backup(pagila, make_target, backup_root):
    with pytest.raises(CommandError, match="--jobs needs --format directory"):
        call_command("backup", "--format", "custom", "--jobs", "2")
    assert not BackupRecord.objects.exists()


def test_a_folder_is_never_published_over_another_even_an_empty_one(tmp_path):
    from backups_app.services.storage import files

    partial, final = tmp_path / ".b.dir.partial-1", tmp_path / "b.dir"
    partial.mkdir()
    (partial / "toc.dat").write_bytes(b"toc")
    final.mkdir()
    with pytest.raises(FileExistsError):
        files.publish_dir(partial, final)
    assert (partial / "toc.dat").exists() and list(final.iterdir()) == []
    final.rmdir()
    files.publish_dir(partial, final)
    assert (final / "toc.dat").read_bytes() == b"toc" and not partial.exists()
