"""/metrics: per-target backup facts in Prometheus' text format, for a bearer token or an allowed address only."""

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from backups_app.models import BackupRecord
from backups_app.services.monitoring import anomaly
from tests.retention_records import new_backup, new_target

pytestmark = pytest.mark.django_db

MB = 1024 ** 2
TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = TOKEN, []


def scrape(client, **headers):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)


def samples(response) -> dict:
    """{(metric sample name, target): value} from the parsed exposition."""
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    parsed = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            parsed[(sample.name, sample.labels.get("target"))] = sample.value
    return parsed


def test_each_target_has_its_last_success_size_duration_failures_and_kept_backups(client, token, backup_root):
    shop = new_target("shop")
    new_backup(shop, age_days=2, size_bytes=90 * MB, duration_seconds=50)
    last = new_backup(shop, age_days=1, size_bytes=100 * MB, duration_seconds=61.5)
    new_backup(shop, age_days=0.5, status="failed")
    new_backup(shop, age_days=0.2, status="failed")
    new_backup(shop, age_days=3, status="pruned", size_bytes=80 * MB)
    new_target("empty")
    new_target("retired", is_active=False)
    got = samples(scrape(client))
    assert got[("backupconsole_last_success_timestamp_seconds", "shop")] == pytest.approx(last.finished_at.timestamp())
    assert got[("backupconsole_last_success_size_bytes", "shop")] == 100 * MB
    assert got[("backupconsole_last_success_duration_seconds", "shop")] == 61.5
    assert got[("backupconsole_backup_failures_total", "shop")] == 2
    assert got[("backupconsole_backups_kept", "shop")] == 2
    assert got[("backupconsole_backups_kept_bytes", "shop")] == 190 * MB
    assert got[("backupconsole_last_success_size_anomaly", "shop")] == 0
    assert got[("backupconsole_backup_failures_total", "empty")] == 0
    assert got[("backupconsole_backups_kept", "empty")] == 0
    assert ("backupconsole_last_success_timestamp_seconds", "empty") not in got
    assert not any(target == "retired" for _name, target in got)


def test_good_backups_whose_copy_to_object_storage_failed_are_counted(client, token, backup_root):
    shop = new_target("shop")
    new_backup(shop, age_days=2, size_bytes=MB, offsite_status="failed")
    new_backup(shop, age_days=1, size_bytes=MB, offsite_status="uploaded")
    new_backup(shop, age_days=0.5, status="failed", offsite_status="failed")
    new_target("empty")
    got = samples(scrape(client))
    assert got[("backupconsole_offsite_failed_backups", "shop")] == 1
    assert got[("backupconsole_offsite_failed_backups", "empty")] == 0


def test_a_size_anomaly_shows_as_one(client, token, backup_root):
    shop = new_target("shop")
    for days in (4, 3, 2):
        new_backup(shop, age_days=days, size_bytes=100 * MB)
    anomaly.flag_size_anomaly(record=new_backup(shop, age_days=1, size_bytes=10 * MB))
    assert samples(scrape(client))[("backupconsole_last_success_size_anomaly", "shop")] == 1


def test_the_failure_counter_is_typed_as_a_counter(client, token, backup_root):
    new_target("shop")
    types = {f.name: f.type for f in text_string_to_metric_families(scrape(client).content.decode())}
    assert types["backupconsole_backup_failures"] == "counter"
    assert types["backupconsole_backups_kept"] == "gauge"


def test_without_a_token_or_with_a_wrong_one_it_is_refused(client, token, backup_root):
    new_backup(new_target("shop"), size_bytes=MB)
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"},
                    {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}x"}):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
        assert b"backupconsole_" not in response.content


def test_an_allowed_address_needs_no_token(client, settings, backup_root):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ["10.1.0.0/16", "192.0.2.7"]
    new_target("shop")
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403


def test_behind_a_trusted_proxy_the_allowed_address_is_the_client_not_the_proxy(client, settings, backup_root):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ["10.1.0.0/16", "127.0.0.1"]
    settings.TRUSTED_PROXY_IPS = ["127.0.0.1"]
    new_target("shop")
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3", **via_proxy).status_code == 200
    # Everyone reaches the console from the proxy's address: that must not let everyone in.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9", **via_proxy).status_code == 403
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3, 203.0.113.9", **via_proxy).status_code == 403


def test_with_nothing_configured_nobody_reads_it(client, settings, backup_root):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403 and b"METRICS_TOKEN" in response.content


def test_a_bad_allow_list_entry_is_reported_at_start(settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "office-network"]
    errors = [e for e in run_checks() if e.id == "backups.E006"]
    assert len(errors) == 1 and "office-network" in errors[0].msg


def test_the_number_of_queries_does_not_grow_with_targets_or_backups(client, token, backup_root):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert scrape(client).status_code == 200
        return len(captured)

    new_backup(new_target("one"), size_bytes=MB, with_file=False)
    few = queries()
    for i in range(6):
        target = new_target(f"t{i}")
        for day in range(10):
            new_backup(target, age_days=day, size_bytes=MB, with_file=False,
                       status="failed" if day % 4 == 0 else "succeeded")
    assert BackupRecord.objects.count() == 61
    assert queries() == few <= 4


def test_the_last_success_is_the_last_restorable_backup_and_health_is_the_same_as_healthz(client, token,
                                                                                          backup_root):
    shop = new_target("shop")
    good = new_backup(shop, age_days=0.5, size_bytes=100 * MB)
    new_backup(shop, age_days=0.2, size_bytes=50 * MB, last_verify_ok=False)
    new_backup(new_target("fine"), age_days=0.1, size_bytes=MB)
    got = samples(scrape(client))
    assert got[("backupconsole_last_success_timestamp_seconds", "shop")] == pytest.approx(good.finished_at.timestamp())
    assert got[("backupconsole_last_success_size_bytes", "shop")] == 100 * MB
    assert got[("backupconsole_target_healthy", "shop")] == 0
    assert got[("backupconsole_target_healthy", "fine")] == 1
