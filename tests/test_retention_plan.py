"""Retention planning, worked out by hand: which backups each rule keeps, and the words it uses."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from backups_app.services.retention.plan import Candidate, Policy, Rules, plan, plan_policies

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=TOKYO)  # a Friday in ISO week 2026-W47
G = (1, "daily")


def daily_history(days: int, *, hour=2, group=G, status="succeeded"):
    """One backup a day at `hour` local time, the newest today."""
    start = NOW.replace(hour=hour, minute=0)
    return [Candidate(i + 1, group, start - timedelta(days=i), status) for i in range(days)]


def kept_dates(candidates, fates):
    when = {c.id: c.created_at.astimezone(TOKYO).date().isoformat() for c in candidates}
    return sorted(when[f.id] for f in fates if not f.delete)


def reason_of(fates, record_id):
    return next(f.reason for f in fates if f.id == record_id)


def test_grandfather_father_son_keeps_the_newest_of_each_recent_day_week_and_month():
    history = daily_history(400)
    rules = Rules(keep_days=None, keep_daily=7, keep_weekly=4, keep_monthly=3)
    fates = plan(history, rules, NOW, tz=TOKYO)
    assert kept_dates(history, fates) == [
        "2026-09-30",  # newest of September
        "2026-10-31",  # newest of October
        "2026-11-01",  # newest of week 2026-W44 (Oct 26 - Nov 1)
        "2026-11-08",  # newest of week 2026-W45
        "2026-11-14", "2026-11-15", "2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20",
    ]
    assert len([f for f in fates if f.delete]) == 400 - 11


def test_each_kept_backup_says_which_period_it_is_the_newest_of():
    history = daily_history(60)
    fates = plan(history, Rules(keep_days=None, keep_daily=7, keep_weekly=4, keep_monthly=3), NOW, tz=TOKYO)
    by_date = {c.created_at.date().isoformat(): c.id for c in history}
    assert reason_of(fates, by_date["2026-11-15"]) == "kept: newest of day 2026-11-15; newest of week 2026-W46"
    assert reason_of(fates, by_date["2026-11-01"]) == "kept: newest of week 2026-W44"
    assert reason_of(fates, by_date["2026-10-31"]) == "kept: newest of month 2026-10"
    assert reason_of(fates, by_date["2026-11-20"]) == (
        "kept: newest succeeded backup; newest of day 2026-11-20; newest of week 2026-W47; newest of month 2026-11"
    )


def test_a_deleted_backup_says_no_rule_keeps_it():
    history = daily_history(40)
    fates = plan(history, Rules(keep_days=30), NOW, tz=TOKYO)
    assert reason_of(fates, history[35].id) == "deleted: older than 30 days and no rule keeps it"
    assert reason_of(fates, history[3].id) == "kept: younger than 30 days"
    fates = plan(history, Rules(keep_days=None, keep_last=3), NOW, tz=TOKYO)
    assert reason_of(fates, history[3].id) == "deleted: no rule keeps it"
    assert reason_of(fates, history[2].id) == "kept: one of the last 3"


def test_only_the_newest_backup_of_a_day_counts_for_that_day():
    morning = Candidate(1, G, NOW.replace(hour=2), "succeeded")
    noon = Candidate(2, G, NOW.replace(hour=11), "succeeded")
    yesterday_late = Candidate(3, G, NOW.replace(hour=23) - timedelta(days=1), "succeeded")
    yesterday_early = Candidate(4, G, NOW.replace(hour=1) - timedelta(days=1), "succeeded")
    fates = plan([morning, noon, yesterday_late, yesterday_early], Rules(keep_days=None, keep_daily=2), NOW, tz=TOKYO)
    assert {f.id for f in fates if not f.delete} == {2, 3}


def test_periods_are_local_dates_in_the_time_zone_not_utc():
    # 2026-11-01 00:30 in Tokyo is still October 31 in UTC.
    last_of_october = Candidate(1, G, datetime(2026, 10, 31, 23, 0, tzinfo=TOKYO), "succeeded")
    first_of_november = Candidate(2, G, datetime(2026, 11, 1, 0, 30, tzinfo=TOKYO), "succeeded")
    newest = Candidate(3, G, NOW, "succeeded")
    rules = Rules(keep_days=None, keep_monthly=2)
    fates = plan([last_of_october, first_of_november, newest], rules, NOW, tz=TOKYO)
    assert {f.id for f in fates if not f.delete} == {1, 3}
    fates = plan([last_of_october, first_of_november, newest], rules, NOW, tz=ZoneInfo("UTC"))
    assert {f.id for f in fates if not f.delete} == {2, 3}


def test_weeks_are_iso_weeks_and_years_are_calendar_years():
    # 2027-01-01 is a Friday in ISO week 2026-W53.
    now = datetime(2027, 1, 2, 12, tzinfo=TOKYO)
    dec_28 = Candidate(1, G, datetime(2026, 12, 28, 2, tzinfo=TOKYO), "succeeded")
    dec_31 = Candidate(2, G, datetime(2026, 12, 31, 2, tzinfo=TOKYO), "succeeded")
    jan_1 = Candidate(3, G, datetime(2027, 1, 1, 2, tzinfo=TOKYO), "succeeded")
    history = [dec_28, dec_31, jan_1]
    weekly = plan(history, Rules(keep_days=None, keep_weekly=1), now, tz=TOKYO)
    assert reason_of(weekly, 3) == "kept: newest succeeded backup; newest of week 2026-W53"
    assert {f.id for f in weekly if f.delete} == {1, 2}
    yearly = plan(history, Rules(keep_days=None, keep_yearly=2), now, tz=TOKYO)
    assert reason_of(yearly, 2) == "kept: newest of year 2026"
    assert {f.id for f in yearly if f.delete} == {1}


def test_a_period_without_backups_still_counts_as_one_of_the_last_n():
    # A seven-day gap: "the last 3 days" are calendar days, so nothing from before the gap is kept by them.
    history = [Candidate(1, G, NOW - timedelta(days=1), "succeeded"),
               Candidate(2, G, NOW - timedelta(days=8), "succeeded"),
               Candidate(3, G, NOW - timedelta(days=9), "succeeded")]
    fates = plan(history, Rules(keep_days=None, keep_daily=3), NOW, tz=TOKYO)
    assert {f.id for f in fates if f.delete} == {2, 3}


def test_the_newest_succeeded_backup_is_kept_even_when_every_recent_run_failed():
    old_good = Candidate(1, G, NOW - timedelta(days=400), "succeeded")
    older_good = Candidate(2, G, NOW - timedelta(days=401), "succeeded")
    failures = [Candidate(10 + i, G, NOW - timedelta(days=i), "failed") for i in range(30)]
    fates = plan([old_good, older_good, *failures], Rules(keep_days=7), NOW, tz=TOKYO)
    assert reason_of(fates, 1) == "kept: newest succeeded backup"
    assert reason_of(fates, 2) == "deleted: older than 7 days and no rule keeps it"
    assert {f.id for f in fates} == {1, 2}, "failed attempts without files are neither kept nor deleted"


def test_min_keep_keeps_that_many_succeeded_backups_whatever_the_rules_say():
    history = [Candidate(i, G, NOW - timedelta(days=100 + i), "succeeded") for i in range(1, 6)]
    fates = plan(history, Rules(keep_days=1, min_keep=3), NOW, tz=TOKYO)
    assert {f.id for f in fates if not f.delete} == {1, 2, 3}
    assert reason_of(fates, 3) == "kept: one of the 3 newest (minimum kept)"


def test_a_min_keep_of_zero_still_keeps_the_newest():
    history = [Candidate(i, G, NOW - timedelta(days=100 + i), "succeeded") for i in range(1, 4)]
    fates = plan(history, Rules(keep_days=None, min_keep=0), NOW, tz=TOKYO)
    assert {f.id for f in fates if not f.delete} == {1}


def test_a_pinned_backup_is_never_deleted():
    history = daily_history(100)
    pinned = Candidate(500, G, NOW - timedelta(days=3000), "succeeded", pinned=True)
    fates = plan([*history, pinned], Rules(keep_days=None), NOW, tz=TOKYO)
    assert reason_of(fates, 500) == "kept: pinned (legal hold)"
    assert {f.id for f in fates if not f.delete} == {500, history[0].id}


def test_only_succeeded_backups_count_as_kept_copies():
    # The newest of the day failed: the day's copy is the newest succeeded one, not the failure.
    failed = Candidate(1, G, NOW.replace(hour=11), "failed")
    good = Candidate(2, G, NOW.replace(hour=2), "succeeded")
    older = Candidate(3, G, NOW - timedelta(days=1), "succeeded")
    fates = plan([failed, good, older], Rules(keep_days=None, keep_last=1, keep_daily=1), NOW, tz=TOKYO)
    assert {f.id: f.delete for f in fates} == {2: False, 3: True}


def test_a_file_left_by_a_failed_attempt_is_cleaned_up():
    leftover = Candidate(1, G, NOW, "failed", leftover=True)
    good = Candidate(2, G, NOW - timedelta(days=1), "succeeded")
    fates = plan([leftover, good], Rules(), NOW, tz=TOKYO)
    assert reason_of(fates, 1) == "deleted: file left by a failed attempt"
    assert next(f for f in fates if f.id == 1).leftover


def test_running_and_queued_backups_get_no_fate():
    running = Candidate(1, G, NOW, "running", leftover=True)
    queued = Candidate(2, G, NOW, "queued")
    assert plan([running, queued], Rules(), NOW, tz=TOKYO) == []


def test_each_target_and_type_is_planned_on_its_own():
    a = [Candidate(i, (1, "daily"), NOW - timedelta(days=50 + i), "succeeded") for i in (1, 2)]
    b = [Candidate(i, (2, "daily"), NOW - timedelta(days=50 + i), "succeeded") for i in (3, 4)]
    c = [Candidate(i, (1, "weekly"), NOW - timedelta(days=50 + i), "succeeded") for i in (5, 6)]
    fates = plan(a + b + c, Rules(keep_days=30), NOW, tz=TOKYO)
    assert {f.id for f in fates if not f.delete} == {1, 3, 5}


def test_a_backup_is_kept_when_any_applicable_policy_keeps_it():
    history = daily_history(60)
    recent = Policy(Rules(keep_days=7), id=1, name="recent", target_id=1)
    weekly = Policy(Rules(keep_days=None, keep_weekly=6), id=2, name="weekly")
    other_type = Policy(Rules(keep_days=365), id=3, name="weeklies", backup_type="weekly")
    fates = plan_policies(history, [weekly, recent, other_type], NOW, tz=TOKYO)
    kept = kept_dates(history, fates)
    assert kept == ["2026-10-18", "2026-10-25", "2026-11-01", "2026-11-08",
                    "2026-11-14", "2026-11-15", "2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]
    by_date = {c.created_at.date().isoformat(): c.id for c in history}
    assert reason_of(fates, by_date["2026-11-15"]) == (
        "kept: younger than 7 days (recent); newest of week 2026-W46 (weekly)"
    )
    deleted = next(f for f in fates if f.delete)
    assert deleted.policy_id == 1, "a deletion is put down to the most specific policy"


def test_backups_no_policy_covers_are_left_alone():
    history = daily_history(60, group=(2, "daily"))
    only_target_1 = Policy(Rules(keep_days=1), id=1, name="t1", target_id=1)
    assert plan_policies(history, [only_target_1], NOW, tz=TOKYO) == []


def damaged(i, days, why="verification"):
    return Candidate(i, G, NOW - timedelta(days=days), "succeeded", unrestorable=why)


def test_the_last_restorable_backup_is_kept_when_every_newer_one_failed_verification():
    good = Candidate(1, G, NOW - timedelta(days=3), "succeeded")
    older = Candidate(2, G, NOW - timedelta(days=4), "succeeded")
    fates = plan([damaged(9, 1), damaged(8, 2), good, older], Rules(keep_days=None, keep_last=0, min_keep=1), NOW,
                 tz=TOKYO)
    assert reason_of(fates, 1) == ("kept: the last restorable backup (newer #9 failed its verification; "
                                   "newer #8 failed its verification)")
    assert reason_of(fates, 9) == "kept: newest succeeded backup", "the newest is still kept as before"
    assert {f.id for f in fates if f.delete} == {8, 2}


def test_a_backup_whose_file_is_missing_does_not_count_as_restorable_either():
    fates = plan([damaged(9, 1, "missing"), Candidate(1, G, NOW - timedelta(days=3), "succeeded")],
                 Rules(keep_days=1), NOW, tz=TOKYO)
    assert reason_of(fates, 1) == "kept: the last restorable backup (the file of newer #9 is missing)"


def test_the_reason_names_three_newer_backups_and_counts_the_rest():
    newer = [damaged(10 + i, 1 + i / 10) for i in range(5)]
    fates = plan([*newer, Candidate(1, G, NOW - timedelta(days=3), "succeeded")], Rules(keep_days=None), NOW,
                 tz=TOKYO)
    assert reason_of(fates, 1) == ("kept: the last restorable backup (newer #10 failed its verification; "
                                   "newer #11 failed its verification; newer #12 failed its verification; 2 more)")


def test_counting_rules_keep_that_many_restorable_copies_and_never_less_than_before():
    """keep_last 3 keeps the three newest as it always did, and three restorable ones as well."""
    history = [Candidate(i, G, NOW - timedelta(days=i), "succeeded") for i in range(1, 8)]
    before = plan(history, Rules(keep_days=None, keep_last=3, min_keep=2), NOW, tz=TOKYO)
    history[1] = damaged(2, 2)
    after = plan(history, Rules(keep_days=None, keep_last=3, min_keep=2), NOW, tz=TOKYO)
    kept_before, kept_after = {f.id for f in before if not f.delete}, {f.id for f in after if not f.delete}
    assert kept_before == {1, 2, 3} and kept_after == {1, 2, 3, 4}
    assert reason_of(after, 4) == "kept: one of the last 3, counting restorable backups only"
    assert reason_of(after, 3) == ("kept: one of the last 3; one of the 2 newest (minimum kept), counting "
                                   "restorable backups only")


def test_the_newest_of_a_period_is_also_its_newest_restorable_one():
    sunday_damaged = Candidate(1, G, datetime(2026, 11, 15, 2, tzinfo=TOKYO), "succeeded", unrestorable="verification")
    saturday = Candidate(2, G, datetime(2026, 11, 14, 2, tzinfo=TOKYO), "succeeded")
    friday = Candidate(3, G, datetime(2026, 11, 13, 2, tzinfo=TOKYO), "succeeded")
    newest = Candidate(4, G, NOW, "succeeded")
    fates = plan([newest, sunday_damaged, saturday, friday], Rules(keep_days=None, keep_weekly=2), NOW, tz=TOKYO)
    assert reason_of(fates, 1) == "kept: newest of week 2026-W46"
    assert reason_of(fates, 2) == "kept: newest of week 2026-W46, counting restorable backups only"
    assert reason_of(fates, 3) == "deleted: no rule keeps it"


def test_with_several_policies_each_names_itself():
    history = [damaged(9, 1), Candidate(1, G, NOW - timedelta(days=3), "succeeded")]
    policies = [Policy(Rules(keep_days=None), id=1, name="a"), Policy(Rules(keep_days=None), id=2, name="b")]
    fates = plan_policies(history, policies, NOW, tz=TOKYO)
    last = "the last restorable backup (newer #9 failed its verification)"
    assert reason_of(fates, 1) == f"kept: {last} (a); {last} (b)"
