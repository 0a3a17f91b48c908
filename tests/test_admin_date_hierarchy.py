"""The backup list's date hierarchy offers exactly the dates Django's own would, without a per-row function."""

import datetime

import pytest
from django.contrib.admin.templatetags.admin_list import date_hierarchy as django_date_hierarchy
from django.utils import timezone

from backups_app.admin.backups import BackupRecordAdmin
from backups_app.admin.hierarchy import date_hierarchy
from backups_app.models import BackupRecord, DatabaseTarget
from tests.admin_support import changelist

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

# UTC instants chosen around local midnights, month ends and the turn of the year.
MOMENTS = ["2024-12-31T22:30", "2025-01-01T08:00", "2025-02-28T23:30", "2025-03-30T00:30", "2025-03-30T01:30",
           "2025-10-26T00:30", "2025-12-31T23:59", "2026-01-15T12:00"]
FAILED = {0, 2, 6, 7}  # the filtered list crosses local midnights too


@pytest.fixture(params=["Asia/Tokyo", "Europe/Berlin", "UTC"])
def records(request, db, settings):
    settings.TIME_ZONE = request.param
    target = DatabaseTarget.objects.create(name="main", dbname="trading_system")
    field = BackupRecord._meta.get_field("created_at")
    field.auto_now_add = False
    try:
        for i, moment in enumerate(MOMENTS):
            when = datetime.datetime.fromisoformat(moment).replace(tzinfo=datetime.UTC)
            BackupRecord.objects.create(target=target, backup_type="daily", format="custom", created_at=when,
                                        status="failed" if i in FAILED else "succeeded")
    finally:
        field.auto_now_add = True
    return request.param


def local_parts(moment: str):
    when = timezone.localtime(datetime.datetime.fromisoformat(moment).replace(tzinfo=datetime.UTC))
    return when.year, when.month, when.day


def queries(status=""):
    base = {"status__exact": status} if status else {}
    yield base
    for year, month, day in sorted({local_parts(m) for m in MOMENTS}):
        yield {**base, "created_at__year": year}
        yield {**base, "created_at__year": year, "created_at__month": month}
        yield {**base, "created_at__year": year, "created_at__month": month, "created_at__day": day}


@pytest.mark.parametrize("per_page,status", [(100, ""), (2, ""), (1, "failed")],
                         ids=["rows on the page", "whole table", "filtered"])
def test_it_offers_the_same_dates_as_djangos_own(superuser_client, records, monkeypatch, per_page, status):
    monkeypatch.setattr(BackupRecordAdmin, "list_per_page", per_page)
    for params in queries(status):
        cl = superuser_client.get(changelist("backuprecord"), params).context["cl"]
        assert date_hierarchy(cl) == django_date_hierarchy(cl), params
