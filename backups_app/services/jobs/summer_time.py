"""Local hours that happen twice when summer time ends, where django-q2 cannot run a schedule.

django-q2 1.11 asks croniter for the next run from local "now" and loops until
`next_run > localtime()`. Inside the repeated autumn hour croniter answers
with the second occurrence (02:30 CET after 02:30 CEST); Python compares two
times of one zone by wall clock alone, so the answer never counts as later
and the scheduler loops for ever, inside a transaction that holds the
console database's write lock. A schedule that fires inside that hour is
therefore refused; every other time, including the hour skipped in spring
(it runs at the first moment after the jump), is fine.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

HORIZON_DAYS = 3 * 366


@dataclass(frozen=True)
class RepeatedHour:
    start: datetime  # naive local wall-clock time, first moment that happens twice
    end: datetime  # naive local wall-clock time, first moment that happens once again


@lru_cache(maxsize=16)
def repeated_hours(zone_name: str, from_day: str) -> tuple[RepeatedHour, ...]:
    """Each autumn change in the HORIZON_DAYS after from_day (ISO date, so the cache stays small)."""
    zone, utc = ZoneInfo(zone_name), ZoneInfo("UTC")
    start = datetime.fromisoformat(from_day).replace(tzinfo=utc)
    found = []
    for day in range(HORIZON_DAYS):
        a, b = start + timedelta(days=day), start + timedelta(days=day + 1)
        before, after = a.astimezone(zone).utcoffset(), b.astimezone(zone).utcoffset()
        if after < before:
            moment = _change_between(a, b, zone)
            wall = (moment + after).replace(tzinfo=None)
            found.append(RepeatedHour(start=wall, end=wall + (before - after)))
    return tuple(found)


def _change_between(a: datetime, b: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant in [a, b) where the zone's offset changes, to the minute."""
    while b - a > timedelta(minutes=1):
        middle = a + (b - a) / 2
        if middle.astimezone(zone).utcoffset() == a.astimezone(zone).utcoffset():
            a = middle
        else:
            b = middle
    return b.replace(second=0, microsecond=0)


def first_conflict(expression: str, zone_name: str, now: datetime) -> RepeatedHour | None:
    """The first repeated hour in which this cron expression would fire, if any."""
    for hour in repeated_hours(zone_name, now.date().isoformat()):
        fire = croniter(expression, hour.start - timedelta(seconds=1)).get_next(datetime)  # naive: wall clock
        if fire < hour.end:
            return hour
    return None
