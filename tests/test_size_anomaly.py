"""Size anomalies: a succeeded backup far from the median size of the ones before it is flagged on its record."""

import pytest
from django.core.management import call_command

from backups_app.models import BackupRecord
from backups_app.services.monitoring import anomaly
from tests.admin_support import changelist
from tests.retention_records import new_backup, new_target

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.admin_fixtures"]

MB = 1024 ** 2


@pytest.fixture(autouse=True)
def limits(settings):
    settings.BACKUP_SIZE_ANOMALY_PERCENT = 50
    settings.BACKUP_SIZE_ANOMALY_HISTORY = 5


def history(target, sizes, **kw):
    """Backups of the given sizes, the first the oldest, a day apart, ending two days ago."""
    return [new_backup(target, age_days=len(sizes) + 1 - i, size_bytes=size, **kw) for i, size in enumerate(sizes)]


def test_a_backup_that_shrinks_by_more_than_the_limit_is_flagged(backup_root):
    target = new_target("shop")
    history(target, [100 * MB, 104 * MB, 98 * MB, 101 * MB])
    newest = new_backup(target, size_bytes=30 * MB)
    assert anomaly.flag_size_anomaly(record=newest) == pytest.approx(-70.1, abs=0.1)
    newest.refresh_from_db()
    assert newest.size_anomaly_pct == pytest.approx(-70.1, abs=0.1)


def test_a_backup_that_grows_beyond_the_limit_is_flagged_too(backup_root):
    target = new_target("shop")
    history(target, [100 * MB, 100 * MB, 100 * MB])
    assert anomaly.flag_size_anomaly(record=new_backup(target, size_bytes=151 * MB)) == pytest.approx(51.0)


def test_a_change_within_the_limit_is_not_flagged(backup_root):
    target = new_target("shop")
    history(target, [100 * MB, 104 * MB, 98 * MB, 101 * MB])
    newest = new_backup(target, size_bytes=55 * MB)
    assert anomaly.flag_size_anomaly(record=newest) is None
    newest.refresh_from_db()
    assert newest.size_anomaly_pct is None


def test_the_median_ignores_one_odd_earlier_backup(backup_root):
    target = new_target("shop")
    history(target, [100 * MB, 2 * MB, 100 * MB, 100 * MB])  # the mean would be 75.5 MB, the median is 100
    assert anomaly.flag_size_anomaly(record=new_backup(target, size_bytes=45 * MB)) == pytest.approx(-55.0)


def test_with_fewer_than_three_earlier_backups_there_is_nothing_to_compare(backup_root):
    target = new_target("shop")
    history(target, [100 * MB, 100 * MB])
    assert anomaly.flag_size_anomaly(record=new_backup(target, size_bytes=1 * MB)) is None


def test_only_the_same_target_type_and_format_make_the_history(backup_root):
    shop, other = new_target("shop"), new_target("other")
    history(other, [10 * MB] * 5)
    history(shop, [10 * MB] * 5, backup_type="weekly")
    history(shop, [10 * MB] * 5, fmt="sql")
    history(shop, [100 * MB, 100 * MB])
    assert anomaly.flag_size_anomaly(record=new_backup(shop, size_bytes=100 * MB)) is None


def test_only_the_last_n_backups_count_and_pruned_ones_among_them(backup_root, settings):
    target = new_target("shop")
    history(target, [10 * MB] * 5 + [100 * MB] * 3 + [100 * MB] * 2, status="pruned")
    settings.BACKUP_SIZE_ANOMALY_HISTORY = 5
    assert anomaly.flag_size_anomaly(record=new_backup(target, size_bytes=100 * MB)) is None
    settings.BACKUP_SIZE_ANOMALY_HISTORY = 10
    assert anomaly.flag_size_anomaly(record=new_backup(target, size_bytes=10 * MB)) is not None


def test_failed_backups_are_neither_history_nor_flagged(backup_root):
    target = new_target("shop")
    history(target, [100 * MB] * 3)
    history(target, [1 * MB] * 5, status="failed")
    assert anomaly.flag_size_anomaly(record=new_backup(target, size_bytes=100 * MB)) is None
    assert anomaly.flag_size_anomaly(record=new_backup(target, status="failed", size_bytes=1)) is None


def test_a_limit_of_zero_turns_the_check_off(backup_root, settings):
    settings.BACKUP_SIZE_ANOMALY_PERCENT = 0
    target = new_target("shop")
    history(target, [100 * MB] * 4)
    assert anomaly.flag_size_anomaly(record=new_backup(target, size_bytes=1 * MB)) is None


def test_a_real_backup_is_checked_when_it_succeeds(make_target, fresh_db, backup_root):
    target = make_target(fresh_db("anomaly_src"))
    history(target, [500 * MB] * 4)  # a real dump of an empty database is a few kilobytes
    call_command("backup", "--type", "daily", "--target", target.name)
    record = BackupRecord.objects.filter(target=target).latest("created_at")
    assert record.status == "succeeded" and record.size_bytes < MB
    assert record.size_anomaly_pct == pytest.approx(-100, abs=0.01)


def test_a_failing_check_never_fails_the_backup(make_target, fresh_db, backup_root, monkeypatch):
    target = make_target(fresh_db("anomaly_src"))

    def broken(record):
        raise RuntimeError("the check itself is broken")

    monkeypatch.setattr(anomaly, "size_anomaly", broken)
    call_command("backup", "--type", "daily", "--target", target.name)
    record = BackupRecord.objects.get(target=target)
    assert record.status == "succeeded" and record.size_anomaly_pct is None


def test_the_backup_list_names_the_anomaly_and_filters_by_it(superuser_client, backup_root):
    target = new_target("shop")
    history(target, [100 * MB] * 4)
    newest = new_backup(target, size_bytes=30 * MB)
    anomaly.flag_size_anomaly(record=newest)
    flagged = superuser_client.get(changelist("backuprecord") + "?size_anomaly=yes")
    assert list(flagged.context["cl"].result_list) == [newest]
    assert "size anomaly: -70% vs. median" in flagged.content.decode()
    normal = superuser_client.get(changelist("backuprecord") + "?size_anomaly=no")
    assert newest not in normal.context["cl"].result_list and len(normal.context["cl"].result_list) == 4
    assert "size anomaly:" not in normal.content.decode()
