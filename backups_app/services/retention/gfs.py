"""Calendar periods for grandfather-father-son retention, in local dates.

A period is named by a sortable integer key, so "the last N periods" is a
range of keys ending at the current one. Days and ISO weeks are keyed by
date ordinals (a week by its Monday), months by year * 12 + month, years
by the year. Keeping the newest backup of "each of the last 14 days" means
today and the 13 calendar days before it, whether or not they have backups.
"""

from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext as _


@dataclass(frozen=True)
class Period:
    name: str  # day, week, month, year
    step: int  # distance between the keys of two neighbouring periods

    def key(self, d: date) -> int:
        if self.name == "day":
            return d.toordinal()
        if self.name == "week":
            return d.toordinal() - d.weekday()
        if self.name == "month":
            return d.year * 12 + d.month - 1
        return d.year

    def window(self, today: date, count: int) -> range:
        """Keys of the current period and the count - 1 before it."""
        current = self.key(today)
        return range(current - (count - 1) * self.step, current + 1, self.step)

    def label(self, key: int) -> str:
        if self.name == "day":
            return date.fromordinal(key).isoformat()
        if self.name == "week":
            year, week, _day = date.fromordinal(key).isocalendar()
            return f"{year}-W{week:02d}"
        if self.name == "month":
            return f"{key // 12}-{key % 12 + 1:02d}"
        return str(key)

    def first_day(self, key: int) -> date:
        if self.name in ("day", "week"):
            return date.fromordinal(key)
        if self.name == "month":
            return date(key // 12, key % 12 + 1, 1)
        return date(key, 1, 1)

    def reason_text(self) -> str:
        """The translated reason, with %(period)s for the period's label."""
        texts = {
            "day": _("newest of day %(period)s"),
            "week": _("newest of week %(period)s"),
            "month": _("newest of month %(period)s"),
            "year": _("newest of year %(period)s"),
        }
        return texts[self.name]

    def reason(self, key: int) -> str:
        return self.reason_text() % {"period": self.label(key)}


DAY = Period("day", 1)
WEEK = Period("week", 7)
MONTH = Period("month", 1)
YEAR = Period("year", 1)

