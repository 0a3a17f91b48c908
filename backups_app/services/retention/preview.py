"""What a policy (saved or being edited) would do to the backups that exist now, per target.

The admin shows it before a policy change is saved and before a prune is
queued; the prune job uses the same planner, so what is shown is what runs.
A backup to be deleted lists its local file and the objects in object
storage that go with it.
"""

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from backups_app.models import BackupRecord, BackupType, DatabaseTarget, RetentionPolicy
from backups_app.services.retention import prune as pruning
from backups_app.services.storage import offsite_prune

SHOWN_PER_TARGET = 200  # rows listed per target and kind; the counts are always complete


@dataclass
class Row:
    id: int
    backup_type: str
    created_at: datetime | None
    path: str
    reason: str
    objects: list[str] = field(default_factory=list)  # s3:// addresses deleted with it
    host: str = ""  # the other host that deletes it, which has its local file

    @property
    def type_label(self) -> str:
        return BackupType(self.backup_type).label if self.backup_type in BackupType.values else self.backup_type


@dataclass
class TargetEffect:
    target: str
    kept: list[Row] = field(default_factory=list)
    deleted: list[Row] = field(default_factory=list)
    leftovers: list[Row] = field(default_factory=list)
    kept_count: int = 0
    deleted_count: int = 0
    leftover_count: int = 0

    def add(self, kind: str, row: Row) -> Row | None:
        """Count a row of kind kept, deleted or leftovers; returns it when it is listed too."""
        counter = {"kept": "kept_count", "deleted": "deleted_count", "leftovers": "leftover_count"}[kind]
        setattr(self, counter, getattr(self, counter) + 1)
        rows = getattr(self, kind)
        if len(rows) < SHOWN_PER_TARGET:
            rows.append(row)
            return row
        return None

    @property
    def total(self) -> int:
        return self.kept_count + self.deleted_count

    @property
    def large(self) -> bool:
        """More than half of this target's backups would go."""
        return self.deleted_count * 2 > self.total

    @property
    def more_kept(self) -> int:
        return self.kept_count - len(self.kept)

    @property
    def more_deleted(self) -> int:
        return self.deleted_count - len(self.deleted)


@dataclass
class Preview:
    targets: list[TargetEffect]
    deleted_ids: list[int]
    enabled: bool = True
    handed: dict[str, int] = field(default_factory=dict)  # deleted backups each other host deletes, by host

    @property
    def handed_hosts(self) -> list[tuple[str, int]]:
        return sorted(self.handed.items())

    @property
    def kept_count(self) -> int:
        return sum(t.kept_count for t in self.targets)

    @property
    def deleted_count(self) -> int:
        return sum(t.deleted_count for t in self.targets)

    @property
    def leftover_count(self) -> int:
        return sum(t.leftover_count for t in self.targets)

    @property
    def objects_count(self) -> int:
        """Objects in object storage deleted with the listed backups."""
        return sum(len(r.objects) for t in self.targets for r in t.deleted)

    @property
    def large_targets(self) -> list[TargetEffect]:
        return [t for t in self.targets if t.deleted_count and t.large]

    def token(self, *values) -> str:
        """Names exactly this outcome for these settings; a confirmation only counts for what was shown."""
        text = repr((values, self.deleted_ids))
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def preview_policy(*, policy: RetentionPolicy, now: datetime | None = None) -> Preview:
    """The fate of every backup in the policy's scope, with the other enabled policies still keeping theirs."""
    if not policy.enabled:
        return Preview(targets=[], deleted_ids=[], enabled=False)
    fates = pruning.plan_scope(target_id=policy.target_id, backup_type=policy.backup_type or None,
                               now=now or timezone.now(), leftovers=True, draft=policy)
    names = dict(DatabaseTarget.objects.values_list("pk", "name"))
    effects: dict[int, TargetEffect] = defaultdict(lambda: TargetEffect(target=""))
    shown = []
    for f in sorted(fates, key=lambda f: f.id, reverse=True):
        effect = effects[f.group[0]]
        effect.target = names.get(f.group[0], str(f.group[0]))
        kind = "leftovers" if f.leftover else "deleted" if f.delete else "kept"
        listed = effect.add(kind, Row(f.id, f.group[1], None, "", f.reason))
        if listed is not None:
            shown.append(listed)
    deleted = sorted(f.id for f in fates if f.delete and not f.leftover)
    _fill_details(shown, deleting=set(deleted))
    return Preview(targets=sorted(effects.values(), key=lambda e: e.target), deleted_ids=deleted,
                   handed=_handed(shown, deleted))


def _handed(rows: list[Row], deleted: list[int]) -> dict[str, int]:
    """How many of the deleted backups each other host deletes (all of them, listed or not); the listed
    rows are told their host."""
    by_id, handed = {r.id: r for r in rows}, Counter()
    for start in range(0, len(deleted), pruning.CHUNK):
        chunk = deleted[start:start + pruning.CHUNK]
        for record in BackupRecord.objects.filter(pk__in=chunk).only("id", "path", "host", "local_removed"):
            host = pruning.left_to(record)
            if host:
                handed[host] += 1
                if record.pk in by_id:
                    by_id[record.pk].host = host
    return dict(handed)


def _fill_details(rows: list[Row], *, deleting: set[int]) -> None:
    by_id = {r.id: r for r in rows}
    ids = list(by_id)
    for start in range(0, len(ids), pruning.CHUNK):
        chunk = ids[start:start + pruning.CHUNK]
        for pk, created, path in BackupRecord.objects.filter(pk__in=chunk).values_list("pk", "created_at", "path"):
            by_id[pk].created_at, by_id[pk].path = created, path
    stored = [i for i in ids if i in deleting]
    for start in range(0, len(stored), pruning.CHUNK):
        chunk = stored[start:start + pruning.CHUNK]
        for record in BackupRecord.objects.filter(pk__in=chunk, offsite_storage__isnull=False).select_related(
                "offsite_storage"):
            by_id[record.pk].objects = offsite_prune.objects_to_delete(record)
