"""Which backups to delete, and deleting them.

Planning is a pure function of records, rules and "now"; the CLI's dry run,
the admin preview and the prune job all use it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from backups_app.models import BackupRecord
from backups_app.services import files, layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rules:
    keep_days: int | None = 30
    min_keep: int = 1


@dataclass(frozen=True)
class Candidate:
    id: int
    group: tuple  # (target id, backup type)
    created_at: datetime
    status: str
    pinned: bool = False


@dataclass(frozen=True)
class Fate:
    id: int
    delete: bool
    reason: str


def plan(candidates: list[Candidate], rules: Rules, now: datetime) -> list[Fate]:
    fates = []
    groups: dict[tuple, list[Candidate]] = {}
    for c in candidates:
        groups.setdefault(c.group, []).append(c)
    for members in groups.values():
        fates += _plan_group(sorted(members, key=lambda c: (c.created_at, c.id), reverse=True), rules, now)
    return fates


def _plan_group(members, rules: Rules, now) -> list[Fate]:
    fates, kept = [], 0
    for c in members:
        if c.status != "succeeded":
            continue
        if c.pinned:
            fates.append(Fate(c.id, False, "kept: pinned"))
            kept += 1
        elif kept < max(1, rules.min_keep):
            fates.append(Fate(c.id, False, "kept: newest succeeded backup" if kept == 0 else
                              f"kept: one of the newest {rules.min_keep} (minimum kept)"))
            kept += 1
        elif rules.keep_days and now - c.created_at < timedelta(days=rules.keep_days):
            fates.append(Fate(c.id, False, f"kept: younger than {rules.keep_days} days"))
            kept += 1
        else:
            fates.append(Fate(c.id, True, f"deleted: older than {rules.keep_days} days and no rule keeps it"))
    return fates


def candidates_for(*, target=None, backup_type: str | None = None) -> list[Candidate]:
    qs = BackupRecord.objects.filter(status="succeeded")
    if target is not None:
        qs = qs.filter(target=target)
    if backup_type:
        qs = qs.filter(backup_type=backup_type)
    rows = qs.values_list("id", "target_id", "backup_type", "created_at", "status", "pinned")
    return [Candidate(i, (t, bt), ca, st, p) for i, t, bt, ca, st, p in rows]


def prune(*, fates: list[Fate], reason_prefix: str = "", policy=None, now=None) -> list[BackupRecord]:
    """Delete the files planned for deletion, then mark their records `pruned`."""
    now = now or timezone.now()
    doomed = {f.id: f for f in fates if f.delete}
    pruned = []
    for record in BackupRecord.objects.filter(pk__in=doomed, status="succeeded", pinned=False):
        path = record.absolute_path
        if path is not None and not layout.is_inside_root(path):
            log.error("refusing to delete %s: outside BACKUP_ROOT", path)
            continue
        if path is not None:
            files.remove_quietly(path)
        n = BackupRecord.objects.filter(pk=record.pk, status="succeeded", pinned=False).update(
            status="pruned", pruned_at=now, pruned_reason=(reason_prefix + doomed[record.pk].reason)[:255],
            pruned_by_policy=policy,
        )
        if n:
            pruned.append(record)
    return pruned
