"""Encrypted backups (age): made, decrypted by the standard tool, restored, verified, refused when wrong."""

import os
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from backups_app.services.postgres import binaries
from tests.age_fixtures import keygen
from tests.dbcompare import object_counts, row_counts
from tests.pgcluster import DEBIAN_15, encrypted_only
from tests.restore_helpers import database_names, dropping, flip_byte, make_backup, run_restore, run_verify

pytest_plugins = ["tests.age_fixtures"]
pytestmark = pytest.mark.django_db


def age_decrypt(key, path) -> subprocess.Popen:
    return subprocess.Popen(["age", "--decrypt", "-i", str(key), str(path)], stdout=subprocess.PIPE)


def test_an_encrypted_backup_is_an_age_file_the_standard_tool_decrypts(encrypted_target, age_key, backup_root):
    record = make_backup(encrypted_target)
    path = record.absolute_path
    assert record.encrypted and path.name.endswith(".dump.age")
    assert path.read_bytes()[:21] == b"age-encryption.org/v1"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    decrypt = age_decrypt(age_key[0], path)
    reader = binaries.pg_restore_for(None, dump_version=record.pg_dump_version).path  # as new as the pg_dump
    listing = subprocess.run([reader, "--list"], stdin=decrypt.stdout, capture_output=True, text=True)
    decrypt.stdout.close()
    decrypt.wait()
    assert listing.returncode == 0, listing.stderr
    assert "TABLE DATA public rental" in listing.stdout


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_an_encrypted_pagila_backup_restores_every_object_and_row(pg_cluster, pagila, encrypted_target, fmt):
    record = make_backup(encrypted_target, fmt)
    into = f"pagila_enc_{fmt}"
    with dropping(pg_cluster, into):
        restored = run_restore(record, into)
        assert restored.status == "succeeded", restored.error
        assert object_counts(pg_cluster, into) == object_counts(pg_cluster, pagila)
        assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)


def test_a_whole_restore_and_a_drill_stream_the_archive_without_a_plaintext_copy(
        pg_cluster, pagila, encrypted_target, settings, monkeypatch):
    from backups_app.services.crypto import age

    def no_copy(path):
        raise AssertionError(f"a decrypted copy of {path} was made")

    monkeypatch.setattr(age, "decrypted_copy", no_copy)
    record = make_backup(encrypted_target)
    with dropping(pg_cluster, "pagila_enc_stream"):
        restored = run_restore(record, "pagila_enc_stream")
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_enc_stream") == row_counts(pg_cluster, pagila)
    drill = run_verify(record, drill=True)
    assert drill.ok, drill.error
    assert "decrypted with the configured key; the archive reads to the end" in drill.detail
    assert "tables present and readable" in drill.detail
    assert not os.path.exists(settings.BACKUP_SCRATCH_DIR)


def test_a_parallel_restore_reads_a_private_decrypted_copy_that_is_removed_after(
        pg_cluster, pagila, encrypted_target, settings, monkeypatch):
    from backups_app.services.crypto import age

    seen = []
    real_copy = age.decrypted_copy

    def watched(path, **options):
        cm = real_copy(path, **options)
        copy = cm.__enter__()
        seen.append((copy, stat.S_IMODE(os.stat(copy).st_mode), stat.S_IMODE(os.stat(copy.parent).st_mode)))
        return _Exiting(cm, copy)

    monkeypatch.setattr(age, "decrypted_copy", watched)
    use_client(settings, monkeypatch, "15")  # a pg_restore that restores into server 15 itself, so --jobs really runs
    record = make_backup(encrypted_target)
    with dropping(pg_cluster, "pagila_enc_jobs"):
        restored, found = watched_restore(settings, record, "pagila_enc_jobs", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert "2 parallel jobs" in restored.client
        assert row_counts(pg_cluster, "pagila_enc_jobs") == row_counts(pg_cluster, pagila)
    # The watch the streamed restores pass finds this copy: it would find one there too.
    assert found and all(p.is_relative_to(settings.BACKUP_SCRATCH_DIR) for p in found)
    (copy, mode, folder_mode), = seen
    assert (mode, folder_mode) == (0o600, 0o700)
    assert copy.is_relative_to(settings.BACKUP_SCRATCH_DIR)
    assert not copy.exists() and list(copy.parents[1].iterdir()) == []


class _Exiting:
    def __init__(self, cm, value):
        self.cm, self.value = cm, value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)


def test_a_restore_with_the_wrong_key_is_refused_in_one_clear_line(encrypted_target, tmp_path, settings):
    from backups_app.services.restores import restore

    record = make_backup(encrypted_target)
    other = tmp_path / "keys" / "other.key"
    keygen(other)
    settings.BACKUP_AGE_IDENTITY_FILE = str(other)
    with pytest.raises(restore.RestoreRefused) as refused:
        restore.restore_create(backup=record, into="pagila_enc_wrong_key")
    message = str(refused.value)
    assert "\n" not in message
    assert message == (f"backup #{record.pk} cannot be restored: the backup is encrypted to other keys: the private "
                       "key configured here (BACKUP_AGE_IDENTITY_FILE / BACKUP_AGE_IDENTITY_ENV) is not one it was "
                       "encrypted for")


def test_a_restore_without_a_key_says_how_to_configure_one(encrypted_target, settings, monkeypatch):
    from backups_app.services.restores import restore

    record = make_backup(encrypted_target)
    settings.BACKUP_AGE_IDENTITY_FILE = ""
    monkeypatch.delenv("BACKUP_AGE_IDENTITY", raising=False)
    with pytest.raises(restore.RestoreRefused, match="no private key is configured: set BACKUP_AGE_IDENTITY_FILE"):
        restore.restore_create(backup=record, into="pagila_enc_no_key")


def test_the_key_can_come_from_an_environment_variable(pg_cluster, pagila, encrypted_target, age_key, settings,
                                                       monkeypatch):
    record = make_backup(encrypted_target)
    settings.BACKUP_AGE_IDENTITY_FILE = ""
    monkeypatch.setenv("BACKUP_AGE_IDENTITY", age_key[0].read_text())
    with dropping(pg_cluster, "pagila_enc_env_key"):
        restored = run_restore(record, "pagila_enc_env_key")
        assert restored.status == "succeeded", restored.error


def test_a_changed_byte_fails_verification_and_decryption(pg_cluster, encrypted_target, age_key, settings):
    from backups_app.models import BackupRecord

    record = make_backup(encrypted_target)
    assert run_verify(record).ok
    flip_byte(record.absolute_path, record.size_bytes // 2)

    settings.BACKUP_AGE_IDENTITY_FILE = ""  # without the key: the checksum alone finds it
    without_key = run_verify(record)
    assert not without_key.ok and without_key.error.startswith("checksum mismatch")

    # Someone who could change the file could change the record too: the key still refuses it.
    from backups_app.services.storage.files import sha256_of
    BackupRecord.objects.filter(pk=record.pk).update(sha256=sha256_of(record.absolute_path)[0], last_verify_ok=None)
    record.refresh_from_db()
    settings.BACKUP_AGE_IDENTITY_FILE = str(age_key[0])
    with_key = run_verify(record)
    assert not with_key.ok
    assert with_key.error.startswith("the encrypted backup file is damaged or was changed (age: failed to decrypt "
                                     "and authenticate payload chunk"), with_key.error
    # Forced past its failed verification, the restore streams the file and stops at the changed chunk.
    restored = run_restore(record, "pagila_enc_tampered", force=True)
    assert restored.status == "failed"
    assert restored.error.startswith("the encrypted backup file is damaged or was changed (age: failed to decrypt"), \
        restored.error
    assert "pagila_enc_tampered" not in database_names(pg_cluster)


def test_verifying_without_the_key_checks_the_stored_bytes_only(encrypted_target, settings):
    record = make_backup(encrypted_target)
    settings.BACKUP_AGE_IDENTITY_FILE = ""
    verification = run_verify(record)
    assert verification.ok
    assert "sha256 matches the record" in verification.detail
    assert "no private key is configured here, so the archive inside was not read" in verification.detail


@pytest.mark.parametrize("fmt", ["custom", "sql"])
def test_no_plaintext_is_written_while_an_encrypted_dump_runs(big_db, make_target, age_key, backup_root, fmt):
    from tests import faultkit

    target = make_target(big_db, name=f"big-enc-{fmt}", encrypt=True, age_recipients=age_key[1])
    seen = {}

    def look():
        for path in backup_root.rglob("*"):
            if path.is_file():
                with open(path, "rb") as f:
                    seen[path] = f.read(64)

    watcher = faultkit.Saboteur(when=faultkit.partial_growing(backup_root), act=look)
    record = make_backup(target, fmt)
    watcher.done()
    partials = [p for p in seen if ".partial-" in p.name]
    assert len(partials) == 1 and partials[0].name.endswith(f".age.partial-{record.pk}")
    others = {p: head for p, head in seen.items() if p not in partials and p.name != "backup_log.txt"}
    assert others == {}, "only the encrypted partial file is written during the dump"
    assert seen[partials[0]].startswith(b"age-encryption.org/v1\n")
    assert record.absolute_path.read_bytes()[:22] == b"age-encryption.org/v1\n"


def test_the_roles_file_beside_an_encrypted_backup_is_encrypted_too(pg_cluster, encrypted_target, age_key):
    from backups_app.services.backups import globals_dump
    from backups_app.services.storage import layout

    record = make_backup(encrypted_target)
    path = layout.absolute(record.globals_path)
    assert path.name == record.absolute_path.name + ".globals.sql.age"
    assert path.read_bytes().startswith(b"age-encryption.org/v1\n")
    plain = subprocess.run(["age", "--decrypt", "-i", str(age_key[0]), str(path)], capture_output=True, text=True)
    assert "CREATE ROLE" in plain.stdout and globals_dump.read(path) == plain.stdout
    with dropping(pg_cluster, "pagila_enc_globals"):
        restored = run_restore(record, "pagila_enc_globals", with_globals=True)
        assert restored.status == "succeeded", restored.error
        assert "left existing roles and tablespaces as they were" in restored.detail


def test_the_target_form_takes_public_keys_only_and_never_repeats_a_private_one(age_key, settings):
    from backups_app.forms import DatabaseTargetForm

    settings.BACKUP_AGE_RECIPIENTS = []
    fields = dict(name="t", kind="database", host="localhost", port=5432, dbname="d", user="u", password_source="none",
                  password_env="", is_active=True, encrypt=True)
    assert DatabaseTargetForm(data={**fields, "age_recipients": age_key[1]}).is_valid()
    secret = next(line for line in age_key[0].read_text().splitlines() if line.startswith("AGE-SECRET-KEY-"))
    form = DatabaseTargetForm(data={**fields, "age_recipients": secret})
    assert not form.is_valid()
    assert "a private key (AGE-SECRET-KEY-...): it must not be given to the console" in str(form.errors)
    assert secret[15:] not in str(form.errors)
    assert "Add an age public key" in str(DatabaseTargetForm(data={**fields, "age_recipients": ""}).errors)


def test_a_private_key_in_the_public_key_setting_stops_the_start_without_being_shown(settings):
    from backups_app.checks import backup_settings

    settings.BACKUP_AGE_RECIPIENTS = ["AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"]
    found = {p.id: p.msg for p in backup_settings(None)}
    assert "backups.E020" in found
    assert "QQQQ" not in found["backups.E020"]
    settings.BACKUP_AGE_RECIPIENTS = []
    assert "backups.E020" not in {p.id for p in backup_settings(None)}


def test_the_age_wrappers_encrypt_and_decrypt_streams_for_other_storages(age_key, tmp_path):
    from backups_app.services.crypto import age

    plain = os.urandom(300_000)
    enc = age.spawn_encrypt([age_key[1]], stdin=subprocess.PIPE)
    ciphertext, _ = enc.communicate(plain)
    assert enc.returncode == 0 and ciphertext.startswith(b"age-encryption.org/v1\n") and plain not in ciphertext
    (tmp_path / "object").write_bytes(ciphertext)
    with open(tmp_path / "object", "rb") as stream:
        decryption = age.Decryption(stdin=stream)
        assert decryption.stdout.read() == plain
        decryption.finish()


def test_a_decrypted_copy_left_by_a_killed_worker_is_removed_by_the_next_one(encrypted_target, settings):
    from backups_app.services.crypto import age

    record = make_backup(encrypted_target)
    scratch = age.scratch_dir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = scratch / f"{age.COPY_PREFIX}{dead.pid}-x"
    left.mkdir()
    (left / "pagila.dump").write_bytes(b"PGDMP plaintext")
    mine = scratch / f"{age.COPY_PREFIX}{os.getpid()}-y"
    mine.mkdir()
    with age.decrypted_copy(record.absolute_path) as copy:
        assert copy.read_bytes()[:5] == b"PGDMP"
        assert not left.exists() and mine.exists()
    assert not copy.exists()


def test_a_single_table_restores_from_an_encrypted_backup_and_an_unknown_one_is_named(pg_cluster, encrypted_target):
    from backups_app.services.restores import restore

    record = make_backup(encrypted_target)
    with dropping(pg_cluster, "pagila_enc_actor", "pagila_enc_nope"):
        restored = run_restore(record, "pagila_enc_actor", tables=["public.actor"])
        assert restored.status == "succeeded", restored.error
        assert pg_cluster.sql("SELECT count(*) FROM public.actor", dbname="pagila_enc_actor") == [(200,)]
        # The table of contents is at the head of the archive: decrypting that much names it before anything runs.
        with pytest.raises(restore.RestoreRefused, match=f"table public.nope is not in backup #{record.pk}"):
            restore.restore_create(backup=record, into="pagila_enc_nope", tables=["public.nope"])
        assert "pagila_enc_nope" not in database_names(pg_cluster)


# -- which restores stream, and proof that no plaintext copy appears while they run --------------------------

# What a decrypted backup starts with: a custom archive, gzip, zstd, a plain SQL script.
PLAINTEXT_HEADS = (b"PGDMP", b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"--\n-- PostgreSQL database dump")


class PlaintextWatch(threading.Thread):
    """Looks again and again, while a restore runs, for decrypted backup data under the console's folders.

    Every file below the folders (and the console's own folders in the
    system's temporary folder: password files, --use-list files) is opened and
    its head compared with what a decrypted backup starts with; a
    decrypted-copy folder in the scratch folder counts too, whatever it holds.
    The first look is over before the restore starts.
    """

    def __init__(self, *folders):
        super().__init__(daemon=True)
        self.folders = [Path(f) for f in folders]
        self.rounds, self.found, self.error = 0, {}, None
        self._halt, self._looked = threading.Event(), threading.Event()

    def __enter__(self):
        self.start()
        assert self._looked.wait(30), "the watch did not start"
        return self

    def __exit__(self, *exc):
        self._halt.set()
        self.join(timeout=30)
        if self.error:
            raise self.error
        return False

    def _paths(self):
        tmp = Path(tempfile.gettempdir())
        tops = [*self.folders, *tmp.glob("bc-list-*"), *tmp.glob("bc-pass-*")]
        for top in tops:
            # os.walk passes over folders removed while it looks (a copy removed at the end of a restore).
            for folder, dirs, names in os.walk(top):
                yield from (Path(folder) / name for name in [*dirs, *names])

    def run(self):
        try:
            self._watch()
        except BaseException as exc:  # seen by the test: a watch that stopped looking proves nothing
            self.error = exc
            self._looked.set()

    def _watch(self):
        from backups_app.services.crypto import age

        while not self._halt.is_set():
            for path in list(self._paths()):
                if any(p.name.startswith(age.COPY_PREFIX) for p in (path, *path.parents)):
                    self.found.setdefault(path, b"(a decrypted-copy folder)")
                try:
                    if path.is_file():
                        with open(path, "rb") as f:
                            head = f.read(64)
                        if head.startswith(PLAINTEXT_HEADS):
                            self.found[path] = head
                except OSError:
                    pass  # gone between listing and opening
            self.rounds += 1
            self._looked.set()
            self._halt.wait(0.002)


def watched_restore(settings, backup, into, **options):
    """run_restore while a PlaintextWatch looks at BACKUP_ROOT, BACKUP_SCRATCH_DIR and VAR_DIR."""
    with PlaintextWatch(settings.BACKUP_ROOT, settings.BACKUP_SCRATCH_DIR, settings.VAR_DIR) as watch:
        restored = run_restore(backup, into, **options)
    assert watch.rounds >= 2, "the watch must have looked again while the restore ran"
    return restored, watch.found


@pytest.fixture
def no_copies(monkeypatch):
    from backups_app.services.crypto import age

    def refuse(path):
        raise AssertionError(f"a decrypted copy of {path} was made")

    monkeypatch.setattr(age, "decrypted_copy", refuse)


def use_client(settings, monkeypatch, client):
    """15: Debian's, restores with pg_restore itself (encrypted connections only); 17: the wheel's, whose
    script psql runs into server 15."""
    if client == "15":
        settings.PG_BIN_DIR, settings.PG_BIN_DIR_ONLY = DEBIAN_15, True
        encrypted_only(monkeypatch)


def table_rows(cluster, dbname, tables):
    return {t: cluster.sql(f"SELECT count(*) FROM {t}", dbname=dbname)[0][0] for t in tables}


@pytest.mark.parametrize("client", ["15", "17"])
def test_a_custom_archive_streams_whole_over_a_database_and_as_single_tables(
        pg_cluster, pagila, encrypted_target, settings, monkeypatch, no_copies, client):
    use_client(settings, monkeypatch, client)
    record = make_backup(encrypted_target)
    direct = client == "15"
    into, tables_db = f"pagila_enc_s{client}", f"pagila_enc_s{client}_t"
    with dropping(pg_cluster, into, tables_db):
        restored, found = watched_restore(settings, record, into)
        assert restored.status == "succeeded", restored.error
        assert found == {}
        assert ("run by psql" in restored.client) == (not direct)
        assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)

        # Over the database, changed since: pg_restore writes the script from the stream, psql runs it.
        pg_cluster.sql("DROP TABLE payment CASCADE; DELETE FROM film_actor", dbname=into)
        restored, found = watched_restore(settings, record, into, overwrite=True)
        assert restored.status == "succeeded", restored.error
        assert found == {}
        assert "emptied and restored in one transaction" in restored.detail
        assert object_counts(pg_cluster, into) == object_counts(pg_cluster, pagila)
        assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)

        # One table over its changed self (pg_restore --clean --use-list, read forward from the stream).
        pg_cluster.sql("INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) "
                       "VALUES (now(), 1, 1, 1)", dbname=into)
        restored, found = watched_restore(settings, record, into, tables=["public.rental"], overwrite=True)
        assert restored.status == "succeeded", restored.error
        assert found == {}
        assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)

        # Several tables into a new database, named in an order other than the archive's: the --use-list
        # follows the archive, so their data is met in the order pg_restore asks for it.
        wanted = ["public.film_actor", "public.film", "public.language", "public.actor"]
        restored, found = watched_restore(settings, record, tables_db, tables=wanted)
        assert restored.status == "succeeded", restored.error
        assert found == {}
        assert table_rows(pg_cluster, tables_db, wanted) == table_rows(pg_cluster, pagila, wanted)
    assert not os.path.exists(settings.BACKUP_SCRATCH_DIR) or not any(Path(settings.BACKUP_SCRATCH_DIR).iterdir())


def test_jobs_that_cannot_run_need_no_copy(pg_cluster, pagila, encrypted_target, settings, no_copies):
    """pg_restore 17 into server 15 goes through psql in one session: --jobs 2 is not run, so the archive streams."""
    record = make_backup(encrypted_target)
    with dropping(pg_cluster, "pagila_enc_jobs_script"):
        restored, found = watched_restore(settings, record, "pagila_enc_jobs_script", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert "2 parallel jobs were not possible" in restored.detail
        assert found == {}
        assert row_counts(pg_cluster, "pagila_enc_jobs_script") == row_counts(pg_cluster, pagila)


@pytest.mark.parametrize("client", ["15", "17"])
def test_a_plain_sql_backup_streams_into_a_new_database_and_over_one(
        pg_cluster, pagila, encrypted_target, settings, monkeypatch, no_copies, client):
    use_client(settings, monkeypatch, client)
    record = make_backup(encrypted_target, "sql")
    into = f"pagila_enc_sql_s{client}"
    with dropping(pg_cluster, into):
        restored, found = watched_restore(settings, record, into)
        assert restored.status == "succeeded", restored.error
        assert found == {}
        assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)

        pg_cluster.sql("DROP TABLE payment CASCADE; DELETE FROM film_actor", dbname=into)
        restored, found = watched_restore(settings, record, into, overwrite=True)
        assert restored.status == "succeeded", restored.error
        assert found == {}
        assert object_counts(pg_cluster, into) == object_counts(pg_cluster, pagila)
        assert row_counts(pg_cluster, into) == row_counts(pg_cluster, pagila)
    drill = run_verify(record, drill=True)
    assert drill.ok, drill.error
    assert "tables present and readable" in drill.detail


@pytest.mark.parametrize("fmt", ["sql", "custom"])
def test_a_changed_byte_fails_a_streamed_restore_and_changes_nothing(pg_cluster, pagila, encrypted_target, settings,
                                                                    fmt):
    record = make_backup(encrypted_target, fmt)
    into, new = f"pagila_enc_tamper_{fmt}", f"pagila_enc_tamper_{fmt}_new"
    with dropping(pg_cluster, into, new):
        assert run_restore(record, into).status == "succeeded"
        pg_cluster.sql("DELETE FROM film_actor", dbname=into)  # the state an overwrite would replace
        before = (object_counts(pg_cluster, into), row_counts(pg_cluster, into))
        flip_byte(record.absolute_path, record.size_bytes // 2)

        overwritten, found = watched_restore(settings, record, into, overwrite=True, force=True)
        assert overwritten.status == "failed"
        assert overwritten.error.startswith("the encrypted backup file is damaged or was changed (age: failed to "
                                            "decrypt and authenticate payload chunk"), overwritten.error
        assert found == {}
        assert (object_counts(pg_cluster, into), row_counts(pg_cluster, into)) == before

        created, found = watched_restore(settings, record, new, force=True)
        assert created.status == "failed"
        assert created.error.startswith("the encrypted backup file is damaged or was changed"), created.error
        assert found == {}
        assert new not in database_names(pg_cluster)


def test_psql_commits_a_script_only_once_its_decryption_is_confirmed(pg_cluster, encrypted_target, tmp_path):
    """The decompressor can end well on a stream age cut short; psql's input stays open until age has said so."""
    from backups_app.services.crypto.age import DecryptFailed
    from backups_app.services.postgres import binaries as bins
    from backups_app.services.postgres.client import run_script
    from backups_app.services.postgres.connection import conn_for

    script = tmp_path / "script.sql"
    script.write_text("CREATE TABLE public.confirm_probe (id int);\n")
    conn = conn_for(encrypted_target, "pagila")

    def refused():
        raise DecryptFailed("the encrypted backup file is damaged or was changed (age: cut short)")

    with pytest.raises(DecryptFailed):
        run_script(["cat", str(script)], bins.psql_for(15), conn, single_transaction=True,
                   source_name="cat failed", server_major=15, source_done=refused)
    assert pg_cluster.sql("SELECT to_regclass('public.confirm_probe') IS NULL", dbname="pagila") == [(True,)]
    try:  # confirmed, the same script commits
        run_script(["cat", str(script)], bins.psql_for(15), conn, single_transaction=True,
                   source_name="cat failed", server_major=15, source_done=lambda: None)
        assert pg_cluster.sql("SELECT to_regclass('public.confirm_probe') IS NULL", dbname="pagila") == [(False,)]
    finally:
        pg_cluster.sql("DROP TABLE IF EXISTS public.confirm_probe", dbname="pagila")
