"""Directory backups share each file's content through the store: hard links, one inode, still plain pg_dump folders."""

import errno
import json
import os
import re
import stat
import subprocess
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from humanize import naturalsize

from backups_app.models import BackupRecord
from backups_app.services.backups import dump
from backups_app.services.jobs import recovery
from backups_app.services.restores import restore
from backups_app.services.retention import prune
from backups_app.services.retention.plan import Fate
from backups_app.services.storage import layout, local_store, manifest
from tests.dbcompare import row_counts
from tests.restore_helpers import database_names, dropping, flip_byte, make_backup, run_restore, run_verify

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.admin_fixtures"]


@pytest.fixture
def pagila_target(pagila, make_target, backup_root, settings):
    settings.BACKUP_DUMP_JOBS = 2
    return make_target(pagila)


def store_files(kind=local_store.PLAIN):
    top = local_store.root(kind)
    return sorted(p for p in top.rglob("*") if p.is_file()) if top.exists() else []


def listed_files(backup):
    folder = backup.absolute_path
    return {name: folder / name for name in manifest.listed(folder)}


def data_file(backup):
    return max(listed_files(backup).values(), key=lambda p: p.stat().st_size)


def next_second():
    time.sleep(1.01 - time.time() % 1)


def sha256sum_check(backup):
    return subprocess.run(["sha256sum", "--check", "--strict", manifest.NAME], cwd=backup.absolute_path,
                          capture_output=True, text=True)


def prune_one(backup):
    fate = Fate(id=backup.pk, delete=True, reason="test", group=(backup.target_id, backup.backup_type))
    return prune.prune(fates=[fate], started_by="test")


def delete_now(backup) -> bool:
    """A prune's deletion of one backup, whatever the plan would keep (the newest is kept by prune())."""
    reason = {"pruned_reason": "test", "pruned_why": {"code": "test"}}
    return prune._prune_backup(backup, reason=reason, policy=None, now=timezone.now())


def test_a_second_backup_of_an_unchanged_database_links_every_data_file_to_the_first(pagila_target):
    first = make_backup(pagila_target, "directory")
    second = make_backup(pagila_target, "directory")
    assert first.bytes_added == first.size_bytes
    shared = {n for n, p in listed_files(second).items() if os.path.samefile(p, first.absolute_path / n)}
    data = {n for n in listed_files(second) if n != "toc.dat"}
    assert data <= shared and len(data) > 10
    # toc.dat names the dump's time (to the second): shared only when both began in the same second. The
    # manifest is each backup's own.
    own = [second.absolute_path / manifest.NAME, *([] if "toc.dat" in shared else [second.absolute_path / "toc.dat"])]
    assert second.bytes_added == sum(p.stat().st_size for p in own) < second.size_bytes / 5
    assert sha256sum_check(second).returncode == 0


def test_store_files_are_private_links_named_by_their_content(pagila_target):
    backup = make_backup(pagila_target, "directory")
    kept = store_files()
    assert len(kept) == len(listed_files(backup))
    for path in kept:
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_nlink == 2
        assert path.name == local_store.files.sha256_of(path)[0] and path.parent.name == path.name[:2]
    folders = {p.parent for p in kept} | {local_store.root(), local_store.root().parent}
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o700 for f in folders)


def test_without_dedup_a_directory_backup_has_files_of_its_own(pagila_target, settings):
    settings.BACKUP_DEDUP = False
    first = make_backup(pagila_target, "directory")
    second = make_backup(pagila_target, "directory")
    assert store_files() == []
    assert all(p.stat().st_nlink == 1 for p in listed_files(second).values())
    assert second.bytes_added == second.size_bytes and first.bytes_added == first.size_bytes


def test_custom_backups_are_not_shared(pagila_target):
    backup = make_backup(pagila_target, "custom")
    assert store_files() == [] and backup.bytes_added == backup.size_bytes


def test_a_file_system_that_refuses_links_keeps_plain_files_and_says_so(pagila_target, monkeypatch):
    def refuse(src, dst):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(local_store, "_link", refuse)
    backup = make_backup(pagila_target, "directory")
    assert store_files() == [] and backup.bytes_added == backup.size_bytes
    assert all(p.stat().st_nlink == 1 for p in listed_files(backup).values())
    line = layout.log_path().read_text().splitlines()[-1]
    assert "result=succeeded" in line and "files kept unshared" in line and "another file system" in line
    assert sha256sum_check(backup).returncode == 0


def test_a_damaged_store_copy_is_not_linked_into_the_next_backup(pagila_target):
    first = make_backup(pagila_target, "directory")
    victim = data_file(first)
    flip_byte(victim, victim.stat().st_size // 2)  # the store's copy is the same inode
    second = make_backup(pagila_target, "directory")
    fresh = second.absolute_path / victim.name
    assert not os.path.samefile(fresh, victim) and fresh.stat().st_nlink == 1
    assert sha256sum_check(second).returncode == 0
    assert "store's copy is damaged" in layout.log_path().read_text().splitlines()[-1]


def test_a_pruned_backup_takes_only_the_store_files_no_other_backup_uses(pagila_target, pg_cluster, pagila):
    first = make_backup(pagila_target, "directory")
    only_first = set(manifest.listed(first.absolute_path).values())
    next_second()  # toc.dat holds the second the dump began: each has its own
    second = make_backup(pagila_target, "directory")
    kept_by_second = set(manifest.listed(second.absolute_path).values())
    pruned = prune_one(first)
    assert [r.pk for r in pruned] == [first.pk] and not first.absolute_path.exists()
    assert {p.name for p in store_files()} == kept_by_second
    assert only_first - kept_by_second, "the first backup's toc.dat was its own"
    assert all(p.stat().st_nlink == 2 for p in store_files())
    with dropping(pg_cluster, "pagila_after_prune"):
        restored = run_restore(BackupRecord.objects.get(pk=second.pk), "pagila_after_prune", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_after_prune") == row_counts(pg_cluster, pagila)


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_prune_racing_a_backup_never_takes_a_file_the_backup_links(pagila_target, pg_cluster, pagila, monkeypatch,
                                                                     moment):
    """The deletion of the store file's only other user runs at the worst moments: after the backup found the
    content in the store and before it links it (the name is swept away), or just after it linked it."""
    first = make_backup(pagila_target, "directory")
    real_link, seen = local_store._link, []

    def link(src, dst):
        racing = str(dst).endswith(".link") and not seen
        if racing and moment == "before":
            seen.append(delete_now(first))
        real_link(src, dst)  # "before": FileNotFoundError, and the backup adds its own file instead
        if racing and moment == "after":
            seen.append(delete_now(first))
            assert os.path.exists(local_store.path_of(src.name)), "two links (store and backup): kept"

    monkeypatch.setattr(local_store, "_link", link)
    second = make_backup(pagila_target, "directory")
    assert seen == [True] and not first.absolute_path.exists()
    assert sha256sum_check(second).returncode == 0
    # Every file of the backup is in the store again, and nothing is left unused.
    assert {p.name for p in store_files()} == set(manifest.listed(second.absolute_path).values())
    assert all(p.stat().st_nlink == 2 for p in store_files())
    with dropping(pg_cluster, "pagila_raced"):
        restored = run_restore(second, "pagila_raced", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_raced") == row_counts(pg_cluster, pagila)


def test_damage_to_a_shared_file_fails_the_verification_of_every_backup_that_uses_it(pagila_target, pg_cluster):
    first = make_backup(pagila_target, "directory")
    second = make_backup(pagila_target, "directory")
    third = make_backup(pagila_target, "directory")
    victim = data_file(second)
    flip_byte(victim, victim.stat().st_size // 2)
    record = run_verify(second)
    assert record.status == "failed" and victim.name in record.error
    assert f"part of backups #{first.pk}, #{third.pk}" in record.error
    for other in (first, third):
        other.refresh_from_db()
        assert other.last_verify_ok is False
        assert f"shares with backup #{second.pk} is damaged ({victim.name})" in other.last_verify_detail
        # A restore of it is refused in one line, before anything is created.
        with pytest.raises(restore.RestoreRefused, match=f"backup #{other.pk} failed its last verification"):
            restore.restore_create(backup=other, into=f"pagila_shared_{other.pk}")
    assert not {f"pagila_shared_{b.pk}" for b in (first, third)} & database_names(pg_cluster)
    # Verifying another user on its own finds the same damage and names the others.
    again = run_verify(first)
    assert again.status == "failed" and f"#{second.pk}, #{third.pk}" in again.error


def test_a_backup_that_kept_its_own_copy_is_not_blamed_for_anothers_damage(pagila_target, settings):
    settings.BACKUP_DEDUP = False
    own = make_backup(pagila_target, "directory")
    settings.BACKUP_DEDUP = True
    first = make_backup(pagila_target, "directory")
    victim = data_file(first)
    flip_byte(victim, victim.stat().st_size // 2)
    assert run_verify(first).status == "failed"
    own.refresh_from_db()
    assert own.last_verify_ok is None and run_verify(own).status == "succeeded"


def test_a_store_file_nothing_uses_is_removed_by_the_next_recovery_and_reported(pagila_target):
    backup = make_backup(pagila_target, "directory")
    kept = store_files()
    lonely = kept[0]
    (backup.absolute_path / next(n for n, p in listed_files(backup).items() if os.path.samefile(p, lonely))).unlink()
    lines = recovery.recover().lines
    assert not lonely.exists() and all(p.exists() for p in kept[1:])
    assert [line for line in lines if "store file" in line] == [
        f"removed store file {lonely.name[:12]}… ({lonely_size(lines)} bytes): no backup uses it any more"]


def lonely_size(lines):
    line = next(line for line in lines if "store file" in line)
    return int(line.split("(")[1].split(" ")[0])


def test_a_failed_directory_backup_leaves_nothing_in_the_store(pagila_target, monkeypatch):
    first = make_backup(pagila_target, "directory")
    before = {p.name: p.stat().st_nlink for p in store_files()}
    real = local_store.share_folder

    def share_then_fail(folder, listed):
        real(folder, listed)
        raise dump.BackupFailed("stopped after linking")

    monkeypatch.setattr(local_store, "share_folder", share_then_fail)
    record = dump.backup_execute(record_id=dump.backup_create(target=pagila_target, backup_type="manual",
                                                              fmt="directory").pk)
    assert record.status == "failed" and "stopped after linking" in record.error
    assert {p.name: p.stat().st_nlink for p in store_files()} == before
    assert len(store_files()) == len(listed_files(first))


def test_the_list_the_metrics_and_the_dashboard_show_what_each_backup_added_and_the_store(
        pagila_target, superuser_client, settings):
    first = make_backup(pagila_target, "directory")
    second = make_backup(pagila_target, "directory")
    files, size = local_store.total_bytes()
    assert files == len(store_files()) and size == sum(p.stat().st_size for p in store_files())
    # du, hard links counted once: the store and the two manifests and toc.dat files are all there is.
    du = int(subprocess.run(["du", "-sb", str(layout.root())], capture_output=True, text=True).stdout.split()[0])
    assert size < first.bytes_added + second.bytes_added <= du

    out = StringIO()
    call_command("backup", "--list", stdout=out)
    lines = out.getvalue().splitlines()
    row = next(line for line in lines if line.startswith(f"{second.pk} "))
    assert naturalsize(second.bytes_added, binary=True) in row
    assert lines[-1].endswith(f"; shared store: {files} files, {naturalsize(size, binary=True)}")
    out = StringIO()
    call_command("backup", "--list", "--json", stdout=out)
    assert {i["id"]: i["bytes_added"] for i in json.loads(out.getvalue())} == {
        first.pk: first.bytes_added, second.pk: second.bytes_added}

    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "t0ken-for-dedup", []
    metrics = superuser_client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken-for-dedup").content.decode()
    assert f'backupconsole_last_success_added_bytes{{target="pagila"}} {float(second.bytes_added)}' in metrics
    assert f"backupconsole_store_bytes {float(size)}" in metrics
    assert f"backupconsole_store_files {float(files)}" in metrics

    html = superuser_client.get(reverse("admin:index")).content.decode()
    assert f"last one added {naturalsize(second.bytes_added, binary=True)}" in html
    assert re.search(rf'id="bc-store">Shared store: {files} files, ', html)
    japanese = superuser_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "Shared store" not in japanese and "last one added" not in japanese


def test_adopted_directory_backups_that_share_files_come_back_whole_and_say_their_additions_are_unknown(
        pagila_target, pg_cluster, pagila):
    made = [make_backup(pagila_target, "directory") for _ in range(2)]
    BackupRecord.objects.all().delete()  # the console's database is lost; BACKUP_ROOT and its store are not
    call_command("backup", "--adopt", stdout=StringIO())
    adopted = {b.path: b for b in BackupRecord.objects.all()}
    assert set(adopted) == {b.path for b in made}
    for b in made:
        record = adopted[b.path]
        assert (record.sha256, record.size_bytes, record.bytes_added) == (b.sha256, b.size_bytes, None)
        assert record.last_verify_ok is True
    assert local_store.sweep() == [] and all(p.stat().st_nlink == 3 for p in store_files()
                                              if p.name in manifest.listed(made[0].absolute_path).values()
                                              and not p.name == manifest.listed(made[0].absolute_path)["toc.dat"])
    with dropping(pg_cluster, "pagila_adopted_dir"):
        restored = run_restore(adopted[made[1].path], "pagila_adopted_dir", jobs=2)
        assert restored.status == "succeeded", restored.error
        assert row_counts(pg_cluster, "pagila_adopted_dir") == row_counts(pg_cluster, pagila)


def test_a_restore_of_a_backup_sharing_a_damaged_file_fails_before_creating_its_database(pagila_target, pg_cluster):
    # Never verified since the damage: the restore's own check of every file against the manifest refuses it.
    first = make_backup(pagila_target, "directory")
    second = make_backup(pagila_target, "directory")
    victim = data_file(second)
    flip_byte(victim, victim.stat().st_size // 2)
    restored = run_restore(first, "pagila_shared_damage")
    assert restored.status == "failed" and "does not match its recorded checksum" in restored.error
    assert "\n" not in restored.error and "pagila_shared_damage" not in database_names(pg_cluster)


def test_a_backups_page_says_what_it_added(pagila_target, superuser_client):
    make_backup(pagila_target, "directory")
    second = make_backup(pagila_target, "directory")
    url = reverse("admin:backups_app_backuprecord_change", args=[second.pk])
    html = superuser_client.get(url).content.decode()
    assert "Added to BACKUP_ROOT" in html and naturalsize(second.bytes_added, binary=True) in html
    BackupRecord.objects.filter(pk=second.pk).update(bytes_added=None)  # adopted: not known
    assert "not known" in superuser_client.get(url).content.decode()
    japanese = superuser_client.get(url, HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "BACKUP_ROOT に追加した量" in japanese and "不明" in japanese
