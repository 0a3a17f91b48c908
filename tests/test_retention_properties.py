"""Retention planning over random histories and policies: the safety rules hold whatever the settings."""

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from backups_app.services.retention.plan import Candidate, Policy, Rules, plan_policies

ZONES = [ZoneInfo("Asia/Tokyo"), ZoneInfo("Europe/Berlin"), ZoneInfo("UTC")]
EPOCH = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))
GROUPS = [(1, "daily"), (1, "weekly"), (2, "daily")]

counts = st.one_of(st.none(), st.integers(min_value=0, max_value=40))
rules = st.builds(
    Rules,
    keep_days=st.one_of(st.none(), st.integers(min_value=1, max_value=800)),
    keep_last=counts, keep_daily=counts, keep_weekly=counts, keep_monthly=counts,
    keep_yearly=st.one_of(st.none(), st.integers(min_value=0, max_value=5)),
    min_keep=st.integers(min_value=1, max_value=10),
)
policies = st.lists(
    st.builds(Policy, rules=rules, id=st.integers(1, 99), name=st.just("p"),
              target_id=st.sampled_from([None, 1, 2]), backup_type=st.sampled_from(["", "daily", "weekly"])),
    min_size=1, max_size=3,
)
entries = st.lists(
    st.tuples(
        st.sampled_from(GROUPS),
        st.integers(min_value=0, max_value=3 * 365 * 24 * 60),  # minutes after EPOCH
        st.sampled_from(["succeeded"] * 6 + ["failed", "running", "queued"]),
        st.integers(min_value=0, max_value=9).map(lambda n: n == 0),  # pinned, now and then
        st.booleans(),
    ),
    max_size=120,
)


def history_of(rows) -> list[Candidate]:
    found = []
    for i, (group, minutes, status, pinned, leftover) in enumerate(rows, start=1):
        found.append(Candidate(i, group, EPOCH + timedelta(minutes=minutes), status,
                               pinned=pinned and status == "succeeded",
                               leftover=leftover and status == "failed"))
    return found


def decide(history, pols, now, tz):
    fates = plan_policies(history, pols, now, tz=tz)
    return fates, {f.id for f in fates if f.delete}


def succeeded_by_group(history):
    groups = defaultdict(list)
    for c in history:
        if c.status == "succeeded":
            groups[c.group].append(c)
    return groups


def covered(group, pols):
    return [p for p in pols if p.covers(group)]


common = dict(
    rows=entries, pols=policies, tz=st.sampled_from(ZONES),
    now_minutes=st.integers(min_value=0, max_value=4 * 365 * 24 * 60),
)


@settings(max_examples=300, deadline=None)
@given(**common)
def test_no_group_ever_drops_below_min_keep(rows, pols, tz, now_minutes):
    history = history_of(rows)
    _fates, deleted = decide(history, pols, EPOCH + timedelta(minutes=now_minutes), tz)
    for group, good in succeeded_by_group(history).items():
        applicable = covered(group, pols)
        if not applicable:
            continue
        kept = [c for c in good if c.id not in deleted]
        wanted = max(p.rules.min_keep for p in applicable)
        assert len(kept) >= min(wanted, len(good))


@settings(max_examples=300, deadline=None)
@given(**common)
def test_the_newest_succeeded_backup_of_a_target_and_type_is_never_deleted(rows, pols, tz, now_minutes):
    history = history_of(rows)
    _fates, deleted = decide(history, pols, EPOCH + timedelta(minutes=now_minutes), tz)
    for good in succeeded_by_group(history).values():
        newest = max(good, key=lambda c: (c.created_at, c.id))
        assert newest.id not in deleted


@settings(max_examples=300, deadline=None)
@given(**common)
def test_a_pinned_backup_is_never_deleted(rows, pols, tz, now_minutes):
    history = history_of(rows)
    _fates, deleted = decide(history, pols, EPOCH + timedelta(minutes=now_minutes), tz)
    assert not [c for c in history if c.pinned and c.id in deleted]


@settings(max_examples=300, deadline=None)
@given(**common)
def test_only_succeeded_backups_and_failed_leftovers_are_ever_deleted(rows, pols, tz, now_minutes):
    history = history_of(rows)
    with translation.override("en"):
        fates, deleted = decide(history, pols, EPOCH + timedelta(minutes=now_minutes), tz)
    by_id = {c.id: c for c in history}
    for pk in deleted:
        c = by_id[pk]
        assert c.status == "succeeded" or (c.status == "failed" and c.leftover)
    assert all(f.reason.startswith(("kept: ", "deleted: ")) for f in fates)


@settings(max_examples=300, deadline=None)
@given(**common)
def test_planning_again_after_pruning_deletes_nothing(rows, pols, tz, now_minutes):
    history = history_of(rows)
    now = EPOCH + timedelta(minutes=now_minutes)
    _fates, deleted = decide(history, pols, now, tz)
    remaining = [c for c in history if c.id not in deleted]
    _fates, deleted_again = decide(remaining, pols, now, tz)
    assert deleted_again == set()


@settings(max_examples=200, deadline=None)
@given(**common)
def test_adding_a_policy_never_deletes_more(rows, pols, tz, now_minutes):
    history = history_of(rows)
    now = EPOCH + timedelta(minutes=now_minutes)
    _fates, with_all = decide(history, pols, now, tz)
    _fates, with_first = decide(history, pols[:1], now, tz)
    first_scope = {c.id for c in history if pols[0].covers(c.group)}
    assert with_all & first_scope <= with_first
