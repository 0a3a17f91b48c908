"""The offsite paths, one body per test, run against S3 (moto_server), GCS (fake-gcs-server), SFTP (sshd) and a
folder on this host.

A real pagila backup goes to each kind's real server through the console's
own services: uploaded (encrypted with age) and confirmed, restored, verified
and downloaded from the copy alone, adopted again from it, pruned in both
places; a copy
tampered with on the server is found by verification and copied again. Every
fault a storage can have (wrong credentials, a missing bucket or path, a
read-only or full remote, an unknown host key, a server that drops the
connection mid-upload) leaves the backup succeeded, its offsite copy failed
with one line naming the cause, a notification sent and a storage test
saying the same, and `backup --copy-offsite` repairs it once the cause is
gone. tests/test_offsite_kinds_kill.py kills uploads of each kind with -9.
"""

import hashlib
import os
import subprocess

import pytest
from django.core.management import call_command

from backups_app.models import BackupRecord, BackupStorage, RestoreRecord, RetentionPolicy, VerificationRecord
from backups_app.services.adoption import from_storage
from backups_app.services.retention import prune as pruning
from backups_app.services.storage import downloads, probe
from tests.dbcompare import row_counts
from tests.notify_records import channel
from tests.notify_servers import Receiver
from tests.restore_helpers import dropping, make_backup, run_restore, run_verify
from tests.s3proxy import StallingProxy

pytest_plugins = ["tests.storage_fixtures", "tests.age_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.requires("sshd", "ssh-keygen", package="openssh-server")]

HOOK_ENV = "BC_TEST_OFFSITE_KINDS_HOOK"


def fresh(backup) -> BackupRecord:
    return BackupRecord.objects.select_related("target", "offsite_storage").get(pk=backup.pk)


def keys_of(remote, backup) -> list[str]:
    return sorted(remote.key(p) for p in (backup.path, backup.globals_path))


def test_an_encrypted_backup_kept_only_in_the_storage_restores_verifies_downloads_and_is_adopted_from_it(
        pg_cluster, pagila, encrypted_target, backup_root, remote, remote_storage, settings):
    BackupStorage.objects.update(keep_local_copy=False)
    backup = fresh(make_backup(encrypted_target))
    assert (backup.offsite_status, backup.local_removed) == ("uploaded", True), backup.offsite_detail
    assert remote.read(backup.offsite_key).startswith(b"age-encryption.org/v1\n")
    assert remote_storage.url_of(remote.key(backup.path)) in backup.offsite_detail
    assert "; confirmed by " in backup.offsite_detail
    assert remote.keys() == keys_of(remote, backup) and not backup.absolute_path.exists()
    assert remote.label(backup.offsite_key) == backup.sha256
    assert hashlib.sha256(remote.read(backup.offsite_key)).hexdigest() == backup.sha256

    check = run_verify(backup, drill=True)
    assert check.status == "succeeded", check.error
    assert "drill: restore #" in check.detail
    with dropping(pg_cluster, "pagila_from_remote"):
        restored = run_restore(fresh(backup), "pagila_from_remote", with_globals=True)
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_from_remote") == row_counts(pg_cluster, pagila)
    download = downloads.open_file(fresh(backup))
    assert (download.source, download.check) == (remote_storage.url_of(backup.offsite_key), "record")
    assert hashlib.sha256(b"".join(download.chunks)).hexdigest() == backup.sha256
    assert list(settings.BACKUP_SCRATCH_DIR.iterdir()) == []

    for model in (RestoreRecord, VerificationRecord, BackupRecord):  # the console's records are lost
        model.objects.all().delete()
    found = from_storage.adopt_from_storages()
    [again] = BackupRecord.objects.all()
    assert [f.problem for f in found] == [""] and "only in object storage" in found[0].notes
    assert (again.sha256, again.offsite_key, again.offsite_globals_key) == (
        backup.sha256, backup.offsite_key, backup.offsite_globals_key)


def test_pruning_deletes_the_copy_in_the_storage_and_the_local_files(pagila, make_target, backup_root, remote,
                                                                     remote_storage):
    target = make_target(pagila)
    old, new = make_backup(target), make_backup(target)
    policy = RetentionPolicy.objects.create(name="one", target=target, keep_days=None, keep_last=1, min_keep=1)
    assert [r.pk for r in pruning.prune_policy(policy_id=policy.pk, started_by="test")] == [old.pk]
    old = fresh(old)
    assert (old.status, old.offsite_status) == ("pruned", "deleted")
    assert f"deleted {remote_storage.url_of(remote.key(old.path))}" in old.offsite_detail
    assert not (backup_root / old.path).exists()
    assert remote.keys() == keys_of(remote, new)


def test_a_copy_tampered_with_in_the_storage_fails_verification_and_is_copied_again(
        pagila, make_target, backup_root, remote, remote_storage):
    backup = make_backup(make_target(pagila))
    remote.tamper(fresh(backup).offsite_key)

    check = run_verify(fresh(backup))

    assert check.status == "failed"
    assert "the copy in object storage is not the backup's" in check.error and "checksum" in check.error
    assert fresh(backup).offsite_status == "failed"
    call_command("backup", "--copy-offsite", str(backup.pk))
    backup = fresh(backup)
    assert backup.offsite_status == "uploaded", backup.offsite_detail
    assert hashlib.sha256(remote.read(backup.offsite_key)).hexdigest() == backup.sha256
    assert run_verify(backup).status == "succeeded"


# -- faults ---------------------------------------------------------------------------------------------
# fault -> (the kinds that can have it, the cause the failed copy and the storage test name)
FAULTS = {
    "wrong_credentials": ({"s3", "gcs", "sftp"}, "credentials"),
    "missing_place": ({"s3", "gcs", "sftp", "folder"}, "bucket or path"),
    "read_only": ({"s3", "sftp"}, "permission"),
    "unknown_host": ({"sftp"}, "host key"),
    "other_host_key": ({"sftp"}, "host key"),
    "full": ({"sftp", "folder"}, "space"),
    "dropped": ({"s3", "gcs", "sftp"}, "connection"),
}


def full_disk(remote) -> dict:
    """The storage's folder on a 64 KB file system of its own (a tmpfs mounted over it)."""
    if os.geteuid() != 0:
        pytest.skip("not root: a full remote needs a mount")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(remote.path)], check=True)
    return {"undo": lambda: subprocess.run(["umount", str(remote.path)], check=True)}


@pytest.fixture
def fault(request, remote, remote_storage, monkeypatch):
    """The storage with the fault named by the test's parameter; yields a function that takes the fault away."""
    name, proxy = request.param, None
    if name == "dropped":
        proxy = StallingProxy(remote.port, stall_after=48 * 1024, drop=True)
        change = {"fields": remote.via(proxy.port)}
    else:
        change = full_disk(remote) if name == "full" else getattr(remote, name)()
    BackupStorage.objects.filter(pk=remote_storage.pk).update(**change.get("fields", {}))
    for variable, value in change.get("env", {}).items():
        monkeypatch.setenv(variable, value)

    mended = []

    def mend():
        if proxy is not None:
            proxy.release()
        else:
            BackupStorage.objects.filter(pk=remote_storage.pk).update(**remote.fields())
        for variable in change.get("env", {}):
            monkeypatch.setenv(variable, remote.env[variable])
        change.get("undo", lambda: None)()
        mended.append(True)

    try:
        yield mend
    finally:
        if not mended:  # a test that failed before mending must not leave a mount or a read-only server behind
            change.get("undo", lambda: None)()
        if proxy is not None:
            proxy.close()


def expected_cause(kind: str, fault: str) -> tuple[str, ...]:
    if fault == "missing_place":
        return ("path",) if kind in ("sftp", "folder") else ("bucket",)
    if fault == "dropped":
        return ("connection", "endpoint")  # cut mid-request, then refused: said either way
    return (FAULTS[fault][1],)


@pytest.mark.parametrize(("remote", "fault"), [(kind, fault) for fault, (kinds, _) in sorted(FAULTS.items())
                                               for kind in sorted(kinds)], indirect=True)
def test_a_storage_fault_fails_the_copy_in_one_line_is_told_and_copy_offsite_repairs_it(
        request, pagila, make_target, backup_root, remote, remote_storage, fault,
        django_capture_on_commit_callbacks, monkeypatch):
    causes = expected_cause(remote.kind, request.node.callspec.params["fault"])
    with Receiver() as hook:
        monkeypatch.setenv(HOOK_ENV, hook.url())
        channel("webhook", HOOK_ENV)
        with django_capture_on_commit_callbacks(execute=True):
            backup = fresh(make_backup(make_target(pagila)))
        told = [hook.json(i) for i in range(len(hook.posts))]

    assert (backup.status, backup.offsite_status) == ("succeeded", "failed")
    assert backup.absolute_path.is_file()
    detail = backup.offsite_detail
    assert "\n" not in detail and any(
        detail.startswith(f"upload failed after 1 attempt; the local copy is kept: {c}: ") for c in causes), detail
    assert [t["event"] for t in told] == ["offsite_failed"] and detail in told[0]["text"]
    tested = probe.test_storage(BackupStorage.objects.get())
    if causes == ("space",):  # the storage test's object is small enough to fit where a backup does not
        assert tested.ok, tested.line
    else:
        assert not tested.ok and any(tested.line.startswith(f"offsite: {c}: ") for c in causes), tested.line

    fault()
    assert remote.keys() == []
    call_command("backup", "--copy-offsite", str(backup.pk))

    backup = fresh(backup)
    assert backup.offsite_status == "uploaded", backup.offsite_detail
    assert hashlib.sha256(remote.read(backup.offsite_key)).hexdigest() == backup.sha256
    assert remote.keys() == keys_of(remote, backup) and remote.unfinished() == []
