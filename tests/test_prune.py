"""Pruning: the file goes first, the record stays as history, and nothing that must survive is touched."""

import pytest

from backups_app import tasks
from backups_app.models import BackupRecord, RetentionPolicy
from backups_app.services.retention import plan as retention
from backups_app.services.retention import prune as pruning
from backups_app.services.retention.preview import preview_policy
from backups_app.services.storage import layout
from tests.retention_records import leftover_partial, new_backup, new_target

pytestmark = pytest.mark.django_db


def policy(**fields) -> RetentionPolicy:
    defaults = dict(name="thirty days", keep_days=30)
    return RetentionPolicy.objects.create(**{**defaults, **fields})


def statuses(*records):
    return [BackupRecord.objects.get(pk=r.pk).status for r in records]


def test_pruning_a_policy_removes_the_file_and_keeps_the_record_as_pruned(backup_root):
    target = new_target()
    young, old = new_backup(target, age_days=1), new_backup(target, age_days=40)
    p = policy(target=target)
    pruned = pruning.prune_policy(policy_id=p.pk, started_by="alice")
    assert [r.pk for r in pruned] == [old.pk]
    assert not old.absolute_path.exists()
    assert young.absolute_path.exists()
    old.refresh_from_db()
    assert old.status == "pruned"
    assert old.pruned_by_policy == p
    assert old.pruned_at is not None
    assert old.pruned_reason == "deleted: older than 30 days and no rule keeps it [alice]"
    assert old.path, "the record still says which file existed"


def test_the_prune_task_prunes_and_reports_how_many(backup_root):
    target = new_target()
    new_backup(target, age_days=1)
    for age in (40, 41, 42):
        new_backup(target, age_days=age)
    assert tasks.run_prune(policy(target=target).pk, "schedule") == "pruned 3"


def test_pruning_again_deletes_nothing(backup_root):
    target = new_target()
    for age in range(0, 90, 3):
        new_backup(target, age_days=age)
    p = policy(keep_days=None, keep_weekly=4, keep_monthly=2)
    assert len(pruning.prune_policy(policy_id=p.pk)) > 0
    assert pruning.prune_policy(policy_id=p.pk) == []


def test_it_never_deletes_a_file_outside_backup_root(backup_root, tmp_path):
    target = new_target()
    new_backup(target, age_days=1)
    outside = tmp_path / "precious.dump"
    outside.write_bytes(b"not ours")
    stray = new_backup(target, age_days=100, with_file=False)
    BackupRecord.objects.filter(pk=stray.pk).update(path="../precious.dump")
    assert pruning.prune_policy(policy_id=policy().pk) == []
    assert outside.exists()
    assert statuses(stray) == ["succeeded"]


def test_a_pinned_backup_survives_even_when_pinned_after_the_plan_was_made(backup_root):
    target = new_target()
    new_backup(target, age_days=1)
    old = new_backup(target, age_days=100)
    p = policy()
    fates = pruning.plan_scope(target_id=None, backup_type=None)
    assert [f.id for f in fates if f.delete] == [old.pk]
    BackupRecord.objects.filter(pk=old.pk).update(pinned=True, pinned_reason="audit 2026", pinned_by="carol")
    assert pruning.prune(fates=fates, policy=p) == []
    assert old.absolute_path.exists()


def test_the_newest_succeeded_backup_survives_even_a_plan_that_says_delete(backup_root):
    target = new_target()
    only = new_backup(target, age_days=500)
    forged = [retention.Fate(only.pk, True, "deleted: a mistake", (target.pk, "daily"))]
    assert pruning.prune(fates=forged) == []
    assert only.absolute_path.exists()
    assert statuses(only) == ["succeeded"]


def test_a_failed_attempts_leftover_file_is_removed_and_the_record_stays_failed(backup_root):
    target = new_target()
    new_backup(target, age_days=1)
    failed = new_backup(target, status="failed")
    partial = leftover_partial(failed)
    pruned = pruning.prune_policy(policy_id=policy().pk)
    assert [r.pk for r in pruned] == [failed.pk]
    assert not partial.exists()
    failed.refresh_from_db()
    assert failed.status == "failed"
    assert failed.pruned_reason == "deleted: file left by a failed attempt"
    assert pruning.prune_policy(policy_id=policy(name="again").pk) == []


def test_a_running_backups_temporary_file_is_left_alone(backup_root):
    target = new_target()
    new_backup(target, age_days=1)
    running = new_backup(target, status="running")
    partial = leftover_partial(running)
    assert pruning.prune_policy(policy_id=policy().pk) == []
    assert partial.exists()


def test_a_disabled_policy_prunes_nothing(backup_root):
    target = new_target()
    new_backup(target, age_days=1)
    old = new_backup(target, age_days=100)
    assert pruning.prune_policy(policy_id=policy(enabled=False).pk) == []
    assert old.absolute_path.exists()


def test_another_policy_covering_the_same_backups_still_keeps_what_it_keeps(backup_root):
    target = new_target()
    backups = [new_backup(target, age_days=age) for age in (1, 40, 50, 400)]
    policy(name="a year, all targets", keep_days=365)
    strict = policy(name="a week for db1", target=target, keep_days=7)
    pruned = pruning.prune_policy(policy_id=strict.pk)
    assert [r.pk for r in pruned] == [backups[3].pk]
    assert pruned[0].pruned_reason.startswith("deleted: older than 7 days")


def test_pruning_after_a_scheduled_backup_covers_only_that_target_and_type(backup_root):
    one, two = new_target("one"), new_target("two")
    new_backup(one, age_days=1)
    old_daily = new_backup(one, age_days=100)
    old_weekly = [new_backup(one, age_days=age, backup_type="weekly") for age in (1, 100)][1]
    old_other = [new_backup(two, age_days=age) for age in (1, 100)][1]
    p = policy()
    pruned = pruning.prune_for(target=one, backup_type="daily", started_by="schedule nightly")
    assert [r.pk for r in pruned] == [old_daily.pk]
    assert statuses(old_weekly, old_other) == ["succeeded", "succeeded"]
    old_daily.refresh_from_db()
    assert old_daily.pruned_by_policy == p


def test_no_policy_means_nothing_is_pruned(backup_root):
    target = new_target()
    new_backup(target, age_days=1)
    new_backup(target, age_days=1000)
    assert pruning.prune_for(target=target, backup_type="daily") == []


def test_a_directory_format_backup_is_removed_whole(backup_root):
    target = new_target()
    new_backup(target, age_days=1)
    old = new_backup(target, age_days=100, with_file=False, fmt="directory")
    folder = layout.ensure_dir(layout.type_dir("daily") / f"db1_daily_{old.pk}.dir")
    (folder / "toc.dat").write_bytes(b"toc")
    (folder / "3001.dat.gz").write_bytes(b"data")
    BackupRecord.objects.filter(pk=old.pk).update(path=layout.relative(folder))
    assert len(pruning.prune_policy(policy_id=policy().pk)) == 1
    assert not folder.exists()
    assert layout.type_dir("daily").exists()


def test_the_roles_file_beside_a_pruned_dump_goes_with_it(backup_root):
    target = new_target()
    new_backup(target, age_days=1)
    old = new_backup(target, age_days=40)
    beside = old.absolute_path.with_name(old.absolute_path.name + ".globals.sql")
    beside.write_text("-- roles\n")
    BackupRecord.objects.filter(pk=old.pk).update(globals_path=layout.relative(beside))
    pruning.prune_policy(policy_id=policy(target=target).pk)
    assert not old.absolute_path.exists()
    assert not beside.exists()


def test_the_last_restorable_backup_survives_even_a_plan_that_says_delete(backup_root):
    target = new_target()
    good = new_backup(target, age_days=2)
    new_backup(target, age_days=1, last_verify_ok=False)
    forged = [retention.Fate(good.pk, True, "deleted: a mistake", (target.pk, "daily"))]
    assert pruning.prune(fates=forged) == []
    assert good.absolute_path.exists() and statuses(good) == ["succeeded"]


def test_a_plan_made_before_a_verification_failed_still_keeps_the_good_backup(backup_root):
    target = new_target()
    good = new_backup(target, age_days=40)
    newer = new_backup(target, age_days=39)
    policy(keep_days=30)
    fates = pruning.plan_scope(target_id=None, backup_type=None)
    assert [f.id for f in fates if f.delete] == [good.pk]
    BackupRecord.objects.filter(pk=newer.pk).update(last_verify_ok=False)
    assert pruning.prune(fates=fates) == []
    assert statuses(good, newer) == ["succeeded", "succeeded"]


def test_a_restorable_backup_whose_file_is_gone_here_does_not_count(backup_root):
    target = new_target()
    present = new_backup(target, age_days=40)
    vanished = [new_backup(target, age_days=age) for age in range(39, 27, -1)]  # more than one batch of files
    for record in vanished:
        record.absolute_path.unlink()
    p = policy(keep_days=None, keep_last=1)
    [effect] = preview_policy(policy=p).targets
    reasons = {row.id: row.reason for row in effect.kept}
    newest = [r.pk for r in reversed(vanished)]
    assert reasons[present.pk].startswith(
        f"kept: the last restorable backup (the file of newer #{newest[0]} is missing; the file of newer "
        f"#{newest[1]} is missing; the file of newer #{newest[2]} is missing; 9 more)")
    pruning.prune_policy(policy_id=p.pk)
    assert present.absolute_path.exists() and statuses(present) == ["succeeded"]


def test_a_backup_kept_only_in_object_storage_is_restorable_while_its_copy_is_confirmed(backup_root):
    target = new_target()
    old = new_backup(target, age_days=40)
    offsite_only = new_backup(target, age_days=39, with_file=False, path="database/daily/gone.dump",
                              local_removed=True, offsite_status="uploaded", offsite_key="k/gone.dump")
    damaged = new_backup(target, age_days=38, last_verify_ok=False)
    policy(keep_days=None)
    fates = {f.id: f for f in pruning.plan_scope(target_id=target.pk, backup_type="daily")}
    assert fates[offsite_only.pk].reason == (f"kept: the last restorable backup (newer #{damaged.pk} failed its "
                                             "verification)")
    assert fates[old.pk].delete
    BackupRecord.objects.filter(pk=offsite_only.pk).update(offsite_status="deleted")
    fates = {f.id: f for f in pruning.plan_scope(target_id=target.pk, backup_type="daily")}
    assert fates[old.pk].reason.startswith("kept: the last restorable backup"), "its copy is gone: not restorable"
