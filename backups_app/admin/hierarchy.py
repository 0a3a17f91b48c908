"""A date hierarchy whose cost does not grow with every row of the table.

Django's own asks for DISTINCT truncated dates, which on SQLite calls a
Python function for every row: seconds for 100,000 backups. Here:
- the whole table, or only a date range of it: each year, month or day shown
  is one EXISTS seek on the created_at index;
- a filtered list: one pass over the matching rows answers every bucket at
  once (conditional counts), and one more finds the first and last date;
- a list that fits on its page: the rows already read answer it, no query.
"""

import calendar
import datetime

from django.db.models import Count, Max, Min, Q
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _


def date_hierarchy(cl) -> dict:
    field = cl.date_hierarchy
    year, month, day = (cl.params.get(f"{field}__{part}") for part in ("year", "month", "day"))
    dates = _dates_for(cl)

    def link(filters):
        return cl.get_query_string(filters, [f"{field}__"])

    first = last = None
    if not (year or month or day):
        first, last = dates.edges()
        if first and first.year == last.year:
            year = first.year
            if first.month == last.month:
                month = first.month
    if year and month and day:
        date = datetime.date(int(year), int(month), int(day))
        return _page(back=(link({f"{field}__year": year, f"{field}__month": month}),
                           capfirst(formats.date_format(date, "YEAR_MONTH_FORMAT"))),
                     choices=[(None, capfirst(formats.date_format(date, "MONTH_DAY_FORMAT")))])
    if year and month:
        year, month = int(year), int(month)
        days = [datetime.date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]
        return _page(back=(link({f"{field}__year": year}), str(year)), choices=[
            (link({f"{field}__year": year, f"{field}__month": month, f"{field}__day": d.day}),
             capfirst(formats.date_format(d, "MONTH_DAY_FORMAT")))
            for d in dates.having_rows(days, lambda d: d + datetime.timedelta(days=1))])
    if year:
        year = int(year)
        months = [datetime.date(year, m, 1) for m in range(1, 13)]
        return _page(back=(link({}), _("All dates")), choices=[
            (link({f"{field}__year": year, f"{field}__month": m.month}),
             capfirst(formats.date_format(m, "YEAR_MONTH_FORMAT")))
            for m in dates.having_rows(months, _next_month)])
    years = [datetime.date(y, 1, 1) for y in range(first.year, last.year + 1)] if first else []
    return _page(back=None, choices=[
        (link({f"{field}__year": str(y.year)}), str(y.year))
        for y in dates.having_rows(years, lambda y: datetime.date(y.year + 1, 1, 1))])


def _page(*, back, choices) -> dict:
    return {
        "show": True,
        "back": {"link": back[0], "title": back[1]} if back else None,
        "choices": [{"link": url, "title": title} if url else {"title": title} for url, title in choices],
    }


def _next_month(d: datetime.date) -> datetime.date:
    return datetime.date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _local_midnight(d: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(d, datetime.time.min, tzinfo=timezone.get_current_timezone())


def _dates_for(cl):
    field, qs = cl.date_hierarchy, cl.queryset
    if cl.result_count <= len(cl.result_list):
        return _Listed([getattr(row, field) for row in cl.result_list])
    other_filters = {k for k in cl.get_filters_params(cl.params) if not k.startswith(f"{field}__")}
    if not other_filters and not cl.query:
        return _Indexed(qs, field)  # at most a range of the field itself: seeks stay cheap
    return _Scanned(qs, field)


class _Listed:
    """Every matching row is on this page already."""

    def __init__(self, values):
        self.days = sorted({timezone.localtime(v).date() for v in values if v})

    def edges(self):
        return (self.days[0], self.days[-1]) if self.days else (None, None)

    def having_rows(self, starts, end_of):
        return [s for s in starts if any(s <= d < end_of(s) for d in self.days)]


class _Indexed:
    """The unfiltered table: seeks on the field's index."""

    def __init__(self, qs, field):
        self.qs, self.field = qs.order_by(), field

    def edges(self):
        values = self.qs.values_list(self.field, flat=True)
        first, last = values.order_by(self.field).first(), values.order_by(f"-{self.field}").first()
        return (timezone.localtime(first), timezone.localtime(last)) if first else (None, None)

    def having_rows(self, starts, end_of):
        return [s for s in starts if self.qs.filter(**{
            f"{self.field}__gte": _local_midnight(s), f"{self.field}__lt": _local_midnight(end_of(s))}).exists()]


class _Scanned(_Indexed):
    """A filtered list: one pass over the matching rows per question."""

    def edges(self):
        found = self.qs.aggregate(first=Min(self.field), last=Max(self.field))
        if not found["first"]:
            return None, None
        return timezone.localtime(found["first"]), timezone.localtime(found["last"])

    def having_rows(self, starts, end_of):
        if not starts:
            return []
        counts = self.qs.aggregate(**{f"b{i}": Count("pk", filter=Q(**{
            f"{self.field}__gte": _local_midnight(s), f"{self.field}__lt": _local_midnight(end_of(s))}))
            for i, s in enumerate(starts)})
        return [s for i, s in enumerate(starts) if counts[f"b{i}"]]
