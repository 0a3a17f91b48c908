"""Encrypted directory backups in object storage: only ciphertext leaves the host, each file once.

Real pagila copies backed up with pg_dump -Fd, each file sealed with age
(crypto/sealing.py), uploaded through the console's own services to each
kind's real server (S3 on moto_server, GCS, SFTP, a folder), the storage
keeping no local copy. A second backup uploads only the files whose content
changed, even after every command's recovery swept this host's store of the
files no local backup uses (the bucket's keyed index gives back the first
backup's ciphertext); no object in the bucket holds plaintext or a plain
hash of it; with the local folders gone a backup restores, verifies and is
adopted from the bucket alone, and no plaintext stays in the scratch folder.
"""

import logging
import os
import re
from pathlib import Path

import pytest

from backups_app.models import BackupRecord, BackupStorage, RestoreRecord, RetentionPolicy, VerificationRecord
from backups_app.services.adoption import from_storage
from backups_app.services.crypto import age
from backups_app.services.jobs import recovery
from backups_app.services.retention import prune as pruning
from backups_app.services.storage import blobs, keyed_index, local_store, manifest, offsite
from tests.dbcompare import row_counts
from tests.restore_helpers import database_names, dropping, make_backup, run_restore, run_verify
from tests.test_offsite_dedup import add_rows, blob_keys, fresh, listing

pytest_plugins = ["tests.storage_fixtures", "tests.age_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.requires("sshd", "ssh-keygen", package="openssh-server")]

AGE_HEADER = b"age-encryption.org/v1"


@pytest.fixture
def source(pagila, fresh_db):
    return fresh_db("pagila_sealed_source", template=pagila)


@pytest.fixture
def target(source, make_target, backup_root, remote_storage, age_key):
    BackupStorage.objects.update(keep_local_copy=False)
    return make_target(source, encrypt=True, age_recipients=age_key[1])


def sealed(pg_cluster, target) -> BackupRecord:
    backup = fresh(make_backup(target, "directory"))
    assert backup.encrypted and (backup.offsite_status, backup.local_removed) == ("uploaded", True), \
        backup.offsite_detail
    return backup


def uploaded_bytes(backup) -> int:
    return int(re.search(r"files new to the store, (\d+) of \d+ bytes", backup.offsite_detail).group(1))


def plaintext_in(folder) -> list[str]:
    """Files under a folder that are not age's (a decrypted copy, a pg_dump file); a manifest lists ciphertext."""
    found = []
    for top, _dirs, names in os.walk(folder):
        for name in set(names) - {manifest.NAME}:
            with open(os.path.join(top, name), "rb") as f:
                if f.read(len(AGE_HEADER)) != AGE_HEADER:
                    found.append(os.path.join(top, name))
    return found


def spy_on_decryption(monkeypatch) -> list:
    """(folder, its encrypted files, those not age's) each time a private decrypted copy of a folder is made."""
    seen, real = [], age.decrypted_copy

    def watched(path, **options):
        path = Path(path)
        if path.is_dir():
            seen.append((path, sorted(n for n in os.listdir(path) if n.endswith(".age")), plaintext_in(path)))
        return real(path, **options)

    monkeypatch.setattr(age, "decrypted_copy", watched)
    return seen


def test_a_second_backup_uploads_only_the_changed_files_and_the_bucket_holds_only_ciphertext(
        pg_cluster, source, target, remote, remote_storage, caplog):
    first = sealed(pg_cluster, target)
    names = listing(remote, first)
    assert all(name.endswith(".age") for name in names) and "toc.dat.age" in names
    before = blob_keys(remote)
    assert len(before) == len(set(names.values()))
    # As before every command: store files no local backup uses are swept (the first's folder is gone).
    recovery.recover()
    assert list(local_store.root(local_store.KEYED).rglob("*.*")) == []

    add_rows(pg_cluster, source)
    with caplog.at_level(logging.INFO, logger="backups_app.services.backups.dump"):
        second = sealed(pg_cluster, target)
    assert re.search(r"\d+ encrypted files taken from object storage, 0 linked here", caplog.text), caplog.text
    added = blob_keys(remote) - before
    again = listing(remote, second)
    changed = {n for n, s in again.items() if s not in set(names.values())}
    assert len(added) == len(changed) and 1 <= len(changed) <= 3, changed
    assert "toc.dat.age" in changed
    assert f"{len(changed) + 1} of {len(again) + 1} files new to the store" in second.offsite_detail
    store = offsite.store(remote_storage)
    changed_bytes = sum(len(remote.read(blobs.blob_key(store, again[n]))) for n in changed)
    manifest_bytes = len(remote.read(second.offsite_key))
    assert uploaded_bytes(second) == changed_bytes + manifest_bytes < uploaded_bytes(first) / 2

    for key in blob_keys(remote):
        assert remote.read(key)[:len(AGE_HEADER)] == AGE_HEADER, key
    for backup in (first, second):  # a manifest names encrypted files by the sha256 of their ciphertext
        text = remote.read(backup.offsite_key).decode()
        assert set(blobs.parse(text).values()) <= {blobs.sha_of_key(k) for k in blob_keys(remote)}
    entries = [k for k in remote.keys() if f"/{keyed_index.TOP}/" in k]
    assert len(entries) == len(set(names.values()) | set(again.values()))


def test_from_the_bucket_alone_it_restores_whole_verifies_and_leaves_no_plaintext(
        pg_cluster, source, target, remote, settings, monkeypatch):
    backup = sealed(pg_cluster, target)
    assert not backup.absolute_path.exists()
    decrypted_from = spy_on_decryption(monkeypatch)
    with dropping(pg_cluster, "pagila_sealed_restored"):
        restored = run_restore(backup, "pagila_sealed_restored", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_sealed_restored") == row_counts(pg_cluster, source)
    # The folder fetched from the bucket (ciphertext only) was in place before its private copy was decrypted.
    [(folder, files_then, plain_then)] = decrypted_from
    assert folder.parent.parent == Path(settings.BACKUP_SCRATCH_DIR) and folder.name == Path(backup.path).name
    assert files_then == sorted(listing(remote, backup)) and plain_then == []
    assert plaintext_in(settings.BACKUP_SCRATCH_DIR) == [] and os.listdir(settings.BACKUP_SCRATCH_DIR) == []

    check = run_verify(fresh(backup))
    assert check.status == "succeeded", check.error
    assert "decrypted with the configured key; the archive reads to the end" in check.detail, check.detail
    assert f"fetched from {backup.offsite_key}" in check.detail
    assert os.listdir(settings.BACKUP_SCRATCH_DIR) == []

    settings.BACKUP_AGE_IDENTITY_FILE = ""
    check = run_verify(fresh(backup))
    assert check.status == "succeeded", check.error
    assert "no private key is configured here, so the archive inside was not read" in check.detail, check.detail


def test_after_the_first_is_pruned_the_second_still_restores_from_the_bucket(
        pg_cluster, source, target, remote, remote_storage):
    first = sealed(pg_cluster, target)
    recovery.recover()
    add_rows(pg_cluster, source)
    second = sealed(pg_cluster, target)
    policy = RetentionPolicy.objects.create(name="one", target=target, keep_days=None, keep_last=1, min_keep=1)
    assert [r.pk for r in pruning.prune_policy(policy_id=policy.pk, started_by="test")] == [first.pk]
    assert fresh(first).offsite_status == "deleted"
    store = offsite.store(remote_storage)
    assert blob_keys(remote) == {blobs.blob_key(store, s) for s in listing(remote, second).values()}
    # The keyed index keeps only entries of blobs a backup still names.
    entries = [k for k in remote.keys() if f"/{keyed_index.TOP}/" in k]
    assert len(entries) == len(set(listing(remote, second).values()))
    with dropping(pg_cluster, "pagila_sealed_after_prune"):
        restored = run_restore(fresh(second), "pagila_sealed_after_prune", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_sealed_after_prune") == row_counts(pg_cluster, source)


def test_a_damaged_blob_fails_verification_and_the_restore_refuses_before_creating_anything(
        pg_cluster, source, target, remote, remote_storage):
    backup = sealed(pg_cluster, target)
    name, sha = max(listing(remote, backup).items(), key=lambda item: len(remote.read(
        blobs.blob_key(offsite.store(remote_storage), item[1]))))
    remote.tamper(blobs.blob_key(offsite.store(remote_storage), sha))
    check = run_verify(fresh(backup))
    assert check.status == "failed" and f"its file {name}" in check.error, check.error
    before = database_names(pg_cluster)
    restored = run_restore(fresh(backup), "pagila_sealed_refused", force=True)
    assert restored.status == "failed" and f"its file {name} is damaged in the store" in restored.error
    assert "\n" not in restored.error
    assert database_names(pg_cluster) == before


def test_a_backup_kept_only_in_the_bucket_is_adopted_encrypted_and_restores(
        pg_cluster, source, target, remote, settings):
    made = sealed(pg_cluster, target)
    for model in (RestoreRecord, VerificationRecord, BackupRecord):  # the console's records are lost
        model.objects.all().delete()
    found = from_storage.adopt_from_storages()
    assert [f.problem for f in found] == [""]
    again = BackupRecord.objects.get()
    assert made.globals_path and made.offsite_globals_key
    assert (again.path, again.sha256, again.format, again.encrypted, again.offsite_status, again.globals_path,
            again.offsite_globals_key) == (made.path, made.sha256, "directory", True, "uploaded",
                                           made.globals_path, made.offsite_globals_key)
    with dropping(pg_cluster, "pagila_sealed_adopted"):
        restored = run_restore(fresh(again), "pagila_sealed_adopted")
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_sealed_adopted") == row_counts(pg_cluster, source)
    assert os.listdir(settings.BACKUP_SCRATCH_DIR) == []


def test_a_name_in_the_keyed_index_that_the_console_did_not_write_is_ignored(
        pg_cluster, source, target, remote, remote_storage, caplog):
    first = sealed(pg_cluster, target)
    recovery.recover()
    store = offsite.store(remote_storage)
    entries = sorted(keyed_index.parse_key(k)[:2] for k in remote.keys() if keyed_index.parse_key(k))
    for key in [k for k in remote.keys() if keyed_index.parse_key(k)]:
        store.delete(key)
    # Someone who may write to the bucket pairs each content with another file's blob (no key: no right tag).
    shas = [sha for _keyed, sha in entries]
    for (keyed, _sha), other in zip(entries, shas[1:] + shas[:1], strict=True):
        store.put_bytes(store.key_for(f"{keyed_index.TOP}/{keyed[:2]}/{keyed}.{other}.{'0' * 32}"), b"",
                        sha256=keyed_index._EMPTY_SHA)

    second = sealed(pg_cluster, target)
    assert "is not a name this console wrote" in caplog.text
    assert not set(listing(remote, second).values()) & set(listing(remote, first).values())  # encrypted afresh
    with dropping(pg_cluster, "pagila_sealed_forged"):
        restored = run_restore(fresh(second), "pagila_sealed_forged")
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_sealed_forged") == row_counts(pg_cluster, source)
