"""Encrypted directory backups: each file encrypted with age, shared by a keyed hash of its content."""

import hashlib
import os
import stat
import subprocess
import textwrap
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from backups_app.models import BackupRecord
from backups_app.services.crypto import age, sealing
from backups_app.services.jobs import recovery
from backups_app.services.postgres import binaries
from backups_app.services.restores import restore
from backups_app.services.storage import local_store, manifest
from tests.age_fixtures import keygen
from tests.dbcompare import object_counts, row_counts
from tests.pgcluster import bin_dir_of
from tests.restore_helpers import database_names, dropping, flip_byte, make_backup, run_restore, run_verify
from tests.test_backup_dedup import data_file, delete_now, next_second, prune_one, sha256sum_check, store_files
from tests.test_backup_dedup import listed_files as sealed_files

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.age_fixtures", "tests.admin_fixtures"]


@pytest.fixture
def sealed_target(encrypted_target, settings):
    settings.BACKUP_DUMP_JOBS = 2
    return encrypted_target


def keyed_files():
    return store_files(local_store.KEYED)


def decrypt(key, path) -> bytes:
    return subprocess.run(["age", "--decrypt", "-i", str(key), str(path)], check=True, capture_output=True).stdout


def test_an_encrypted_directory_backup_holds_only_age_files_and_restores_whole(
        pg_cluster, pagila, sealed_target, age_key):
    backup = make_backup(sealed_target, "directory")
    folder = backup.absolute_path
    assert backup.encrypted and folder.is_dir() and not folder.name.endswith(".age")
    names = sorted(os.listdir(folder))
    assert names == sorted([manifest.NAME, *manifest.listed(folder)])
    assert all(n.endswith(".age") for n in names if n != manifest.NAME) and "toc.dat.age" in names
    for name in manifest.listed(folder):
        assert (folder / name).read_bytes()[:21] == b"age-encryption.org/v1"
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert sha256sum_check(backup).returncode == 0  # checked without the key
    # The standard tools read it: age, then pg_restore on the decrypted folder.
    plain = folder.parent.parent.parent / "plain-copy"
    plain.mkdir()
    for name in manifest.listed(folder):
        (plain / name.removesuffix(".age")).write_bytes(decrypt(age_key[0], folder / name))
    reader = binaries.pg_restore_for(None, dump_version=backup.pg_dump_version).path  # as new as the pg_dump
    listing = subprocess.run([reader, "--list", str(plain)], capture_output=True, text=True)
    assert listing.returncode == 0 and "TABLE DATA public rental" in listing.stdout, listing.stderr
    assert run_verify(backup).ok
    with dropping(pg_cluster, "pagila_sealed"):
        restored = run_restore(backup, "pagila_sealed", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert object_counts(pg_cluster, "pagila_sealed") == object_counts(pg_cluster, pagila)
        assert row_counts(pg_cluster, "pagila_sealed") == row_counts(pg_cluster, pagila)
    assert os.listdir(age.scratch_dir()) == [], "no plaintext is left in the scratch folder"


def test_a_second_backup_links_the_first_ones_encrypted_files_instead_of_encrypting_again(sealed_target):
    first = make_backup(sealed_target, "directory")
    second = make_backup(sealed_target, "directory")
    shared = {n for n, p in sealed_files(second).items() if os.path.samefile(p, first.absolute_path / n)}
    data = {n for n in sealed_files(second) if n != "toc.dat.age"}
    assert data <= shared and len(data) > 10
    own = [second.absolute_path / manifest.NAME, *([] if "toc.dat.age" in shared else
                                                   [second.absolute_path / "toc.dat.age"])]
    assert second.bytes_added == sum(p.stat().st_size for p in own) < second.size_bytes / 5
    assert first.bytes_added == first.size_bytes


def test_store_names_are_keyed_hashes_that_say_nothing_without_the_key(sealed_target, age_key, settings, monkeypatch):
    backup = make_backup(sealed_target, "directory")
    kept = keyed_files()
    assert len(kept) == len(sealed_files(backup))
    plain_hashes = {hashlib.sha256(decrypt(age_key[0], p)).hexdigest() for p in kept}
    for path in kept:
        keyed, sha = path.name.split(".")
        assert sha == local_store.files.sha256_of(path)[0]  # the encrypted bytes' own sum, to check them
        assert keyed not in plain_hashes and path.parent.name == keyed[:2]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_nlink == 2
    assert local_store.root().exists() is False or not any(local_store.root().rglob("*.*"))
    # Another key gives other names: a store cannot be matched against another console's.
    monkeypatch.setenv("BACKUP_DEDUP_KEY", "k" * 40)
    other = make_backup(sealed_target, "directory")
    assert not any(os.path.samefile(p, backup.absolute_path / n) for n, p in sealed_files(other).items())
    assert other.bytes_added == other.size_bytes


def test_a_short_dedup_key_fails_the_backup_in_one_line_without_saying_it(sealed_target, monkeypatch):
    from backups_app.services.backups import dump

    monkeypatch.setenv("BACKUP_DEDUP_KEY", "short-secret")
    record = dump.backup_execute(record_id=dump.backup_create(target=sealed_target, backup_type="manual",
                                                              fmt="directory").pk)
    assert record.status == "failed"
    assert record.error == "the deduplication key in BACKUP_DEDUP_KEY is shorter than 32 characters"
    assert not record.absolute_path or not record.absolute_path.exists()
    assert os.listdir(age.scratch_dir()) == []


def test_a_backup_encrypted_to_other_keys_shares_nothing_with_the_older_ones(sealed_target, tmp_path, age_key):
    first = make_backup(sealed_target, "directory")
    other_key = keygen(tmp_path / "other.key")
    sealed_target.age_recipients = f"{age_key[1]}\n{other_key}"
    sealed_target.save()
    second = make_backup(sealed_target, "directory")
    assert not any(os.path.samefile(p, first.absolute_path / n) for n, p in sealed_files(second).items())
    # Both keys open the new one.
    assert decrypt(tmp_path / "other.key", second.absolute_path / "toc.dat.age")[:5] == b"PGDMP"


def test_without_dedup_each_encrypted_backup_has_files_of_its_own(sealed_target, settings):
    settings.BACKUP_DEDUP = False
    make_backup(sealed_target, "directory")
    second = make_backup(sealed_target, "directory")
    assert keyed_files() == [] and second.bytes_added == second.size_bytes


def test_no_plaintext_ever_lands_in_the_backup_folder_and_the_scratch_copy_goes(
        sealed_target, backup_root, monkeypatch):
    seen = []
    real = sealing.seal

    def watched(plain, out, recipients, **options):
        seen.append((plain.parent.parent, sorted(os.listdir(plain))))
        assert stat.S_IMODE(plain.parent.stat().st_mode) == 0o700
        return real(plain, out, recipients, **options)

    monkeypatch.setattr(sealing, "seal", watched)
    make_backup(sealed_target, "directory")
    (scratch, plain_names), = seen
    assert scratch == age.scratch_dir() and "toc.dat" in plain_names
    assert not str(scratch).startswith(str(backup_root / "pagila"))
    assert os.listdir(scratch) == []
    for path in backup_root.rglob("*"):
        if path.is_file() and path.name not in (manifest.NAME, "backup_log.txt"):
            assert path.read_bytes()[:21] == b"age-encryption.org/v1", path


def test_damage_to_a_shared_encrypted_file_fails_every_backup_that_uses_it(sealed_target, pg_cluster):
    first = make_backup(sealed_target, "directory")
    second = make_backup(sealed_target, "directory")
    victim = data_file(second)
    flip_byte(victim, victim.stat().st_size // 2)
    record = run_verify(second)
    assert record.status == "failed" and victim.name in record.error
    assert f"part of backups #{first.pk}" in record.error
    first.refresh_from_db()
    assert first.last_verify_ok is False
    with pytest.raises(restore.RestoreRefused, match=f"backup #{first.pk} failed its last verification"):
        restore.restore_create(backup=first, into="pagila_sealed_damaged")
    assert "pagila_sealed_damaged" not in database_names(pg_cluster)


def test_a_damaged_file_under_a_matching_checksum_is_caught_by_age_before_anything_is_restored(
        sealed_target, pg_cluster):
    backup = make_backup(sealed_target, "directory")
    victim = data_file(backup)
    flip_byte(victim, victim.stat().st_size // 2)
    # Someone who could change the file could change the manifest and the record too: age still refuses it.
    (backup.absolute_path / manifest.NAME).unlink()
    sha, _ = manifest.write(backup.absolute_path)
    BackupRecord.objects.filter(pk=backup.pk).update(sha256=sha)
    backup.refresh_from_db()
    verified = run_verify(backup)
    assert not verified.ok and "the encrypted backup file is damaged or was changed" in verified.error
    restored = run_restore(backup, "pagila_sealed_tampered", force=True)
    assert restored.status == "failed" and "damaged or was changed" in restored.error
    assert "pagila_sealed_tampered" not in database_names(pg_cluster)


def test_verifying_without_the_key_checks_the_encrypted_bytes_only(sealed_target, settings):
    backup = make_backup(sealed_target, "directory")
    settings.BACKUP_AGE_IDENTITY_FILE = ""
    verification = run_verify(backup)
    assert verification.ok and "sha256 of all" in verification.detail
    assert "no private key is configured here" in verification.detail
    with pytest.raises(restore.RestoreRefused, match="private key"):
        restore.restore_create(backup=backup, into="pagila_sealed_nokey")


def test_a_single_table_restores_and_an_unknown_one_is_named_before_anything_is_made(
        sealed_target, pg_cluster, pagila):
    backup = make_backup(sealed_target, "directory")
    with pytest.raises(restore.RestoreRefused, match="table public.nope is not in backup"):
        restore.restore_create(backup=backup, into="pagila_sealed_one", tables=["public.nope"])
    with dropping(pg_cluster, "pagila_sealed_one"):
        restored = run_restore(backup, "pagila_sealed_one", tables=["public.actor"])
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_sealed_one")["public.actor"] == \
            row_counts(pg_cluster, pagila)["public.actor"]


def test_every_backup_of_a_chain_restores_after_the_older_ones_are_pruned(sealed_target, pg_cluster, pagila):
    chain = []
    for _ in range(3):
        next_second()
        chain.append(make_backup(sealed_target, "directory"))
    prune_one(chain[0])
    assert delete_now(chain[1])
    assert not chain[0].absolute_path.exists() and not chain[1].absolute_path.exists()
    used = {p.name.split(".")[1] for p in keyed_files()}
    assert used == set(manifest.listed(chain[2].absolute_path).values())
    assert local_store.sweep() == [] and all(p.stat().st_nlink == 2 for p in keyed_files())
    with dropping(pg_cluster, "pagila_sealed_last"):
        restored = run_restore(BackupRecord.objects.get(pk=chain[2].pk), "pagila_sealed_last")
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_sealed_last") == row_counts(pg_cluster, pagila)


def test_a_prune_racing_an_encrypted_backup_never_takes_a_file_the_backup_links(
        sealed_target, pg_cluster, pagila, monkeypatch):
    first = make_backup(sealed_target, "directory")
    real_link, seen = local_store._link, []

    def link(src, dst):
        racing = str(dst).endswith(".link") and not seen
        if racing:
            seen.append(delete_now(first))  # the store name is swept away: the backup encrypts its own
        real_link(src, dst)

    monkeypatch.setattr(local_store, "_link", link)
    second = make_backup(sealed_target, "directory")
    assert seen == [True] and not first.absolute_path.exists()
    assert sha256sum_check(second).returncode == 0
    assert {p.name.split(".")[1] for p in keyed_files()} == set(manifest.listed(second.absolute_path).values())
    with dropping(pg_cluster, "pagila_sealed_raced"):
        restored = run_restore(second, "pagila_sealed_raced", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_sealed_raced") == row_counts(pg_cluster, pagila)


def test_plaintext_and_store_files_a_killed_backup_left_are_removed_by_the_next_recovery(sealed_target):
    backup = make_backup(sealed_target, "directory")
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = age.scratch_dir() / f"{age.COPY_PREFIX}{dead.pid}-x"
    (left / "dump").mkdir(parents=True)
    (left / "dump" / "toc.dat").write_bytes(b"PGDMP plaintext")
    (backup.absolute_path / "toc.dat.age").unlink()  # its store name now has no backup
    lines = recovery.recover().lines
    assert not left.exists()
    assert any(f"removed plaintext left in {left}" in line for line in lines), lines
    assert any("removed store file" in line for line in lines), lines
    assert all(p.stat().st_nlink == 2 for p in keyed_files())


def test_adopted_encrypted_directory_backups_come_back_encrypted_and_restore(sealed_target, pg_cluster, pagila):
    made = [make_backup(sealed_target, "directory") for _ in range(2)]
    BackupRecord.objects.all().delete()
    call_command("backup", "--adopt", stdout=StringIO())
    adopted = {b.path: b for b in BackupRecord.objects.all()}
    assert set(adopted) == {b.path for b in made}
    for b in made:
        record = adopted[b.path]
        assert record.encrypted and (record.sha256, record.size_bytes) == (b.sha256, b.size_bytes)
        assert record.last_verify_ok is True
        assert record.pg_dump_version == b.pg_dump_version
    with dropping(pg_cluster, "pagila_sealed_adopted"):
        restored = run_restore(adopted[made[1].path], "pagila_sealed_adopted")
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_sealed_adopted") == row_counts(pg_cluster, pagila)


def test_the_docs_commands_restore_an_encrypted_directory_backup_without_the_console(
        sealed_target, pg_cluster, pagila, age_key, tmp_path, settings, monkeypatch):
    """docs/encryption.md's loop, run as written with this backup's folder and key: age and the server's own
    pg_restore only (the backup made with the server's own pg_dump, as an operator with Debian's tools has)."""
    text = (Path(__file__).parents[1] / "docs" / "encryption.md").read_text()
    block = text.split("- **Without the console**", 1)[1].split("```", 2)[1]
    bindir = bin_dir_of("15")
    settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY, settings.BACKUP_CUSTOM_COMPRESSION = bindir, True, "gzip:1"
    monkeypatch.setenv("PGSSLMODE", "require")  # a client before 16 sends a password only over TLS
    backup = make_backup(sealed_target, "directory")
    assert backup.pg_dump_version.startswith("15.")
    script = (textwrap.dedent(block).strip()
              .replace("pagila_daily_20261202_030000_41.dir", str(backup.absolute_path))
              .replace("console.key", str(age_key[0])).replace("newdb", "pagila_by_hand"))
    env = {**pg_cluster.client_env(), "PATH": f"{bindir}:{os.environ['PATH']}"}
    with dropping(pg_cluster, "pagila_by_hand"):
        pg_cluster.createdb("pagila_by_hand")
        ran = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert ran.returncode == 0, ran.stderr
        assert row_counts(pg_cluster, "pagila_by_hand") == row_counts(pg_cluster, pagila)


def test_a_restore_drill_of_an_encrypted_directory_backup_checks_every_table(sealed_target, pg_cluster):
    make_backup(sealed_target, "directory")
    backup = make_backup(sealed_target, "directory")  # its data files are the first one's, linked
    drill = run_verify(backup, drill=True)
    assert drill.status == "succeeded", drill.error
    assert "22 tables present and readable" in drill.detail
    assert os.listdir(age.scratch_dir()) == []


def test_the_restore_form_lists_the_tables_of_an_encrypted_directory_backup(sealed_target, settings):
    from backups_app.services.restores import checks

    backup = make_backup(sealed_target, "directory")
    assert "public.actor" in checks.tables_in(backup)
    assert os.listdir(age.scratch_dir()) == []
    settings.BACKUP_AGE_IDENTITY_FILE = ""  # without the key the form offers no list, and says nothing secret
    assert checks.tables_in(backup) is None
