"""Deduplicated directory backups of a real TimescaleDB database: a day's backup stores the day's chunk, and
every backup of a chain restores chunk for chunk after the older ones are pruned; encrypted ones too (each
file sealed with age, shared by a keyed hash of its content: crypto/sealing.py).

The cluster, the FX hypertable (30 daily chunks, 10 compressed) and the comparison are tests/test_timescale_real.py's.
"""
# ruff: noqa: F811  (the fixtures imported below are named as arguments)

import os

import pytest

from backups_app.models import BackupRecord
from backups_app.services.crypto import age
from backups_app.services.retention import prune
from backups_app.services.retention.plan import Fate
from backups_app.services.storage import local_store, manifest
from tests.restore_helpers import dropping, make_backup, run_restore
from tests.test_backup_dedup import prune_one
from tests.test_timescale_real import fx, refresh, snapshot, ts_cluster, ts_target  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
pytest_plugins = ["tests.age_fixtures"]


def add_a_day(cluster, dbname, day: int) -> None:
    """One more day of ticks for every symbol: a new chunk; the older chunks stay as they are."""
    cluster.sql("INSERT INTO ticks SELECT t, s, 100 + length(s), 1 FROM generate_series("
                f"timestamptz '2026-02-{day:02d} 00:00+00', timestamptz '2026-02-{day:02d} 23:50+00', "
                "interval '10 minutes') t, unnest(ARRAY['USDJPY', 'EURUSD', 'GBPUSD', 'AUDUSD']) s", dbname=dbname)
    with cluster.connect(dbname) as c:
        refresh(c)  # the aggregate as its refresh policy would leave it


def files_of(backup) -> dict:
    return {name: backup.absolute_path / name for name in manifest.listed(backup.absolute_path)}


def linked_and_added(first, second) -> tuple[list[str], list[str]]:
    """The second backup's files that are the first's (one inode), and the others."""
    old, new = files_of(first), files_of(second)
    # pg_dump names a data file by its entry's number, which the new chunk's entries shift: the content counts.
    inodes = {(st.st_dev, st.st_ino) for p in old.values() if (st := p.stat())}
    linked = [n for n, p in new.items() if (p.stat().st_dev, p.stat().st_ino) in inodes]
    return linked, sorted(set(new) - set(linked))


def test_a_second_backup_after_a_days_ticks_links_the_unchanged_chunks_and_adds_little(ts_cluster, ts_target, fx,
                                                                                       backup_root):
    source = fx("fx_dedup_day")
    target = ts_target(source)
    first = make_backup(target, "directory")
    add_a_day(ts_cluster, source, 1)
    second = make_backup(target, "directory")
    new = files_of(second)
    linked, added = linked_and_added(first, second)
    chunks = ts_cluster.sql("SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'ticks'",
                            dbname=source)[0][0]
    assert chunks == 31 and len(new) > chunks
    # toc.dat, the new chunks (of ticks and of the aggregate), the catalog tables that list chunks and the
    # aggregate's invalidation logs: the rest is shared.
    assert "toc.dat" in added and len(added) <= 10, added
    assert len(linked) == len(new) - len(added) >= 55
    # The data added: the new chunk's and the catalog's few hundred bytes (toc.dat is most of so small a dump).
    data = {n: p.stat().st_size for n, p in new.items() if n != "toc.dat"}
    assert sum(data[n] for n in added if n in data) < sum(data.values()) * 0.1
    assert second.bytes_added == sum(new[n].stat().st_size for n in added) + (
        second.absolute_path / manifest.NAME).stat().st_size


def test_every_backup_of_a_chain_restores_chunk_for_chunk_after_the_older_ones_are_pruned(ts_cluster, ts_target, fx,
                                                                                           backup_root):
    source = fx("fx_dedup_chain")
    target = ts_target(source)
    chain, states = [], {}
    for day in (1, 2, 3):
        add_a_day(ts_cluster, source, day)
        backup = make_backup(target, "directory")
        chain.append(backup)
        states[backup.pk] = snapshot(ts_cluster, source)
    assert len({str(s["totals"]) for s in states.values()}) == 3

    for gone in chain[:2]:
        pruned = prune.prune(fates=[Fate(id=gone.pk, delete=True, reason="test", group=(target.pk, "manual"))],
                             started_by="test")
        assert [r.pk for r in pruned] == [gone.pk] and not gone.absolute_path.exists()
        kept = [b for b in chain if BackupRecord.objects.get(pk=b.pk).status == "succeeded"]
        used = {sha for b in kept for sha in manifest.listed(b.absolute_path).values()}
        assert {p.name for p in local_store.root().rglob("*") if p.is_file()} == used
        for backup in kept:
            into = f"fx_chain_{backup.pk}"
            with dropping(ts_cluster, into):
                restored = run_restore(backup, into)
                assert restored.status == "succeeded", restored.error
                assert snapshot(ts_cluster, into) == states[backup.pk]


def test_encrypted_backups_share_the_unchanged_chunks_and_the_second_restores_chunk_for_chunk_without_the_first(
        ts_cluster, ts_target, fx, backup_root, age_key):
    source = fx("fx_dedup_sealed")
    target = ts_target(source)
    target.encrypt, target.age_recipients = True, age_key[1]
    target.save()
    first = make_backup(target, "directory")
    add_a_day(ts_cluster, source, 1)
    second = make_backup(target, "directory")
    state = snapshot(ts_cluster, source)
    new = files_of(second)
    assert first.encrypted and second.encrypted and all(n.endswith(age.SUFFIX) for n in new)
    linked, added = linked_and_added(first, second)
    # As unencrypted: toc.dat, the new chunks, the catalog tables that list chunks, the invalidation logs.
    assert "toc.dat.age" in added and len(added) <= 10, added
    assert len(linked) == len(new) - len(added) >= 55
    data = {n: p.stat().st_size for n, p in new.items() if n != "toc.dat.age"}
    assert sum(data[n] for n in added if n in data) < sum(data.values()) * 0.1
    assert second.bytes_added == sum(new[n].stat().st_size for n in added) + (
        second.absolute_path / manifest.NAME).stat().st_size

    assert [r.pk for r in prune_one(first)] == [first.pk] and not first.absolute_path.exists()
    store = [p for p in local_store.root(local_store.KEYED).rglob("*") if p.is_file()]
    assert {p.name.rpartition(".")[2] for p in store} == set(manifest.listed(second.absolute_path).values())
    assert not [p for p in local_store.root().rglob("*") if p.is_file()], "no unencrypted content in the store"
    into = "fx_sealed_second"
    with dropping(ts_cluster, into):
        restored = run_restore(BackupRecord.objects.get(pk=second.pk), into)
        assert restored.status == "succeeded", restored.error
        assert snapshot(ts_cluster, into) == state
    assert os.listdir(age.scratch_dir()) == [], "no plaintext is left in the scratch folder"
