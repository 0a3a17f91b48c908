"""Deleting what retention no longer keeps: the file goes first, then the record is marked.

A pruned record stays (status `pruned`, when, why, which policy) so the
history of what existed is kept. A file outside BACKUP_ROOT is never touched.

Each host deletes only files under its own BACKUP_ROOT. A backup whose local
file is on another host (jobs/placement.py) is left as it is, objects and
all, and handed to that host: its worker prunes the same scope again and
deletes it there, so a record is never `pruned` while its file stays. A
backup whose only copy is in object storage is pruned from any host.
"""

import logging
import os
import shutil
from collections import defaultdict
from dataclasses import replace

from django.db.models import Q
from django.utils import timezone

from backups_app import selectors
from backups_app.models import BackupRecord, BackupStatus, DatabaseTarget, PruneRecord, RetentionPolicy
from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.jobs import origin, placement, progress, queue
from backups_app.services.retention import reasons
from backups_app.services.retention.plan import FAILED, SUCCEEDED, Candidate, Fate, Policy, Rules, plan_policies
from backups_app.services.storage import layout, local_store, manifest, offsite_prune
from backups_app.services.targets import agreement

log = logging.getLogger(__name__)
CHUNK = 500  # ids per IN (...) query: SQLite limits the number of parameters
FILE_BATCH = 8  # backups per target and type read at once while looking for the newest file still there


def rules_of(policy: RetentionPolicy) -> Rules:
    return Rules(keep_days=policy.keep_days, keep_last=policy.keep_last, keep_daily=policy.keep_daily,
                 keep_weekly=policy.keep_weekly, keep_monthly=policy.keep_monthly,
                 keep_yearly=policy.keep_yearly, min_keep=policy.min_keep or 1)


def policy_of(policy: RetentionPolicy) -> Policy:
    """A policy of a server target covers each of its databases (their backups are theirs, not the server's)."""
    databases = frozenset(DatabaseTarget.objects.filter(server_id=policy.target_id).values_list("pk", flat=True)) \
        if policy.target_id else frozenset()
    return Policy(rules=rules_of(policy), id=policy.pk, name=policy.name, target_id=policy.target_id,
                  backup_type=policy.backup_type or "", target_ids=databases)


def covering_policies(*, target_id: int | None, backup_type: str | None,
                      draft: RetentionPolicy | None = None) -> list[Policy]:
    """Enabled policies that may cover backups in this scope; a draft stands in for its saved self."""
    qs = RetentionPolicy.objects.filter(enabled=True)
    if target_id is not None:
        server_id = DatabaseTarget.objects.filter(pk=target_id).values_list("server_id", flat=True).first()
        qs = qs.filter(Q(target__isnull=True) | Q(target_id__in=[target_id, server_id or target_id]) |
                       Q(target__server_id=target_id))
    if backup_type:
        qs = qs.filter(backup_type__in=["", backup_type])
    if draft is not None and draft.pk:
        qs = qs.exclude(pk=draft.pk)
    policies = [policy_of(p) for p in qs]
    if draft is not None and draft.enabled:
        policies.append(policy_of(draft))
    return policies


def candidates_for(*, target=None, target_id: int | None = None, backup_type: str | None = None,
                   leftovers: bool = False) -> list[Candidate]:
    """Succeeded backups in a scope, each saying whether it is restorable; with leftovers, also failed
    attempts that left a file."""
    target_id = target.pk if target is not None else target_id
    qs = BackupRecord.objects.filter(status=SUCCEEDED)
    if target_id is not None:
        qs = qs.filter(target_id__in=_scope(target_id))
    if backup_type:
        qs = qs.filter(backup_type=backup_type)
    rows = qs.annotate(**selectors.unrestorable_fields()).values_list(
        "id", "target_id", "backup_type", "created_at", "pinned", "verify_failed", "file_kept")
    found = [Candidate(i, (t, bt), ca, SUCCEEDED, p, unrestorable=_unrestorable(failed, kept))
             for i, t, bt, ca, p, failed, kept in rows.iterator(chunk_size=5000)]
    _confirm_newest_files(found)
    if leftovers:
        found += _failed_with_files(target_id=target_id, backup_type=backup_type)
    return found


def _scope(target_id: int) -> list[int]:
    """A target's backups are its own; a server target's are those of each of its databases."""
    return [target_id, *DatabaseTarget.objects.filter(server_id=target_id).values_list("pk", flat=True)]


def _unrestorable(verify_failed, file_kept) -> str:
    if verify_failed:
        return selectors.FAILED_VERIFICATION
    return "" if file_kept else selectors.FILE_MISSING


def _confirm_newest_files(found: list[Candidate]) -> None:
    """The newest restorable backup of each target and type is the one that nothing deletes, so its file
    must really be there: checked newest first, one stat each, until one is (usually the first). Those
    whose files are gone no longer count as restorable."""
    waiting = defaultdict(list)
    for i, c in enumerate(found):
        if not c.unrestorable:
            waiting[c.group].append(i)
    for indexes in waiting.values():
        indexes.sort(key=lambda i: (found[i].created_at, found[i].id))  # oldest first: pop() takes the newest
    while waiting:
        batch = {group: [indexes.pop() for _n in range(min(FILE_BATCH, len(indexes)))]
                 for group, indexes in waiting.items()}
        records = BackupRecord.objects.in_bulk([found[i].id for picked in batch.values() for i in picked])
        for group, picked in batch.items():
            if _first_present(found, picked, records) or not waiting[group]:
                del waiting[group]


def _first_present(found: list[Candidate], picked: list[int], records) -> bool:
    """Mark the picked candidates (newest first) whose files are gone, up to the first one that is there."""
    for i in picked:
        record = records.get(found[i].id)
        if record is None or selectors.file_present(record):
            return True
        found[i] = replace(found[i], unrestorable=selectors.FILE_MISSING)
    return False


def _failed_with_files(*, target_id, backup_type) -> list[Candidate]:
    partial_ids = _partial_file_ids()
    qs = BackupRecord.objects.filter(status=FAILED, pruned_at__isnull=True).filter(
        Q(pk__in=partial_ids) | ~Q(path="")
    )
    if target_id is not None:
        qs = qs.filter(target_id__in=_scope(target_id))
    if backup_type:
        qs = qs.filter(backup_type=backup_type)
    found = []
    for pk, t, bt, created, path in qs.values_list("id", "target_id", "backup_type", "created_at", "path"):
        if pk in partial_ids or (path and os.path.lexists(layout.absolute(path))):
            found.append(Candidate(pk, (t, bt), created, FAILED, leftover=True))
    return found


def _partial_file_ids() -> set[int]:
    ids = set()
    for path in layout.partial_files():
        suffix = path.name.rsplit(layout.PARTIAL_MARK, 1)[-1]
        if suffix.isdigit():
            ids.add(int(suffix))
    return ids


def plan_scope(*, target_id: int | None, backup_type: str | None, now=None, leftovers: bool = False,
               draft: RetentionPolicy | None = None) -> list[Fate]:
    now = now or timezone.now()
    candidates = candidates_for(target_id=target_id, backup_type=backup_type, leftovers=leftovers)
    policies = covering_policies(target_id=target_id, backup_type=backup_type, draft=draft)
    return plan_policies(candidates, policies, now)


class Pruned(list):
    """The records pruned; `left`: the ids of those left to the host that has their local files, by host."""

    def __init__(self, records=(), left: dict | None = None):
        super().__init__(records)
        self.left = left if left is not None else {}

    def summary(self) -> str:
        return "; ".join([f"pruned {len(self)}", *(f"{len(ids)} left to host {host}, which has their files"
                                                  for host, ids in sorted(self.left.items()))])


def prune_policy(*, policy_id: int, started_by: str = "", here_only: bool = False) -> Pruned:
    """Run one policy now. Other enabled policies covering the same backups still keep what they keep.

    What only another host can delete is handed to it, unless here_only (a prune handed over itself).
    """
    policy = RetentionPolicy.objects.filter(pk=policy_id).first()
    if policy is None or not policy.enabled:
        log.info("prune of policy #%s skipped: %s", policy_id, "disabled" if policy else "no such policy")
        return Pruned()
    now = timezone.now()
    fates = plan_scope(target_id=policy.target_id, backup_type=policy.backup_type, now=now, leftovers=True)
    pruned = prune(fates=fates, policy=policy, now=now, started_by=started_by)
    log.info("policy %r %s (started by %s)", policy.name, pruned.summary(), started_by or "-")
    if not here_only:
        _hand_over(pruned, policy_id=policy.pk, target_id=None, backup_type="", started_by=started_by)
    return pruned


def prune_for(*, target, backup_type: str, started_by: str = "", here_only: bool = False) -> Pruned:
    """Prune one target and type under every enabled policy that covers it (after a scheduled backup)."""
    now = timezone.now()
    fates = plan_scope(target_id=target.pk, backup_type=backup_type, now=now, leftovers=True)
    pruned = prune(fates=fates, now=now, started_by=started_by)
    if not here_only:
        _hand_over(pruned, policy_id=None, target_id=target.pk, backup_type=backup_type, started_by=started_by)
    return pruned


def prune_here(*, policy_id: int | None, target_id: int | None, backup_type: str, started_by: str = "") -> Pruned:
    """A prune another host left to this one: the same scope planned again now, pruned here only."""
    if policy_id:
        return prune_policy(policy_id=policy_id, started_by=started_by, here_only=True)
    target = DatabaseTarget.objects.filter(pk=target_id).first()
    if target is None:
        return Pruned()
    return prune_for(target=target, backup_type=backup_type, started_by=started_by, here_only=True)


def _hand_over(pruned: Pruned, **scope) -> None:
    # Planned again there when it runs: a host that was down for a while decides on what is true then.
    for host, ids in sorted(pruned.left.items()):
        log.info("prune: backups %s left to host %s, which has their files", ", ".join(f"#{i}" for i in ids), host)
        queue.hand_prune_to(host, **scope)


def prune(*, fates: list[Fate], reason_prefix: str = "", policy=None, now=None, started_by: str = "") -> Pruned:
    """Delete the files planned for deletion, then mark their records; leave another host's files to it.

    agreement.Disagreement, with nothing deleted, from a process whose DB_*
    name another server than the default target's backups came from.
    """
    now = now or timezone.now()
    doomed = {f.id: f for f in fates if f.delete}
    agreement.require_untouched(doomed)
    newest = _protected_ids({f.group for f in doomed.values() if not f.leftover})
    by = {"by": started_by[:150]} if started_by else {}
    pruned = Pruned()
    ids = sorted(doomed)
    for start in range(0, len(ids), CHUNK):
        for record in BackupRecord.objects.filter(pk__in=ids[start:start + CHUNK]):
            fate = doomed[record.pk]
            # A code and who started it; the English words beside it for the command line and old readers.
            why = {**(fate.why or {"code": reasons.NO_RULE}), **by}
            reason = {"pruned_reason": (reason_prefix + reasons.english(why))[:255], "pruned_why": why}
            deciding = policy if policy is not None else fate.policy_id
            if fate.leftover:
                done = _clean_leftover(record, reason=reason, policy=deciding, now=now)
            elif record.pk in newest or _left_to_its_host(record, pruned.left):
                done = False
            else:
                done = _prune_backup(record, reason=reason, policy=deciding, now=now)
            if done:
                pruned.append(record)
    return pruned


def left_to(record: BackupRecord) -> str:
    """The other host that alone can delete the backup's local file ("" when this host can: it is here, or
    only objects are left)."""
    host = placement.file_host(record)
    return host if placement.away(record, host) else ""


def _left_to_its_host(record: BackupRecord, left: dict) -> bool:
    """Whether only another host can delete the backup's local file (then it is noted in left, by host)."""
    host = left_to(record)
    if host:
        left.setdefault(host, []).append(record.pk)
    return bool(host)


def _protected_ids(groups) -> set[int]:
    """The last line of defence: whatever a plan says, the newest succeeded and the last restorable backup
    of each target and type stay (as they are now: a verification may have ended since the plan)."""
    protected = set()
    for target_id, backup_type in groups:
        group = BackupRecord.objects.filter(target_id=target_id, backup_type=backup_type)
        pk = group.filter(status=SUCCEEDED).order_by("-created_at", "-id").values_list("pk", flat=True).first()
        good = selectors.newest_restorable(group)
        protected |= {pk, good.pk if good is not None else None}
    return protected


def _policy_kwargs(policy) -> dict:
    if policy is None or isinstance(policy, int):
        return {"pruned_by_policy_id": policy}
    return {"pruned_by_policy": policy}


def _prune_backup(record: BackupRecord, *, reason: dict, policy, now) -> bool:
    still = BackupRecord.objects.filter(pk=record.pk, status=SUCCEEDED, pinned=False)
    if not still.exists():  # pinned or pruned since the plan was made
        return False
    # The objects in object storage first (they may be the only copy), then the local files;
    # the roles file saved beside the dump goes with it.
    if not offsite_prune.delete_copies(record):
        return False
    used = _stored_contents(record)
    if not (_remove(record.path) and _remove(record.globals_path)):
        return False
    # A shared file goes with its last user: its store name is then its only link. One that a backup running
    # now has just linked keeps its inode in that backup whatever happens to the name (local_store.py).
    _sweep(used)
    n = still.update(status=BackupStatus.PRUNED, pruned_at=now, **reason, **_policy_kwargs(policy))
    if n:
        record.status, record.pruned_at = BackupStatus.PRUNED.value, now
        record.pruned_reason, record.pruned_why = reason["pruned_reason"], reason["pruned_why"]
    return n == 1


def _clean_leftover(record: BackupRecord, *, reason: dict, policy, now) -> bool:
    if not all(_remove(layout.relative(p)) for p in layout.partial_files(record.pk)):
        return False
    if record.path and not _remove(record.path):
        return False
    _sweep(None)
    n = BackupRecord.objects.filter(pk=record.pk, status=FAILED, pruned_at__isnull=True).update(
        pruned_at=now, **reason, **_policy_kwargs(policy)
    )
    return n == 1


def _stored_contents(record: BackupRecord) -> list[str]:
    """The hashes a directory backup's manifest lists: the store files it may have been the last user of."""
    path = layout.absolute(record.path) if record.path else None
    if path is None or not (path / manifest.NAME).is_file() or not layout.is_inside_root(path):
        return []
    try:
        return list(manifest.listed(path).values())
    except OSError:
        return []


def _sweep(hashes) -> None:
    """hashes None: the whole store. A kill before this is made good by the next recovery's sweep."""
    try:
        lines = local_store.sweep() if hashes is None else local_store.sweep_hashes(hashes)
    except OSError as exc:
        log.error("cannot sweep the store: %s", exc.strerror or exc)
        return
    for line in lines:
        log.info("prune: %s", line)


def _remove(relative_path: str) -> bool:
    """Remove a file (or a directory-format backup) under BACKUP_ROOT; False when it must stay."""
    if not relative_path:
        return True
    path = layout.absolute(relative_path)
    if not layout.is_inside_root(path):  # resolves "..", and links that point elsewhere
        log.error("refusing to delete %s: outside BACKUP_ROOT", path)
        return False
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.error("cannot delete %s: %s", path, exc.strerror or exc)
        return False
    return True


# --- prunes as jobs ------------------------------------------------------------------------------

def prune_create(*, policy=None, target=None, backup_type: str = "", started_by: str = "") -> PruneRecord:
    """A queued prune of one policy, or of one target and type under every policy (after a scheduled backup)."""
    return PruneRecord.objects.create(policy=policy, target=target, backup_type=backup_type or "",
                                      **origin.fields(started_by))


def prune_execute(*, record_id: int, defer_when_busy: bool = False) -> PruneRecord:
    """Run a queued prune and end its row with what it deleted (a prune needs no target to itself)."""
    record = PruneRecord.objects.select_related("policy", "target").get(pk=record_id)
    with jobs.turn(record):
        progress.phase(record, progress.PRUNING)
        try:
            pruned = _prune_scope(record)
        except agreement.Disagreement as exc:
            jobs.finish(record, ok=False, error=str(exc))
            return record
        left = sum(len(ids) for ids in pruned.left.values())
        jobs.finish(record, ok=True, pruned_count=len(pruned), left_count=left, detail=pruned.summary())
    return record


def prune_task(*, record_id: int) -> str:
    """The queued prune run by a worker; what it did in a line (its detail), for the task's result."""
    done = queue.run_in_turn("run_prune_job", record_id, prune_execute)
    return PruneRecord.objects.filter(pk=record_id).values_list("detail", flat=True).first() or done


def _prune_scope(record: PruneRecord) -> Pruned:
    if record.policy_id:
        return prune_policy(policy_id=record.policy_id, started_by=record.started_by)
    if record.target_id:
        return prune_for(target=record.target, backup_type=record.backup_type, started_by=record.started_by)
    return Pruned()
