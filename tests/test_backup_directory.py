"""Directory-format backups (pg_dump -Fd -j): one folder, published whole, with a manifest of every file."""

import stat
import subprocess

import pytest

from backups_app.models import BackupRecord
from backups_app.services.restores import restore
from backups_app.services.storage import manifest
from backups_app.services.storage.files import sha256_of
from tests.dbcompare import object_counts, row_counts
from tests.restore_helpers import database_names, dropping, flip_byte, make_backup, run_restore, run_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder_backup(pagila, make_target, backup_root, settings):
    settings.BACKUP_DUMP_JOBS = 2
    return make_backup(make_target(pagila), "directory")


def data_files(backup):
    return sorted(p for p in backup.absolute_path.iterdir() if p.name.endswith(".dat.gz"))


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


def test_a_directory_backup_restores_with_the_standard_pg_restore(pg_cluster, pagila, folder_backup):
    pg_cluster.dropdb("pagila_std_dir")
    pg_cluster.createdb("pagila_std_dir")
    try:
        subprocess.run(["pg_restore", "--exit-on-error", "--jobs=2", "-d", "pagila_std_dir",
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


def test_a_data_block_that_does_not_decompress_fails_even_with_matching_checksums(folder_backup):
    # The manifest is rewritten to match, as if the damage happened before it was made:
    # reading every block with pg_restore still finds it.
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
