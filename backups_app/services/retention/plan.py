"""Which backups to keep and which to delete, with the reason in words.

Planning is a pure function of records, rules and "now"; the CLI's dry run,
the admin preview and the prune job all use it. Deleting, and the
records a plan is made from, live in prune.py (which imports this module,
never the other way round).

A backup is kept when any rule keeps it. Safety no setting can switch off:
- the newest succeeded backup of each target and type is kept, so it
  survives even when every recent run failed;
- the last restorable backup of each target and type is kept (succeeded,
  not failed its latest verification, its file present: see
  backups_app/selectors.py), whatever the rules say, with the reason
  naming the newer backups that are not restorable;
- the rules that count (minimum kept, keep last, the newest of each
  period) are also counted over the restorable backups alone, and keep what
  they keep there too: a damaged backup never stands in for a good copy.
  This only adds reasons, so nothing the rules kept before is deleted;
- a pinned backup (legal hold) is never deleted;
- only succeeded backups count as kept copies; failed attempts are never
  "kept", and the files they left behind are cleaned up.

Where several policies cover one target and type, a backup is kept when any
of them keeps it: adding a policy can only keep more.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from itertools import takewhile
from typing import NamedTuple

from django.utils import timezone
from django.utils.translation import gettext as _

from backups_app.models.backups import BackupStatus
from backups_app.services.retention import gfs, reasons

# Plain strings, compared up to 100,000 times per plan.
SUCCEEDED, FAILED = BackupStatus.SUCCEEDED.value, BackupStatus.FAILED.value


@dataclass(frozen=True)
class Rules:
    keep_days: int | None = 30
    keep_last: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    min_keep: int = 1

    def periods(self) -> list[tuple[gfs.Period, int]]:
        counts = [(gfs.DAY, self.keep_daily), (gfs.WEEK, self.keep_weekly),
                  (gfs.MONTH, self.keep_monthly), (gfs.YEAR, self.keep_yearly)]
        return [(period, n) for period, n in counts if n]


@dataclass(frozen=True)
class Candidate:
    id: int
    group: tuple  # (target id, backup type)
    created_at: datetime
    status: str
    pinned: bool = False
    leftover: bool = False  # a failed attempt left a file behind
    unrestorable: str = ""  # why a succeeded backup is not restorable (selectors.unrestorable_reason), "" if it is


class Fate(NamedTuple):  # a tuple: made 100,000 times per plan
    id: int
    delete: bool
    reason: str
    group: tuple = ()
    leftover: bool = False
    policy_id: int | None = None
    why: dict | None = None  # a deletion's reason as a code (reasons.py), stored on the pruned record


@dataclass(frozen=True)
class Policy:
    """A policy's scope and rules, detached from the database."""

    rules: Rules
    id: int | None = None
    name: str = ""
    target_id: int | None = None  # None: every target
    backup_type: str = ""  # "": every type
    target_ids: frozenset = frozenset()  # a server target's databases, covered with it

    def covers(self, group: tuple) -> bool:
        target_id, backup_type = group
        return (self.target_id is None or self.target_id == target_id or target_id in self.target_ids) and (
            not self.backup_type or self.backup_type == backup_type
        )

    @property
    def specificity(self) -> tuple:
        return (self.target_id is not None, bool(self.backup_type))


def plan(candidates: list[Candidate], rules: Rules, now: datetime, *, tz: tzinfo | None = None) -> list[Fate]:
    """Each candidate's fate under one set of rules, every target and type on its own."""
    return plan_policies(candidates, [Policy(rules=rules)], now, tz=tz)


def plan_policies(candidates: list[Candidate], policies: list[Policy], now: datetime, *,
                  tz: tzinfo | None = None) -> list[Fate]:
    """Fates under several policies: kept when any policy that covers the backup keeps it.

    Backups no policy covers get no fate: nothing decides about them.
    """
    tz = tz or timezone.get_default_timezone()
    fates = []
    for group, members in _by_group(candidates).items():
        applicable = sorted((p for p in policies if p.covers(group)), key=lambda p: p.specificity, reverse=True)
        if applicable:
            fates += _plan_group(group, members, applicable, now, tz)
    return fates


def _by_group(candidates) -> dict[tuple, list[Candidate]]:
    groups = defaultdict(list)
    for c in candidates:
        groups[c.group].append(c)
    return groups


def _plan_group(group, members, policies: list[Policy], now, tz) -> list[Fate]:
    good = sorted((c for c in members if c.status == SUCCEEDED), key=lambda c: (c.created_at, c.id), reverse=True)
    kept_for = [[] for _c in good]
    named = len(policies) > 1
    for policy in policies:
        for i, found in enumerate(keep_reasons(good, policy.rules, now, tz)):
            kept_for[i] += [f"{r} ({policy.name})" for r in found] if named else found
    if any(c.unrestorable for c in good):
        _keep_restorable_too(good, policies, now, tz, kept_for, named)
    first = policies[0]
    kept, deleted = _("kept: %(reasons)s"), _deleted_reason(first.rules)
    why = reasons.deleted(first.rules.keep_days)
    fates = [
        Fate(c.id, False, kept % {"reasons": "; ".join(r)}, group) if r
        else Fate(c.id, True, deleted, group, policy_id=first.id, why=why)
        for c, r in zip(good, kept_for, strict=True)
    ]
    leftover = _("deleted: file left by a failed attempt")
    fates += [Fate(c.id, True, leftover, group, leftover=True, policy_id=first.id, why={"code": reasons.LEFTOVER})
              for c in members if c.status == FAILED and c.leftover]
    return fates


def _keep_restorable_too(good, policies: list[Policy], now, tz, reasons, named: bool) -> None:
    """The rules again over the restorable backups alone; their reasons are added where they are new."""
    at = [i for i, c in enumerate(good) if not c.unrestorable]
    if not at:
        return
    newest = _last_restorable_text(good[:at[0]]) if at[0] else None
    among = _("%(reason)s, counting restorable backups only")
    restorable = [good[i] for i in at]
    for policy in policies:
        for i, found in zip(at, keep_reasons(restorable, policy.rules, now, tz, newest=newest), strict=True):
            for r in found:
                if (f"{r} ({policy.name})" if named else r) in reasons[i]:
                    continue
                text = r if r == newest else among % {"reason": r}
                reasons[i].append(f"{text} ({policy.name})" if named else text)


def _last_restorable_text(newer: list[Candidate]) -> str:
    """Why the last restorable backup is kept: the newer succeeded backups that are not restorable, and why."""
    words = {"verification": _("newer #%(id)s failed its verification"),
             "missing": _("the file of newer #%(id)s is missing")}
    shown = [words.get(c.unrestorable, words["missing"]) % {"id": c.id} for c in newer[:3]]
    if len(newer) > 3:
        shown.append(_("%(count)s more") % {"count": len(newer) - 3})
    return _("the last restorable backup (%(why)s)") % {"why": "; ".join(shown)}


def _deleted_reason(rules: Rules) -> str:
    if rules.keep_days:
        return _("deleted: older than %(days)s days and no rule keeps it") % {"days": rules.keep_days}
    return _("deleted: no rule keeps it")


def keep_reasons(good: list[Candidate], rules: Rules, now: datetime, tz: tzinfo, *,
                 newest: str | None = None) -> list[list[str]]:
    """Why each succeeded backup (newest first) is kept; an empty list means no rule keeps it.

    `good` is sorted newest first, so every rule but "pinned" stops at the first backup it no longer keeps.
    newest: the reason the first one is kept (default "newest succeeded backup").
    """
    reasons = [[] for _c in good]
    _safety_and_count_rules(good, rules, now, reasons, newest)
    periods = rules.periods()
    if periods:
        today = now.astimezone(tz).date()
        windows = [(period, period.window(today, count)) for period, count in periods]
        oldest = min(period.first_day(window.start) for period, window in windows)
        cutoff = datetime.combine(oldest, time(0), tz)
        dates = [c.created_at.astimezone(tz).date() for c in takewhile(lambda c: c.created_at >= cutoff, good)]
        for period, window in windows:
            _newest_per_period(dates, period, window, reasons)
    return reasons


def _safety_and_count_rules(good, rules: Rules, now, reasons, newest: str | None) -> None:
    for i, c in enumerate(good):
        if c.pinned:
            reasons[i].append(_("pinned (legal hold)"))
    if good:
        reasons[0].append(newest or _("newest succeeded backup"))
    min_keep = max(1, rules.min_keep)
    text = _("one of the %(count)s newest (minimum kept)") % {"count": min_keep}
    for i in range(1, min(min_keep, len(good))):
        reasons[i].append(text)
    if rules.keep_last:
        text = _("one of the last %(count)s") % {"count": rules.keep_last}
        for i in range(min(rules.keep_last, len(good))):
            reasons[i].append(text)
    _young_rule(good, rules, now, reasons)


def _young_rule(good, rules: Rules, now, reasons) -> None:
    limit = timedelta(days=rules.keep_days) if rules.keep_days else timedelta(0)
    text = _("younger than %(days)s days") % {"days": rules.keep_days} if rules.keep_days else \
        _("dated in the future")
    for i, c in enumerate(good):
        if now - c.created_at >= limit:
            break
        reasons[i].append(text)


def _newest_per_period(dates, period: gfs.Period, window: range, reasons) -> None:
    text, key_of, last_key = period.reason_text(), period.key, None
    for i, d in enumerate(dates):  # newest first, so the first of each period is its newest
        key = key_of(d)
        if key < window.start:
            return
        if key != last_key and key in window:
            reasons[i].append(text % {"period": period.label(key)})
        last_key = key

